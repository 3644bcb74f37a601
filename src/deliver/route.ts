import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Clock } from '../core/clock.js';
import type { Random } from '../core/random.js';
import { DNS_NO_DATA, DNS_NOT_FOUND, dnsErrorCode, type DnsResolver, type MxRecord } from '../core/resolver.js';
import { errorMessage } from '../core/errors.js';
import type { Hop, HopTls, HopTry, RouteResult, TlsLevel } from './types.js';

/**
 * Where mail for a domain goes: a static route (exact domain, then "*"), else the domain's MX
 * records in preference order, else its own A/AAAA (the implicit MX). Only facts come out:
 * "NXDOMAIN" or "null MX" is permanent, "SERVFAIL" is not; what that means for the recipient is
 * the classifier's call.
 */

export interface StaticRoute {
  readonly host: string;
  readonly auth: { readonly user: string; readonly pass: string } | null;
  /** true: TLS with a certificate valid for the host; 'encrypt-only': TLS, any certificate */
  readonly requireTls: boolean | 'encrypt-only';
  readonly implicitTls: boolean;
}

export interface RouterOptions {
  resolver: DnsResolver;
  routes: Readonly<Record<string, StaticRoute>>;
  /** allow MX hosts on loopback/private/link-local addresses (tests, labs) */
  allowPrivateMx: boolean;
  /** the port MX hosts are contacted on */
  port: number;
  random: Random;
  /** TLS with a certificate valid for the MX name (level verify) */
  requireTlsDomains: readonly string[];
  /** TLS with any certificate (level encrypt: the old meaning of "required") */
  encryptOnlyDomains?: readonly string[];
  clock: Clock;
}

export interface Router {
  resolve(domain: string): Promise<RouteResult>;
}

// Ranges no public MX may point into: a hostile or broken DNS answer must not make Ferry
// deliver into the local network.
const REFUSED_RANGES = new Set([
  'unspecified',
  'broadcast',
  'multicast',
  'linkLocal',
  'loopback',
  'carrierGradeNat',
  'private',
  'reserved',
  'uniqueLocal',
  'deprecatedSiteLocal',
  'discard',
]);

export function isPrivateAddress(ip: string): boolean {
  if (!ipaddr.isValid(ip)) return false;
  return REFUSED_RANGES.has(ipaddr.process(ip).range());
}

/** "host:port" or "[v6]:port" → parts */
export function parseHostPort(value: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(value) ?? /^([^:]+)(?::(\d+))?$/.exec(value);
  if (!m) return { host: value, port: defaultPort };
  return { host: m[1]!, port: m[2] ? Number(m[2]) : defaultPort };
}

/** An MX exchange may be written as an address literal, possibly bracketed. */
function literal(host: string): string | null {
  const h = host.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  return isIP(h) ? h : null;
}

function isNullMx(records: MxRecord[]): boolean {
  return records.length > 0 && records.every((r) => r.exchange === '' || r.exchange === '.');
}

