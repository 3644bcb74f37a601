import t from 'tap';
import { SMTPStream } from 'smtp-server/lib/smtp-stream';
import { feedDataStream, lfDotAtSeam, libraryFeedDataStream } from '../../src/receive/smtp-server-patch.js';
import { seededRandom } from '../../src/core/random.js';

/**
 * The adapter's DATA scan (indexOf instead of a per-byte loop) must cut every input exactly
 * where smtp-server's own method does: the same message bytes, the same end of DATA, the same
 * commands read after it — whatever the bytes and however TCP splits them.
 */
type Feed = typeof feedDataStream;

interface Seen {
  data: string;
  commands: string[];
  byteLength: number;
}

async function run(feed: Feed, chunks: Buffer[]): Promise<Seen> {
  const stream = new SMTPStream() as unknown as SMTPStream & { _feedDataStream: Feed; oncommand: (c: Buffer, cb?: () => void) => void };
  stream._feedDataStream = feed;
  const seen: Seen = { data: '', commands: [], byteLength: -1 };
  const data = stream.startDataMode();
  const parts: Buffer[] = [];
  const ended = new Promise<void>((resolve) => {
    data.on('data', (b: Buffer) => parts.push(b));
    data.on('end', () => {
      seen.byteLength = (data as unknown as { byteLength: number }).byteLength;
      stream.continue();
      resolve();
    });
  });
  stream.oncommand = (c, cb) => {
    seen.commands.push(c.toString('latin1'));
    cb?.();
  };
  for (const chunk of chunks) await new Promise<void>((resolve, reject) => stream.write(chunk, (err) => (err ? reject(err) : resolve())));
  await ended;
  // the commands pipelined after the dot are read once the data stream has ended
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  seen.data = Buffer.concat(parts).toString('latin1');
  return seen;
}

/** Splits bytes at random places (1 to 6 pieces, pieces as small as one byte). */
function split(bytes: Buffer, next: () => number): Buffer[] {
  const cuts = new Set<number>();
  const n = Math.floor(next() * 6);
  for (let i = 0; i < n; i++) cuts.add(1 + Math.floor(next() * Math.max(1, bytes.length - 1)));
  const sorted = [...cuts].filter((c) => c < bytes.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const c of sorted) {
    out.push(bytes.subarray(at, c));
    at = c;
  }
  out.push(bytes.subarray(at));
  return out;
}

const PIECES = ['a', 'line', '.', '..', '...', '\r\n', '\r\n.', '\r\n..', '\n', '\r', '.\r\n', 'x.y', ' '];

t.test('the same bytes, end and following commands as the library, for random dotted messages and splits', async (t) => {
  const random = seededRandom(13);
  let checked = 0;
  for (let round = 0; round < 400; round++) {
    let body = '';
    const n = Math.floor(random.next() * 30);
    for (let i = 0; i < n; i++) body += PIECES[Math.floor(random.next() * PIECES.length)];
    const input = Buffer.from(`${body}\r\n.\r\nQUIT\r\n`, 'latin1');
    const chunks = split(input, () => random.next());
    const ours = await run(feedDataStream, chunks);
    const theirs = await run(libraryFeedDataStream, chunks);
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
      t.same(ours, theirs, `input ${JSON.stringify(input.toString('latin1'))} split ${chunks.map((c) => c.length).join('+')}`);
      return;
    }
    checked++;
  }
  t.equal(checked, 400, 'every random input agreed');
});

t.test('known cases: escape dots removed, a dot line at the very start ends DATA, the body keeps its last CRLF', async (t) => {
  for (const [input, data] of [
    ['Subject: a\r\n\r\n..leading dot\r\nend\r\n.\r\nQUIT\r\n', 'Subject: a\r\n\r\n.leading dot\r\nend\r\n'],
    ['.\r\nQUIT\r\n', ''],
    ['..\r\n.\r\nQUIT\r\n', '.\r\n'],
    ['x\r\n..\r\n...\r\n.\r\nQUIT\r\n', 'x\r\n.\r\n..\r\n'],
  ] as const) {
    for (const size of [1, 2, 3, 5, 1000]) {
      const bytes = Buffer.from(input, 'latin1');
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const ours = await run(feedDataStream, chunks);
      t.equal(ours.data, data, `${JSON.stringify(input)} in pieces of ${size}`);
      t.same(ours.commands, ['QUIT'], 'the command after the dot is read');
      t.same(ours, await run(libraryFeedDataStream, chunks), 'same as the library');
    }
  }
});

