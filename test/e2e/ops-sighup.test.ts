import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import Database from '../../src/store/sqlite-driver.js';
import { generateDkimKey, writePrivateKey } from '../../src/sign/keys.js';
import { startMx } from '../helpers/mx-server.js';
import { tempDir } from '../helpers/relay.js';
import { httpGet } from '../../src/ops/probe.js';
import { freePort } from '../helpers/free-port.js';

/**
 * The real `ferry start` in a child process (bin/ferry → dist/, built by `npm test`'s pretest):
 * SIGHUP and `ferry reload` swap a DKIM key and a retry limit; a broken config file is refused
 * by `ferry reload` before signalling, and by the relay on a bare SIGHUP, which keeps running.
 */
const bin = fileURLToPath(new URL('../../bin/ferry', import.meta.url));
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };


async function until<T>(what: string, fn: () => Promise<T | null> | T | null, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve(fn()).catch(() => null);
    if (v !== null && v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function selectorOf(raw: Buffer): string | null {
  const header = /^DKIM-Signature:[\s\S]*?(?=\r\n\S)/m.exec(raw.toString('latin1'))?.[0] ?? '';
  return /\bs=([^;\s]+)/.exec(header.replace(/\r\n\s+/g, ' '))?.[1] ?? null;
}

t.test('SIGHUP and `ferry reload` on a running `ferry start`', { skip: existsSync(new URL('../../dist/admin/entry.js', import.meta.url)) ? false : 'not built (npm run build)' }, async (t) => {
  const dir = tempDir(t, 'ferry-sighup-');
  for (const sel of ['one', 'two']) writePrivateKey(dir, 'ferry.test', sel, generateDkimKey('rsa', 1024).privateKeyPem);
  const keyFile = (sel: string) => join(dir, 'dkim', 'ferry.test', `${sel}.pem`);
  const mx = await startMx({ host: '127.0.0.2', tls: false, script: { rcpt: (a) => (a.startsWith('later') ? { code: 451, message: '4.2.0 Try later' } : null) } });
  t.teardown(() => mx.close());
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const http = `127.0.0.1:${httpPort}`;
  const configFile = join(dir, 'ferry.yaml');
  const writeConfig = (selector: string, retryMinutes: number, extra = '') =>
    writeFileSync(
      configFile,
      [
        `dataDir: ${join(dir, 'data')}`,
        'hostname: ferry.test',
        'log: { level: info }',
        `smtp: { listen: "127.0.0.1:${smtpPort}" }`,
        `http: { listen: "${http}" }`,
        `routes: { "*": "127.0.0.2:${mx.port}" }`,
        'dmarc: { mode: "off" }',
        `delivery: { retryScheduleMinutes: [${retryMinutes}], retryJitter: 0 }`,
        `dkim: { keys: [{ domain: ferry.test, selector: ${selector}, keyFile: "${keyFile(selector)}" }] }`,
        extra,
      ].join('\n'),
    );
  writeConfig('one', 60);

  const child = spawn(process.execPath, [bin, 'start', '--config', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  await until('the relay to be ready', async () => ((await httpGet(http, '/readyz')).status === 200 ? true : null));
  const pidFile = join(dir, 'data', 'ferry.pid');
  t.equal(Number((await import('node:fs')).readFileSync(pidFile, 'utf8').trim()), child.pid, 'ferry start wrote its pid');

  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true });
  t.teardown(() => transport.close());
  const message = (to: string) => ({
    envelope: { from: '', to: [to] },
    raw: `From: App <app@ferry.test>\r\nTo: ${to}\r\nSubject: reload\r\nMessage-ID: <${to}@ferry.test>\r\n\r\nhello\r\n`,
  });
  const deliveredCount = () => mx.messages.length;
  await transport.sendMail(message('a@example.test'));
  await until('delivery', () => (deliveredCount() >= 1 ? true : null));
  t.equal(selectorOf(mx.messages[0]!.raw), 'one');

  // `ferry reload`: validates, signals, and waits for the relay's confirmation.
  writeConfig('two', 2);
  const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args, '--config', configFile], { env, encoding: 'utf8', timeout: 30_000 });
  const reloaded = cli('reload', '--wait', '20000');
  t.equal(reloaded.status, 0, reloaded.stderr);
  t.match(reloaded.stdout, `relay (pid ${child.pid}) reloaded its configuration`);
  await until('the reload in the log', () => (log.includes('"msg":"config reloaded"') ? true : null));
  await transport.sendMail(message('b@example.test'));
  await until('delivery', () => (deliveredCount() >= 2 ? true : null));
  t.equal(selectorOf(mx.messages[1]!.raw), 'two', 'signed with the key from the reloaded config');
  await transport.sendMail(message('later@example.test'));
  const db = new Database(join(dir, 'data', 'ferry.db'), { readonly: true });
  t.teardown(() => db.close());
  const deferred = await until('a deferral', () =>
    (db.prepare("SELECT next_attempt_at - updated_at AS wait FROM recipients WHERE address = 'later@example.test' AND status = 'deferred'").get() as { wait: number } | undefined) ?? null,
  );
  t.equal(deferred.wait, 2 * 60_000, 'the reloaded retry schedule is in force');

  // A broken file: `ferry reload` refuses before signalling...
  writeConfig('two', 2, 'nonsense: true');
  const refused = cli('reload');
  t.equal(refused.status, 1);
  t.match(refused.stderr, /unknown key "nonsense"/);
  // ...and a bare SIGHUP is refused by the relay, which keeps the old config and keeps running.
  child.kill('SIGHUP');
  await until('the refusal in the log', () => (log.includes('config reload refused') ? true : null));
  t.match(log, /config reload refused, the running configuration stays: .*unknown key \\"nonsense\\"/);
  const metrics = (await httpGet(http, '/metrics')).body;
  t.match(metrics, /^ferry_config_reloads_total\{result="error"\} 1$/m);
  await transport.sendMail(message('c@example.test'));
  await until('delivery', () => (deliveredCount() >= 3 ? true : null));
  t.equal(selectorOf(mx.messages[2]!.raw), 'two', 'still the last good config');

  // `ferry status` sees it; SIGTERM stops it and removes the pid file.
  writeConfig('two', 2);
  const status = cli('status');
  t.equal(status.status, 0, status.stderr);
  t.match(status.stdout, `running (pid ${child.pid})`);
  const stopAt = Date.now();
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.comment(`stopped in ${Date.now() - stopAt} ms`);
  t.notOk(existsSync(pidFile), 'pid file removed at stop');
  t.equal(cli('status').status, 1, 'status: not running');
});
