import t from 'tap';
import { toPlainMessage } from '../../src/deliver/session-thread.js';
import type { OutgoingMessage } from '../../src/deliver/types.js';
import type { StoredBodyRef } from '../../src/core/store-types.js';

// How a message's body crosses to the delivery thread (toPlainMessage): an inline body as an
// exact-size copy; a body left in the store as its reference (the thread reads it); a body the
// signing thread read and handed back, moved over once, then by reference.

const headers = Buffer.from('Subject: x\r\n\r\n');
const row: StoredBodyRef = { db: '/data/ferry.db', id: 'M1', bytes: 32 * 1024 };

function outgoing(source: { inline: Buffer | null; row: StoredBodyRef | null }): OutgoingMessage {
  return {
    id: 'M1', from: 'a@b.test', to: ['c@d.test'], size: headers.length + row.bytes, eightBit: false, smtputf8: false,
    body: () => { throw new Error('not used'); },
    bodySource: () => ({ headers, inline: source.inline, file: null, row: source.row }),
  };
}

t.test('a small inline body crosses as an exact-size copy', async (t) => {
  const pool = Buffer.concat([Buffer.from('junk'), Buffer.from('body\r\n')]);
  const inline = pool.subarray(4);
  const { message, transfer } = toPlainMessage(outgoing({ inline, row: null }));
  t.same(Buffer.from(message.body!.inline!), Buffer.from('body\r\n'));
  t.equal(message.body!.row, null);
  t.equal(transfer.length, 2, 'headers and body are handed over');
  t.equal(inline.length, 6, "the caller's buffer is left alone");
});

t.test('a body left in the store crosses as its reference: nothing read or copied', async (t) => {
  const { message, transfer } = toPlainMessage(outgoing({ inline: null, row }));
  t.same(message.body!.row, row);
  t.equal(message.body!.inline, null);
  t.equal(transfer.length, 1, 'only the header block');
});

t.test('a body handed back by the signing thread is moved once; the next send goes by the reference', async (t) => {
  const body = Buffer.alloc(row.bytes, 'x');
  const send = outgoing({ inline: body, row });
  const first = toPlainMessage(send);
  t.equal(first.message.body!.row, null, 'the bytes go, not the reference');
  t.equal(first.message.body!.inline!.byteLength, row.bytes);
  t.ok(first.transfer.includes(body.buffer as ArrayBuffer), 'its own memory is handed over (no copy)');
  // What postMessage does with the transfer list: the memory leaves this thread.
  structuredClone(first.message, { transfer: first.transfer });
  t.equal(body.length, 0, 'moved: empty here now');
  const second = toPlainMessage(send);
  t.same(second.message.body!.row, row, 'a second send of the same message reads it from the store');
  t.equal(second.message.body!.inline, null, 'never the emptied buffer');
});

t.test('a handed-back body that is a view of a larger buffer is copied, not moved', async (t) => {
  const bigger = Buffer.alloc(row.bytes + 10, 'y');
  const view = bigger.subarray(0, row.bytes);
  const { message, transfer } = toPlainMessage(outgoing({ inline: view, row }));
  t.equal(message.body!.inline!.byteLength, row.bytes);
  t.notOk(transfer.includes(bigger.buffer as ArrayBuffer), 'the larger buffer stays');
  t.equal(view.length, row.bytes);
});
