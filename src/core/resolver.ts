import { getServers } from 'node:dns';
import { Resolver as NodeResolver } from 'node:dns/promises';
import { queryTxtWithTtl, type TxtWithTtl } from './txt-ttl.js';

/**
 * DNS is injected. Production uses node's resolver pointed at the configured servers; tests
 * point it at a DNS server on loopback. This file is the only place that imports node:dns.
 */
export interface MxRecord {
  exchange: string;
  priority: number;
}

export interface DnsResolver {
  resolveMx(domain: string): Promise<MxRecord[]>;
  resolve4(host: string): Promise<string[]>;
  resolve6(host: string): Promise<string[]>;
  /** TXT records, each one's strings joined. */
  resolveTxt(name: string): Promise<string[]>;
  reverse(ip: string): Promise<string[]>;
  /** TXT records with their TTL (for caching per the record's TTL); optional for test doubles. */
  resolveTxtWithTtl?(name: string): Promise<TxtWithTtl>;
}

export type { TxtWithTtl };

/**
 * node:dns error codes, re-exported so callers can tell "does not exist" (ENOTFOUND, NXDOMAIN)
 * from "no records of that type" (ENODATA) from "could not ask" (ESERVFAIL, ETIMEOUT, ...).
 */
export const DNS_NOT_FOUND = 'ENOTFOUND';
export const DNS_NO_DATA = 'ENODATA';

export interface ResolverOptions {
  /** host:port list; empty means the system's servers. */
  servers: readonly string[];
  timeoutMs: number;
  tries: number;
}

export function createDnsResolver(options: ResolverOptions): DnsResolver {
  const r = new NodeResolver({ timeout: options.timeoutMs, tries: options.tries });
  if (options.servers.length > 0) r.setServers([...options.servers]);
  return {
    // Node 24 adds a `type` field to each record; keep the shape the same on every Node version.
    resolveMx: async (d) => (await r.resolveMx(d)).map(({ exchange, priority }) => ({ exchange, priority })),
    resolve4: (h) => r.resolve4(h),
    resolve6: (h) => r.resolve6(h),
    resolveTxt: async (n) => (await r.resolveTxt(n)).map((parts) => parts.join('')),
    reverse: (ip) => r.reverse(ip),
    resolveTxtWithTtl: (n) =>
      queryTxtWithTtl(n, options.servers.length > 0 ? options.servers : getServers(), options.timeoutMs),
  };
}

export function dnsErrorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
