import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { createIdGenerator } from '../core/ids.js';
import { silentLogger } from '../core/logger.js';
import { systemRandom } from '../core/random.js';
import { createDnsResolver } from '../core/resolver.js';
import type { TlsPolicyCounts, TlsSentRow } from '../store/tls-report-repo.js';
import { createTlsReporter } from '../tlsrpt/reporter.js';
import { tlsReporterSettings } from '../tlsrpt/settings.js';
import { utcDay } from '../tlsrpt/sink.js';
import type { CliContext } from './context.js';
import { isoTime, json, table } from './format.js';

/**
 * `ferry tls report [--day YYYY-MM-DD] [--json] [--send]`: the TLS-RPT session counts of one UTC
 * day (default: today) per policy domain and policy, what was sent where, and with --send the
 * day's reports now (each day and domain is sent once, whoever sends it: relay or this command).
 * The `tls` group may also hold other commands (`ferry tls check`): it is created once.
 */
export function registerTlsReportCommand(program: Command, ctx: CliContext): void {
  const tls = program.commands.find((c) => c.name() === 'tls') ?? program.command('tls').description('outbound TLS: reports (TLS-RPT) and policies');
  tls
    .command('report')
    .description('TLS-RPT session counts for a UTC day by policy domain, and the reports sent; --send sends that day now')
    .option('--day <YYYY-MM-DD>', 'the UTC day (default: today)')
    .option('--send', 'send the day\'s reports now (needs tlsRpt.enabled)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { day?: string; send?: boolean; json?: boolean }) => {
      const now = ctx.clock.now();
      const day = opts.day ?? utcDay(now);
      if (!isDay(day)) throw new FerryError('FERRY_ERR_USAGE', `tls report: --day must be a date YYYY-MM-DD, got "${day}"`);
      const config = ctx.config();
      // the relay's store, whichever engine (SQLite file or PostgreSQL)
      const store = await ctx.store();
      const repo = store.tlsReports;
      let sent: { policyDomain: string; state: string; detail: string | null }[] | null = null;
      if (opts.send) {
        if (!config.tlsRpt.enabled) throw new FerryError('FERRY_ERR_CONFIG', 'tls report --send: tlsRpt.enabled is false in the configuration (set it, with tlsRpt.organization and tlsRpt.contact)');
        const reporter = createTlsReporter({
          store,
          repo,
          resolver: createDnsResolver(config.dns),
          clock: ctx.clock,
          logger: silentLogger(),
          newId: createIdGenerator(ctx.clock, systemRandom),
          settings: tlsReporterSettings(config),
          userAgent: 'Ferry',
        });
        // Counts the running relay holds in memory (at most tlsRpt.flushIntervalMs) are not in the database yet.
        sent = (await reporter.sendDay(day)).map((r) => ({ policyDomain: r.policyDomain, state: r.state, detail: r.detail }));
        await reporter.stop();
      }
      const policies = await repo.day(day);
      const records = await repo.sentOnDay(day);
      if (opts.json) {
        ctx.io.stdout.write(json({ day, policies: policies.map(policyJson), sent: records.map(sentJson), ...(sent ? { sendResults: sent } : {}) }));
        return;
      }
      const out = ctx.io.stdout;
      if (sent) {
        out.write(sent.length ? `${table(['policy domain', 'result', 'detail'], sent.map((s) => [s.policyDomain, s.state, s.detail ?? '']), ctx.io.columns)}\n` : `Nothing left to send for ${day}.\n\n`);
      }
      if (policies.length === 0) {
        out.write(`No TLS sessions counted on ${day} (UTC).\n`);
        return;
      }
      out.write(`TLS sessions on ${day} (UTC), by policy domain and policy\n`);
      out.write(
        table(
          ['policy domain', 'policy', 'successful', 'failed', 'failures (result type: sessions)'],
          policies.map((p) => [p.policyDomain, p.policy.type, p.success, p.failure, p.failures.map((f) => `${f.resultType} ${f.receivingMxHostname}${f.receivingIp ? `[${f.receivingIp}]` : ''}: ${f.count}`).join('; ')]),
          ctx.io.columns,
        ),
      );
      if (records.length) {
        out.write('\nReports\n');
        out.write(table(['policy domain', 'destination', 'state', 'at', 'detail'], records.map((r) => [r.policyDomain, r.destination || '(domain)', r.state, isoTime(r.at), r.detail ?? '']), ctx.io.columns));
      }
    });
}

function isDay(s: string): boolean {
  if (s.length !== 10) return false;
  const t = Date.parse(`${s}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === s;
}

function policyJson(p: TlsPolicyCounts) {
  return {
    policyDomain: p.policyDomain,
    policyType: p.policy.type,
    policyStrings: p.policy.strings,
    mxHosts: p.policy.mxHosts,
    successful: p.success,
    failed: p.failure,
    failures: p.failures,
  };
}

function sentJson(r: TlsSentRow) {
  return { policyDomain: r.policyDomain, destination: r.destination, state: r.state, reportId: r.reportId, detail: r.detail, at: isoTime(r.at) };
}
