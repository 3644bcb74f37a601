import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

// `ferry suppressions import` through the real command: a plain address list, standard input,
// and a non-zero exit when rows were skipped (the good ones still imported).

t.test('suppressions import: plain lists, "-" for stdin, exit 1 when rows were skipped', async (t) => {
  const dir = tempDir(t);
  openDatabase({ file: join(dir, 'ferry.db') }).close();
  const env = { FERRY_DATA_DIR: dir };
  const list = async () => (JSON.parse((await runFerry(['suppressions', 'list', '--json'], { env })).stdout) as { address: string }[]).map((e) => e.address).sort();

  const plain = join(dir, 'plain.txt');
  writeFileSync(plain, 'one@example.com\nTwo@Example.com\n\n@gone.test\n');
  const a = await runFerry(['suppressions', 'import', plain], { env });
  t.equal(a.code, 0, a.stderr);
  t.equal(a.stdout, 'imported 3, skipped 0\n');
  t.same(await list(), ['@gone.test', 'one@example.com', 'two@example.com']);

  const b = await runFerry(['suppressions', 'import', '-'], { env, stdin: 'three@example.com\nnot an address\nfour@example.com\n' });
  t.equal(b.code, 1, 'a skipped row makes the exit status 1');
  t.equal(b.stdout, 'imported 2, skipped 1\n');
  t.equal(
    b.stderr,
    '<stdin>:2: skipped: not an email address or @domain: "not an address"\n' +
      'ferry: <stdin>: 1 row skipped (listed above); the other 2 were imported\n',
  );
  t.same(await list(), ['@gone.test', 'four@example.com', 'one@example.com', 'three@example.com', 'two@example.com'], 'the good rows are imported');

  // a CSV with a header line still works, from stdin too
  const c = await runFerry(['suppressions', 'import', '-'], { env, stdin: 'address,reason\nfive@example.com,asked to stop\n' });
  t.equal(c.code, 0, c.stderr);
  t.equal(c.stdout, 'imported 1, skipped 0\n');
  const five = JSON.parse((await runFerry(['suppressions', 'show', 'five@example.com', '--json'], { env })).stdout) as { reason: string } | { reason: string }[];
  t.match(JSON.stringify(five), /asked to stop/);

  // a file that is neither is still refused as a whole, exit 1, nothing imported
  const d = await runFerry(['suppressions', 'import', '-'], { env, stdin: 'hello world\nsix@example.com\n' });
  t.equal(d.code, 1);
  t.match(d.stderr, /^ferry: <stdin>: line 1: no valid header/);
  t.notOk((await list()).includes('six@example.com'));
});
