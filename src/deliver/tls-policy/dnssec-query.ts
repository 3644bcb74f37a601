import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { connect, isIP } from 'node:net';
import dnsPacket from 'dns-packet';

/**
 * One DNS question to the validating resolver with the DO bit (RFC 4035 §3.2.1) and AD asked for
 * (RFC 6840 §5.7): UDP first, TCP when the answer is truncated. Ferry does not validate DNSSEC
 * itself; it trusts the resolver's AD flag, and only from a resolver on loopback (enforced where
 * the configuration is read), because the path to any other could be tampered with.
 */
export interface DnssecAnswer {
  rcode: string;
  /** the resolver validated the answer (AD) */
  secure: boolean;
  answers: dnsPacket.Answer[];
}

export class DnssecQueryError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

function splitServer(server: string): { host: string; port: number } {
  if (isIP(server)) return { host: server, port: 53 };
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(server);
  return { host: m?.[1] ?? server, port: m?.[2] ? Number(m[2]) : 53 };
}

function question(name: string, type: dnsPacket.RecordType, id: number): dnsPacket.Packet {
  return {
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.AUTHENTIC_DATA,
    questions: [{ type, name }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, flags: dnsPacket.DNSSEC_OK } as dnsPacket.Answer],
  };
}

function toAnswer(res: dnsPacket.DecodedPacket): DnssecAnswer {
  return {
    rcode: (res as { rcode?: string }).rcode ?? 'NOERROR',
    secure: ((res.flags ?? 0) & dnsPacket.AUTHENTIC_DATA) !== 0,
    answers: res.answers ?? [],
  };
}

export async function dnssecQuery(server: string, name: string, type: dnsPacket.RecordType, timeoutMs: number): Promise<DnssecAnswer> {
  const { host, port } = splitServer(server);
  const udp = await viaUdp(host, port, name, type, timeoutMs);
  if (udp !== 'truncated') return udp;
  return viaTcp(host, port, name, type, timeoutMs);
}

function viaUdp(host: string, port: number, name: string, type: dnsPacket.RecordType, timeoutMs: number): Promise<DnssecAnswer | 'truncated'> {
  const id = randomInt(0, 65536);
  const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new DnssecQueryError('ETIMEOUT', `DNSSEC query ${type} ${name} timed out`)), timeoutMs);
    function done(err: Error | null, value?: DnssecAnswer | 'truncated'): void {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(value!);
    }
    socket.on('error', (err) => done(err));
    socket.on('message', (msg) => {
      let res: dnsPacket.DecodedPacket;
      try {
        res = dnsPacket.decode(msg);
      } catch (err) {
        return done(new DnssecQueryError('EBADRESP', `undecodable DNS answer: ${(err as Error).message}`));
      }
      if (res.id !== id) return;
      if ((res.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) return done(null, 'truncated');
      done(null, toAnswer(res));
    });
    socket.send(dnsPacket.encode(question(name, type, id)), port, host);
  });
}

function viaTcp(host: string, port: number, name: string, type: dnsPacket.RecordType, timeoutMs: number): Promise<DnssecAnswer> {
  const id = randomInt(0, 65536);
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(new DnssecQueryError('ETIMEOUT', `DNSSEC query ${type} ${name} over TCP timed out`)), timeoutMs);
    function done(err: Error | null, value?: DnssecAnswer): void {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value!);
    }
    sock.on('error', (err) => done(err));
    sock.on('connect', () => sock.write(dnsPacket.streamEncode(question(name, type, id))));
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      try {
        const res = dnsPacket.streamDecode(buf) as dnsPacket.DecodedPacket;
        if (res.id !== id) return done(new DnssecQueryError('EBADRESP', 'DNS answer for another query'));
        done(null, toAnswer(res));
      } catch (err) {
        done(new DnssecQueryError('EBADRESP', `undecodable DNS answer: ${(err as Error).message}`));
      }
    });
  });
}
