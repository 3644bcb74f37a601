// Bounce classifier throughput. Needs the compiled output: run `npm run build` first.
//
//   node bench/classify.mjs [inputs] [runs]
//
// Prints replies/s for classify() alone and lines/s for the `ferry bounces classify` line
// path (parse + classify + JSON + chunked writes) on an in-memory stream. Both figures are
// given per wall-clock second and per CPU second of this process: on a shared machine the
// CPU figure is the one that says what one core does. Each is measured `runs` times (default
// 5); the best and the median run are printed, since other processes on a busy machine only
// ever make a run slower.
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { createClassifier } from '../dist/classify/classifier.js';
import { parseReply } from '../dist/classify/parse-reply.js';
import { classifyReplyStream } from '../dist/admin/bounces.js';

const total = Number(process.argv[2] ?? 500_000);
const runs = Number(process.argv[3] ?? 5);

function loadTexts(name) {
  const url = new URL(`../test/classify/fixtures/${name}`, import.meta.url);
  return readFileSync(url, 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const text = l.split('\t')[2];
      return text.startsWith('"') ? text.slice(1, -1).replace(/""/g, '"') : text;
    });
}

const texts = [...loadTexts('bounce-replies.tsv'), ...loadTexts('extra-replies.tsv')];
const inputs = texts.map((text) => ({ kind: 'reply', reply: parseReply(text) }));

async function measure(label, unit, count, fn) {
  const wallRates = [];
  const cpuRates = [];
  for (let r = 0; r < runs; r++) {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await fn();
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    wallRates.push(count / wall);
    cpuRates.push(count / ((cpu.user + cpu.system) / 1e6));
  }
  const fmt = (x) => Math.round(x).toLocaleString('en');
  const best = (a) => Math.max(...a);
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(
    `${label}: ${count} ${unit} x ${runs} runs — best ${fmt(best(wallRates))} ${unit}/s wall, ${fmt(best(cpuRates))} per CPU second; ` +
      `median ${fmt(median(wallRates))} wall, ${fmt(median(cpuRates))} per CPU second`,
  );
}

const classifier = createClassifier();
console.log(`${texts.length} distinct replies (fixtures), repeated to ${total} inputs; node ${process.version}`);

// Warm-up: let V8 tier up the regexes and the loop before timing.
for (let i = 0; i < 50_000; i++) classifier.classify(inputs[i % inputs.length]);

let sink = 0;
await measure('classify()', 'replies', total, () => {
  for (let i = 0; i < total; i++) if (classifier.classify(inputs[i % inputs.length]).permanent) sink++;
});

const lines = [];
for (let i = 0; i < total; i++) lines.push(texts[i % texts.length]);
// Pre-chunked like a pipe delivers it (64 KiB pieces that split lines).
const blob = lines.join('\n') + '\n';
const chunks = [];
for (let i = 0; i < blob.length; i += 65_536) chunks.push(blob.slice(i, i + 65_536));

let written = 0;
let writes = 0;
const nullSink = () =>
  new Writable({
    write(chunk, _enc, done) {
      written += chunk.length;
      writes++;
      done();
    },
  });

// Warm-up of the stream path on a slice.
await classifyReplyStream(Readable.from(chunks.slice(0, 20)), nullSink(), classifier);
written = 0;
writes = 0;

let result;
await measure('bounces classify (stream path)', 'lines', total, async () => {
  written = 0;
  writes = 0;
  result = await classifyReplyStream(Readable.from(chunks), nullSink(), classifier);
});
console.log(`  last run: ${result.lines} lines, ${result.failures} unparsable, ${writes} writes, ${(written / 1e6).toFixed(1)} MB of JSON`);
if (sink < 0) console.log(sink);
