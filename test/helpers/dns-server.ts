import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';

/**
 * A real DNS server on loopback for tests: UDP and TCP on the same port (TCP because resolvers
 * retry over TCP when a UDP answer is truncated, e.g. a long TXT record).
 */
export interface ZoneEntry {
  MX?: { exchange: string; priority: number }[];
  A?: string[];
  AAAA?: string[];
  TXT?: string[];
  PTR?: string[];
  /** TLSA records (DANE); usually with `ad: true` */
  TLSA?: { usage: number; selector: number; matchingType: number; certificate: Buffer }[];
  /** set the AD flag (as a validating resolver does for a DNSSEC-secure answer) */
  ad?: boolean;
  rcode?: 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED';
  /** never reply: the client times out */
  noAnswer?: boolean;
  ttl?: number;
}

/** keys are lower-case names without a trailing dot */
export type Zone = Record<string, ZoneEntry>;

export interface TestDnsServer {
  /** "127.0.0.1:PORT", ready for ResolverOptions.servers */
  address: string;
  port: number;
  setZone(z: Zone): void;
  /** every question asked; dnssecOk: the query carried EDNS0 with the DO bit (RFC 4035 §3.2.1) */
  queries: { name: string; type: string; dnssecOk: boolean }[];
  close(): Promise<void>;
}

const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
const RESPONSE_FLAGS = dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE;

function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function chunkTxt(s: string): Buffer[] {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length === 0) return [Buffer.alloc(0)];
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) parts.push(bytes.subarray(i, i + 255));
  return parts;
}

function answersFor(q: Question, entry: ZoneEntry): Answer[] {
  const ttl = entry.ttl ?? 300;
  const name = q.name;
  switch (q.type) {
    case 'MX':
      return (entry.MX ?? []).map((mx) => ({
        type: 'MX' as const,
        name,
        ttl,
        // a null MX is "0 ." — an empty exchange encodes as the root name
        data: { preference: mx.priority, exchange: mx.exchange === '.' ? '' : mx.exchange },
      }));
    case 'A':
      return (entry.A ?? []).map((ip) => ({ type: 'A' as const, name, ttl, data: ip }));
    case 'AAAA':
      return (entry.AAAA ?? []).map((ip) => ({ type: 'AAAA' as const, name, ttl, data: ip }));
    case 'TXT':
      return (entry.TXT ?? []).map((s) => ({ type: 'TXT' as const, name, ttl, data: chunkTxt(s) }));
    case 'PTR':
      return (entry.PTR ?? []).map((p) => ({ type: 'PTR' as const, name, ttl, data: p }));
    case 'TLSA':
      return (entry.TLSA ?? []).map((r) => ({ type: 'TLSA' as const, name, ttl, data: r }));
    default:
      return [];
  }
}

/** null means "do not reply" */
function respond(query: DecodedPacket, zone: Zone, log: TestDnsServer['queries']): Packet | null {
  const q = query.questions?.[0];
  const base = { type: 'response' as const, id: query.id, questions: query.questions ?? [] };
  if (!q) return { ...base, flags: RESPONSE_FLAGS | RCODES.SERVFAIL };
  const opt = query.additionals?.find((a) => a.type === 'OPT') as { flags?: number } | undefined;
  const dnssecOk = ((opt?.flags ?? 0) & dnsPacket.DNSSEC_OK) !== 0;
  log.push({ name: normalise(q.name), type: q.type, dnssecOk });
  const entry = zone[normalise(q.name)];
  if (!entry) return { ...base, flags: RESPONSE_FLAGS | RCODES.NXDOMAIN };
  if (entry.noAnswer) return null;
  if (entry.rcode) return { ...base, flags: RESPONSE_FLAGS | RCODES[entry.rcode] };
  // recursion-desired echoed so stub resolvers accept the reply as an answer to their question;
  // AD only for a query that asked for DNSSEC (DO or AD set), as a validating resolver does (RFC 6840 §5.7)
  const askedForDnssec = dnssecOk || ((query.flags ?? 0) & dnsPacket.AUTHENTIC_DATA) !== 0;
  const ad = entry.ad && askedForDnssec ? dnsPacket.AUTHENTIC_DATA : 0;
  return { ...base, flags: RESPONSE_FLAGS | dnsPacket.RECURSION_DESIRED | ad, answers: answersFor(q, entry) };
}

function udpLimit(query: DecodedPacket): number {
  const opt = query.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  return Math.max(512, opt?.udpPayloadSize ?? 512);
}

export async function startDnsServer(zone: Zone, host = '127.0.0.1'): Promise<TestDnsServer> {
  let current: Zone = zone;
  const queries: TestDnsServer['queries'] = [];
  const sockets = new Set<net.Socket>();

  const tcp = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        let query: DecodedPacket;
        try {
          query = dnsPacket.decode(msg);
        } catch {
          sock.destroy();
          return;
        }
        const res = respond(query, current, queries);
        if (res) sock.write(dnsPacket.streamEncode(res));
      }
    });
  });

  // TCP first with port 0, then UDP on the same number (retry if UDP's port is taken)
  let udp: dgram.Socket | undefined;
  let port = 0;
  for (let attempt = 0; attempt < 20 && !udp; attempt++) {
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(0, host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    port = (tcp.address() as net.AddressInfo).port;
    const candidate = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const ok = await new Promise<boolean>((resolve) => {
      candidate.once('error', () => resolve(false));
      candidate.bind(port, host, () => resolve(true));
    });
    if (ok) udp = candidate;
    else {
      candidate.close();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    }
  }
  if (!udp) throw new Error('test DNS server: could not bind UDP and TCP on one port');
  const udpSock = udp;

  udpSock.on('error', () => undefined);
  udpSock.on('message', (msg, rinfo) => {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const res = respond(query, current, queries);
    if (!res) return;
    let out = dnsPacket.encode(res);
    if (out.length > udpLimit(query)) {
      // too big for UDP: say so (TC) and let the client retry over TCP
      out = dnsPacket.encode({ ...res, answers: [], flags: (res.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE });
    }
    udpSock.send(out, rinfo.port, rinfo.address);
  });

  return {
    address: net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`,
    port,
    setZone(z) {
      current = z;
    },
    queries,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udpSock.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}
