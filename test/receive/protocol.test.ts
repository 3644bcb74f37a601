import t from 'tap';
import { acceptedRecipients, messageCount, queuedId, startRelay, storedMessage } from '../helpers/relay.js';
import { rawSession } from '../helpers/raw-smtp.js';

t.test('EHLO advertises the extensions Ferry supports', async (t) => {
  const { smtpPort } = await startRelay(t, { smtp: { maxMessageSizeBytes: 1234567 } });
  const { rawConnect } = await import('../helpers/raw-smtp.js');
  const c = await rawConnect(smtpPort);
  t.teardown(() => c.close());
  t.match(await c.reply(), /^220 ferry\.test ESMTP/);
  const ehlo = await c.command('EHLO client.test');
  for (const ext of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS', 'SIZE 1234567']) {
    t.match(ehlo, new RegExp(`^250[- ]${ext}$`, 'm'), `advertises ${ext}`);
  }
  t.match(ehlo, /^250[- ]AUTH PLAIN LOGIN$/m, 'AUTH PLAIN LOGIN (clear text allowed from loopback)');
});

t.test('PIPELINING: MAIL, RCPT, RCPT, DATA in one write get their replies in order', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  await c.write('MAIL FROM:<app@example.com>\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<bad address>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n');
  t.equal(await c.reply(), '250 2.1.0 Accepted', 'MAIL');
  t.equal(await c.reply(), '250 2.1.5 Accepted', 'RCPT 1');
  t.match(await c.reply(), /^501 5\.1\.3 /, 'RCPT 2 is refused, the pipeline goes on');
  t.equal(await c.reply(), '250 2.1.5 Accepted', 'RCPT 3');
  t.match(await c.reply(), /^354 /, 'DATA');
  await c.write('Subject: pipelined\r\n\r\nhello\r\n.\r\nQUIT\r\n');
  const reply = await c.reply();
  const id = queuedId(reply);
  t.match(await c.reply(), /^221 /, 'QUIT answered after the pipelined message');
  t.same(ferry.queue.recipients.forMessage(id).map((r) => [r.address, r.domain]), [
    ['a@example.net', 'example.net'],
    ['b@example.org', 'example.org'],
  ]);
  t.same(acceptedRecipients(ferry, id), [['a@example.net', 'queued'], ['b@example.org', 'queued']], 'queued at acceptance, one event each');
});

t.test('the DATA reply is exactly "250 2.0.0 Ok: queued as <id>" and the id is the stored message', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  await c.command('MAIL FROM:<app@example.com>');
  await c.command('RCPT TO:<a@example.net>');
  await c.command('DATA');
  await c.write('Subject: x\r\n\r\nhi\r\n.\r\n');
  const reply = await c.reply();
  t.match(reply, /^250 2\.0\.0 Ok: queued as [0-9A-Z]{21}$/);
  t.ok(ferry.queue.messages.get(queuedId(reply)), 'the id names the stored row');
});

t.test('refusals carry one enhanced status code, never a doubled one', async (t) => {
  const { smtpPort } = await startRelay(t, { smtp: { relayNetworks: ['10.0.0.0/8'] } });
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  const reply = await c.command('MAIL FROM:<app@example.com>');
  t.equal(reply, '530 5.7.0 Authentication required');
  t.notMatch(reply, /\d\.\d+\.\d+ \d\.\d+\.\d+/, 'no "5.0.0 5.7.0"');
});

t.test('RCPT with a bad address is 501 5.1.3', async (t) => {
  const { smtpPort } = await startRelay(t);
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  t.match(await c.command('MAIL FROM:<app@example.com>'), /^250 /);
  for (const bad of ['no-at-sign', 'a@', 'a@-bad-.com', 'a..b@example.com', 'a@exa mple.com']) {
    const reply = await c.command(`RCPT TO:<${bad}>`);
    t.match(reply, /^501 5\.1\.3 /, `${bad} refused with 5.1.3`);
    t.notMatch(reply, /5\.\d\.\d 5\.\d\.\d/, 'single enhanced code');
  }
  t.match(await c.command('RCPT TO:<Good@Example.COM>'), /^250 /, 'a good address still works');
});

t.test('MAIL FROM with a bad address is refused; the null sender is accepted', async (t) => {
  const { smtpPort } = await startRelay(t);
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  t.match(await c.command('MAIL FROM:<a@>'), /^5\d\d 5\.1\.[37] /);
  t.match(await c.command('MAIL FROM:<>'), /^250 /);
});

t.test('too many recipients: 452 4.5.3 past maxRecipients, the message goes to the first ones', async (t) => {
  const { ferry, smtpPort } = await startRelay(t, { smtp: { maxRecipients: 3 } });
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  await c.command('MAIL FROM:<app@example.com>');
  for (let i = 1; i <= 3; i++) t.match(await c.command(`RCPT TO:<r${i}@example.net>`), /^250 /, `recipient ${i} accepted`);
  t.equal(await c.command('RCPT TO:<r4@example.net>'), '452 4.5.3 Too many recipients (at most 3 per message)');
  t.match(await c.command('DATA'), /^354 /);
  await c.write('Subject: many\r\n\r\nhi\r\n.\r\n');
  const id = queuedId(await c.reply());
  t.same(ferry.queue.recipients.forMessage(id).map((r) => r.address), ['r1@example.net', 'r2@example.net', 'r3@example.net']);
});

t.test('the Received header is first, names the session protocol, the client and the queue id', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  await c.command('MAIL FROM:<app@example.com>');
  await c.command('RCPT TO:<only@example.net>');
  await c.command('DATA');
  await c.write('Received: from earlier.hop by x; Thu, 1 Jan 2026 00:00:00 +0000\r\nSubject: trace\r\n\r\nhi\r\n.\r\n');
  const id = queuedId(await c.reply());
  const text = (await storedMessage(ferry, id)).toString('latin1');
  const re = new RegExp(
    `^Received: from client\\.test \\(unknown \\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby ferry\\.test \\(Ferry\\) with ESMTP id ${id}\\r\\n\\tfor <only@example\\.net>;\\r\\n\\t\\w{3}, \\d{2} \\w{3} \\d{4} \\d{2}:\\d{2}:\\d{2} \\+0000\\r\\nReceived: from earlier\\.hop`,
  );
  t.match(text, re, 'Ferry\'s Received header comes first, before the client\'s own');
});

t.test('a HELO name cannot inject header lines into Received', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const { rawConnect } = await import('../helpers/raw-smtp.js');
  const c = await rawConnect(smtpPort);
  t.teardown(() => c.close());
  await c.reply();
  await c.command('EHLO evil(x)[y];by');
  await c.command('MAIL FROM:<app@example.com>');
  await c.command('RCPT TO:<a@example.net>');
  await c.command('DATA');
  await c.write('Subject: x\r\n\r\nhi\r\n.\r\n');
  const id = queuedId(await c.reply());
  const headers = ferry.queue.messages.get(id)!.headers.toString('latin1');
  t.match(headers, /^Received: from evil\(x\)\[y\];by \(unknown/);
  t.equal(messageCount(ferry), 1);
});
