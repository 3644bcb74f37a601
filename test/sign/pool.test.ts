import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { FerryError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import { autoSignThreads, createSignPool } from '../../src/sign/pool.js';
import { createSigner, type SignSource } from '../../src/sign/signer.js';
import { crlf, keySourceOf, makeTestKeys, verify } from './fixtures/helpers.js';

const keys = makeTestKeys();
keys.add('example.com', 'rsa1', 'rsa');
keys.add('example.com', 'ed1', 'ed25519');
keys.add('crash.test', 'sel', 'rsa');
const dir = mkdtempSync(join(tmpdir(), 'ferry-pool-'));
t.teardown(() => {
  keys.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A logger that keeps every line it is given, to show what reaches the log. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (obj: unknown, msg?: string) => void lines.push(`${level} ${JSON.stringify(obj)} ${msg ?? ''}`);
  return { lines, debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error'), fatal: rec('fatal'), trace: rec('trace'), level: 'info', child: () => recordingLogger() } as unknown as Logger & { lines: string[] };
}

const clock = new ManualClock(Date.UTC(2026, 0, 15));
const HEAD = Buffer.from(
  crlf(`From: Alice <alice@example.com>
To: bob@dest.test
Subject: pool
Date: Thu, 15 Jan 2026 10:00:00 +0000
Message-ID: <pool@example.com>

`),
);
const BODY = Buffer.from(crlf('Hello  Bob,\n\n.a dot line\n'.repeat(2000) + '\n\n'));

t.test('auto: one thread per core beyond the first, 1 to 4', async (t) => {
  t.equal(autoSignThreads(1), 1);
  t.equal(autoSignThreads(2), 1, 'a 2-core machine: the SMTP thread and one signing thread');
  t.equal(autoSignThreads(4), 3);
  t.equal(autoSignThreads(64), 4);
});

t.test('a pool signs exactly as the main thread does: inline and spool-file bodies, both verify', async (t) => {
  const logger = recordingLogger();
  const pool = createSignPool({ threads: 2, logger });
  t.teardown(() => pool.close());
  const here = createSigner({ keys: keySourceOf(keys), clock });
  const there = createSigner({ keys: keySourceOf(keys), clock, offload: pool });
  const file = join(dir, 'body');
  writeFileSync(file, BODY);
  const sources: [string, SignSource][] = [
    ['inline', { headers: HEAD, inline: BODY, file: null }],
    ['spool file', { headers: HEAD, inline: null, file }],
    // a Buffer that is a view into a larger one: only its own bytes are signed
    ['view', { headers: Buffer.concat([Buffer.from('junk'), HEAD]).subarray(4), inline: Buffer.concat([BODY, Buffer.from('junk')]).subarray(0, BODY.length), file: null }],
  ];
  for (const [name, source] of sources) {
    const a = await here.sign('example.com', source);
    const b = await there.sign('example.com', source);
    t.ok(a && b, `${name}: signed`);
    t.equal(b!.headers, a!.headers, `${name}: the same DKIM-Signature lines`);
    const results = await verify(keys, Buffer.concat([Buffer.from(b!.headers, 'latin1'), HEAD, BODY]));
    t.same(results.map((r) => r.result), ['pass', 'pass'], `${name}: rsa and ed25519 verify`);
  }
  t.equal(await there.sign('nokey.test', { headers: HEAD, inline: BODY, file: null }), null, 'no key: nothing to sign, no thread asked');
  // many at once: spread over both threads, every answer matched to its job
  const many = await Promise.all(Array.from({ length: 40 }, (_, i) => there.sign('example.com', { headers: HEAD, inline: Buffer.from(`body ${i}\r\n`), file: null })));
  const bh = many.map((r) => /bh=([^;]+);/.exec(r!.headers)![1]);
  t.equal(new Set(bh).size, 40, 'each job got its own body hash back');
  t.equal(pool.started, 2, 'two threads, none replaced');
  t.same(logger.lines, [], 'nothing logged');
});

t.test('an error inside a healthy thread is the job\'s own error; the thread stays', async (t) => {
  const pool = createSignPool({ threads: 1, logger: recordingLogger() });
  t.teardown(() => pool.close());
  const signer = createSigner({ keys: keySourceOf(keys), clock, offload: pool, maxHeaderBytes: 100 });
  const big = Buffer.from(`X-Big: ${'a'.repeat(500)}\r\n`);
  await t.rejects(signer.sign('example.com', { headers: big, inline: null, file: null }), { code: 'FERRY_ERR_DKIM', message: /header block exceeds 100 bytes/ });
  const roomy = createSigner({ keys: keySourceOf(keys), clock, offload: pool });
  await t.rejects(roomy.sign('example.com', { headers: HEAD, inline: null, file: join(dir, 'missing') }), { code: 'FERRY_ERR_DKIM', message: /ENOENT/ });
  const ok = await signer.sign('example.com', { headers: Buffer.from('From: a@example.com\r\n\r\n'), inline: Buffer.from('x\r\n'), file: null });
  t.ok(ok, 'the next job is signed');
  t.equal(pool.started, 1, 'by the same thread');
});

t.test('a thread that dies fails only its jobs (FERRY_ERR_SIGN_WORKER), the next job gets a new thread, no key in the log', async (t) => {
  const logger = recordingLogger();
  const pool = createSignPool({ threads: 1, logger, workerUrl: new URL('./fixtures/crashing-sign-worker.ts', import.meta.url) });
  t.teardown(() => pool.close());
  const signer = createSigner({ keys: keySourceOf(keys), clock, offload: pool });
  const crashing = signer.sign('crash.test', { headers: HEAD, inline: BODY, file: null });
  const err = await crashing.then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof FerryError, 'a FerryError');
  t.equal((err as FerryError).code, 'FERRY_ERR_SIGN_WORKER');
  t.match((err as FerryError).message, /signing thread stopped \(exit code 7\).*stays queued/);
  const ok = await signer.sign('example.com', { headers: HEAD, inline: BODY, file: null });
  t.ok(ok, 'the next message is signed');
  t.equal(pool.started, 2, 'by a new thread');
  t.ok(logger.lines.some((l) => l.startsWith('warn') && l.includes('"exitCode":7')), 'the crash is logged');
  t.notOk(logger.lines.join('\n').includes('PRIVATE KEY'), 'no key material in the log');
  t.notOk(logger.lines.join('\n').includes(keys.dir), 'not even a key file path');
});

t.test('a thread that had worked and dies is replaced at once, before the next job', async (t) => {
  const pool = createSignPool({ threads: 1, logger: recordingLogger(), workerUrl: new URL('./fixtures/crashing-sign-worker.ts', import.meta.url) });
  t.teardown(() => pool.close());
  const signer = createSigner({ keys: keySourceOf(keys), clock, offload: pool });
  t.ok(await signer.sign('example.com', { headers: HEAD, inline: BODY, file: null }), 'the thread works');
  await t.rejects(signer.sign('crash.test', { headers: HEAD, inline: BODY, file: null }), { code: 'FERRY_ERR_SIGN_WORKER' });
  t.equal(pool.started, 2, 'a new thread was started when the old one exited');
  t.ok(await signer.sign('example.com', { headers: HEAD, inline: BODY, file: null }), 'and it signs');
  t.equal(pool.started, 2, 'no third thread');
});

t.test('close: jobs in hand fail as retryable, later jobs are refused', async (t) => {
  const pool = createSignPool({ threads: 1, logger: recordingLogger() });
  const signer = createSigner({ keys: keySourceOf(keys), clock, offload: pool });
  const inFlight = signer.sign('example.com', { headers: HEAD, inline: BODY, file: null });
  inFlight.catch(() => undefined); // asserted below; the key source answers asynchronously, so let the job reach the thread first
  await new Promise((r) => setImmediate(r));
  await pool.close();
  await t.rejects(inFlight, { code: 'FERRY_ERR_SIGN_WORKER' });
  await t.rejects(signer.sign('example.com', { headers: HEAD, inline: BODY, file: null }), { code: 'FERRY_ERR_SIGN_WORKER' });
});

t.test('a pool needs at least one thread', async (t) => {
  t.throws(() => createSignPool({ threads: 0, logger: recordingLogger() }), { code: 'FERRY_ERR_CONFIG' });
});
