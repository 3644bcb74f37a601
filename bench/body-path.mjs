// The store's part of one 100 KB DKIM-signed message, old layout against new, in ONE process
// (single thread: process CPU time is this thread's), alternating batches so that both see the
// same machine load. Per message:
//
//   writer   the intake INSERT (synchronous=NORMAL here: the fsync is not CPU) and markSigned
//   SMTP     what the delivery side reads on the SMTP thread: before, messages.get (row + body)
//            and two exact-size copies of the body (for the signing and the delivery thread);
//            after, messages.head (the row without the body)
//   threads  after only: the signing thread's read of the body by reference (readStoredBody,
//            its own connection); the delivery thread gets those bytes moved, no read
//
// A small write commits between reads, as the writer thread does all the time on a busy relay
// (it empties every reader's page cache).
//
//   npm run build && node bench/body-path.mjs --before DIR [--messages 1000] [--rounds 4] [--bytes 102400]
//   (DIR: a build of the old layout, e.g. a copy of main's dist with node_modules beside it)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const root = resolve(new URL('..', import.meta.url).pathname);
const afterDir = resolve(opt('after', join(root, 'dist')));
const beforeDir = opt('before', null);
if (!beforeDir) throw new Error('--before DIR: a build of the old layout');
const N = Number(opt('messages', 1000));
const ROUNDS = Number(opt('rounds', 4));
const BYTES = Number(opt('bytes', 102400));

async function build(dir) {
  const imp = (p) => import(pathToFileURL(join(resolve(dir), p)).href);
  const { openDatabase } = await imp('store/db.js');
  const { createMessagesRepo } = await imp('store/messages-repo.js');
  let readStoredBody = null;
  try {
    ({ readStoredBody } = await imp('store/sqlite/stored-bodies.js'));
  } catch {
    /* the old layout has none */
  }
  return { openDatabase, createMessagesRepo, readStoredBody };
}

const line = 'A line of a message body, about as long as lines in mail are, repeated.\r\n';
const body = Buffer.from(line.repeat(Math.ceil(BYTES / line.length)).slice(0, BYTES));
const headers = Buffer.from('Received: from bench\r\nFrom: a@example.com\r\nTo: b@example.net\r\nSubject: bench\r\nMessage-ID: <x@example.com>\r\n\r\n');
const signature = Buffer.from(`DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1;\r\n\tb=${'x'.repeat(340)}\r\n`);

function row(id) {
  return {
    id, createdAt: Date.now(), sender: 'a@example.com', username: null, clientIp: '127.0.0.1', helo: 'bench', tls: null,
    size: headers.length + body.length, headers, body: Buffer.from(body), spoolFile: null, headerFrom: 'a@example.com',
    messageIdHeader: '<x@example.com>', subject: 'bench', eightBit: false, smtputf8: false, kind: 'submission',
  };
}

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function round(impl, label, dir) {
  const file = join(dir, `${label}.db`);
  const db = impl.openDatabase({ file });
  db.pragma('synchronous = NORMAL');
  const repo = createRepo(impl, db);
  const reader = impl.openDatabase({ file, readonly: true, create: false });
  const reads = createRepo(impl, reader);
  const poke = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0) ON CONFLICT (version) DO UPDATE SET applied_at = applied_at + 1');
  const out = { writer: 0, smtp: 0, threads: 0 };
  const ids = Array.from({ length: N }, (_, i) => `${label}-${i}`);
  let t = cpu();
  for (const id of ids) db.transaction(() => repo.insert(row(id)))();
  out.writer += cpu() - t;
  t = cpu();
  for (const id of ids) repo.markSigned(id, Buffer.concat([signature, headers]), Date.now());
  out.writer += cpu() - t;
  let sink = 0;
  for (const id of ids) {
    poke.run(-1, 'bench');
    const t0 = cpu();
    if (impl.readStoredBody && reads.head) {
      const m = reads.head(id);
      out.smtp += cpu() - t0;
      const t1 = cpu();
      const b = m.bodyRef ? impl.readStoredBody(m.bodyRef) : m.body;
      sink += b.length;
      out.threads += cpu() - t1;
    } else {
      const m = reads.get(id);
      const a = new Uint8Array(m.body);
      const c = new Uint8Array(m.body);
      sink += a.length + c.length;
      out.smtp += cpu() - t0;
    }
  }
  reader.close();
  db.close();
  for (const x of ['', '-wal', '-shm']) rmSync(file + x, { force: true });
  if (sink === 0) throw new Error('nothing read');
  return out;
}

function createRepo(impl, db) {
  return impl.createMessagesRepo(db);
}

const before = await build(beforeDir);
const after = await build(afterDir);
const dir = mkdtempSync(join(tmpdir(), 'ferry-body-path-'));
const totals = { before: { writer: [], smtp: [], threads: [] }, after: { writer: [], smtp: [], threads: [] } };
console.log(`body-path: ${N} messages of ${BYTES} bytes per round, ${ROUNDS} rounds each, alternating; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const [label, impl] of r % 2 === 0 ? [['before', before], ['after', after]] : [['after', after], ['before', before]]) {
      const o = await round(impl, `${label}${r}`, dir);
      for (const k of Object.keys(o)) totals[label][k].push(o[k] / N);
      console.log(`  round ${r + 1} ${label.padEnd(6)} writer ${(o.writer / N).toFixed(3)}  SMTP thread ${(o.smtp / N).toFixed(3)}  signing thread ${(o.threads / N).toFixed(3)} ms CPU per message`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`\nmedian ms CPU per message (load average now ${loadavg().map((x) => x.toFixed(2)).join(' ')}):`);
console.log('| layout | writer (INSERT + markSigned) | SMTP thread (read for delivery, copies) | signing thread (read by reference) | all |');
console.log('| --- | --- | --- | --- | --- |');
for (const label of ['before', 'after']) {
  const t = totals[label];
  const all = med(t.writer) + med(t.smtp) + med(t.threads);
  console.log(`| ${label} | ${med(t.writer).toFixed(3)} | ${med(t.smtp).toFixed(3)} | ${med(t.threads).toFixed(3)} | ${all.toFixed(3)} |`);
}
