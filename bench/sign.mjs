// DKIM signing benchmark: messages signed per second (4 KB messages) and the cost of one
// 10 MB message, with RSS, for rsa-sha256 alone and rsa-sha256 + ed25519-sha256 together.
// Run after `npm run build`: node bench/sign.mjs [N=2000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { createKeySource, generateDkimKey, writePrivateKey } from '../dist/sign/keys.js';
import { createSigner } from '../dist/sign/signer.js';

const N = Number(process.argv[2] ?? 2000);
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-sign-'));
const entries = [];
for (const [domain, selector, algorithm] of [
  ['rsa.test', 'r', 'rsa'],
  ['both.test', 'r', 'rsa'],
  ['both.test', 'e', 'ed25519'],
]) {
  const key = generateDkimKey(algorithm, 2048);
  entries.push({ domain, selector, keyFile: writePrivateKey(dir, domain, selector, key.privateKeyPem) });
}
const signer = createSigner({ keys: createKeySource(() => entries) });

const head = (d) =>
  `From: Sender <news@${d}>\r\nTo: someone@dest.test\r\nSubject: Your weekly report\r\n` +
  `Date: Thu, 15 Jan 2026 10:00:00 +0000\r\nMessage-ID: <bench@${d}>\r\nMIME-Version: 1.0\r\n` +
  `Content-Type: text/plain; charset=utf-8\r\n\r\n`;
const line = 'The quick brown fox jumps over the lazy dog, again and again and again.\r\n';
const small = (d) => Buffer.from(head(d) + line.repeat(Math.ceil(4096 / line.length)));
const mb = (n) => (n / 1048576).toFixed(1);

for (const domain of ['rsa.test', 'both.test']) {
  const msg = small(domain);
  for (let i = 0; i < 50; i++) await signer.sign(domain, () => Readable.from([msg])); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await signer.sign(domain, () => Readable.from([msg]));
  const s = (performance.now() - t0) / 1000;
  const label = domain === 'rsa.test' ? 'rsa-sha256' : 'rsa-sha256 + ed25519-sha256';
  console.log(`${label.padEnd(28)} ${msg.length} B x ${N}: ${(N / s).toFixed(0)} messages/s`);
}

const block = Buffer.from(line.repeat(1000));
const bigSize = 10 * 1024 * 1024;
const big = () =>
  Readable.from(
    (function* () {
      yield Buffer.from(head('both.test'));
      for (let sent = 0; sent < bigSize; sent += block.length) yield block;
    })(),
  );
const rss0 = process.memoryUsage().rss;
let peak = rss0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
const t1 = performance.now();
await signer.sign('both.test', big);
const ms = performance.now() - t1;
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
console.log(`10 MB message (rsa + ed25519): ${ms.toFixed(0)} ms, ${(10 / (ms / 1000)).toFixed(0)} MB/s; RSS ${mb(rss0)} MB → peak ${mb(peak)} MB (+${mb(peak - rss0)} MB)`);
rmSync(dir, { recursive: true, force: true });
