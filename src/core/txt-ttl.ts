import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import dnsPacket from 'dns-packet';

/**
 * A TXT lookup that also returns the answer's TTL, which node:dns does not report for TXT.
 * The DMARC guard caches policies per their TTL with it. One UDP query per server in turn;
 * errors carry node:dns codes (ENOTFOUND, ENODATA, ESERVFAIL, ETIMEOUT) so callers treat both
 * paths alike. A truncated answer is reported as ETRUNCATED: the caller falls back to node's
 * resolver (which retries over TCP) with its fixed cache time.
 */
export interface TxtWithTtl {
  records: string[];
  /** Seconds: the smallest TTL of the answers, or the SOA minimum of a negative answer. */
  ttlSeconds: number;
}

class DnsError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export async function queryTxtWithTtl(name: string, servers: readonly string[], timeoutMs: number): Promise<TxtWithTtl> {
  let last: unknown = new DnsError('ECONNREFUSED', 'no DNS server to ask');
  for (const server of servers) {
    try {
      return await queryOne(name, server, timeoutMs);
    } catch (err) {
      last = err;
      const code = (err as { code?: string }).code;
      // A definite answer from one server is the answer; only failures move on.
      if (code === 'ENOTFOUND' || code === 'ENODATA') throw err;
    }
  }
  throw last;
}

function splitServer(server: string): { host: string; port: number } {
  if (isIP(server)) return { host: server, port: 53 };
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(server);
  return { host: m?.[1] ?? server, port: m?.[2] ? Number(m[2]) : 53 };
}

function queryOne(name: string, server: string, timeoutMs: number): Promise<TxtWithTtl> {
  const { host, port } = splitServer(server);
  const id = randomInt(0, 65536);
  const query = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'TXT', name }] });
  const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  return new Promise<TxtWithTtl>((resolve, reject) => {
    const timer = setTimeout(() => finish(new DnsError('ETIMEOUT', `DNS query for ${name} to ${server} timed out`)), timeoutMs);
    function finish(err: Error | null, value?: TxtWithTtl): void {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(value!);
    }
    socket.on('error', (err) => finish(err));
    socket.on('message', (msg) => {
      let res: dnsPacket.Packet;
      try {
        res = dnsPacket.decode(msg);
      } catch (err) {
        return finish(new DnsError('EBADRESP', `undecodable DNS answer: ${(err as Error).message}`));
      }
      if (res.id !== id) return; // not ours: keep waiting
      if ((res.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) return finish(new DnsError('ETRUNCATED', 'truncated answer'));
      const rcode = (res as { rcode?: string }).rcode ?? 'NOERROR';
      const soaMin = negativeTtl(res);
      if (rcode === 'NXDOMAIN') return finish(Object.assign(new DnsError('ENOTFOUND', `${name}: NXDOMAIN`), { ttlSeconds: soaMin }));
      if (rcode !== 'NOERROR') return finish(new DnsError(rcode === 'SERVFAIL' ? 'ESERVFAIL' : 'EREFUSED', `${name}: ${rcode}`));
      const txt = (res.answers ?? []).filter((a): a is dnsPacket.TxtAnswer => a.type === 'TXT');
      if (txt.length === 0) return finish(Object.assign(new DnsError('ENODATA', `${name}: no TXT records`), { ttlSeconds: soaMin }));
      const records = txt.map((a) => (Array.isArray(a.data) ? a.data : [a.data]).map((d) => (Buffer.isBuffer(d) ? d.toString('utf8') : String(d))).join(''));
      const ttlSeconds = Math.min(...txt.map((a) => a.ttl ?? 0));
      finish(null, { records, ttlSeconds });
    });
    socket.send(query, port, host);
  });
}

/** RFC 2308: a negative answer may be cached for the SOA's minimum (bounded by its TTL). */
function negativeTtl(res: dnsPacket.Packet): number | undefined {
  const soa = (res.authorities ?? []).find((a) => a.type === 'SOA') as { ttl?: number; data: { minimum: number } } | undefined;
  return soa ? Math.min(soa.ttl ?? soa.data.minimum, soa.data.minimum) : undefined;
}
