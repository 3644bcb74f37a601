import { isIP } from 'node:net';
import { spf } from 'mailauth/lib/spf/index.js';
import { dnsErrorCode, DNS_NO_DATA, DNS_NOT_FOUND, type DnsResolver } from '../core/resolver.js';
import { quoteTxt, txtValue, type DkimAlgorithm } from './keys.js';

/**
 * The DNS checks behind `ferry doctor`: each asks DNS one question about a sending domain and
 * answers pass/warn/fail with the fix. They only read DNS (through the injected resolver), so
 * tests run them against a DNS server on loopback.
 */
export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  check: 'spf' | 'dkim' | 'dmarc' | 'mx' | 'ptr';
  status: CheckStatus;
  detail: string;
  /** what to do about a warn or fail */
  fix?: string;
}

export interface DoctorKey {
  selector: string;
  algorithm: DkimAlgorithm;
  /** base64 p= value we sign with */
  publicKey: string;
}

export interface DoctorInput {
  domain: string;
  /** the relay's public IP; SPF authorization and FCrDNS are only checked with it */
  ip?: string | null;
  keys: readonly DoctorKey[];
}

const absent = (err: unknown): boolean => {
  const code = dnsErrorCode(err);
  return code === DNS_NOT_FOUND || code === DNS_NO_DATA;
};
const why = (err: unknown): string => dnsErrorCode(err) ?? (err instanceof Error ? err.message : String(err));

/** TXT records, [] when the name or the type does not exist; other DNS errors propagate. */
async function txtOrNone(resolver: DnsResolver, name: string): Promise<string[]> {
  try {
    return await resolver.resolveTxt(name);
  } catch (err) {
    if (absent(err)) return [];
    throw err;
  }
}

const spfSuggestion = (domain: string, ip: string | null | undefined): string =>
  `publish TXT at ${domain}: "v=spf1 ${ip ? `${isIP(ip) === 6 ? 'ip6' : 'ip4'}:${ip} ` : ''}mx ~all"`;

export async function checkSpf(resolver: DnsResolver, domain: string, ip?: string | null): Promise<CheckResult> {
  let records: string[];
  try {
    records = (await txtOrNone(resolver, domain)).filter((r) => /^v=spf1(\s|$)/i.test(r.trim()));
  } catch (err) {
    return { check: 'spf', status: 'fail', detail: `cannot look up TXT ${domain}: ${why(err)}`, fix: 'check the domain\'s DNS servers answer' };
  }
  if (records.length === 0) return { check: 'spf', status: 'fail', detail: `no SPF record at ${domain}`, fix: spfSuggestion(domain, ip) };
  if (records.length > 1) {
    return { check: 'spf', status: 'fail', detail: `${records.length} SPF records at ${domain} (receivers treat that as an error)`, fix: 'merge them into one v=spf1 record' };
  }
  const record = records[0]!;
  if (!ip) return { check: 'spf', status: 'warn', detail: `"${record}"; relay IP not checked`, fix: 'run again with --ip RELAY_IP' };
  // mailauth's evaluator implements RFC 7208 (include, a, mx, ptr, exists, redirect, the
  // 10-lookup and 2-void-lookup limits); we only hand it our resolver
  const res = await spf({ sender: `postmaster@${domain}`, ip, helo: domain, mta: 'ferry-doctor', resolver: spfResolver(resolver) });
  const result = res.status.result;
  if (result === 'pass') return { check: 'spf', status: 'pass', detail: `"${record}" authorizes ${ip}` };
  const comment = res.status.comment ? ` (${res.status.comment})` : '';
  if (result === 'temperror' || result === 'temperr') {
    return { check: 'spf', status: 'fail', detail: `SPF evaluation for ${ip} failed temporarily${comment}`, fix: 'check that every domain the record includes resolves' };
  }
  if (result === 'permerror') {
    return { check: 'spf', status: 'fail', detail: `SPF record is broken${comment}`, fix: 'fix the record syntax or reduce it to at most 10 DNS lookups' };
  }
  return {
    check: 'spf',
    status: 'fail',
    detail: `"${record}" gives ${result} for ${ip}`,
    fix: `add ${isIP(ip) === 6 ? 'ip6' : 'ip4'}:${ip} to the SPF record before its "all"`,
  };
}

