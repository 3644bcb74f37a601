import { request } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { DnsResolver } from '../core/resolver.js';
import { errorMessage } from '../core/errors.js';

/**
 * POSTs a gzipped report to an https rua (RFC 8460 §5.2). The host name is resolved through
 * Ferry's resolver (dns.servers), so the relay has one view of DNS; the certificate is checked
 * against the system's CAs plus NODE_EXTRA_CA_CERTS (or `ca`, when given).
 */
export interface HttpsPostOptions {
  resolver: DnsResolver;
  timeoutMs: number;
  userAgent: string;
  /** extra trusted CAs (tests); default: Node's store */
  ca?: string | Buffer | readonly (string | Buffer)[];
  signal?: AbortSignal;
}

export type PostResult = { ok: true; status: number } | { ok: false; error: string };

export function resolverLookup(resolver: DnsResolver): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number | string }, callback: (err: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void) => {
    const literal = isIP(hostname);
    const found: Promise<{ address: string; family: number }[]> = literal
      ? Promise.resolve([{ address: hostname, family: literal }])
      : resolver
          .resolve4(hostname)
          .then((a) => a.map((address) => ({ address, family: 4 })))
          .catch(() => [] as { address: string; family: number }[])
          .then(async (v4) => (v4.length ? v4 : (await resolver.resolve6(hostname).catch(() => [] as string[])).map((address) => ({ address, family: 6 }))));
    found.then(
      (list) => {
        if (list.length === 0) {
          const err = Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }) as NodeJS.ErrnoException;
          return callback(err, options.all ? [] : '', 0);
        }
        if (options.all) return callback(null, list);
        callback(null, list[0]!.address, list[0]!.family);
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, options.all ? [] : '', 0),
    );
  }) as unknown as LookupFunction;
}

export function postReport(url: URL, body: Buffer, o: HttpsPostOptions): Promise<PostResult> {
  return new Promise<PostResult>((resolve) => {
    let done = false;
    const finish = (r: PostResult): void => {
      if (done) return;
      done = true;
      resolve(r);
    };
    try {
      const req = request(
        url,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/tlsrpt+gzip', 'Content-Length': body.length, 'User-Agent': o.userAgent },
          lookup: resolverLookup(o.resolver),
          timeout: o.timeoutMs,
          ...(o.ca ? { ca: o.ca as string | Buffer | (string | Buffer)[] } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        },
        (res) => {
          // The answer's body is not ours to keep: read and drop it (bounded by the timeout).
          res.resume();
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            finish(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, error: `HTTP ${status}` });
          });
          res.on('error', (err) => finish({ ok: false, error: errorMessage(err) }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
      req.on('error', (err) => finish({ ok: false, error: errorMessage(err) }));
      req.end(body);
    } catch (err) {
      finish({ ok: false, error: errorMessage(err) });
    }
  });
}
