// The SQLite writer's per-message work on one thread (issue 13, schema): what the writer thread runs
// for each message of the reused-connections case, against a fresh database built by the real
// migrations, with the real store operations (store/sqlite/operations.ts) and real fate plans
// (outcome/fate.ts). Prints CPU µs per message by operation and per commit.
//
// Per group of --claim messages: the messages accepted --group to a durable transaction (each its
// own operation; synchronous=FULL, one fsync per commit), then one claim of the group
// (relaxed), then each message's delivery fate and the removal of its body, in one relaxed
// transaction (the writer's hold puts them together). Fates: delivered, except every 10th
// message deferred (451, no body removed) and every 10th+1 bounced (550: a DSN outbox row and a
// suppression, a durable commit). Before the measured run the database gets --history finished
// messages (so the indexes are as deep as on a relay that has run a while) and a warm-up.
//
// CPU is process.cpuUsage() around each call (user + system, the whole process: the bench runs
// one thread; V8's helpers add a little). "commit" is the CPU of the COMMIT statement (the WAL
// write; the fsync's wait is not CPU).
//
//   npm run build && node bench/writer-ops.mjs [--messages 5000] [--rcpts 1] [--size 4096] [--history 20000] [--dist DIR] [--rounds 3]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    messages: { type: 'string', default: '5000' },
    rcpts: { type: 'string', default: '1' },
    size: { type: 'string', default: '4096' },
    history: { type: 'string', default: '20000' },
    claim: { type: 'string', default: '10' },
    // Accepts per durable commit: the relay's writer took 4-7 per transaction in the reused case (RESULTS, session 10).
    group: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    dist: { type: 'string' },
    // Exploration: SQL run after the migrations (e.g. a DROP INDEX to try before writing a migration).
    exec: { type: 'string' },
  },
});
const N = Number(opts.messages);
const RCPTS = Number(opts.rcpts);
const SIZE = Number(opts.size);
const HISTORY = Number(opts.history);
const CLAIM = Number(opts.claim);
const GROUP = Number(opts.group);
const ROUNDS = Number(opts.rounds);
const DIST = resolve(opts.dist ?? fileURLToPath(new URL('../dist', import.meta.url)));
const load = async (p) => import(pathToFileURL(join(DIST, p)).href);

const { openDatabase } = await load('store/db.js');
const { createSqliteOperations } = await load('store/sqlite/operations.js');
const { createFate } = await load('outcome/fate.js');
const { createClassifier } = await load('classify/classifier.js');
const { ManualClock } = await load('core/clock.js');
const { seededRandom } = await load('core/random.js');
const { silentLogger } = await load('core/logger.js');

const T0 = 1_760_000_000_000;
const clock = new ManualClock(T0);
const fate = createFate({
  recordFates: async () => [],
  classifier: createClassifier(),
  retry: { retryScheduleMinutes: [5, 30, 60], retryJitter: 0, maxAgeHours: 72, mailboxFullSuppressAfterHours: 72 },
  clock,
  random: seededRandom(1),
  logger: silentLogger(),
  dsn: { onDropped: true, delayAfterHours: 4 },
});

const DOMAINS = Array.from({ length: 10 }, (_, i) => `dest${i}.example`);
const line = 'The quick brown fox jumps over the lazy dog, again and again and again.\r\n';
let bodyText = '';
while (bodyText.length + line.length <= SIZE) bodyText += line;
const BODY = Buffer.from(bodyText);
let seq = 0;

function message(at) {
  const id = `B${String(++seq).padStart(8, '0')}${Math.random().toString(36).slice(2, 8)}`;
  const headers = Buffer.from(
    `Received: from bench.client (localhost [127.0.0.1])\r\n\tby bench.ferry.test (Ferry) with ESMTP id ${id}\r\n\tfor <rcpt${seq}@${DOMAINS[seq % 10]}>; Thu, 15 Jan 2026 10:00:00 +0000\r\n` +
      `From: Bench <bench@example.com>\r\nTo: rcpt${seq}@${DOMAINS[seq % 10]}\r\nSubject: bench message ${seq}\r\nMessage-ID: <${seq}.${id}@bench.client>\r\n` +
      `Date: Thu, 15 Jan 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n`,
  );
  const recipients = Array.from({ length: RCPTS }, (_, k) => {
    const domain = DOMAINS[(seq + k) % 10];
    return { address: `rcpt${seq}.${k}@${domain}`, domain, status: 'queued', reason: null, category: null };
  });
  return {
    message: {
      id, createdAt: at, sender: 'bench@example.com', username: null, clientIp: '127.0.0.1', helo: 'bench.client', tls: null,
      size: headers.length + BODY.length, headers, body: BODY, spoolFile: null, headerFrom: 'bench@example.com',
      messageIdHeader: `<${seq}.${id}@bench.client>`, subject: `bench message ${seq}`, eightBit: false, smtputf8: false, kind: 'submission',
    },
    recipients,
  };
}

