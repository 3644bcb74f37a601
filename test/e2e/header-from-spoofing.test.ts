import t, { type Test } from 'tap';
import { simpleParser } from 'mailparser';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { addUser, messageCount, startRelay, queuedId } from '../helpers/relay.js';
import { startMx } from '../helpers/mx-server.js';
import { rawSession } from '../helpers/raw-smtp.js';
import { createDkimKeysRepo } from '../../src/store/dkim-keys-repo.js';
import { generateDkimKey, txtValue, writePrivateKey } from '../../src/sign/keys.js';
import { parseHeaderFields, splitHeader } from '../../src/core/header-block.js';
import { MAX_HEADER_LINES } from '../../src/receive/intake.js';

/**
 * Issue 11, finding 2: a user allowed to send only as allowed.test got mail out as
 * ceo@bank.test. A bare CR inside the header block was one field to Ferry's checks and
 * signer, and two to the next hop (the outgoing dot-stuffing made it CRLF); a From with two
 * mailboxes was checked on its first only. Through the real listener, as user "app"
 * (allowed.test only), to a real MX on loopback.
 */
const PASSWORD = 'correct horse battery';

async function setup(t: Test) {
  const mx = await startMx({ host: '127.0.0.2', tls: false });
  t.teardown(() => mx.close());
  const relay = await startRelay(t, { routes: { '*': `127.0.0.2:${mx.port}` }, dmarc: { mode: 'off' } });
  await addUser(relay.ferry, 'app', PASSWORD, ['allowed.test']);
  const key = generateDkimKey('rsa', 1024);
  const keyFile = writePrivateKey(relay.dataDir, 'allowed.test', 'sel', key.privateKeyPem);
  createDkimKeysRepo(relay.ferry.db).add({ domain: 'allowed.test', selector: 'sel', algorithm: 'rsa', keyFile, publicKey: key.publicKey, createdAt: Date.now() });
  const txt = new Map([['sel._domainkey.allowed.test', txtValue('rsa', key.publicKey)]]);
  return { ...relay, mx, txt };
}

/** AUTH as app, one message with exactly these header bytes; returns the reply to the final dot. */
async function sendAsApp(t: Test, port: number, header: string, body = 'body\r\n'): Promise<string> {
  const c = await rawSession(port);
  t.teardown(() => c.close());
  t.match(await c.command(`AUTH PLAIN ${Buffer.from(`\0app\0${PASSWORD}`).toString('base64')}`), /^235 /);
  t.match(await c.command('MAIL FROM:<x@allowed.test>'), /^250 /);
  t.match(await c.command('RCPT TO:<someone@dest.test>'), /^250 /);
  t.match(await c.command('DATA'), /^354 /);
  await c.write(Buffer.from(`${header}\r\n\r\n${body}.\r\n`, 'latin1'));
  return c.reply(10_000);
}

const REFUSED: [string, string, RegExp][] = [
  ['a bare CR hides a second From inside another field', 'From: x@allowed.test\r\nX-A: 1\rFrom: ceo@bank.test\r\nSubject: s', /^550 5\.7\.1 More than one From header/],
  ['a bare CR hides the only From inside another field', 'X-A: 1\rFrom: ceo@bank.test\r\nSubject: s', /^550 5\.7\.1 From header domain bank\.test is not allowed/],
  ['two mailboxes in one From', 'From: x@allowed.test, ceo@bank.test\r\nSubject: s', /^550 5\.7\.1 The From header must hold exactly one mailbox/],
  ['two addresses that addressparser reads as a name and an address', 'From: x@allowed.test ceo@bank.test\r\nSubject: s', /^550 5\.7\.1 The From header must hold exactly one mailbox/],
  ['two angle addresses', 'From: <x@allowed.test> <ceo@bank.test>\r\nSubject: s', /^550 5\.7\.1 The From header must hold exactly one mailbox/],
  ['group syntax', 'From: Team: x@allowed.test;\r\nSubject: s', /^550 5\.7\.1 The From header may not use group syntax/],
  ['a Sender outside the allowed domains', 'From: x@allowed.test\r\nSender: ceo@bank.test\r\nSubject: s', /^550 5\.7\.1 Sender header domain bank\.test is not allowed/],
  ['two Sender headers', 'From: x@allowed.test\r\nSender: x@allowed.test\r\nSender: y@allowed.test', /^550 5\.7\.1 More than one Sender header/],
  ['two mailboxes in Sender', 'From: x@allowed.test\r\nSender: x@allowed.test, ceo@bank.test', /^550 5\.7\.1 The Sender header must hold exactly one mailbox/],
  ['an obsolete-syntax "From :" first line next to a real From', 'From : ceo@bank.test\r\nFrom: x@allowed.test', /^550 5\.7\.1 More than one From header/],
  ['a stray continuation line before the first field', ' From: ceo@bank.test\r\nFrom: x@allowed.test', /^550 5\.7\.1 The header block starts with a continuation line/],
  ['no From at all', 'Subject: s', /^550 5\.7\.1 The From header is missing/],
  ['a From without an address', 'From: undisclosed', /^550 5\.7\.1 The From header has no address/],
  ['a From too long to parse', `From: ${'"x" '.repeat(1100)}<x@allowed.test>`, /^550 5\.7\.1 The From header is too long/],
];

