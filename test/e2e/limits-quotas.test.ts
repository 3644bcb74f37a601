import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { createQuotaRepo } from '../../src/store/quota-repo.js';
import { addUser, startRelay } from '../helpers/relay.js';
import { rawSession, type RawClient } from '../helpers/raw-smtp.js';

async function login(port: number, user: string, pass: string): Promise<RawClient> {
  const c = await rawSession(port);
  const r = await c.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`);
  if (!r.startsWith('235')) throw new Error(`AUTH failed: ${r}`);
  return c;
}

async function data(c: RawClient): Promise<string> {
  const go = await c.command('DATA');
  if (!go.startsWith('354')) return go;
  return c.command('From: app@example.com\r\nSubject: q\r\n\r\nhello\r\n.');
}

t.test('per-user quotas: 451 4.7.1 beyond the recipients per day and the messages per hour', async (t) => {
  const clock = new ManualClock();
  const { ferry, smtpPort } = await startRelay(t, { dmarc: { mode: 'off' } }, { clock });
  await addUser(ferry, 'app', 'correct horse battery');
  await addUser(ferry, 'other', 'correct horse battery');
  const quotas = createQuotaRepo(ferry.db);
  quotas.set('app', { maxMessagesPerHour: 2, maxRecipientsPerDay: 3 }, clock.now());

  const c = await login(smtpPort, 'app', 'correct horse battery');
  t.teardown(() => c.close());
  t.match(await c.command('MAIL FROM:<app@example.com>'), /^250/);
  t.match(await c.command('RCPT TO:<a@example.net>'), /^250/);
  t.match(await c.command('RCPT TO:<b@example.net>'), /^250/);
  t.match(await data(c), /^250/, 'message 1: 2 recipients');

  t.match(await c.command('MAIL FROM:<app@example.com>'), /^250/);
  t.match(await c.command('RCPT TO:<c@example.net>'), /^250/, 'the third recipient of the day');
  const over = await c.command('RCPT TO:<d@example.net>');
  t.match(over, /^451 4\.7\.1 Recipient quota exceeded: user app may send to at most 3 recipients per day; try again after \d{4}-\d\d-\d\dT\d\d:\d\dZ$/);
  t.match(await data(c), /^250/, 'message 2 goes with the recipient that fitted');

  const noMore = await c.command('MAIL FROM:<app@example.com>');
  t.match(noMore, /^451 4\.7\.1 Message quota exceeded: user app may send at most 2 messages per hour; try again after /, 'the third message in the hour is refused at MAIL FROM');

  // Another user is not affected; nor are clients without AUTH (relay networks).
  const o = await login(smtpPort, 'other', 'correct horse battery');
  t.teardown(() => o.close());
  t.match(await o.command('MAIL FROM:<x@example.com>'), /^250/);
  t.match(await o.command('RCPT TO:<a@example.net>'), /^250/);
  t.match(await data(o), /^250/);

  // The quota is read per check: raising it applies at once.
  quotas.set('app', { maxMessagesPerHour: 10, maxRecipientsPerDay: 3 }, clock.now());
  t.match(await c.command('MAIL FROM:<app@example.com>'), /^250/);
  t.match(await c.command('RCPT TO:<e@example.net>'), /^451 4\.7\.1 /, 'still 3 recipients a day');
  await c.command('RSET');

  // An hour later the message quota has room again; a day later, the recipient quota.
  quotas.set('app', { maxMessagesPerHour: 2, maxRecipientsPerDay: 3 }, clock.now());
  t.match(await c.command('MAIL FROM:<app@example.com>'), /^451 4\.7\.1 /);
  clock.advance(3_600_000 + 60_000);
  t.match(await c.command('MAIL FROM:<app@example.com>'), /^250/, 'a sliding hour later');
  t.match(await c.command('RCPT TO:<f@example.net>'), /^451 /);
  clock.advance(86_400_000);
  t.match(await c.command('RCPT TO:<f@example.net>'), /^250/, 'a day later');
  await c.command('RSET');
  c.close();
  o.close();

  // Usage survives a restart (saved at stop).
  await ferry.stop();
  const again = await startRelay(t, { dmarc: { mode: 'off' }, dataDir: ferry.config.dataDir }, { clock });
  const c2 = await login(again.smtpPort, 'app', 'correct horse battery');
  t.teardown(() => c2.close());
  t.match(await c2.command('MAIL FROM:<app@example.com>'), /^250/);
  t.match(await c2.command('RCPT TO:<g@example.net>'), /^250/);
  t.match(await c2.command('RCPT TO:<h@example.net>'), /^250/);
  t.match(await c2.command('RCPT TO:<i@example.net>'), /^451 4\.7\.1 /, 'f, g and h are today\'s 3: counted across the restart');
});
