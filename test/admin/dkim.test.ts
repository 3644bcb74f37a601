import t from 'tap';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { registerDkimCommands } from '../../src/admin/dkim.js';
import { createKeySource } from '../../src/sign/keys.js';
import { createSigner } from '../../src/sign/signer.js';
import { createDkimKeysRepo } from '../../src/store/dkim-keys-repo.js';
import { makeCli, makeProgram, streamOf, verify, type TestKeys } from '../sign/fixtures/helpers.js';

async function run(cli: ReturnType<typeof makeCli>, ...args: string[]) {
  const program = makeProgram();
  registerDkimCommands(program, cli.ctx);
  await program.parseAsync(args, { from: 'user' });
}

t.test('keygen stores a 0600 key, prints the record split into ≤255-char strings, and the key signs', async (t) => {
  const cli = makeCli();
  t.teardown(() => cli.close());
  await run(cli, 'dkim', 'keygen', 'Example.COM');
  const out = cli.out();
  t.match(out, 'selector ferry202601', 'default selector from the clock month');
  t.match(out, 'name:  ferry202601._domainkey.example.com');
  const value = /value: (.*)/.exec(out)![1]!;
  const strings = [...value.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  t.ok(strings.length >= 2, '2048-bit RSA needs more than one string');
  for (const s of strings) t.ok(s.length <= 255, `string of ${s.length}`);
  t.match(strings.join(''), /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+$/);

  const file = join(cli.dir, 'dkim', 'example.com', 'ferry202601.pem');
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(statSync(join(cli.dir, 'dkim', 'example.com')).mode & 0o777, 0o700);

  // the stored key signs, and the printed record verifies it
  const rows = createDkimKeysRepo(cli.ctx.db()).list();
  t.equal(rows.length, 1);
  const signer = createSigner({ keys: createKeySource(() => rows) });
  const msg = Buffer.from('From: a@example.com\r\nSubject: x\r\n\r\nhi\r\n');
  const res = await signer.sign('example.com', streamOf(msg));
  const keys = { txt: new Map([['ferry202601._domainkey.example.com', strings.join('')]]) } as TestKeys;
  const results = await verify(keys, Buffer.concat([Buffer.from(res!.headers), msg]));
  t.same(results.map((r) => r.result), ['pass']);
});

t.test('ed25519 with a chosen selector; refusing to overwrite; list; remove', async (t) => {
  const cli = makeCli();
  t.teardown(() => cli.close());
  await run(cli, 'dkim', 'keygen', 'example.org', '--selector', 's1', '--algorithm', 'ed25519');
  t.match(cli.out(), /value: "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="\n/, 'raw 32-byte key, one string');
  await t.rejects(run(cli, 'dkim', 'keygen', 'example.org', '--selector', 's1'), { code: 'FERRY_ERR_EXISTS', message: /already has a key/ });
  await t.rejects(run(cli, 'dkim', 'keygen', 'example.org', '--selector', '../evil'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(run(cli, 'dkim', 'keygen', 'example.org', '--bits', '512'), { code: 'FERRY_ERR_USAGE' });
  await t.rejects(run(cli, 'dkim', 'keygen', 'example.org', '--algorithm', 'dsa'), { code: 'commander.invalidArgument' });
  await run(cli, 'dkim', 'keygen', 'example.org', '--selector', 's2', '--bits', '1024');

  const before = cli.out().length;
  await run(cli, 'dkim', 'list');
  const table = cli.out().slice(before);
  t.match(table, /example\.org\s*│\s*s1\s*│\s*ed25519\s*│\s*2026-01-15/);
  t.match(table, /example\.org\s*│\s*s2\s*│\s*rsa/);

  const before2 = cli.out().length;
  await run(cli, 'dkim', 'list', '--json');
  const json = JSON.parse(cli.out().slice(before2));
  t.same(json.map((r: { selector: string; dnsName: string }) => r.dnsName), ['s1._domainkey.example.org', 's2._domainkey.example.org']);

  const file = json[0].keyFile;
  await run(cli, 'dkim', 'remove', 'example.org', 's1');
  t.notOk(existsSync(file), 'generated key file deleted');
  t.equal(createDkimKeysRepo(cli.ctx.db()).list().length, 1);
  await t.rejects(run(cli, 'dkim', 'remove', 'example.org', 's1'), { code: 'FERRY_ERR_NOT_FOUND' });
  await run(cli, 'dkim', 'keygen', 'example.org', '--selector', 's1', '--algorithm', 'ed25519');
  t.pass('a removed selector can be generated again');
});

t.test('list with no keys says how to make one', async (t) => {
  const cli = makeCli();
  t.teardown(() => cli.close());
  await run(cli, 'dkim', 'list');
  t.match(cli.out(), 'ferry dkim keygen DOMAIN');
});