export function createRouter(options: RouterOptions): Router {
  const { resolver, clock, random } = options;
  const requireTls = new Set(options.requireTlsDomains.map((d) => d.toLowerCase()));
  const encryptOnly = new Set((options.encryptOnlyDomains ?? []).map((d) => d.toLowerCase()));

  /** The route's own level; DANE and MTA-STS may raise it later (deliver/tls-policy). */
  const tlsFor = (domain: string, route?: StaticRoute): HopTls => {
    const listed = (set: Set<string>): boolean => set.has(domain) || set.has('*');
    let level: TlsLevel = 'may';
    if (route?.requireTls === true || (route?.requireTls !== 'encrypt-only' && listed(requireTls))) level = 'verify';
    else if (route?.requireTls === 'encrypt-only' || listed(encryptOnly)) level = 'encrypt';
    return { required: level !== 'may', implicit: Boolean(route?.implicitTls), level };
  };

  /** MX records in preference order, equal preferences shuffled (RFC 5321 5.1) */
  const order = (records: MxRecord[]): MxRecord[] => {
    const byPref = new Map<number, MxRecord[]>();
    for (const r of records) byPref.set(r.priority, [...(byPref.get(r.priority) ?? []), r]);
    return [...byPref.keys()]
      .sort((a, b) => a - b)
      .flatMap((p) => {
        const group = [...byPref.get(p)!];
        for (let i = group.length - 1; i > 0; i--) {
          const j = Math.floor(random.next() * (i + 1));
          [group[i], group[j]] = [group[j]!, group[i]!];
        }
        return group;
      });
  };

  type Lookup = { addresses: string[] } | { addresses: []; definitive: boolean; message: string };

  /** A then AAAA: IPv4 first, because that is where most receivers' reputation and PTR live. */
  const addressesOf = async (host: string): Promise<Lookup> => {
    const lit = literal(host);
    if (lit) return { addresses: [lit] };
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
    const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (addresses.length > 0) return { addresses };
    const codes = [v4, v6].map((r) => (r.status === 'rejected' ? dnsErrorCode(r.reason) : DNS_NO_DATA));
    const definitive = codes.every((c) => c === DNS_NOT_FOUND || c === DNS_NO_DATA);
    const failed = [v4, v6].find((r) => r.status === 'rejected');
    const message = failed ? errorMessage(failed.reason) : `${host} has no A or AAAA records`;
    return { addresses: [], definitive, message: `${host}: ${codes.join('/')}: ${message}` };
  };

  /** Resolves each candidate host, refusing private addresses; collects what it tried. */
  const buildHops = async (
    domain: string,
    source: 'static' | 'mx' | 'implicit',
    candidates: { host: string; port: number; preference: number | null }[],
    route?: StaticRoute,
  ): Promise<RouteResult> => {
    const tries: HopTry[] = [];
    const hops: Hop[] = [];
    let temporaryDns = false;
    let anyPrivate = false;
    for (const c of candidates) {
      const startedAt = clock.now();
      const found = await addressesOf(c.host);
      if (found.addresses.length === 0) {
        const f = found as { definitive: boolean; message: string };
        if (!f.definitive) temporaryDns = true;
        tries.push({
          host: c.host,
          ip: null,
          port: c.port,
          preference: c.preference,
          startedAt,
          durationMs: clock.now() - startedAt,
          result: 'dns_failed',
          error: { kind: 'dns', message: f.message },
        });
        continue;
      }
      const usable: string[] = [];
      for (const ip of found.addresses) {
        // static routes are the admin's own choice (a smarthost on the LAN is normal)
        if (source !== 'static' && !options.allowPrivateMx && isPrivateAddress(ip)) {
          anyPrivate = true;
          tries.push({
            host: c.host,
            ip,
            port: c.port,
            preference: c.preference,
            startedAt,
            durationMs: clock.now() - startedAt,
            result: 'refused_private',
            error: { kind: 'local', message: `${c.host} resolves to ${ip}, a non-public address (delivery.allowPrivateMx is false)` },
          });
        } else usable.push(ip);
      }
      if (usable.length > 0) {
        hops.push({ host: c.host, port: c.port, preference: c.preference, addresses: usable, tls: tlsFor(domain, route), auth: route?.auth ? { ...route.auth } : null });
      }
    }
    if (hops.length > 0) return { ok: true, domain, source, hops, tries };
    if (temporaryDns) {
      return { ok: false, domain, permanent: false, reason: 'dns_error', message: `no mail server of ${domain} could be resolved`, tries };
    }
    if (anyPrivate) {
      return { ok: false, domain, permanent: false, reason: 'all_private', message: `every mail server of ${domain} has a non-public address`, tries };
    }
    return { ok: false, domain, permanent: true, reason: 'no_address', message: `no mail server of ${domain} has an address`, tries };
  };

  const resolve = async (rawDomain: string): Promise<RouteResult> => {
    const domain = rawDomain.toLowerCase().replace(/\.$/, '');
    const route = options.routes[domain] ?? options.routes['*'];
    if (route) {
      const { host, port } = parseHostPort(route.host, route.implicitTls ? 465 : options.port);
      return buildHops(domain, 'static', [{ host, port, preference: null }], route);
    }
    // an address-literal domain (user@[192.0.2.1]) is its own host
    const lit = literal(domain);
    if (lit) return buildHops(domain, 'implicit', [{ host: lit, port: options.port, preference: null }]);

    let records: MxRecord[];
    try {
      records = await resolver.resolveMx(domain);
    } catch (err) {
      const code = dnsErrorCode(err);
      if (code === DNS_NOT_FOUND) {
        return { ok: false, domain, permanent: true, reason: 'nxdomain', message: `${domain} does not exist (NXDOMAIN)`, tries: [] };
      }
      if (code !== DNS_NO_DATA) {
        return { ok: false, domain, permanent: false, reason: 'dns_error', message: `MX lookup for ${domain} failed: ${code ?? ''} ${errorMessage(err)}`.trim(), tries: [] };
      }
      records = [];
    }
    if (isNullMx(records)) {
      return { ok: false, domain, permanent: true, reason: 'null_mx', message: `${domain} accepts no mail (null MX, RFC 7505)`, tries: [] };
    }
    const real = records.filter((r) => r.exchange !== '' && r.exchange !== '.');
    if (real.length === 0) {
      // no MX at all: the domain itself is the implicit MX (RFC 5321 5.1)
      return buildHops(domain, 'implicit', [{ host: domain, port: options.port, preference: null }]);
    }
    return buildHops(
      domain,
      'mx',
      order(real).map((r) => ({ host: r.exchange.toLowerCase().replace(/\.$/, ''), port: options.port, preference: r.priority })),
    );
  };

  return { resolve };
}
