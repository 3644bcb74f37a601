import t from 'tap';
import { waitFor } from '../helpers/bounce.js';
import { messageCount, queuedId, startRelay } from '../helpers/relay.js';
import { rawSession } from '../helpers/raw-smtp.js';

t.test('DATA that does not finish within dataTimeoutMs: 421 4.4.2, closed, nothing stored', async (t) => {
  const { ferry, smtpPort } = await startRelay(t, { smtp: { dataTimeoutMs: 400 } });
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  await c.command('MAIL FROM:<app@example.com>');
  await c.command('RCPT TO:<a@example.net>');
  t.match(await c.command('DATA'), /^354 /);
  await c.write(`Subject: slow\r\n\r\n${'s'.repeat(200_000)}\r\n`); // a spool file is open
  // Within the liveness bound (60 s): the 400 ms timer, not smtp-server's default of minutes.
  t.equal(await c.reply(5000), '421 4.4.2 DATA timeout, closing connection');
  await c.closed;
  // The spool file is removed when the aborted stream ends, a few turns after the close.
  await waitFor(() => ferry.spool.list().length === 0, 10_000, 'the partial spool file to be removed');
  t.equal(messageCount(ferry), 0);
  t.same(ferry.spool.list(), [], 'the partial spool file was removed');
});

t.test('a message that finishes in time is not cut off by the DATA timer', async (t) => {
  const { smtpPort } = await startRelay(t, { smtp: { dataTimeoutMs: 1500 } });
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  await c.command('MAIL FROM:<app@example.com>');
  await c.command('RCPT TO:<a@example.net>');
  await c.command('DATA');
  await c.write('Subject: ok\r\n\r\nquick\r\n.\r\n');
  t.ok(queuedId(await c.reply()));
  // The timer of the finished message must not fire later on the (now idle) session.
  await new Promise((r) => setTimeout(r, 1800));
  t.equal(await c.command('NOOP'), '250 2.0.0 OK', 'session still open after dataTimeoutMs');
});

t.test('an idle session is closed after idleTimeoutMs', async (t) => {
  const { smtpPort } = await startRelay(t, { smtp: { idleTimeoutMs: 400 } });
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  t.match(await c.reply(5000), /^421 /);
  await c.closed;
  t.pass('closed by the server');
});
