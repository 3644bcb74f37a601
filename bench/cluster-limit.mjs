// A per-domain rate limit on a PostgreSQL cluster (issue 14): `ferry limits set dest.bench
// --per-minute LIMIT`, then N messages to dest.bench sent over SMTP, split across the nodes, to
// real `bin/ferry start` processes on one throwaway PostgreSQL (fsync on). A loopback sink
// stamps each delivery. Run once with one node and once with two (a fresh database each).
//
//   npm run build && node bench/cluster-limit.mjs [LIMIT=600] [N=3*LIMIT] [NODES=1,2]
//
// Nothing is scaled: the limit is per minute (the shortest window Ferry's limits have), so a run
// takes about N/LIMIT minutes. Printed per run:
// - perMinute: deliveries in each whole minute since the first delivery, while mail waited
//   (on a busy machine the first ones may be bound by intake and delivery speed, not the limit);
// - afterIntake: the same, counted from the moment every message had its 250 (the queue holds
//   more than the limit lets go: these minutes are bound by the limit alone);
// - peak60s: the most deliveries in any 60-second window (sliding, to the millisecond);
// - offPct: how far the mean of the afterIntake minutes and the peak are from the limit, in %.
// The budget's slots are 1/60 window (1 s): a token comes back up to 1 s late, never early, so
// the expected figures are LIMIT per whole minute and a peak of LIMIT. Asserts nothing.
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import nodemailer from 'nodemailer';
import { ferryAdmin, startNode, startPg, startSink } from './lib/pg-cluster.mjs';

const LIMIT = Number(process.argv[2] ?? 600);
const N = Number(process.argv[3] ?? LIMIT * 3);
const RUNS = (process.argv[4] ?? '1,2').split(',').map(Number);
const SENDERS_PER_NODE = 4;
const DOMAIN = 'dest.bench';
const server = await startPg('climit');

// --- the sink: stamps every delivery ---
let stamps = [];
const { sink, port: sinkPort } = await startSink(() => stamps.push(performance.now()));

async function sendShare(node, prefix, count) {
  let next = 0;
  let refused = 0;
  const one = async () => {
    const tr = nodemailer.createTransport({ host: '127.0.0.1', port: node.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity });
    while (next < count) {
      const id = `${prefix}-${next++}`;
      const raw = `From: app@ferry.bench\r\nTo: r@${DOMAIN}\r\nSubject: ${id}\r\n\r\n${'Body line of a rate limit benchmark message.\r\n'.repeat(20)}`;
      try {
        await tr.sendMail({ envelope: { from: 'app@ferry.bench', to: [`r${next}@${DOMAIN}`] }, raw });
      } catch {
        refused++;
      }
    }
    tr.close();
  };
  await Promise.all(Array.from({ length: SENDERS_PER_NODE }, one));
  return refused;
}

async function runWith(nodes) {
  const url = await server.createDatabase(`climit${nodes}`);
  // The limit is in the shared store before any node starts (no node ever sends unlimited).
  ferryAdmin(server.work, url, ['limits', 'set', DOMAIN, '--per-minute', String(LIMIT)]);
  const config = { log: { level: 'warn' }, routes: { '*': `127.0.0.1:${sinkPort}` } };
  const list = await Promise.all(Array.from({ length: nodes }, (_, i) => startNode(server.work, url, `node-${String.fromCharCode(97 + i)}`, config)));
  stamps = [];
  const load0 = loadavg()[0];
  const t0 = performance.now();
  const refused = (await Promise.all(list.map((n, i) => sendShare(n, n.name, Math.floor(N / nodes) + (i < N % nodes ? 1 : 0))))).reduce((a, b) => a + b, 0);
  const acceptedS = (performance.now() - t0) / 1000;
  const expectMs = (N / LIMIT + 1.5) * 60_000;
  while (stamps.length < N - refused && performance.now() - t0 < expectMs) await new Promise((r) => setTimeout(r, 200));
  const load1 = loadavg()[0];
  for (const n of list) n.child.kill('SIGTERM');
  await Promise.all(list.map((n) => n.exited));

  const s = [...stamps].sort((x, y) => x - y);
  let peak = 0;
  for (let i = 0, j = 0; i < s.length; i++) {
    while (s[i] - s[j] >= 60_000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  // Whole minutes from the first delivery during which mail was still waiting (the last one
  // delivered after the minute ended).
  const perMinute = [];
  for (let m = 0; s.length && s[0] + (m + 1) * 60_000 <= s[s.length - 1]; m++) perMinute.push(s.filter((x) => x >= s[0] + m * 60_000 && x < s[0] + (m + 1) * 60_000).length);
  const acceptedAt = t0 + acceptedS * 1000;
  const afterIntake = [];
  for (let m = 0; s.length && acceptedAt + (m + 1) * 60_000 <= s[s.length - 1]; m++) afterIntake.push(s.filter((x) => x >= acceptedAt + m * 60_000 && x < acceptedAt + (m + 1) * 60_000).length);
  const mean = afterIntake.length ? afterIntake.reduce((a, b) => a + b, 0) / afterIntake.length : null;
  const pct = (v) => (v === null ? null : Number((((v - LIMIT) / LIMIT) * 100).toFixed(2)));
  return {
    nodes,
    limitPerMinute: LIMIT,
    sent: N,
    refusedAtIntake: refused,
    delivered: s.length,
    acceptSeconds: Number(acceptedS.toFixed(1)),
    perMinute,
    afterIntake,
    meanPerMinuteAfterIntake: mean === null ? null : Number(mean.toFixed(1)),
    peak60s: peak,
    offPct: { mean: pct(mean), peak: pct(peak) },
    spanSeconds: s.length ? Number(((s[s.length - 1] - s[0]) / 1000).toFixed(1)) : null,
    loadAvg1m: [Number(load0.toFixed(2)), Number(load1.toFixed(2))],
  };
}

const results = [];
for (const nodes of RUNS) {
  const r = await runWith(nodes);
  console.log(JSON.stringify(r));
  results.push(r);
}
sink.close();
console.log(`limit ${LIMIT}/minute, ${N} messages:`);
for (const r of results) {
  console.log(`  ${r.nodes} node${r.nodes > 1 ? 's' : ''}: whole minutes ${JSON.stringify(r.perMinute)}, after intake ${JSON.stringify(r.afterIntake)} (mean ${r.meanPerMinuteAfterIntake}, ${r.offPct.mean}% off), peak in any 60 s ${r.peak60s} (${r.offPct.peak}% off), delivered ${r.delivered}/${r.sent - r.refusedAtIntake}, load ${r.loadAvg1m.join(' -> ')}`);
}
process.exit(0);
