import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createSpool } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/relay.js';

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

t.test('a body within inlineMaxBytes stays in memory and touches no file', async (t) => {
  const dir = tempDir(t);
  const spool = createSpool({ dir, inlineMaxBytes: 100 });
  const w = spool.createWriter('A1');
  await w.write(Buffer.from('x'.repeat(60)));
  await w.write(Buffer.from('y'.repeat(40)));
  const stored = await w.finish();
  t.equal(stored.file, null);
  t.equal(stored.size, 100);
  t.equal(stored.inline!.toString(), 'x'.repeat(60) + 'y'.repeat(40));
  t.same(readdirSync(dir), []);
  const all = await readAll(spool.open({ headers: Buffer.from('H: 1\r\n\r\n'), inline: stored.inline, file: null }));
  t.equal(all.toString(), `H: 1\r\n\r\n${'x'.repeat(60)}${'y'.repeat(40)}`);
});

t.test('a larger body goes to <id>.eml through a temp file, byte for byte', async (t) => {
  const dir = tempDir(t);
  const spool = createSpool({ dir, inlineMaxBytes: 100 });
  const w = spool.createWriter('B2');
  const parts = [Buffer.alloc(60, 1), Buffer.alloc(60, 2), Buffer.alloc(300_000, 0xe9)];
  await w.write(parts[0]!);
  t.same(readdirSync(dir), [], 'still in memory under the limit');
  await w.write(parts[1]!);
  t.same(readdirSync(dir), ['B2.eml.tmp'], 'spilled to a temp file past the limit');
  await w.write(parts[2]!);
  const stored = await w.finish();
  t.same(stored, { size: 300_120, inline: null, file: 'B2.eml' });
  t.same(readdirSync(dir), ['B2.eml'], 'renamed into place, no temp file left');
  t.ok(readFileSync(join(dir, 'B2.eml')).equals(Buffer.concat(parts)));
  t.ok(spool.exists('B2.eml'));
  const all = await readAll(spool.open({ headers: Buffer.from('H: 2\r\n\r\n'), inline: null, file: 'B2.eml' }));
  t.ok(all.equals(Buffer.concat([Buffer.from('H: 2\r\n\r\n'), ...parts])));
  await spool.remove('B2.eml');
  await spool.remove('B2.eml'); // removing twice is fine
  t.equal(spool.exists('B2.eml'), false);
});

t.test('abort removes the temp file, and finish after abort refuses', async (t) => {
  const dir = tempDir(t);
  const spool = createSpool({ dir, inlineMaxBytes: 10 });
  const w = spool.createWriter('C3');
  await w.write(Buffer.alloc(50));
  t.same(readdirSync(dir), ['C3.eml.tmp']);
  await w.abort();
  await w.abort();
  t.same(readdirSync(dir), []);
  await t.rejects(w.finish(), { code: 'FERRY_ERR_SPOOL' });
  await w.write(Buffer.alloc(50)); // ignored after abort
  t.same(readdirSync(dir), []);
});
