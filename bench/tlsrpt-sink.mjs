// TLS-RPT sink benchmark: what one outbound session costs the event loop (record(), in memory),
// and what one flush costs (one SQLite transaction writing every counted policy and failure row).
// Run after `npm run build`: node bench/tlsrpt-sink.mjs [SESSIONS=1000000] [DOMAINS=1000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../dist/store/db.js';
import { createTlsReportRepo } from '../dist/store/tls-report-repo.js';
import { createTlsReportSink } from '../dist/tlsrpt/sink.js';
import { silentLogger } from '../dist/core/logger.js';

const SESSIONS = Number(process.argv[2] ?? 1_000_000);
const DOMAINS = Number(process.argv[3] ?? 1000);
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-tlsrpt-'));
const clock = { now: () => Date.UTC(2026, 2, 10, 12), setTimer: () => ({ cancel() {} }) };
const results = ['success', 'success', 'success', 'success', 'success', 'success', 'success', 'starttls-not-supported', 'certificate-expired', 'validation-failure'];

function session(i) {
  const d = i % DOMAINS;
  return {
    at: clock.now(),
    policyDomain: `domain${d}.example`,
    policyApplied: 'sts-enforce',
    policy: { type: 'sts', strings: ['version: STSv1', 'mode: enforce', `mx: *.domain${d}.example`, 'max_age: 604800'], mxHosts: [`*.domain${d}.example`] },
    result: results[i % results.length],
    mxHost: `mx${i % 3}.domain${d}.example`,
    receivingIp: `192.0.2.${i % 3}`,
    receivingMxHelo: `mx${i % 3}.domain${d}.example`,
    detail: i % results.length === 9 ? 'self-signed certificate in certificate chain' : null,
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    verified: true,
    requireTlsOffered: false,
  };
}

try {
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  const repo = createTlsReportRepo(db);
  const sink = createTlsReportSink({ repo, clock, logger: silentLogger(), flushIntervalMs: 5000 });
  const inputs = Array.from({ length: Math.min(SESSIONS, 100_000) }, (_, i) => session(i));
  // per-record latency, sampled
  const samples = [];
  let t0 = performance.now();
  for (let i = 0; i < SESSIONS; i++) {
    if (i % 1000 === 0) {
      const a = performance.now();
      sink.record(inputs[i % inputs.length]);
      samples.push((performance.now() - a) * 1000);
    } else sink.record(inputs[i % inputs.length]);
  }
  const recordMs = performance.now() - t0;
  samples.sort((a, b) => a - b);
  t0 = performance.now();
  sink.flush();
  const flushMs = performance.now() - t0;
  // a second flush of the same keys: upserts into existing rows
  for (let i = 0; i < SESSIONS; i++) sink.record(inputs[i % inputs.length]);
  t0 = performance.now();
  sink.flush();
  const flush2Ms = performance.now() - t0;
  // the timer's flush: transactions of 200 policies, one per turn of the event loop
  let fire = null;
  const timerClock = { now: clock.now, setTimer: (_ms, fn) => ((fire = fire ?? fn), { cancel() {} }) };
  const addTimes = [];
  const timedRepo = { add: (d) => { const a = performance.now(); repo.add(d); addTimes.push(performance.now() - a); } };
  const chunked = createTlsReportSink({ repo: timedRepo, clock: timerClock, logger: silentLogger(), flushIntervalMs: 5000 });
  for (let i = 0; i < SESSIONS; i++) chunked.record(inputs[i % inputs.length]);
  chunked.start();
  t0 = performance.now();
  fire();
  while (chunked.pending > 0) await new Promise((r) => setImmediate(r));
  const chunkedMs = performance.now() - t0;
  addTimes.sort((a, b) => a - b);
  const rows = db.prepare('SELECT COUNT(*) AS n FROM tls_report_policies').get().n;
  const frows = db.prepare('SELECT COUNT(*) AS n FROM tls_report_failures').get().n;
  console.log(JSON.stringify({
    sessions: SESSIONS,
    domains: DOMAINS,
    recordNsPerSession: Math.round((recordMs * 1e6) / SESSIONS),
    recordP50us: +samples[Math.floor(samples.length * 0.5)].toFixed(2),
    recordP99us: +samples[Math.floor(samples.length * 0.99)].toFixed(2),
    firstFlushMs: +flushMs.toFixed(1),
    secondFlushMs: +flush2Ms.toFixed(1),
    timerFlushTotalMs: +chunkedMs.toFixed(1),
    timerFlushTransactions: addTimes.length,
    timerFlushLongestTransactionMs: +addTimes[addTimes.length - 1].toFixed(1),
    timerFlushMedianTransactionMs: +addTimes[Math.floor(addTimes.length / 2)].toFixed(1),
    policyRows: rows,
    failureRows: frows,
  }));
  db.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
