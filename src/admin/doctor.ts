import type { Command } from 'commander';
import { isIP } from 'node:net';
import { FerryError } from '../core/errors.js';
import { createDnsResolver, type DnsResolver } from '../core/resolver.js';
import type { CheckResult } from '../sign/doctor-checks.js';
import type { CliContext } from './context.js';
import { runDataDoctor } from './doctor-data.js';

/**
 * `ferry doctor DOMAIN [--ip RELAY_IP] [--json]`: checks the DNS a sending domain needs (SPF,
 * DKIM, DMARC, MX, reverse DNS) and says how to fix what is wrong. Exits 1 when a check fails.
 * DNS goes through the configured dns.servers (tests point them at a loopback DNS server).
 */
export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description('check SPF, DKIM, DMARC, MX and reverse DNS for a sending domain; or, with --data, the database and data directory')
    .argument('[domain]', 'the From domain to check')
    .option('--ip <address>', "the relay's public IP (checks that SPF authorizes it and its PTR)")
    .option('--data', 'check the data directory instead: full database integrity_check, foreign keys, file modes, lock')
    .option('--json', 'print the results as JSON')
    .action(async (domain: string | undefined, opts: { ip?: string; json?: boolean; data?: boolean }) => {
      if (opts.data) {
        if (domain !== undefined) throw new FerryError('FERRY_ERR_USAGE', 'doctor: give a domain or --data, not both');
        return runDataDoctor(ctx, opts.json ?? false);
      }
      if (domain === undefined) throw new FerryError('FERRY_ERR_USAGE', 'doctor: which domain? (ferry doctor DOMAIN, or ferry doctor --data)');
      if (opts.ip !== undefined && isIP(opts.ip) === 0) throw new FerryError('FERRY_ERR_USAGE', `--ip ${opts.ip}: not an IP address`);
      const d = domain.toLowerCase().replace(/\.$/, '');
      const resolver = configuredResolver(ctx);
      const keys = (await (await ctx.store()).dkimKeys.byDomain(d)).map((k) => ({ selector: k.selector, algorithm: k.algorithm, publicKey: k.publicKey }));
      // Loaded here: mailauth costs most of a second of CPU at import, which every other command would pay.
      const { runDoctor } = await import('../sign/doctor-checks.js');
      const results = await runDoctor(resolver, { domain: d, ip: opts.ip ?? null, keys });
      const failed = results.filter((r) => r.status === 'fail').length;
      if (opts.json) {
        ctx.io.stdout.write(`${JSON.stringify({ domain: d, ip: opts.ip ?? null, ok: failed === 0, checks: results }, null, 2)}\n`);
      } else {
        for (const r of results) ctx.io.stdout.write(`${formatLine(r)}\n`);
      }
      if (failed > 0) {
        throw new FerryError('FERRY_ERR_DNS', `doctor: ${failed} of ${results.length} checks failed for ${d}`, { phase: 'doctor' });
      }
    });
}

function configuredResolver(ctx: CliContext): DnsResolver {
  const dns = ctx.config().dns;
  return createDnsResolver({ servers: dns.servers, timeoutMs: dns.timeoutMs, tries: dns.tries });
}

/** `FAIL  spf    no SPF record at example.com — fix: publish TXT ...` */
export function formatLine(r: CheckResult): string {
  const fix = r.fix && r.status !== 'pass' ? ` — fix: ${r.fix}` : '';
  return `${r.status.toUpperCase().padEnd(5)} ${r.check.padEnd(6)} ${r.detail}${fix}`;
}
