import t from 'tap';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { registerDoctorCommand } from '../../src/admin/doctor.js';
import { makeProgram } from '../sign/fixtures/helpers.js';
import { cliFor } from '../ops/fixtures/seed.js';
import { tempDir } from '../helpers/relay.js';

async function run(cli: ReturnType<typeof cliFor>, ...args: string[]): Promise<string> {
  const before = cli.out().length;
  const program = makeProgram();
  registerDoctorCommand(program, cli.ctx);
  await program.parseAsync(args, { from: 'user' });
  return cli.out().slice(before);
}

t.test('doctor --data: integrity, foreign keys, modes (a loose one is a warning with its fix), the lock', async (t) => {
  const dir = tempDir(t);
  const cli = cliFor(dir, { http: { listen: null } });
  t.teardown(() => cli.close());
  cli.ctx.db();
  const out = await run(cli, 'doctor', '--data');
  t.match(out, /^PASS\s+integrity\s+PRAGMA integrity_check: ok \(\d+ bytes\)$/m);
  t.match(out, /^PASS\s+foreign keys\s+PRAGMA foreign_key_check: ok$/m);
  t.match(out, new RegExp(`^PASS\\s+mode\\s+${join(dir, 'ferry.db')} 0600$`, 'm'));
  t.match(out, /^PASS\s+lock\s+no relay runs on this data directory$/m);

  chmodSync(dir, 0o755);
  const loose = await run(cli, 'doctor', '--data');
  t.match(loose, new RegExp(`^WARN\\s+mode\\s+${dir} is 0755, expected 0700 \\(only the relay user may enter it\\) — fix: chmod 0700 `, 'm'));
  const json = JSON.parse(await run(cli, 'doctor', '--data', '--json'));
  t.equal(json.ok, true, 'a warning is not a failure');
  t.equal(json.checks[0].check, 'integrity');
});

t.test('doctor: a domain or --data, not both, not neither', async (t) => {
  const cli = cliFor(tempDir(t), { http: { listen: null } });
  t.teardown(() => cli.close());
  await t.rejects(run(cli, 'doctor', 'example.com', '--data'), { code: 'FERRY_ERR_USAGE', message: /not both/ });
  await t.rejects(run(cli, 'doctor'), { code: 'FERRY_ERR_USAGE', message: /which domain/ });
});
