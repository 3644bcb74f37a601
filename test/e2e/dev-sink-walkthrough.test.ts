import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { cliEnv, freePort, REPO_ROOT, runFerry, startFerryProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

// The README's first run, end to end through the real `ferry` command: the dev sink, the relay
// with config/dev.yaml, the README's node one-liner sending a message, and `ferry messages show`
// telling what became of it. Ports and directories are the test's own; everything else is the
// documented text.

interface Shown {
  recipients: { address: string; status: string; lastReply: string | null; category: string | null }[];
  attempts: { mxHost: string | null; reply: string | null; tlsProtocol: string | null }[];
}

function startSink(args: string[]) {
  const child = spawn(process.execPath, ['bin/ferry', 'dev-sink', ...args], { cwd: REPO_ROOT, env: cliEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function until<T>(what: string, probe: () => Promise<T | null> | T | null, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('first run: dev sink, relay with config/dev.yaml, the README one-liner, messages show tells the story', async (t) => {
  const dir = tempDir(t, 'ferry-walkthrough-');
  const sinkPort = await freePort();
  const smtpPort = await freePort();
  const sinkDir = join(dir, 'sink');

  const sink = startSink(['--listen', `127.0.0.1:${sinkPort}`, '--dir', sinkDir]);
  t.teardown(async () => {
    if (sink.child.exitCode === null) {
      sink.child.kill('SIGKILL');
      await sink.exited;
    }
  });
  await until('the sink to listen', () => (sink.out().includes('dev sink listening on') ? true : null));
  t.match(sink.out(), `dev sink listening on 127.0.0.1:${sinkPort}, writing messages to ${sinkDir}`);

  // config/dev.yaml as documented, with the sink's port of this test
  const dev = parse(readFileSync(join(REPO_ROOT, 'config/dev.yaml'), 'utf8')) as Record<string, any>;
  t.same(dev.routes, { '*': '127.0.0.1:2526' }, 'the documented route goes to the dev sink');
  dev.routes['*'] = `127.0.0.1:${sinkPort}`;
  const configFile = join(dir, 'dev.yaml');
  writeFileSync(configFile, stringify(dev));
  const env = { FERRY_CONFIG: configFile, FERRY_DATA_DIR: join(dir, 'data'), FERRY_SMTP_LISTEN: `127.0.0.1:${smtpPort}` };
  const relay = await startFerryProcess(env);
  t.teardown(async () => {
    if (relay.child.exitCode === null) {
      relay.child.kill('SIGKILL');
      await relay.exited;
    }
  });
  t.notOk(relay.lines.some((l) => l.includes('not a fully qualified')), 'config/dev.yaml names a fully qualified hostname');

  // the README's node one-liner, on this test's port
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const oneLiner = readme.split('\n').find((l) => l.startsWith('node -e ') && l.includes('sendMail'));
  t.ok(oneLiner, 'the README has a node one-liner that sends a message');
  const send = () => spawnSync('sh', ['-c', oneLiner!.replace('port:2525', `port:${smtpPort}`)], { cwd: REPO_ROOT, env: cliEnv({}), encoding: 'utf8', timeout: 30_000 });
  const sent = send();
  t.equal(sent.status, 0, sent.stderr);
  const id = /queued as ([0-9A-Z]+)/.exec(sent.stdout)?.[1];
  t.ok(id, `the one-liner prints the queue id: ${sent.stdout}`);

  const shown = await until('delivery to the sink', async () => {
    const r = await runFerry(['messages', 'show', id!, '--json'], { env });
    const doc = JSON.parse(r.stdout) as Shown;
    return doc.recipients.every((x) => x.status === 'delivered') ? doc : null;
  });
  t.equal(shown.recipients.length, 1);
  t.match(shown.recipients[0]!.lastReply, /^250 2\.0\.0 Ok: saved as .*\.eml$/);

  // one .eml in the sink, one line printed for it
  const files = readdirSync(sinkDir).filter((f) => f.endsWith('.eml'));
  t.equal(files.length, 1);
  t.equal(shown.recipients[0]!.lastReply, `250 2.0.0 Ok: saved as ${files[0]}`, 'the remote reply names the file');
  const eml = readFileSync(join(sinkDir, files[0]!), 'utf8');
  t.match(eml, /^Received: from /m, 'the message as Ferry delivered it');
  t.match(eml, /Subject: Hello from Ferry/);
  await until('the sink line', () => (sink.out().split('\n').length >= 3 ? true : null));
  t.match(sink.out().split('\n')[1], new RegExp(`app@ferry\\.localhost -> someone@customer\\.test  \\d+ bytes  .*${files[0]}$`));

  // what a new user reads
  const story = await runFerry(['messages', 'show', id!], { env: { ...env, COLUMNS: '200' } });
  t.equal(story.code, 0, story.stderr);
  t.match(story.stdout, /someone@customer\.test\s+│ delivered/);
  t.match(story.stdout, /250 2\.0\.0 Ok: saved as/);
  t.match(story.stdout, `127.0.0.1 [127.0.0.1]:${sinkPort}`);
  t.match(story.stdout, /dkim +not signed \(no key for ferry\.localhost: ferry dkim keygen ferry\.localhost\)/);

  // the README's next step: a DKIM key, and the next message is signed
  const keygen = await runFerry(['dkim', 'keygen', 'ferry.localhost'], { env });
  t.equal(keygen.code, 0, keygen.stderr);
  const again = send();
  const id2 = /queued as ([0-9A-Z]+)/.exec(again.stdout)?.[1];
  t.ok(id2);
  await until('the second delivery', async () => {
    const doc = JSON.parse((await runFerry(['messages', 'show', id2!, '--json'], { env })).stdout) as Shown;
    return doc.recipients.every((x) => x.status === 'delivered') ? true : null;
  });
  const signed = await runFerry(['messages', 'show', id2!], { env });
  t.match(signed.stdout, /dkim +signed d=ferry\.localhost s=ferry\d{6} \(rsa-sha256\) at /);

  relay.child.kill('SIGTERM');
  sink.child.kill('SIGTERM');
  t.equal((await sink.exited), 0, 'the sink stops on SIGTERM');
  await relay.exited;
});
