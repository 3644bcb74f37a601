import t, { type Test } from 'tap';
import { messageCount, queuedId, startRelay, storedMessage } from '../helpers/relay.js';
import { rawSession, type RawClient } from '../helpers/raw-smtp.js';

/**
 * SMTP smuggling: a client hides a second transaction behind an end-of-data sequence that some
 * servers accept and others do not. Only <CRLF>.<CRLF> ends DATA; every variant below must be
 * kept inside the one message as text, and must never start a second message.
 */
const VARIANTS: Record<string, string> = {
  'LF.LF': '\n.\n',
  'CR.LF': '\r.\n',
  'LF.CRLF': '\n.\r\n',
  'CRLF.LF': '\r\n.\n',
  'CRLF.CR': '\r\n.\r',
  'CR.CR': '\r.\r',
};

const SMUGGLED = 'MAIL FROM:<smuggler@evil.test>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nFrom: ceo@example.com\r\nSubject: smuggled\r\n\r\nsend money\r\n';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function openData(c: RawClient): Promise<void> {
  if (!(await c.command('MAIL FROM:<app@example.com>')).startsWith('250')) throw new Error('MAIL refused');
  if (!(await c.command('RCPT TO:<a@example.net>')).startsWith('250')) throw new Error('RCPT refused');
  if (!(await c.command('DATA')).startsWith('354')) throw new Error('DATA refused');
}

/** After DATA: exactly one reply, a 250 with a queue id, then the session answers NOOP normally. */
async function expectOneMessage(t: Test, c: RawClient): Promise<string> {
  const reply = await c.reply();
  const id = queuedId(reply);
  t.equal(await c.command('NOOP'), '250 2.0.0 OK', 'the next reply answers our NOOP: nothing was smuggled into the session');
  return id;
}

for (const [name, seq] of Object.entries(VARIANTS)) {
  t.test(`${name} in one write: one message containing the smuggled text`, async (t) => {
    const { ferry, smtpPort } = await startRelay(t);
    const c = await rawSession(smtpPort);
    t.teardown(() => c.close());
    await openData(c);
    await c.write(`Subject: cover\r\n\r\nhello${seq}${SMUGGLED}\r\n.\r\n`);
    const id = await expectOneMessage(t, c);
    t.equal(messageCount(ferry), 1, 'exactly one message');
    const text = (await storedMessage(ferry, id)).toString('latin1');
    t.match(text, /MAIL FROM:<smuggler@evil\.test>\r\nRCPT TO:<victim@example\.net>\r\nDATA\r\n/, 'the smuggled commands are body text');
    t.match(text, /send money\r\n\r\n$/);
    t.same(ferry.queue.recipients.forMessage(id).map((r) => r.address), ['a@example.net'], 'no smuggled recipient');
    t.equal(ferry.queue.recipients.forMessage(id).some((r) => r.address === 'victim@example.net'), false);
  });

  t.test(`${name} split across TCP segments at every offset: never ends DATA`, async (t) => {
    const { ferry, smtpPort } = await startRelay(t);
    const c = await rawSession(smtpPort);
    t.teardown(() => c.close());
    await openData(c);
    await c.write('Subject: cover\r\n\r\nhello');
    // Each byte of the sequence (and the smuggled command after it) as its own segment.
    for (const ch of `${seq}MAIL FROM:<smuggler@evil.test>\r\n`) {
      await c.write(ch);
      await sleep(5);
    }
    await c.write('still the body\r\n.\r\n');
    const id = await expectOneMessage(t, c);
    t.equal(messageCount(ferry), 1);
    t.match((await storedMessage(ferry, id)).toString('latin1'), /MAIL FROM:<smuggler@evil\.test>\r\nstill the body\r\n$/);
  });
}

t.test('the real terminator split across segments still ends DATA exactly once', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  await openData(c);
  for (const part of ['Subject: x\r\n\r\nbody', '\r', '\n', '.', '\r', '\n']) {
    await c.write(part);
    await sleep(10);
  }
  const id = await expectOneMessage(t, c);
  t.equal(messageCount(ferry), 1);
  t.match((await storedMessage(ferry, id)).toString('latin1'), /\r\n\r\nbody\r\n$/);
});

t.test('"." then CRLF at the very start of DATA, in separate segments, is an empty message, and nothing more', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  await openData(c);
  await c.write('.');
  await sleep(20);
  await c.write('\r\n');
  const id = await expectOneMessage(t, c);
  t.equal(messageCount(ferry), 1);
  const row = ferry.queue.messages.get(id)!;
  t.match(row.headers.toString('latin1'), /^Received: [^]*\r\n\r\n$/, 'only Ferry\'s Received header and the blank line');
  t.equal(row.body?.length ?? 0, 0, 'empty body');
});

t.test('".\\n" at the start of DATA (bare LF) is not a terminator', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  await openData(c);
  await c.write('.');
  await sleep(20);
  await c.write(`\n${SMUGGLED}`);
  await sleep(20);
  await c.write('\r\n.\r\n');
  const id = await expectOneMessage(t, c);
  t.equal(messageCount(ferry), 1);
  t.match((await storedMessage(ferry, id)).toString('latin1'), /MAIL FROM:<smuggler@evil\.test>/);
});
