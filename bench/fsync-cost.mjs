#!/usr/bin/env node
// What one durable commit's sync costs on the disk under a data dir, by the call SQLite makes.
// better-sqlite3 here is compiled without HAVE_FDATASYNC, so SQLite's unixSync calls fsync(),
// which also commits the inode's changed mtime to the filesystem journal, where fdatasync would
// skip a timestamp-only change. Each case writes `--pages` 4 KB pages (a WAL commit's frames)
// then syncs, `--rounds` times, alternating the cases round by round so load drifts hit all alike:
//
//   inplace-fsync / inplace-fdatasync   pages rewritten inside a file of constant size (a WAL
//                                       reused after a checkpoint reset: journal_size_limit -1)
//   append-fsync / append-fdatasync     pages appended (a WAL that grows: after a truncation)
//
//   node bench/fsync-cost.mjs [--dir /tmp] [--pages 12] [--rounds 200] [--gap-ms 0] [--cases inplace-fsync,...]
// Whether a sync commits the filesystem's journal: `perf stat -a -e jbd2:jbd2_start_commit`
// around one case at a time (and around a `sleep` as long, for the rest of the machine's commits).
// (--gap-ms: pause between commits; a relay sending one message at a time commits every few ms,
// and the timestamp granularity decides whether each write changes the mtime.)
import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({ options: { dir: { type: 'string', default: tmpdir() }, pages: { type: 'string', default: '12' }, rounds: { type: 'string', default: '200' }, 'gap-ms': { type: 'string', default: '0' }, cases: { type: 'string', default: 'inplace-fsync,inplace-fdatasync,append-fsync,append-fdatasync' } } });
const PAGES = Number(o.pages);
const ROUNDS = Number(o.rounds);
const GAP = Number(o['gap-ms']);
const PAGE = Buffer.alloc(4096 + 24, 7);
const FILE_PAGES = 2048; // an 8 MB file for the in-place cases
const dir = mkdtempSync(join(o.dir, 'fsync-cost-'));
const pct = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const cases = {};
for (const name of o.cases.split(',')) {
  const fd = openSync(join(dir, name), 'w+');
  if (name.startsWith('inplace')) {
    for (let i = 0; i < FILE_PAGES; i++) writeSync(fd, PAGE, 0, PAGE.length, i * PAGE.length);
    fsyncSync(fd);
  }
  cases[name] = { fd, pos: 0, times: [] };
}
const load0 = loadavg()[0].toFixed(1);
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, c] of Object.entries(cases)) {
    const inplace = name.startsWith('inplace');
    if (!inplace && c.pos > 4096 * PAGE.length) {
      ftruncateSync(c.fd, 0); // keep the appended file bounded: a "checkpoint + truncate"
      fsyncSync(c.fd);
      c.pos = 0;
    }
    if (inplace && c.pos + PAGES >= FILE_PAGES) c.pos = 0;
    const t = performance.now();
    for (let i = 0; i < PAGES; i++) writeSync(c.fd, PAGE, 0, PAGE.length, (c.pos + i) * PAGE.length);
    if (name.endsWith('fdatasync')) fdatasyncSync(c.fd);
    else fsyncSync(c.fd);
    c.times.push(performance.now() - t);
    c.pos += PAGES;
    if (GAP > 0) await sleep(GAP);
  }
}
console.log(`${new Date().toISOString()} ${o.dir}: ${PAGES} pages written + sync, ${ROUNDS} rounds, gap ${GAP} ms, load average ${load0} -> ${loadavg()[0].toFixed(1)}`);
console.log('| case | p50 ms | p90 ms | p99 ms |');
console.log('| --- | --- | --- | --- |');
for (const [name, c] of Object.entries(cases)) console.log(`| ${name} | ${pct(c.times, 50).toFixed(3)} | ${pct(c.times, 90).toFixed(3)} | ${pct(c.times, 99).toFixed(3)} |`);
for (const c of Object.values(cases)) closeSync(c.fd);
rmSync(dir, { recursive: true, force: true });
