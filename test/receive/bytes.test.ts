import t from 'tap';
import nodemailer from 'nodemailer';
import { randomBytes } from 'node:crypto';
import { queuedId, startRelay, storedMessage } from '../helpers/relay.js';
import { rawSession } from '../helpers/raw-smtp.js';

function transport(port: number) {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, connectionTimeout: 5000, socketTimeout: 30000 });
}

/** The stored message with Ferry's Received header (the first header, folded lines included) cut off. */
function afterReceived(stored: Buffer): Buffer {
  const text = stored.toString('latin1');
  if (!text.startsWith('Received: ')) throw new Error('stored message does not start with Received');
  let end = text.indexOf('\r\n') + 2;
  while (text[end] === '\t' || text[end] === ' ') end = text.indexOf('\r\n', end) + 2;
  return stored.subarray(end);
}

t.test('an 8-bit Latin-1 body is stored byte for byte', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const latin1 = Buffer.from(
    'From: app@example.com\r\nTo: a@example.net\r\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\n' +
      'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' +
      'Grüße aus Köln, ça va? Ñandú. ÿ þ ß £ ¤ µ\r\n.leading dot\r\n..two dots\r\n',
    'latin1',
  );
  t.ok(latin1.some((b) => b > 0x7f), 'the message has 8-bit bytes');
  t.equal(latin1.toString('latin1').includes('\ufffd'), false);
  const tr = transport(smtpPort);
  const info = await tr.sendMail({ envelope: { from: 'app@example.com', to: ['a@example.net'] }, raw: latin1 });
  tr.close();
  const id = queuedId(info.response);
  const stored = await storedMessage(ferry, id);
  t.ok(afterReceived(stored).equals(latin1), 'bytes after the Received header equal the sent bytes');
  const row = ferry.queue.messages.get(id)!;
  t.equal(row.eightBit, true, 'recorded as 8-bit');
  t.equal(row.spoolFile, null, 'small body inline in the database');
  t.equal(row.size, stored.length, 'size is the stored size');
});

t.test('a body larger than spool.inlineMaxBytes goes to a spool file and round-trips byte for byte', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const lines: string[] = [];
  // Random base64 lines, some starting with a dot, with 8-bit bytes mixed in: about 600 KB.
  for (let i = 0; i < 8000; i++) lines.push((i % 97 === 0 ? '.' : '') + randomBytes(54).toString('base64'));
  const head = Buffer.from('From: app@example.com\r\nSubject: big\r\nContent-Type: application/octet-stream\r\n\r\n');
  const body = Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), Buffer.from('\r\n\xe9\xe8\xff\r\n', 'latin1')]);
  const message = Buffer.concat([head, body]);
  t.ok(body.length > ferry.config.spool.inlineMaxBytes, 'body exceeds the inline limit');
  const tr = transport(smtpPort);
  const info = await tr.sendMail({ envelope: { from: 'app@example.com', to: ['a@example.net'] }, raw: message });
  tr.close();
  const id = queuedId(info.response);
  const row = ferry.queue.messages.get(id)!;
  t.equal(row.spoolFile, `${id}.eml`, 'stored as a spool file');
  t.equal(row.body, null, 'no body in the database row');
  t.ok(ferry.spool.exists(row.spoolFile!), 'the spool file exists');
  t.same(ferry.spool.list().map((f) => f.file), [`${id}.eml`], 'no temp file left behind');
  const stored = await storedMessage(ferry, id);
  t.ok(afterReceived(stored).equals(message), 'round-trips byte for byte');
  t.equal(row.size, stored.length);
});

t.test('bare LF line endings become CRLF', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  await c.command('MAIL FROM:<app@example.com>');
  await c.command('RCPT TO:<a@example.net>');
  await c.command('DATA');
  await c.write('Subject: lf\nX-Mixed: yes\r\n\nline one\nline two\r\nline three\nlast\r\n.\r\n');
  const id = queuedId(await c.reply());
  const stored = afterReceived(await storedMessage(ferry, id)).toString('latin1');
  t.equal(stored, 'Subject: lf\r\nX-Mixed: yes\r\n\r\nline one\r\nline two\r\nline three\r\nlast\r\n');
  t.equal(ferry.queue.messages.get(id)!.subject, 'lf', 'the header block was found across a bare-LF blank line');
});

t.test('a message without a final line break is stored ending with CRLF', async (t) => {
  const { ferry, smtpPort } = await startRelay(t);
  const tr = transport(smtpPort);
  const info = await tr.sendMail({ envelope: { from: 'app@example.com', to: ['a@example.net'] }, raw: 'Subject: x\r\n\r\nno newline at end' });
  tr.close();
  const stored = afterReceived(await storedMessage(ferry, queuedId(info.response))).toString('latin1');
  t.equal(stored, 'Subject: x\r\n\r\nno newline at end\r\n');
});
