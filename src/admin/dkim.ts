import { Option, type Command } from 'commander';
import Table from 'cli-table3';
import { rmSync } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';
import { FerryError } from '../core/errors.js';
import {
  assertDomain,
  assertSelector,
  defaultSelector,
  generateDkimKey,
  quoteTxt,
  txtValue,
  writePrivateKey,
  type DkimAlgorithm,
} from '../sign/keys.js';
import type { CliContext } from './context.js';

/**
 * `ferry dkim keygen | list | remove`: manage the keys Ferry signs with. keygen prints the DNS
 * record to publish; signing starts for the domain as soon as the key is stored, so publish
 * first when the domain already sends (an unpublished key fails DKIM until DNS has it).
 */
export function registerDkimCommands(program: Command, ctx: CliContext): void {
  const dkim = program.command('dkim').description('manage DKIM signing keys');

  dkim
    .command('keygen')
    .description('generate a signing key for a domain and print its DNS record')
    .argument('<domain>', 'the signing domain (d=)')
    .option('--selector <selector>', 'the DNS selector (default: ferryYYYYMM, the current month)')
    .addOption(new Option('--algorithm <algorithm>', 'key type').choices(['rsa', 'ed25519']).default('rsa'))
    .option('--bits <bits>', 'RSA key size', '2048')
    .action(async (domainArg: string, opts: { selector?: string; algorithm: DkimAlgorithm; bits: string }) => {
      const domain = assertDomain(domainArg.replace(/\.$/, ''));
      const selector = assertSelector(opts.selector ?? defaultSelector(ctx.clock));
      if (!/^\d+$/.test(opts.bits)) throw new FerryError('FERRY_ERR_USAGE', `--bits ${opts.bits}: expected a number such as 2048`);
      const repo = (await ctx.store()).dkimKeys;
      if ((await repo.byDomain(domain)).some((k) => k.selector === selector)) {
        throw new FerryError(
          'FERRY_ERR_EXISTS',
          `${selector}._domainkey.${domain} already has a key; a published selector must keep its key: choose another --selector, or remove it first`,
        );
      }
      const key = generateDkimKey(opts.algorithm, Number(opts.bits));
      const keyFile = writePrivateKey(ctx.config().dataDir, domain, selector, key.privateKeyPem);
      try {
        await repo.add({ domain, selector, algorithm: key.algorithm, keyFile, publicKey: key.publicKey, createdAt: ctx.clock.now() });
      } catch (err) {
        rmSync(keyFile, { force: true }); // a key nobody references must not block the next try
        throw err;
      }
      const label = key.algorithm === 'rsa' ? `rsa-${opts.bits}` : 'ed25519';
      ctx.io.stdout.write(
        [
          `Generated ${label} key for ${domain}, selector ${selector}`,
          `Private key: ${keyFile}`,
          'Publish this DNS TXT record, then check it with: ferry doctor ' + domain,
          `  name:  ${selector}._domainkey.${domain}`,
          `  value: ${quoteTxt(txtValue(key.algorithm, key.publicKey))}`,
          '',
        ].join('\n'),
      );
    });

  dkim
    .command('list')
    .description('list DKIM keys')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const rows = await (await ctx.store()).dkimKeys.list();
      if (opts.json) {
        const out = rows.map((r) => ({ ...r, createdAt: new Date(r.createdAt).toISOString(), dnsName: `${r.selector}._domainkey.${r.domain}` }));
        ctx.io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      if (rows.length === 0) {
        ctx.io.stdout.write('No DKIM keys. Create one with: ferry dkim keygen DOMAIN\n');
        return;
      }
      // no colours: the output is read in terminals, logs and pipes alike
      const table = new Table({ head: ['Domain', 'Selector', 'Algorithm', 'Created', 'Key file'], style: { head: [], border: [] } });
      for (const r of rows) table.push([r.domain, r.selector, r.algorithm, new Date(r.createdAt).toISOString().slice(0, 10), r.keyFile]);
      ctx.io.stdout.write(`${table.toString()}\n`);
    });

  dkim
    .command('remove')
    .description('stop signing with a key (and delete it if Ferry generated it)')
    .argument('<domain>')
    .argument('<selector>')
    .action(async (domainArg: string, selector: string) => {
      const domain = domainArg.toLowerCase().replace(/\.$/, '');
      const repo = (await ctx.store()).dkimKeys;
      const row = (await repo.byDomain(domain)).find((k) => k.selector === selector);
      if (!row || !(await repo.remove(domain, selector))) {
        throw new FerryError('FERRY_ERR_NOT_FOUND', `no DKIM key ${selector}._domainkey.${domain} (see: ferry dkim list)`);
      }
      // only files under dataDir/dkim are Ferry's to delete; operator-managed PEMs stay
      const rel = relative(join(ctx.config().dataDir, 'dkim'), row.keyFile);
      const ours = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
      if (ours) rmSync(row.keyFile, { force: true });
      ctx.io.stdout.write(
        `Removed ${selector}._domainkey.${domain}${ours ? ` and deleted ${row.keyFile}` : ` (kept ${row.keyFile})`}.\n` +
          'Keep its DNS record published for a few days so mail already sent still verifies.\n',
      );
    });
}
