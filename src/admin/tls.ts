import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { createDnsResolver, dnsErrorCode, type DnsResolver } from '../core/resolver.js';
import { createDaneLookup, type DaneForHost } from '../deliver/tls-policy/dane.js';
import { policyAllowsMx } from '../deliver/tls-policy/mx-match.js';
import type { StsPolicy } from '../deliver/tls-policy/sts-policy.js';
import type { MtaStsPolicyRow, RecentTlsRow } from '../core/tls-store-types.js';
import type { CliContext } from './context.js';
import { isoTime, json, table } from './format.js';

/**
 * `ferry tls check DOMAIN [--json]`: what outbound TLS policy Ferry applies to a recipient
 * domain — the MTA-STS policy in Ferry's cache and the one published now (TXT and HTTPS, through
 * the configured dns.servers), each MX with its TLSA records (when dns.dnssec is set) and whether
 * the policy lists it, and the latest attempts' TLS outcomes. Read-only: the cache is not changed.
 */
export interface TlsCheckReport {
  domain: string;
  cached: (Omit<MtaStsPolicyRow, 'fetchedAt' | 'expiresAt'> & { fetchedAt: string; expiresAt: string; expired: boolean }) | null;
  live: {
    txt: { id: string | null; error: string | null };
    policy: StsPolicy | null;
    error: string | null;
  };
  mx: { host: string; preference: number; inPolicy: boolean | null; dane: DaneForHost | { kind: 'off'; reason: string } }[];
  mxError: string | null;
  recent: (Omit<RecentTlsRow, 'at'> & { at: string })[];
}

export function registerTlsCommands(program: Command, ctx: CliContext): Command {
  const tls = program.command('tls').description('outbound transport security: MTA-STS, DANE, TLS results');
  tls
    .command('check')
    .description("show a recipient domain's MTA-STS policy (cached and live), its MX hosts' TLSA records and the latest TLS results")
    .argument('<domain>', 'the recipient domain')
    .option('--limit <n>', 'recent attempts to show', '10')
    .option('--json', 'print the report as JSON')
    .action(async (domainArg: string, opts: { json?: boolean; limit: string }) => {
      const domain = domainArg.toLowerCase().replace(/\.$/, '');
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit <= 0) throw new FerryError('FERRY_ERR_USAGE', `--limit ${opts.limit}: expected a whole number above 0`);
      const report = await tlsCheck(ctx, domain, limit);
      if (opts.json) ctx.io.stdout.write(json(report));
      else ctx.io.stdout.write(render(report, ctx.io.columns));
    });
  return tls;
}

async function tlsCheck(ctx: CliContext, domain: string, limit: number): Promise<TlsCheckReport> {
  const config = ctx.config();
  const resolver: DnsResolver = createDnsResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeoutMs, tries: config.dns.tries });
  const now = ctx.clock.now();
  // the relay's store, whichever engine (SQLite file or PostgreSQL)
  const store = await ctx.store();
  const row = await store.mtaSts.get(domain);
  const cached = row ? { ...row, fetchedAt: isoTime(row.fetchedAt), expiresAt: isoTime(row.expiresAt), expired: row.expiresAt <= now } : null;

  // Loaded here: sts-policy pulls in mailauth (most of a second of CPU at import) for every command otherwise.
  const { parseStsPolicy, parseStsTxt } = await import('../deliver/tls-policy/sts-policy.js');
  const { createStsFetcher } = await import('../deliver/tls-policy/sts-fetch.js');
  const live: TlsCheckReport['live'] = { txt: { id: null, error: null }, policy: null, error: null };
  try {
    const txt = parseStsTxt(await resolver.resolveTxt(`_mta-sts.${domain}`));
    if (txt.ok) live.txt.id = txt.id;
    else live.txt.error = txt.error;
  } catch (err) {
    live.txt.error = `${dnsErrorCode(err) ?? 'DNS error'}: no usable _mta-sts.${domain} TXT record`;
  }
  if (live.txt.id) {
    const fetched = await createStsFetcher({ resolver, timeoutMs: config.outboundTls.mtaSts.fetchTimeoutMs, clock: ctx.clock, allowPrivate: config.delivery.allowPrivateMx })(domain);
    if (!fetched.ok) live.error = fetched.error;
    else {
      const parsed = parseStsPolicy(fetched.text);
      if (parsed.ok) live.policy = parsed.policy;
      else live.error = parsed.error;
    }
  }

  const patterns = live.policy?.mx ?? (cached && !cached.expired ? cached.mx : null);
  const dane = config.dns.dnssec ? createDaneLookup({ server: config.dns.dnssec.server, timeoutMs: config.outboundTls.daneTimeoutMs }) : null;
  // as delivery does: TLSA records count only under a DNSSEC-signed MX RRset
  const signed = dane ? await dane.mxSecure(domain) : null;
  const daneFor = async (host: string): Promise<TlsCheckReport['mx'][number]['dane']> => {
    if (!dane || !signed) return { kind: 'off', reason: 'dns.dnssec is not set' };
    if ('failed' in signed) return { kind: 'failed', reason: signed.reason };
    if (!signed.secure) return { kind: 'none', reason: signed.reason };
    return dane.tlsaFor(host, config.delivery.port);
  };
  const mx: TlsCheckReport['mx'] = [];
  let mxError: string | null = null;
  try {
    const records = (await resolver.resolveMx(domain)).filter((r) => r.exchange !== '' && r.exchange !== '.').sort((a, b) => a.priority - b.priority);
    for (const r of records) {
      const host = r.exchange.toLowerCase().replace(/\.$/, '');
      mx.push({
        host,
        preference: r.priority,
        inPolicy: patterns ? policyAllowsMx(patterns, host) : null,
        dane: await daneFor(host),
      });
    }
  } catch (err) {
    mxError = `MX ${domain}: ${dnsErrorCode(err) ?? 'DNS error'}`;
  }
  const recent = (await store.attempts.recentTls(domain, limit)).map((r) => ({ ...r, at: isoTime(r.at) }));
  return { domain, cached, live, mx, mxError, recent };
}