const ctx = (at) => ({ startedAt: at, durationMs: 40, hop: { host: 'mx.dest.example', ip: '127.0.0.2', port: 25, tls: null }, hops: [{ host: 'mx.dest.example' }] });
const reply = (code, enhanced, text) => ({ code, enhanced, text });
/** The i-th message's fate: delivered, deferred (every 10th) or bounced (every 10th + 1). */
function outcome(i) {
  if (i % 10 === 0) return { kind: 'failed', phase: 'rcpt', reply: reply(451, '4.3.0', 'try again later') };
  if (i % 10 === 1) return { kind: 'failed', phase: 'rcpt', reply: reply(550, '5.1.1', 'no such user here') };
  return { kind: 'delivered', reply: reply(250, '2.0.0', 'Ok: queued as 4XYZ') };
}

function run(history, measured) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-writer-ops-'));
  try {
    return runIn(dir, history, measured);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runIn(dir, history, measured) {
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  if (opts.exec) db.exec(opts.exec);
  const ops = createSqliteOperations(db);
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  let sync = 'FULL';
  const setSync = (s) => {
    if (s !== sync) db.pragma(`synchronous = ${s}`);
    sync = s;
  };
  const cpu = {};
  const count = {};
  let commits = 0;
  let counting = false;
  const timed = (name, fn) => {
    if (!counting) return fn();
    const c0 = process.cpuUsage();
    const r = fn();
    const c = process.cpuUsage(c0);
    cpu[name] = (cpu[name] ?? 0) + c.user + c.system;
    count[name] = (count[name] ?? 0) + 1;
    return r;
  };
  const wal = join(dir, 'ferry.db-wal');
  const walPagesBy = {};
  const tx = (durable, fn, kind) => {
    setSync(durable ? 'FULL' : 'NORMAL');
    const w0 = counting ? statSync(wal).size : 0;
    begin.run();
    const r = fn();
    timed(durable ? 'commit (durable)' : 'commit (relaxed)', () => commit.run());
    if (counting) {
      commits++;
      walPagesBy[kind] = (walPagesBy[kind] ?? 0) + (statSync(wal).size - w0) / (4096 + 24);
    }
    return r;
  };

  let now = T0;
  let i = 0;
  const group = (n) => {
    const ids = [];
    for (let k = 0; k < n; k += GROUP) {
      // Each accept is its own operation (one message each), GROUP of them in one durable commit.
      const ms = Array.from({ length: Math.min(GROUP, n - k) }, () => message((now += 3)));
      tx(true, () => {
        for (const m of ms) timed('queue.accept', () => ops.queue.accept([m]));
      }, 'accept');
      for (const m of ms) ids.push(m.message.id);
    }
    now += 2;
    const claimed = tx(false, () => timed('recipients.claim', () => ops.recipients.claim(now, now + 600_000, 'bench', n * RCPTS)), 'claim');
    const byMessage = new Map();
    for (const r of claimed) byMessage.set(r.messageId, [...(byMessage.get(r.messageId) ?? []), r]);
    const plans = [];
    const done = [];
    let strict = false;
    for (const id of ids) {
      const j = i++;
      const rs = byMessage.get(id) ?? [];
      const p = fate.plan(rs.map((recipient) => ({ origin: 'attempt', recipient, facts: { fact: outcome(j), firstQueuedAt: recipient.createdAt, ctx: ctx(now) } })), now + 40);
      plans.push(p);
      if (j % 10 === 1) strict = true;
      if (j % 10 !== 0) done.push(id);
    }
    now += 41;
    // Deliveries end in one relaxed transaction (the writer's hold), a bounce's report in a durable one.
    tx(strict, () => {
      for (const p of plans) timed('fates.record', () => ops.fates.record(p));
      for (const id of done) timed('retention.clearBodies', () => ops.retention.clearBodies([id], now, now, false));
    }, 'fates+clear');
    // Deferred recipients come due again later: the history stays made of finished messages.
    const later = ops.recipients.claim(now + 10 * 86_400_000, now + 10 * 86_400_000 + 1, 'sweep', 1000);
    if (later.length) {
      const ps = later.map((recipient) => fate.plan([{ origin: 'attempt', recipient, facts: { fact: outcome(2), firstQueuedAt: recipient.createdAt, ctx: ctx(now) } }], now + 40)).flat();
      tx(false, () => ops.fates.record(ps), 'retry');
    }
  };

  for (let k = 0; k < history; k += 100) {
    // History in large transactions (not measured).
    db.exec('BEGIN');
    for (let g = 0; g < 10; g++) {
      now += 3;
      const batch = Array.from({ length: 10 }, () => message(now));
      ops.queue.accept(batch);
      const claimed = ops.recipients.claim(now, now + 600_000, 'bench', 10 * RCPTS);
      const plans = claimed.flatMap((recipient) => fate.plan([{ origin: 'attempt', recipient, facts: { fact: outcome(i++ % 10 === 1 ? 1 : 2), firstQueuedAt: recipient.createdAt, ctx: ctx(now) } }], now + 1));
      ops.fates.record(plans);
      ops.retention.clearBodies(batch.map((b) => b.message.id), now + 2, now + 2, false);
    }
    db.exec('COMMIT');
  }
  for (let k = 0; k < 500; k += CLAIM) group(CLAIM); // warm-up
  counting = measured > 0;
  // No checkpoint during the measured run: the WAL's growth is the pages its commits wrote (each
  // also copied back by a later checkpoint on the relay), a count the machine's load cannot move.
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.pragma('wal_autocheckpoint = 0');
  const c0 = process.cpuUsage();
  for (let k = 0; k < measured; k += CLAIM) group(CLAIM);
  const total = process.cpuUsage(c0);
  const walPages = (statSync(join(dir, 'ferry.db-wal')).size - 32) / (4096 + 24);
  const pages = db.pragma('page_count', { simple: true });
  db.close();
  return { cpu, count, commits, total: total.user + total.system, pages, walPages, walPagesBy };
}

console.log(`writer-ops bench: ${N} messages × ${RCPTS} recipient(s), body ${BODY.length} B, history ${HISTORY}, claim ${CLAIM}, ${GROUP} accepts per commit; dist ${DIST}`);
const rounds = [];
for (let r = 0; r < ROUNDS; r++) {
  const l0 = loadavg()[0];
  const res = run(HISTORY, N);
  rounds.push(res);
  const per = (name) => (res.cpu[name] ?? 0) / N;
  const names = Object.keys(res.cpu);
  console.log(
    `  round ${r + 1} (load ${l0.toFixed(1)} → ${loadavg()[0].toFixed(1)}): total ${(res.total / N).toFixed(0)} µs/msg; ` +
      names.map((n) => `${n} ${per(n).toFixed(1)}`).join(', ') +
      `; per commit: durable ${((res.cpu['commit (durable)'] ?? 0) / (res.count['commit (durable)'] || 1)).toFixed(0)} µs, relaxed ${((res.cpu['commit (relaxed)'] ?? 0) / (res.count['commit (relaxed)'] || 1)).toFixed(0)} µs; ` +
      `WAL pages written ${(res.walPages / N).toFixed(2)} per message, ${(res.walPages / res.commits).toFixed(2)} per commit (${res.commits} commits); database ${res.pages} pages; WAL pages per message by transaction: ` +
      Object.entries(res.walPagesBy).map(([k, v]) => `${k} ${(v / N).toFixed(2)}`).join(', '),
  );
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const names = Object.keys(rounds[0].cpu);
console.log(`  median µs/msg: total ${(med(rounds.map((r) => r.total)) / N).toFixed(0)}; ` + names.map((n) => `${n} ${(med(rounds.map((r) => r.cpu[n] ?? 0)) / N).toFixed(1)}`).join(', '));
console.log(`  min µs/msg:    total ${(Math.min(...rounds.map((r) => r.total)) / N).toFixed(0)}; ` + names.map((n) => `${n} ${(Math.min(...rounds.map((r) => r.cpu[n] ?? 0)) / N).toFixed(1)}`).join(', '));
