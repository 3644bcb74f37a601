#!/usr/bin/env node
// CPU per message of the DATA path (smtp-server's SMTPStream in data mode + its PassThrough):
// the library's own scan against the adapter's (src/receive/smtp-server-patch.ts).
//   npm run build && node bench/data-scan.mjs [size in bytes, default 102400]
import { SMTPStream } from 'smtp-server/lib/smtp-stream';
import { feedDataStream, libraryFeedDataStream } from '../dist/receive/smtp-server-patch.js';
const line = 'La de da de da 1. La de da de da 2. La de da de da 3. La de da de da 4.\r\n';
const SIZE = Number(process.argv[2] ?? 102400);
const msg = Buffer.from('From: a@b\r\nSubject: x\r\n\r\n' + line.repeat(Math.ceil(SIZE / line.length)) + '.\r\n');
const chunks = []; for (let i = 0; i < msg.length; i += 65536) chunks.push(msg.subarray(i, i + 65536));
async function one(feed) {
  const s = new SMTPStream(); s._feedDataStream = feed; s.oncommand = (c, cb) => cb && cb();
  const d = s.startDataMode(); d.resume();
  const ended = new Promise((r) => d.on('end', r));
  for (const c of chunks) s.write(c);
  await ended;
}
for (let r = 0; r < 3; r++) for (const [name, f] of [['library', libraryFeedDataStream], ['indexOf', feedDataStream]]) {
  const N = Math.max(200, Math.round(1e8 / SIZE)); const t0 = process.cpuUsage();
  for (let n = 0; n < N; n++) await one(f);
  const u = process.cpuUsage(t0); console.log(`${name}: ${((u.user + u.system) / N).toFixed(1)} us CPU per ${SIZE} B message (stream included)`);
}
