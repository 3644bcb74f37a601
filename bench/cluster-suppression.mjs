// How fast a suppression change reaches every node of a PostgreSQL cluster (issue 14): two real
// `bin/ferry start` nodes (suppression.mode reject) on one throwaway PostgreSQL; one SMTP
// session open on each node asks RCPT for the address in a loop (RSET, MAIL, RCPT) and notes
// when the answer changes. ROUNDS times: the address is added (the store call `ferry
// suppressions add` makes: suppressions.upsert, from an admin connection), then removed
// (suppressions.remove); the time from the commit to each node's first changed answer is the
// propagation time. A few adds and removes also go through the real CLI (a process each; the
// time is from its exit). Prints p50/p99/max per node and kind. Target: under 1 s.
//
//   npm run build && node bench/cluster-suppression.mjs [ROUNDS=50]
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { ferryAdmin, startNode, startPg } from './lib/pg-cluster.mjs';

const ROUNDS = Number(process.argv[2] ?? 50);
const CLI_ROUNDS = 5;
const BOUND_MS = 30_000;
const { openPostgresStore } = await import(new URL('../dist/store/postgres/engine.js', import.meta.url).href);

const server = await startPg('csupp');
const url = await server.createDatabase('csupp');
const nodes = await Promise.all(['node-a', 'node-b'].map((n) => startNode(server.work, url, n, { log: { level: 'warn' }, suppression: { mode: 'reject' } })));

/** A raw SMTP session: command(line) → the reply's code. */
async function session(port) {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  let buf = '';
  let waiting = null;
  socket.on('data', (d) => {
    buf += d.toString('latin1');
    // A complete reply: its last line has a space after the code.
    const m = /(^|\r\n)(\d{3}) [^\r\n]*\r\n$/.exec(buf);
    if (m && waiting) {
      const w = waiting;
      waiting = null;
      buf = '';
      w(Number(m[2]));
    }
  });
  const next = () => new Promise((r) => (waiting = r));
  await next(); // greeting
  const command = (line) => {
    const p = next();
    socket.write(`${line}\r\n`);
    return p;
  };
  await command('EHLO bench.test');
  return {
    async rcpt(address) {
      await command('RSET');
      await command('MAIL FROM:<app@ferry.bench>');
      return command(`RCPT TO:<${address}>`);
    },
    close: () => socket.end('QUIT\r\n'),
  };
}
const sessions = await Promise.all(nodes.map((n) => session(n.port)));

// The admin connection (as a `ferry` admin command opens it): not a node.
const admin = await openPostgresStore({ url, poolSize: 2, nodeName: 'bench (ferry admin)', version: 'bench', heartbeatMs: 5_000, now: Date.now, asNode: false });

/** Polls a node's session until RCPT answers `want`; ms since `from`. */
async function waitFor(s, address, want, from) {
  for (;;) {
    const code = await s.rcpt(address);
    const at = performance.now();
    if (code === want) return at - from;
    if (at - from > BOUND_MS) return Infinity;
  }
}

const times = { add: [[], []], remove: [[], []], cliAdd: [[], []], cliRemove: [[], []] };
const load0 = loadavg()[0];
for (let i = 0; i < ROUNDS + CLI_ROUNDS; i++) {
  const address = `gone${i}@dest.bench`;
  const viaCli = i >= ROUNDS;
  // Both nodes have looked it up (a cached miss) before the change.
  for (const s of sessions) if ((await s.rcpt(address)) !== 250) throw new Error(`${address}: not accepted before the add`);
  for (const [kind, want] of [['add', 550], ['remove', 250]]) {
    let from;
    if (viaCli) {
      ferryAdmin(server.work, url, ['suppressions', kind, address]);
      from = performance.now();
    } else {
      const entry = { address, domain: 'dest.bench', category: 'manual', reason: 'bench', source: 'manual', scope: null, createdAt: Date.now(), expiresAt: null };
      if (kind === 'add') await admin.suppressions.upsert(entry);
      else await admin.suppressions.remove(address, null);
      from = performance.now();
    }
    const got = await Promise.all(sessions.map((s) => waitFor(s, address, want, from)));
    const key = viaCli ? (kind === 'add' ? 'cliAdd' : 'cliRemove') : kind;
    got.forEach((ms, n) => times[key][n].push(ms));
  }
}
const load1 = loadavg()[0];
for (const s of sessions) s.close();
await admin.close();
for (const n of nodes) n.child.kill('SIGTERM');
await Promise.all(nodes.map((n) => n.exited));

const pct = (list, p) => {
  const s = [...list].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))];
};
const fmt = (v) => (Number.isFinite(v) ? Number(v.toFixed(1)) : 'not within bound');
const report = { rounds: ROUNDS, cliRounds: CLI_ROUNDS, loadAvg1m: [Number(load0.toFixed(2)), Number(load1.toFixed(2))] };
for (const [kind, perNode] of Object.entries(times)) {
  for (const [n, list] of perNode.entries()) {
    report[`${kind} ${nodes[n].name}`] = { n: list.length, p50Ms: fmt(pct(list, 0.5)), p99Ms: fmt(pct(list, 0.99)), maxMs: fmt(Math.max(...list)), over1s: list.filter((x) => x >= 1000).length };
  }
}
console.log(JSON.stringify(report, null, 1));
process.exit(0);
