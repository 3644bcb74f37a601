#!/usr/bin/env node
// Hostile reports against the bounce-report parser (issue 11, finding 1).
//
//   npm run build && node bench/hostile-report.mjs [--mb 1] [--seconds 6] [--senders 3] [--dist DIR]
//
// Part 1, in-process: parseInboundReport on 1 MB hostile inputs of several shapes. For each:
// the CPU time it took, and the longest stretch the event loop was held (a setImmediate ticker
// runs alongside). For comparison, the old regex (the ARF "inline fields" fallback of main) on
// a few small sizes: its cost grows with the square of the input.
//
// Part 2, through the real listeners: `ferry start` in a child process with the bounce
// listener on. Several senders post hostile 1 MB reports to VERP addresses with VALID tokens
// (so the parser runs) for --seconds; meanwhile a probe opens a new connection to the
// submission port every 50 ms and times the 220 greeting. Prints the greeting latency
// percentiles, the reports processed, and Ferry's CPU time per report (from /proc).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const opt = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const MB = Number(opt('mb', '1'));
const SECONDS = Number(opt('seconds', '6'));
const SENDERS = Number(opt('senders', '3'));
const dist = opt('dist', join(root, 'dist'));
const SIZE = Math.floor(MB * 1024 * 1024);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const { parseInboundReport } = await import(pathToFileURL(join(dist, 'bounce/report-parse.js')).href);
const { createVerp } = await import(pathToFileURL(join(dist, 'bounce/verp.js')).href);

const fill = (head, unit) => {
  const n = Math.max(0, Math.ceil((SIZE - head.length) / unit.length));
  return Buffer.from((head + unit.repeat(n)).slice(0, SIZE), 'latin1');
};
const SHAPES = {
  'ARF header + blank lines (the reported attack)': fill('Content-Type: multipart/report; report-type=feedback-report; boundary="b"\r\n\r\n--b\r\ncontent-type: message/feedback-report\r\n', '\r\n'),
  'ARF inline, blank lines, no boundary': fill('Content-Type: multipart/report; report-type="feedback-report"\r\n\r\ncontent-type: message/feedback-report\r\n', '\n'),
  'delivery-status, 1-byte lines': fill('Content-Type: multipart/report; boundary="b"\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n', 'a\r\n'),
  'delivery-status, 20k recipient blocks': fill('Content-Type: multipart/report; boundary="b"\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n', 'Final-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n'),
  'huge To header inside a part': fill('Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nTo: ', 'a@b.c, '),
  'near-boundary lines': fill('Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\n', '--bb\r\n'),
  'thousands of parts': fill('Content-Type: multipart/mixed; boundary="b"\r\n\r\n', '--b\r\nContent-Type: message/delivery-status\r\n\r\nA: b\r\n'),
  'folded header lines': fill('Subject: x', '\r\n a'),
  'base64 delivery-status': Buffer.concat([Buffer.from('Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n'), Buffer.from(Buffer.from('Final-Recipient: rfc822; a@b\r\n'.repeat(SIZE / 40)).toString('base64').slice(0, SIZE - 100))]),
  'quoted-printable text of =3D': fill('Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n', '=3D=\r\n'),
};

async function measure(fn) {
  let maxGap = 0;
  let last = performance.now();
  let stop = false;
  const tick = () => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    if (!stop) setImmediate(tick);
  };
  setImmediate(tick);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  stop = true;
  await new Promise((r) => setImmediate(r));
  return { result, wall, cpuMs: (cpu.user + cpu.system) / 1000, maxGap };
}

console.log(`# Part 1: parseInboundReport on ${(SIZE / 1048576).toFixed(2)} MB hostile inputs (in-process)`);
console.log('shape | kind | CPU ms | wall ms | longest loop hold ms');
await parseInboundReport(SHAPES['thousands of parts']); // warm up
for (const [name, raw] of Object.entries(SHAPES)) {
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(await measure(() => parseInboundReport(raw)));
  const best = runs.sort((a, b) => a.cpuMs - b.cpuMs)[1]; // the median of three
  console.log(`${name} | ${best.result.kind} | ${best.cpuMs.toFixed(1)} | ${best.wall.toFixed(1)} | ${best.maxGap.toFixed(1)}`);
}

console.log('\n# The old ARF fallback regex (main before this change), for comparison');
const OLD = /content-type:\s*message\/feedback-report[^\n]*\n(?:[^\n]*\n)*?\r?\n([\s\S]*?)(?:\r?\n--)/i;
console.log('size KB | ms');
for (const kb of [5, 10, 20, 40]) {
  const text = `report-type=feedback-report\r\ncontent-type: message/feedback-report\r\n${'\r\n'.repeat((kb * 1024) / 2)}`;
  const t0 = performance.now();
  OLD.exec(text);
  console.log(`${kb} | ${(performance.now() - t0).toFixed(1)}`);
}

