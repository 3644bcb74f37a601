// One Ferry node on SQLite vs one on PostgreSQL, the same load (issue 14): `bin/ferry start`
// (a real process) receives N messages of SIZE bytes over SESSIONS SMTP sessions and delivers
// them to a loopback sink (routes: '*'). Run on SQLite (dataDir) first, then on a throwaway
// PostgreSQL 15 (fsync on, synchronous_commit on) on the same machine.
//
//   npm run build && node bench/pg-vs-sqlite.mjs [N=3000] [SESSIONS=10] [SIZE=4096]
//
// Printed per engine: accepted/s (N over the time from the first send to the last 250),
// delivered/s (N over the time to the last message at the sink), the node's CPU ms per message,
// and on PostgreSQL the server's CPU ms per message too (postmaster + backends: the server shares
// the node's two cores). Asserts nothing.
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import nodemailer from 'nodemailer';
import { cpuMs, startNode, startPg, startSink } from './lib/pg-cluster.mjs';

const N = Number(process.argv[2] ?? 3000);
const SESSIONS = Number(process.argv[3] ?? 10);
const SIZE = Number(process.argv[4] ?? 4096);
const BOUND_MS = 600_000;

const server = await startPg('pgvslite');

let received = 0;
let onReceived = () => undefined;
const { sink, port: sinkPort } = await startSink(() => {
  received++;
  onReceived();
});
const body = `${'x'.repeat(76)}\r\n`.repeat(Math.max(1, Math.ceil(SIZE / 78)));

async function runOn(engine) {
  const url = engine === 'postgres' ? await server.createDatabase('pgvslite') : '';
  const node = await startNode(server.work, url, `${engine}-node`, {
    log: { level: 'warn' },
    routes: { '*': `127.0.0.1:${sinkPort}` },
    ...(engine === 'sqlite' ? { store: {} } : {}),
  });
  received = 0;
  const done = new Promise((resolve) => (onReceived = () => received >= N && resolve()));
  const cpu0 = { node: cpuMs(node.pid), pg: server.cpuMs() };
  const load0 = loadavg()[0];
  const t0 = performance.now();
  let next = 0;
  let refused = 0;
  await Promise.all(
    Array.from({ length: SESSIONS }, async () => {
      const tr = nodemailer.createTransport({ host: '127.0.0.1', port: node.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity });
      while (next < N) {
        const i = next++;
        try {
          await tr.sendMail({ envelope: { from: 'app@ferry.bench', to: [`r${i % 100}@d${i % 10}.bench`] }, raw: `From: app@ferry.bench\r\nTo: r@d.bench\r\nSubject: ${i}\r\n\r\n${body}` });
        } catch {
          refused++;
        }
      }
      tr.close();
    }),
  );
  const acceptedMs = performance.now() - t0;
  await Promise.race([done, new Promise((r) => setTimeout(r, BOUND_MS))]);
  const deliveredMs = performance.now() - t0;
  const cpu1 = { node: cpuMs(node.pid), pg: server.cpuMs() };
  const load1 = loadavg()[0];
  node.child.kill('SIGTERM');
  await node.exited;
  return {
    engine,
    messages: N,
    sessions: SESSIONS,
    sizeBytes: body.length,
    refused,
    delivered: received,
    acceptedPerS: Number((((N - refused) / acceptedMs) * 1000).toFixed(1)),
    deliveredPerS: Number(((received / deliveredMs) * 1000).toFixed(1)),
    nodeCpuMsPerMsg: Number(((cpu1.node - cpu0.node) / N).toFixed(2)),
    pgServerCpuMsPerMsg: engine === 'postgres' ? Number(((cpu1.pg - cpu0.pg) / N).toFixed(2)) : null,
    loadAvg1m: [Number(load0.toFixed(2)), Number(load1.toFixed(2))],
  };
}

const results = [];
for (const engine of ['sqlite', 'postgres']) {
  const r = await runOn(engine);
  console.log(JSON.stringify(r));
  results.push(r);
}
sink.close();
for (const r of results) {
  console.log(`${r.engine.padEnd(8)} accepted ${r.acceptedPerS}/s, delivered ${r.deliveredPerS}/s, node CPU ${r.nodeCpuMsPerMsg} ms/msg${r.pgServerCpuMsPerMsg === null ? '' : ` + PostgreSQL server ${r.pgServerCpuMsPerMsg} ms/msg`}, load ${r.loadAvg1m.join(' -> ')}`);
}
process.exit(0);