/** mailauth's resolver shape (node's dns.resolve) over our DnsResolver. */
function spfResolver(resolver: DnsResolver) {
  return async (name: string, type: string): Promise<never[] | string[] | string[][]> => {
    switch (type) {
      case 'TXT':
        return (await resolver.resolveTxt(name)).map((s) => [s]);
      case 'A':
        return resolver.resolve4(name);
      case 'AAAA':
        return resolver.resolve6(name);
      case 'MX':
        return (await resolver.resolveMx(name)) as never[];
      case 'PTR': {
        // our resolver reverses IPs, not names: turn d.c.b.a.in-addr.arpa back into a.b.c.d
        const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr\.arpa\.?$/i.exec(name);
        if (m) return resolver.reverse(`${m[4]}.${m[3]}.${m[2]}.${m[1]}`);
        throw Object.assign(new Error(`PTR ${name} not supported`), { code: DNS_NO_DATA });
      }
      default:
        throw Object.assign(new Error(`${type} not supported`), { code: DNS_NO_DATA });
    }
  };
}

/** Parses `k=v; k=v` tag lists (DKIM, DMARC); keys lower-cased, whitespace removed from p=. */
export function parseTags(record: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return tags;
}

export async function checkDkim(resolver: DnsResolver, domain: string, keys: readonly DoctorKey[]): Promise<CheckResult[]> {
  if (keys.length === 0) {
    return [{ check: 'dkim', status: 'fail', detail: `no DKIM key configured for ${domain}`, fix: `run: ferry dkim keygen ${domain}` }];
  }
  const out: CheckResult[] = [];
  for (const key of keys) {
    const name = `${key.selector}._domainkey.${domain}`;
    const publish = `publish TXT at ${name}: ${quoteTxt(txtValue(key.algorithm, key.publicKey))}`;
    let records: string[];
    try {
      records = await txtOrNone(resolver, name);
    } catch (err) {
      out.push({ check: 'dkim', status: 'fail', detail: `cannot look up TXT ${name}: ${why(err)}`, fix: publish });
      continue;
    }
    const dkim = records.map(parseTags).filter((t) => t.has('p'));
    if (dkim.length === 0) {
      out.push({ check: 'dkim', status: 'fail', detail: `no DKIM record at ${name}`, fix: publish });
      continue;
    }
    const tags = dkim[0]!;
    const p = tags.get('p')!.replace(/\s+/g, '');
    const k = (tags.get('k') ?? 'rsa').toLowerCase();
    if (p === '') out.push({ check: 'dkim', status: 'fail', detail: `${name} is revoked (empty p=)`, fix: publish });
    else if (p !== key.publicKey || k !== key.algorithm) {
      out.push({ check: 'dkim', status: 'fail', detail: `${name} publishes a different key than Ferry signs with`, fix: publish });
    } else out.push({ check: 'dkim', status: 'pass', detail: `${name} matches the ${key.algorithm} key` });
  }
  return out;
}

export async function checkDmarc(resolver: DnsResolver, domain: string): Promise<CheckResult> {
  const name = `_dmarc.${domain}`;
  const suggest = `publish TXT at ${name}: "v=DMARC1; p=none; rua=mailto:dmarc-reports@${domain}" and tighten p= once reports look clean`;
  let records: string[];
  try {
    records = (await txtOrNone(resolver, name)).filter((r) => /^v=DMARC1\s*(;|$)/i.test(r.trim()));
  } catch (err) {
    return { check: 'dmarc', status: 'fail', detail: `cannot look up TXT ${name}: ${why(err)}`, fix: suggest };
  }
  if (records.length === 0) return { check: 'dmarc', status: 'fail', detail: `no DMARC record at ${name} (large mailbox providers require one of bulk senders)`, fix: suggest };
  if (records.length > 1) return { check: 'dmarc', status: 'fail', detail: `${records.length} DMARC records at ${name}: receivers ignore them all`, fix: 'keep exactly one' };
  const p = (parseTags(records[0]!).get('p') ?? '').toLowerCase();
  if (p === 'reject' || p === 'quarantine') return { check: 'dmarc', status: 'pass', detail: `p=${p}` };
  if (p === 'none') return { check: 'dmarc', status: 'warn', detail: 'p=none: monitoring only, spoofed mail is not stopped', fix: 'move to p=quarantine once DKIM and SPF pass' };
  return { check: 'dmarc', status: 'fail', detail: `"${records[0]}" has no valid p= tag`, fix: suggest };
}

