import t from 'tap';
import { Readable } from 'node:stream';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream';
import { stuffChunk } from '../../src/deliver/dot-stuffing.js';
import { installFastDotStuffing, nodemailerTransform } from '../../src/deliver/nodemailer-adapter.js';
import { seededRandom } from '../../src/core/random.js';

/** Runs chunks through a transform function the way a DataStream would; returns what it pushed. */
function run(transform: (...a: unknown[]) => void, chunks: Buffer[]): Buffer {
  const out: Buffer[] = [];
  const self = { inByteCount: 0, outByteCount: 0, lastByte: false as number | false, options: {}, push: (b: Buffer) => out.push(b) };
  for (const c of chunks) transform.call(self, c, 'buffer', () => undefined);
  return Buffer.concat(out);
}

function fast(chunks: Buffer[]): Buffer {
  let last: number | false = false;
  const out: Buffer[] = [];
  for (const c of chunks) {
    if (c.length === 0) continue;
    out.push(stuffChunk(c, last));
    last = c[c.length - 1]!;
  }
  return Buffer.concat(out);
}

t.test('the same bytes as nodemailer for hand-picked cases, however they are split', async (t) => {
  const cases = [
    '', '.', '..', '.\r\n', 'a\r\n.b\r\n', 'a\n.b\n', 'a\r.b', 'a\r\rb', '\r', '\n', '\r\n', '\n\r', 'x\r\n.\r\n', '.\n.\r.\r\n.',
    'line\r\n..two\r\n', 'end\r', 'end\n', 'a\r\n\r\n.\r\n', '\r\r\n\n..', 'no newline at all',
  ];
  for (const text of cases) {
    const bytes = Buffer.from(text, 'latin1');
    const want = run(nodemailerTransform, [bytes]);
    t.same(fast([bytes]), want, JSON.stringify(text));
    for (let cut = 1; cut < bytes.length; cut++) {
      const parts = [bytes.subarray(0, cut), bytes.subarray(cut)];
      t.same(fast(parts), run(nodemailerTransform, parts), `${JSON.stringify(text)} split at ${cut}`);
    }
  }
});

t.test('the same bytes as nodemailer on 3,000 random inputs dense in CR, LF and dots, split at random', async (t) => {
  const random = seededRandom(20261127);
  const alphabet = [0x0d, 0x0a, 0x2e, 0x61, 0x20, 0xe9, 0x00];
  let mismatches = 0;
  for (let n = 0; n < 3000; n++) {
    const len = Math.floor(random.next() * 200);
    const bytes = Buffer.alloc(len);
    for (let i = 0; i < len; i++) bytes[i] = alphabet[Math.floor(random.next() * alphabet.length)]!;
    const chunks: Buffer[] = [];
    for (let i = 0; i < len; ) {
      const step = 1 + Math.floor(random.next() * 20);
      chunks.push(bytes.subarray(i, i + step));
      i += step;
    }
    const want = run(nodemailerTransform, chunks);
    const got = fast(chunks);
    if (!got.equals(want)) {
      mismatches++;
      if (mismatches < 3) t.same(got.toString('latin1'), want.toString('latin1'), `input ${JSON.stringify(bytes.toString('latin1'))}`);
    }
  }
  t.equal(mismatches, 0, 'no input differs');
});

t.test('installed: a DataStream stuffs, counts bytes and ends with the dot line as before', async (t) => {
  installFastDotStuffing();
  const ds = new DataStream() as unknown as NodeJS.ReadWriteStream & { inByteCount: number; outByteCount: number };
  const out: Buffer[] = [];
  ds.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((r) => ds.on('end', r));
  const input = [Buffer.from('Subject: x\r\n\r\n.hidden\n'), Buffer.from('last\r')];
  Readable.from(input).pipe(ds);
  await done;
  t.equal(Buffer.concat(out).toString(), 'Subject: x\r\n\r\n..hidden\r\nlast\r\n.\r\n');
  t.equal(ds.inByteCount, input[0]!.length + input[1]!.length);
  t.equal(ds.outByteCount, Buffer.concat(out).length);
});
