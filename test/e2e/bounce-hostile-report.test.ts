import t, { type Test } from 'tap';
import { startRelay } from '../helpers/relay.js';
import { rawConnect, rawSession, type RawClient } from '../helpers/raw-smtp.js';
import { createVerp } from '../../src/bounce/verp.js';

/**
 * Issue 11, finding 1: an ARF-looking report with 200 KB of blank lines held the event loop
 * for about 20 s on the old parser (a regular expression with a cost quadratic in the
 * input), before any VERP token was checked; every client of the submission port waited.
 * Here hostile reports go to the real bounce listener (one with a valid token, so the parser
 * runs; one without, the cheap path) and, while they are in flight, a new client connects to
 * the submission port. Its greeting must come within seconds, far less than the old parse took.
 */
const VERP = { enabled: true, domain: 'bounce.ferry.test', secret: 'hostile-verp-secret-0123456789' };

function hostileArf(kb: number): string {
  // multipart/report without a boundary: no MIME part to find, so the old parser fell back to
  // its regular expression over the raw text, and the blank lines made it quadratic.
  return [
    'From: fbl@provider.test',
    'Subject: complaint',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report',
    '',
    'content-type: message/feedback-report',
    '',
  ].join('\r\n') + '\r\n'.repeat((kb * 1024) / 2);
}

async function startReport(t: Test, port: number, rcpt: string, body: string): Promise<RawClient> {
  const c = await rawSession(port);
  t.match(await c.command('MAIL FROM:<>'), /^250/);
  t.match(await c.command(`RCPT TO:<${rcpt}>`), /^250/);
  t.match(await c.command('DATA'), /^354/);
  await c.write(`${body}.\r\n`);
  return c;
}

t.test('hostile reports to the bounce listener do not stall the submission port', async (t) => {
  const relay = await startRelay(t, { dmarc: { mode: 'off' }, verp: VERP, bounceListener: { listen: '127.0.0.1:0' } });
  const bounce = (relay.ferry.addresses as unknown as { bounce: string }).bounce;
  const bouncePort = Number(bounce.slice(bounce.lastIndexOf(':') + 1));
  const verp = createVerp({ ...VERP, localPart: 'bounces' });
  const withToken = verp.address('0MIGK3XQ0A1B2C3D4E5F6', 9);
  t.ok(verp.parse(withToken) && verp.parse(withToken) !== 'forged', 'the token checks out, so the report is parsed');

  const body = hostileArf(200);
  const reports = [await startReport(t, bouncePort, withToken, body), await startReport(t, bouncePort, 'postmaster@bounce.ferry.test', body), await startReport(t, bouncePort, withToken, body)];

  // All three reports are written; a new submission client now connects.
  const client = await rawConnect(relay.smtpPort);
  t.teardown(() => client.close());
  const greeting = await client.reply(8_000);
  t.match(greeting, /^220 /, 'the submission port greets a new client while hostile reports are processed (old parser: about 20 s each)');
  t.match(await client.command('EHLO app.test'), /^250/, 'and answers its commands');

  for (const r of reports) {
    t.match(await r.reply(15_000), /^250 /, 'each hostile report gets its 250 (read, then discarded)');
    r.close();
  }
});