t.test('a restricted user cannot get another domain into From or Sender', async (t) => {
  const { ferry, smtpPort, mx } = await setup(t);
  for (const [name, header, reply] of REFUSED) {
    t.match(await sendAsApp(t, smtpPort, header), reply, name);
  }
  t.equal(messageCount(ferry), 0, 'nothing queued');
  t.equal(mx.messages.length, 0, 'nothing reached the MX');
});

t.test('what the MX receives has the From that Ferry checked and signed', async (t) => {
  const { ferry, smtpPort, mx, txt } = await setup(t);
  // Bare CRs in the header block and in the body: stored, signed and sent as CRLF.
  const reply = await sendAsApp(t, smtpPort, 'Subject: hi\rX-B: 2\r\nFrom: App <x@allowed.test>\r\nTo: someone@dest.test', 'line 1\rline 2\r\n');
  const id = queuedId(reply);
  t.equal(ferry.queue.messages.get(id)!.headerFrom, 'x@allowed.test', 'the From Ferry checked');
  await mx.waitForMessages(1, 15_000);
  const raw = mx.messages[0]!.raw;

  const fields = parseHeaderFields(splitHeader(raw).header);
  t.same(
    fields.filter((f) => f.key === 'from').map((f) => f.value),
    ['App <x@allowed.test>'],
    'exactly one From reaches the MX: the one checked',
  );
  t.same(fields.filter((f) => f.key === 'x-b').map((f) => f.value), ['2'], 'the bare CR became a line break before signing, not after');
  const parsed = await simpleParser(raw);
  t.same(parsed.from?.value.map((v) => v.address), ['x@allowed.test'], 'mailparser at the receiving end sees the same From');
  t.equal(parsed.text?.trim(), 'line 1\nline 2');

  const resolver = async (name: string, type: string): Promise<string[][]> => {
    const v = type === 'TXT' ? txt.get(name.toLowerCase()) : undefined;
    if (v === undefined) throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
    return [[v]];
  };
  const verified = await dkimVerify(raw, { resolver });
  t.match(
    verified.results.map((r: { status: { result: string }; signingDomain?: string }) => [r.status.result, r.signingDomain]),
    [['pass', 'allowed.test']],
    'the DKIM signature over that From verifies at the receiver',
  );
});

t.test('a header block of more than MAX_HEADER_LINES lines is refused (bounded parsing work per message)', async (t) => {
  const { smtpPort, ferry } = await startRelay(t, { dmarc: { mode: 'off' } });
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  t.match(await c.command('MAIL FROM:<a@any.test>'), /^250 /);
  t.match(await c.command('RCPT TO:<b@dest.test>'), /^250 /);
  t.match(await c.command('DATA'), /^354 /);
  await c.write(`From: a@any.test\r\n${'X: 1\r\n'.repeat(MAX_HEADER_LINES)}\r\nbody\r\n.\r\n`);
  t.equal(await c.reply(10_000), `552 5.3.4 Message header has more than ${MAX_HEADER_LINES} lines`);
  t.match(await c.command('MAIL FROM:<a@any.test>'), /^250 /, 'the session goes on');
  t.match(await c.command('RCPT TO:<b@dest.test>'), /^250 /);
  t.match(await c.command('DATA'), /^354 /);
  await c.write(`From: a@any.test\r\n${'X: 1\r\n'.repeat(MAX_HEADER_LINES - 2)}\r\nbody\r\n.\r\n`);
  t.match(await c.reply(10_000), /^250 /, 'one line fewer (counting the blank line) is accepted');
  t.equal(messageCount(ferry), 1);
});