export async function checkMx(resolver: DnsResolver, domain: string): Promise<CheckResult> {
  const fix = `publish an MX for ${domain} so replies and bounce reports reach you`;
  try {
    const mx = await resolver.resolveMx(domain);
    const real = mx.filter((m) => m.exchange !== '' && m.exchange !== '.');
    if (real.length === 0 && mx.length > 0) {
      return { check: 'mx', status: 'warn', detail: `${domain} has a null MX: it receives no mail, so replies to it bounce`, fix };
    }
    if (real.length === 0) return { check: 'mx', status: 'fail', detail: `no MX for ${domain}`, fix };
    const list = [...real].sort((a, b) => a.priority - b.priority).map((m) => `${m.priority} ${m.exchange}`);
    return { check: 'mx', status: 'pass', detail: list.join(', ') };
  } catch (err) {
    if (absent(err)) return { check: 'mx', status: 'fail', detail: `no MX for ${domain}`, fix };
    return { check: 'mx', status: 'fail', detail: `cannot look up MX ${domain}: ${why(err)}`, fix: 'check the domain\'s DNS servers answer' };
  }
}

/** Forward-confirmed reverse DNS: the IP's PTR names a host whose A/AAAA includes the IP. */
export async function checkPtr(resolver: DnsResolver, ip?: string | null): Promise<CheckResult> {
  if (!ip) return { check: 'ptr', status: 'warn', detail: 'relay IP not given; reverse DNS not checked', fix: 'run again with --ip RELAY_IP' };
  const fix = `ask whoever owns ${ip} (hosting provider) to set its PTR to the relay's hostname, and give that hostname an ${isIP(ip) === 6 ? 'AAAA' : 'A'} record of ${ip}`;
  let names: string[];
  try {
    names = await resolver.reverse(ip);
  } catch (err) {
    return { check: 'ptr', status: 'fail', detail: absent(err) ? `no PTR for ${ip}` : `cannot look up PTR ${ip}: ${why(err)}`, fix };
  }
  if (names.length === 0) return { check: 'ptr', status: 'fail', detail: `no PTR for ${ip}`, fix };
  for (const name of names) {
    try {
      const addrs = isIP(ip) === 6 ? await resolver.resolve6(name) : await resolver.resolve4(name);
      if (addrs.some((a) => sameIp(a, ip))) return { check: 'ptr', status: 'pass', detail: `${ip} → ${name} → ${ip}` };
    } catch {
      // try the next name
    }
  }
  return { check: 'ptr', status: 'fail', detail: `${ip} → ${names.join(', ')}, which does not resolve back to ${ip}`, fix };
}

const sameIp = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** All checks, SPF/DKIM/DMARC/MX/PTR, run concurrently; order of the result is fixed. */
export async function runDoctor(resolver: DnsResolver, input: DoctorInput): Promise<CheckResult[]> {
  const domain = input.domain.toLowerCase().replace(/\.$/, '');
  const [spfR, dkimR, dmarcR, mxR, ptrR] = await Promise.all([
    checkSpf(resolver, domain, input.ip).catch((err) => ({ check: 'spf', status: 'fail', detail: `SPF check failed: ${why(err)}` }) as CheckResult),
    checkDkim(resolver, domain, input.keys),
    checkDmarc(resolver, domain),
    checkMx(resolver, domain),
    checkPtr(resolver, input.ip),
  ]);
  return [spfR, ...dkimR, dmarcR, mxR, ptrR];
}