// ---- Part 2 ----
const freePort = async () => {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
};
const [smtpPort, bouncePort] = [await freePort(), await freePort()];
const dir = mkdtempSync(join(tmpdir(), 'ferry-hostile-'));
const VERP = { enabled: true, domain: 'bounce.ferry.test', secret: 'bench-verp-secret-0123456789' };
writeFileSync(
  join(dir, 'ferry.json'),
  JSON.stringify({
    hostname: 'hostile.ferry.test',
    dataDir: join(dir, 'data'),
    log: { level: 'silent' },
    http: { listen: null },
    dns: { servers: ['127.0.0.1:9'], timeoutMs: 300, tries: 1 },
    smtp: { listen: `127.0.0.1:${smtpPort}` },
    verp: VERP,
    bounceListener: { listen: `127.0.0.1:${bouncePort}`, parseMaxBytes: SIZE + 1024 },
    dmarc: { mode: 'off' },
  }),
);
const child = spawn(process.execPath, [join(dist, 'admin/entry.js'), 'start'], { env: { ...process.env, FERRY_CONFIG: join(dir, 'ferry.json') }, stdio: ['ignore', 'ignore', 'inherit'] });
const cpuTicks = () => {
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
const TICK_MS = 10; // USER_HZ 100

function greeting(port) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('data', () => {
      resolve(performance.now() - t0);
      s.end('QUIT\r\n');
      s.destroy();
    });
    s.once('error', () => resolve(NaN));
  });
}

for (let i = 0; i < 100; i++) {
  if (!Number.isNaN(await greeting(smtpPort)) && !Number.isNaN(await greeting(bouncePort))) break;
  await sleep(100);
}

const verp = createVerp({ ...VERP, localPart: 'bounces' });
const hostile = Object.values(SHAPES);
let sent = 0;
let answered = 0;
async function sender(n, until) {
  while (performance.now() < until) {
    const raw = hostile[(n + sent) % hostile.length];
    const rcpt = verp.address(`0MIGK3XQ${String(n).padStart(2, '0')}A1B2C3D4E5F6`, 7);
    const s = net.connect({ port: bouncePort, host: '127.0.0.1' });
    await new Promise((resolve) => {
      let step = 0;
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString('latin1');
        if (!buf.includes('\r\n') || /^\d{3}-/m.test(buf.split('\r\n').filter(Boolean).at(-1) ?? '')) return;
        buf = '';
        step++;
        if (step === 1) s.write('EHLO hostile.test\r\n');
        else if (step === 2) s.write('MAIL FROM:<>\r\n');
        else if (step === 3) s.write(`RCPT TO:<${rcpt}>\r\n`);
        else if (step === 4) s.write('DATA\r\n');
        else if (step === 5) {
          sent++;
          s.write(raw);
          s.write('\r\n.\r\n');
        } else if (step === 6) {
          answered++;
          s.end('QUIT\r\n');
          resolve();
        }
      });
      s.on('error', resolve);
      s.on('close', resolve);
    });
    s.destroy();
  }
}

async function probeFor(ms) {
  const out = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    out.push(await greeting(smtpPort));
    await sleep(50);
  }
  return out;
}
const stats = (xs) => {
  const ok = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const pct = (p) => ok[Math.min(ok.length - 1, Math.floor((p / 100) * ok.length))]?.toFixed(1);
  return `${ok.length} probes (${xs.length - ok.length} failed): p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${ok.at(-1)?.toFixed(1)} ms`;
};
const baseline = await probeFor(3000);

const latencies = [];
const ticks0 = cpuTicks();
const until = performance.now() + SECONDS * 1000;
const senders = Array.from({ length: SENDERS }, (_, n) => sender(n, until));
const probe = (async () => {
  while (performance.now() < until) {
    latencies.push(await greeting(smtpPort));
    await sleep(50);
  }
})();
await Promise.all([...senders, probe]);
const ferryCpuMs = (cpuTicks() - ticks0) * TICK_MS;
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
rmSync(dir, { recursive: true, force: true });

console.log(`\n# Part 2: ${SENDERS} senders x ${SECONDS}s of ${(SIZE / 1048576).toFixed(2)} MB hostile reports with valid VERP tokens, through \`ferry start\``);
console.log(`reports answered: ${answered} (sent ${sent}); Ferry CPU: ${ferryCpuMs} ms, ${(ferryCpuMs / Math.max(1, answered)).toFixed(1)} ms per report (SMTP reading included)`);
console.log('(the probe connects from the relay networks, which are greeted at once: smtp.greetingDelayMs 0)');
console.log(`submission greeting latency, idle relay first (the machine's own noise): ${stats(baseline)}`);
console.log(`submission greeting latency under the hostile reports: ${stats(latencies)}`);
