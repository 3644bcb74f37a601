import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFullMessageReader, createSpool } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/relay.js';

t.test('the whole message for a RET=FULL DSN: inline or from its spool file, none past the limit or when the file is gone', async (t) => {
  const dir = tempDir(t);
  const spool = createSpool({ dir, inlineMaxBytes: 10 });
  const headers = Buffer.from('Subject: x\r\n\r\n');
  const w = spool.createWriter('F1');
  await w.write(Buffer.from('a body longer than ten bytes\r\n'));
  const stored = await w.finish();
  t.ok(stored.file, 'the body went to a spool file');
  const read = createFullMessageReader(spool, 100);
  const onDisk = { size: headers.length + stored.size, headers, body: null, spoolFile: stored.file };
  t.equal(read(onDisk)?.toString(), 'Subject: x\r\n\r\na body longer than ten bytes\r\n');
  t.equal(read({ size: 20, headers, body: Buffer.from('short\r\n'), spoolFile: null })?.toString(), 'Subject: x\r\n\r\nshort\r\n');
  t.equal(createFullMessageReader(spool, onDisk.size - 1)(onDisk), null, 'larger than the limit: not read');
  rmSync(join(dir, stored.file!));
  t.equal(read(onDisk), null, 'the file is gone: null, not a throw');
});
