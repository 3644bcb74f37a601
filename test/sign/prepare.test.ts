import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { FerryError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { MessageRow } from '../../src/core/store-types.js';
import { createMessagePreparer } from '../../src/sign/prepare.js';
import type { Signer } from '../../src/sign/signer.js';
import type { Spool } from '../../src/spool/spool.js';
import { message } from '../store/contract/fixtures.js';

// The sign stage's error policy: a failure that is not the message's fault (its body could not be
// read from the store, its signing thread died) goes up so that the attempt is retried later; any
// other signing failure sends the message unsigned rather than holding it forever.

const clock = new ManualClock(Date.UTC(2026, 0, 15));

function setup(signer: Signer) {
  const row = { ...message({ id: 'PREP1' }).message, signedAt: null, listUnsubscribe: null } as unknown as MessageRow;
  const marked: string[] = [];
  const preparer = createMessagePreparer({
    messages: {
      get: async () => row,
      head: async () => row,
      markSigned: async (id: string) => {
        marked.push(id);
        return true;
      },
    } as never,
    spool: { signSource: () => ({ headers: row.headers, inline: row.body, file: null }) } as unknown as Spool,
    signer,
    clock,
    logger: silentLogger(),
  });
  return { preparer, marked, row };
}

const failing = (err: Error): Signer => ({ sign: async () => Promise.reject(err) });

for (const code of ['FERRY_ERR_STORE', 'FERRY_ERR_SIGN_WORKER'] as const) {
  t.test(`${code} while signing: the attempt fails (retried later), nothing is marked signed, nothing sent unsigned`, async (t) => {
    const { preparer, marked } = setup(failing(new FerryError(code, 'the body could not be read')));
    await t.rejects(preparer.prepare('PREP1'), { code });
    t.same(marked, []);
  });
}

t.test('any other signing failure: sent unsigned, with the stored headers', async (t) => {
  const { preparer, marked, row } = setup(failing(new Error('a key the signer cannot use')));
  const prepared = await preparer.prepare('PREP1');
  t.ok(prepared);
  t.ok(prepared!.headers.equals(row.headers), 'the headers as stored');
  t.same(marked, []);
});

t.test('signed: the signature goes before the stored headers and is stored once', async (t) => {
  const { preparer, marked, row } = setup({ sign: async () => ({ headers: 'DKIM-Signature: v=1; d=example.com\r\n', domain: 'example.com', selectors: ['s1'] }) as never });
  const prepared = await preparer.prepare('PREP1');
  t.equal(prepared!.headers.toString('latin1'), `DKIM-Signature: v=1; d=example.com\r\n${row.headers.toString('latin1')}`);
  t.same(marked, ['PREP1']);
});