function describeDane(d: TlsCheckReport['mx'][number]['dane']): string {
  switch (d.kind) {
    case 'dane':
      return `DANE: ${d.strings.join('\n')}`;
    case 'unusable':
      return `TLSA present, none usable (TLS required): ${d.strings.join('\n')}`;
    case 'failed':
      return `TLSA lookup failed (mail deferred): ${d.reason}`;
    default:
      return d.reason;
  }
}

function render(r: TlsCheckReport, columns: number | undefined): string {
  const lines: string[] = [`outbound TLS for ${r.domain}`, ''];
  lines.push('MTA-STS');
  const c = r.cached;
  lines.push(
    table(
      ['', 'id', 'mode', 'mx', 'max_age', 'state'],
      [
        c ? ['cached', c.policyId, c.mode, c.mx.join('\n'), String(c.maxAgeSeconds), c.expired ? `expired ${c.expiresAt}` : `valid until ${c.expiresAt}`] : ['cached', '', '', '', '', 'none'],
        r.live.policy
          ? ['live', r.live.txt.id ?? '', r.live.policy.mode, r.live.policy.mx.join('\n'), String(r.live.policy.maxAgeSeconds), 'published']
          : ['live', r.live.txt.id ?? '', '', '', '', r.live.error ?? r.live.txt.error ?? 'none'],
      ],
      columns,
    ),
  );
  lines.push('', 'MX hosts');
  if (r.mxError) lines.push(r.mxError);
  else
    lines.push(
      table(
        ['pref', 'host', 'in MTA-STS policy', 'DANE / TLSA'],
        r.mx.map((m) => [String(m.preference), m.host, m.inPolicy === null ? '-' : m.inPolicy ? 'yes' : 'NO', describeDane(m.dane)]),
        columns,
      ),
    );
  lines.push('', 'recent TLS results');
  if (r.recent.length === 0) lines.push('no attempts to this domain');
  else
    lines.push(
      table(
        ['time', 'mx', 'tls', 'policy', 'verified', 'tls result', 'attempt'],
        r.recent.map((a) => [
          a.at,
          a.mxHost ? `${a.mxHost} [${a.ip ?? '?'}]` : '',
          a.tlsProtocol ? `${a.tlsProtocol}${a.tlsCipher ? ` ${a.tlsCipher}` : ''}` : 'no TLS',
          a.tlsPolicy ?? '',
          a.tlsVerified === null ? '' : a.tlsVerified ? 'yes' : 'no',
          a.tlsResult ?? '',
          a.result,
        ]),
        columns,
      ),
    );
  return `${lines.join('\n')}\n`;
}
