import { request } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isPrivateAddress } from '../route.js';
import type { Clock } from '../../core/clock.js';
import type { DnsResolver } from '../../core/resolver.js';
import { errorMessage } from '../../core/errors.js';

/**
 * Fetches `https://mta-sts.DOMAIN/.well-known/mta-sts.txt` (RFC 8461 §3.3): port 443, the
 * system's CA store plus NODE_EXTRA_CA_CERTS (Node's default), no redirects, a bounded size and
 * time. The host name is resolved through Ferry's own resolver (`dns.servers`), the same view of
 * DNS that chose the MX hosts.
 */
export interface StsFetchOptions {
  resolver: DnsResolver;
  timeoutMs: number;
  clock: Clock;
  /** refuse policy hosts on private/loopback addresses unless allowed (labs, tests) */
  allowPrivate: boolean;
}

export type StsFetchResult = { ok: true; text: string } | { ok: false; error: string };

/** RFC 8461 §3.3 asks senders to bound the policy size; 64 KiB is what the RFC suggests. */
const MAX_POLICY_BYTES = 64 * 1024;

export type StsFetcher = (domain: string) => Promise<StsFetchResult>;

export function ferryLookup(resolver: DnsResolver, allowPrivate: boolean): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    void (async () => {
      const [v4, v6] = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)]);
      const list = [
        ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
        ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
      ].filter((a) => allowPrivate || !isPrivateAddress(a.address));
      if (list.length === 0) {
        const reason = v4.status === 'rejected' ? errorMessage(v4.reason) : 'no public address';
        return callback(Object.assign(new Error(`${hostname}: ${reason}`), { code: 'ENOTFOUND' }));
      }
      if (options?.all) return callback(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    })();
  }) as unknown as LookupFunction;
}

export function createStsFetcher(o: StsFetchOptions): StsFetcher {
  const lookup = ferryLookup(o.resolver, o.allowPrivate);
  return (domain) =>
    new Promise<StsFetchResult>((resolve) => {
      const host = `mta-sts.${domain}`;
      let settled = false;
      const done = (r: StsFetchResult): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        resolve(r);
      };
      const req = request({ host, servername: host, port: 443, path: '/.well-known/mta-sts.txt', method: 'GET', lookup, agent: false, headers: { 'user-agent': 'Ferry MTA-STS' } }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return done({ ok: false, error: `${host} answered HTTP ${res.statusCode ?? '?'} (redirects are not followed)` });
        }
        const type = String(res.headers['content-type'] ?? '');
        if (!/^text\/plain\b/i.test(type)) {
          res.resume();
          return done({ ok: false, error: `${host} served the policy as "${type}", not text/plain` });
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_POLICY_BYTES) {
            req.destroy();
            return done({ ok: false, error: `${host} served a policy over ${MAX_POLICY_BYTES} bytes` });
          }
          chunks.push(c);
        });
        res.on('end', () => done({ ok: true, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => done({ ok: false, error: `${host}: ${errorMessage(err)}` }));
      });
      const timer = o.clock.setTimer(o.timeoutMs, () => {
        req.destroy();
        done({ ok: false, error: `${host}: no policy within ${o.timeoutMs} ms` });
      });
      req.on('error', (err) => done({ ok: false, error: `${host}: ${(err as NodeJS.ErrnoException).code ?? ''} ${errorMessage(err)}`.trim() }));
      req.end();
    });
}