t.test('a 1 MB body without dots passes unchanged and in order', async (t) => {
  const line = `${'y'.repeat(998)}\r\n`;
  const body = line.repeat(1024);
  const bytes = Buffer.from(`${body}.\r\n`, 'latin1');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 65536) chunks.push(bytes.subarray(i, i + 65536));
  const ours = await run(feedDataStream, chunks);
  t.equal(ours.data.length, body.length);
  t.ok(ours.data === body, 'byte-exact');
  t.equal(ours.byteLength, body.length, 'byteLength counted as the library counts it');
});

t.test('long messages in many pieces: the same bytes as the library, and the chunks are not copied', async (t) => {
  const random = seededRandom(31);
  for (let round = 0; round < 300; round++) {
    let body = '';
    const n = 20 + Math.floor(random.next() * 200);
    for (let i = 0; i < n; i++) body += PIECES[Math.floor(random.next() * PIECES.length)];
    const input = Buffer.from(`${body}\r\n.\r\nQUIT\r\n`, 'latin1');
    // 1 to 12 cuts: pieces of all lengths, many of them past the seam check's minimum
    const chunks: Buffer[] = [];
    for (let at = 0; at < input.length; ) {
      const size = 1 + Math.floor(random.next() * 40);
      chunks.push(input.subarray(at, at + size));
      at += size;
    }
    const ours = await run(feedDataStream, chunks);
    const theirs = await run(libraryFeedDataStream, chunks);
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
      t.same(ours, theirs, `input ${JSON.stringify(input.toString('latin1'))} split ${chunks.map((c) => c.length).join('+')}`);
      return;
    }
  }
  t.pass('300 long inputs agreed');

  // Two 64 KB reads of a plain body: what reaches the data stream are views of the reads themselves.
  const line = `${'z'.repeat(70)}\r\n`;
  const bytes = Buffer.from(`${line.repeat(1800)}.\r\n`, 'latin1');
  const reads = [Buffer.from(bytes.subarray(0, 65536)), Buffer.from(bytes.subarray(65536))];
  const stream = new SMTPStream() as unknown as SMTPStream & { _feedDataStream: Feed; oncommand: (c: Buffer, cb?: () => void) => void };
  stream._feedDataStream = feedDataStream;
  stream.oncommand = (_c, cb) => cb?.();
  const data = stream.startDataMode();
  const seen: Buffer[] = [];
  data.on('data', (b: Buffer) => seen.push(b));
  const ended = new Promise((r) => data.on('end', r));
  for (const r of reads) stream.write(r);
  await ended;
  t.equal(Buffer.concat(seen).toString('latin1'), line.repeat(1800), 'byte-exact');
  t.ok(seen.every((b) => reads.some((r) => r.buffer === b.buffer)), 'every piece is a view of a read, none a copy');
});

t.test('lfDotAtSeam: a line-start dot in the held bytes or the first two of the chunk', async (t) => {
  const b = (s: string) => Buffer.from(s, 'latin1');
  t.equal(lfDotAtSeam(b('ab\r\n'), b('.xyzwvut')), true, 'LF held, dot first in the chunk');
  t.equal(lfDotAtSeam(b('a\r\n.'), b('xyzwvuts')), true, 'both held');
  t.equal(lfDotAtSeam(b('abc\r'), b('\n.yzwvut')), true, 'the first two of the chunk');
  t.equal(lfDotAtSeam(b('abcd'), b('x\n.zwvut')), false, 'from chunk index 1 on: the chunk scan sees it');
  t.equal(lfDotAtSeam(b('ab\r\n'), b('x.yzwvut')), false, 'no dot after the LF');
});
