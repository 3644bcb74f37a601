#!/usr/bin/env node
// What delivery's first messages.head of a fresh message costs the SMTP thread, from the store and
// from workers/accepted-heads.ts (the row kept at the intake's commit). The relay's engine: SQLite
// with its writer thread (reads on this thread's read-only connection). --messages 4 KB messages
// are accepted in groups of 4 (the relay's commits), then each one's head is read, in accept
// order, once through the store and once through the kept rows; a commit of --between accepts
// comes before each read of a group (as on the relay, where the writer commits all the time and
// each commit empties this connection's page cache at its next read).
// CPU is process.cpuUsage() (this thread and the V8 helpers; the writer thread is idle while
// reads run), per head().
//
//   npm run build && node bench/accepted-heads.mjs [--messages 2000] [--size 4096] [--rounds 3] [--dist DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { acceptedMessage } from './lib/bench-message.mjs';

const { values: opts } = parseArgs({
  options: {
    messages: { type: 'string', default: '2000' },
    size: { type: 'string', default: '4096' },
    rounds: { type: 'string', default: '3' },
    dist: { type: 'string' },
  },
});
const N = Number(opts.messages);
const SIZE = Number(opts.size);
const DIST = resolve(opts.dist ?? fileURLToPath(new URL('../dist', import.meta.url)));
const load = async (p) => import(pathToFileURL(join(DIST, p)).href);
const { openThreadedSqliteStore } = await load('store/sqlite/threaded.js');
const { createAcceptedHeads } = await load('workers/accepted-heads.js');
const { systemClock } = await load('core/clock.js');

let seq = 0;
function message() {
  const id = `H${process.pid}X${String(++seq).padStart(8, '0')}`;
  const headers = Buffer.from(`Received: from bench.client (localhost [127.0.0.1])\r\n\tby bench.ferry.test (Ferry) with ESMTP id ${id}\r\nFrom: bench@source.test\r\nTo: rcpt${seq}@d1.dest.test\r\nSubject: bench ${seq}\r\n\r\n`);
  const body = Buffer.alloc(SIZE, 'The quick brown fox jumps over the lazy dog.\r\n');
  return acceptedMessage({ id, headers, body, sender: 'bench@source.test', helo: 'source.test', subject: `bench ${seq}`, address: `rcpt${seq}@d1.dest.test` });
}
const cpu = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

console.log(`accepted-heads bench: ${N} messages of ${SIZE} B, dist ${DIST}`);
for (let round = 1; round <= Number(opts.rounds); round++) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-heads-'));
  const store = await openThreadedSqliteStore({ file: join(dir, 'ferry.db') });
  const heads = createAcceptedHeads({ clock: systemClock, maxEntries: N + 1, maxBytes: 1 << 30 });
  const queue = heads.queue(store.queue);
  const messages = heads.messages(store.messages);
  const load0 = loadavg()[0].toFixed(1);
  const ids = [];
  const out = { store: 0, kept: 0 };
  for (let i = 0; i < N; i += 4) {
    const batch = [message(), message(), message(), message()];
    ids.push(...batch.map((m) => m.message.id));
    await Promise.all(batch.map((m) => queue.accept([m])));
    // the store's read (after a commit, as on the relay), then the kept row's
    await store.queue.accept([message()]);
    let t = cpu();
    for (const m of batch) await store.messages.head(m.message.id);
    out.store += cpu() - t;
    t = cpu();
    for (const m of batch) await messages.head(m.message.id);
    out.kept += cpu() - t;
  }
  const s = heads.stats();
  console.log(
    `  round ${round} (load ${load0}): head() CPU µs per message: from the store ${(out.store / N).toFixed(1)}, kept at the commit ${(out.kept / N).toFixed(1)}; kept rows taken ${s.hits} of ${N} (misses ${s.misses}, dropped ${s.dropped})`,
  );
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
