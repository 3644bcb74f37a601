#!/usr/bin/env node
// Fair connection slots under an idle-connection attack, against `ferry start` (a child process).
//
//   npm run build && node bench/fair-slots.mjs [--connections 1200] [--networks 24] [--seconds 20] [--max-clients 1000] [--dist DIR]
//
// Only 127.0.0.1 is a relay network. The attacker opens --connections silent sessions from
// --networks /24s (127.0.N.1-10, all outside the relay networks) and reopens every one Ferry
// closes, for --seconds. Meanwhile two good clients send one message per new connection, one
// after another: a relay-network application on 127.0.0.1 (no AUTH) and an authenticated user on
// 127.0.250.1 (AUTH PLAIN; untrusted until it authenticates). Prints how many sessions the
// attacker held, and each good client's connect→250 latency (target p99 < 1 s).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const opt = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const N = Number(opt('connections', '1200'));
const NETWORKS = Number(opt('networks', '24'));
const SECONDS = Number(opt('seconds', '20'));
const MAX_CLIENTS = Number(opt('max-clients', '1000'));
const entry = join(opt('dist', join(root, 'dist')), 'admin/entry.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const sink = new SMTPServer({ authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'], logger: false, onData: (s, _x, cb) => s.resume().on('end', () => cb()) });
await new Promise((r) => sink.listen(0, '127.0.0.2', r));
const freePort = async () => {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
};
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'ferry-fair-'));
const configFile = join(dir, 'ferry.json');
writeFileSync(
  configFile,
  JSON.stringify({
    hostname: 'fair.ferry.test',
    dataDir: join(dir, 'data'),
    log: { level: 'warn' },
    smtp: { listen: `127.0.0.1:${port}`, maxClients: MAX_CLIENTS, maxClientsPerIp: 1000, relayNetworks: ['127.0.0.1/32'] },
    routes: { '*': `127.0.0.2:${sink.server.address().port}` },
    dmarc: { mode: 'off' },
    delivery: { allowPrivateMx: true },
    http: { listen: null },
  }),
);
const env = { ...process.env, FERRY_CONFIG: configFile };
const added = spawnSync(process.execPath, [entry, 'users', 'add', 'bench', '--password-stdin'], { env, input: 'bench password\n', encoding: 'utf8' });
if (added.status !== 0) throw new Error(`users add: ${added.stderr}`);
const child = spawn(process.execPath, [entry, 'start'], { env, stdio: ['ignore', 'ignore', 'inherit'] });

const transport = (localAddress, auth) =>
  nodemailer.createTransport({ host: '127.0.0.1', port, localAddress, ignoreTLS: true, auth, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 10_000 });
for (let i = 0; i < 300; i++) {
  const tr = transport('127.0.0.1');
  const ok = await tr.sendMail({ from: 'app@client.test', to: 'warmup@dest.test', text: 'x' }).then(() => true, () => false);
  tr.close();
  if (ok) break;
  await sleep(100);
}

// attack
let attacking = true;
let held = 0;
let opened = 0;
let refused = 0;
const sockets = new Set();
const from = (i) => `127.0.${1 + (i % NETWORKS)}.${1 + (Math.floor(i / NETWORKS) % 10)}`;
function openOne(i) {
  if (!attacking) return;
  opened++;
  const s = net.connect({ port, host: '127.0.0.1', localAddress: from(i) });
  sockets.add(s);
  let greeted = false;
  s.on('error', () => undefined);
  s.once('data', (d) => {
    if (d.toString('latin1').startsWith('220')) {
      greeted = true;
      held++;
    } else refused++;
  });
  s.once('close', () => {
    sockets.delete(s);
    if (greeted) held--;
    // Reopen what Ferry closed, after a short pause (a refused one too: the attacker insists).
    if (attacking) setTimeout(() => openOne(i), 50);
  });
}
for (let i = 0; i < N; i += 100) {
  for (let k = i; k < Math.min(N, i + 100); k++) openOne(k);
  await sleep(20);
}
await sleep(1000);
let peakHeld = held;

// good clients
const results = { relay: [], auth: [] };
const failures = { relay: [], auth: [] };
async function goodClient(kind, localAddress, auth) {
  const end = performance.now() + SECONDS * 1000;
  for (let n = 0; performance.now() < end; n++) {
    const t0 = performance.now();
    const tr = transport(localAddress, auth);
    try {
      await tr.sendMail({ from: 'app@client.test', to: `${kind}${n}@dest.test`, subject: kind, text: 'hello' });
      results[kind].push(performance.now() - t0);
    } catch (err) {
      failures[kind].push(err.message);
    } finally {
      tr.close();
    }
    peakHeld = Math.max(peakHeld, held);
    await sleep(50);
  }
}
await Promise.all([goodClient('relay', '127.0.0.1'), goodClient('auth', '127.0.250.1', { user: 'bench', pass: 'bench password' })]);
attacking = false;
const heldAtEnd = held;
for (const s of sockets) s.destroy();

const pct = (a, q) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)].toFixed(1) : 'n/a';
};
console.log(`fair slots: ${N} attacker sessions from ${NETWORKS} /24s outside the relay networks, maxClients ${MAX_CLIENTS}, ${SECONDS} s`);
console.log(`  attacker: ${opened} connections opened, held ${heldAtEnd} at the end (peak seen ${peakHeld}), ${refused} refused at connect`);
for (const kind of ['relay', 'auth']) {
  const label = kind === 'relay' ? 'relay-network client (127.0.0.1, no AUTH)' : 'authenticated client (127.0.250.1, AUTH PLAIN)';
  console.log(`  ${label}: ${results[kind].length} sent, connect→250 p50 ${pct(results[kind], 0.5)} ms, p99 ${pct(results[kind], 0.99)} ms, max ${pct(results[kind], 1)} ms, ${failures[kind].length} failed${failures[kind].length ? ` (${failures[kind][0]})` : ''}`);
}
child.kill('SIGTERM');
await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10_000)]);
if (child.exitCode === null) child.kill('SIGKILL');
await new Promise((r) => sink.close(r));
rmSync(dir, { recursive: true, force: true });
