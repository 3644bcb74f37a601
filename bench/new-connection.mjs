#!/usr/bin/env node
// One message per new SMTP connection from a relay-network client (how many application
// frameworks send: connect, greeting, EHLO, MAIL, RCPT, DATA, QUIT), against `ferry start` in a
// child process delivering to a sink on 127.0.0.2.
//
//   npm run build && node bench/new-connection.mjs [--messages 2000] [--sessions 20] [--single 300] [--size 4096] [--greeting-delay-ms 0] [--dist DIR]
//
// Prints: the single-client connect→221 latency (p50/p99, one client, one message after another),
// then messages/s and latency for --sessions concurrent clients. --greeting-delay-ms sets
// smtp.greetingDelayMs (100 reproduces smtp-server's old fixed pause).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const opt = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const MESSAGES = Number(opt('messages', '2000'));
const SESSIONS = Number(opt('sessions', '20'));
const SINGLE = Number(opt('single', '300'));
const SIZE = Number(opt('size', '4096'));
const DELAY = Number(opt('greeting-delay-ms', '0'));
const entry = join(opt('dist', join(root, 'dist')), 'admin/entry.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let sunk = 0;
const sink = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  logger: false,
  onData: (s, _x, cb) => s.resume().on('end', () => (sunk++, cb())),
});
await new Promise((r) => sink.listen(0, '127.0.0.2', r));
const freePort = async () => {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
};
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'ferry-newconn-'));
writeFileSync(
  join(dir, 'ferry.json'),
  JSON.stringify({
    hostname: 'newconn.ferry.test',
    dataDir: join(dir, 'data'),
    log: { level: 'warn' },
    smtp: { listen: `127.0.0.1:${port}`, greetingDelayMs: DELAY },
    routes: { '*': `127.0.0.2:${sink.server.address().port}` },
    dmarc: { mode: 'off' },
    delivery: { allowPrivateMx: true },
    http: { listen: null },
  }),
);
const child = spawn(process.execPath, [entry, 'start'], { env: { ...process.env, FERRY_CONFIG: join(dir, 'ferry.json') }, stdio: ['ignore', 'ignore', 'inherit'] });

const body = `From: app@client.test\r\nTo: r@dest.test\r\nSubject: bench\r\n\r\n${'x'.repeat(76)}\r\n`.repeat(Math.max(1, Math.ceil(SIZE / 80)));

/** One message over one new connection; resolves with connect→221 in ms (throws on any non-2xx/3xx). */
function sendOne(n) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = net.connect({ port, host: '127.0.0.1' });
    s.setNoDelay(true);
    const script = ['EHLO app.test', 'MAIL FROM:<app@client.test>', `RCPT TO:<r${n}@dest.test>`, 'DATA', null, 'QUIT'];
    let step = -1;
    let buf = '';
    s.on('error', reject);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const i = buf.indexOf('\r\n');
        if (i < 0) return;
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (line[3] === '-') continue;
        if (!/^[23]/.test(line)) {
          s.destroy();
          return reject(new Error(`step ${step}: ${line}`));
        }
        step++;
        if (step === script.length) {
          s.destroy();
          return resolve(performance.now() - t0);
        }
        s.write(script[step] === null ? `${body}.\r\n` : `${script[step]}\r\n`);
      }
    });
  });
}

for (let i = 0; i < 300; i++) {
  if (await sendOne(-1).then(() => true, () => false)) break;
  await sleep(100);
}
const pct = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
const fmt = (x) => x.toFixed(2);

const single = [];
for (let i = 0; i < SINGLE; i++) single.push(await sendOne(i));
single.sort((a, b) => a - b);

const lat = [];
let next = 0;
let failures = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: SESSIONS }, async () => {
    while (next < MESSAGES) {
      const n = next++;
      try {
        lat.push(await sendOne(n));
      } catch {
        failures++;
      }
    }
  }),
);
const secs = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const deadline = Date.now() + 60_000;
while (sunk < SINGLE + MESSAGES + 1 - failures && Date.now() < deadline) await sleep(50);
console.log(`new connection per message, ${SIZE} B, relay-network client, smtp.greetingDelayMs ${DELAY}`);
console.log(`  single client, ${SINGLE} messages: connect→221 p50 ${fmt(pct(single, 0.5))} ms, p99 ${fmt(pct(single, 0.99))} ms`);
console.log(`  ${SESSIONS} concurrent clients, ${MESSAGES} messages: ${(lat.length / secs).toFixed(0)} accepted/s, connect→221 p50 ${fmt(pct(lat, 0.5))} ms, p99 ${fmt(pct(lat, 0.99))} ms, ${failures} failed; ${sunk} delivered to the sink`);

child.kill('SIGTERM');
await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10_000)]);
if (child.exitCode === null) child.kill('SIGKILL');
await new Promise((r) => sink.close(r));
rmSync(dir, { recursive: true, force: true });
