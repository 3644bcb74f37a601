import t from 'tap';
import { rawConnect, rawSession } from '../helpers/raw-smtp.js';
import { startRelay, queuedId } from '../helpers/relay.js';
import { dsnFields, mx, parse, waitFor } from '../helpers/bounce.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';
import { runFerry } from '../helpers/cli.js';
import { testSuppressions } from '../helpers/suppressions.js';
import type { TestMx } from '../helpers/mx-server.js';

/**
 * RFC 3461 through the real relay: the client's RET, ENVID, NOTIFY and ORCPT are honoured in the
 * DSNs Ferry writes, echoed in them, and passed on to a next hop that announces DSN (with one
 * transaction per distinct NOTIFY/ORCPT there, and batching where they agree).
 */

/** One message over SMTP with raw MAIL/RCPT parameters; returns the queue id. */
async function submitWith(
  port: number,
  o: { from?: string; mailArgs?: string; rcpts: [string, string?][]; subject?: string; body?: string },
): Promise<string> {
  const c = await rawSession(port);
  try {
    const from = o.from ?? 'app@sender.test';
    const mail = await c.command(`MAIL FROM:<${from}>${o.mailArgs ? ` ${o.mailArgs}` : ''}`);
    if (!mail.startsWith('250')) throw new Error(`MAIL: ${mail}`);
    for (const [addr, args] of o.rcpts) {
      const r = await c.command(`RCPT TO:<${addr}>${args ? ` ${args}` : ''}`);
      if (!r.startsWith('250')) throw new Error(`RCPT ${addr}: ${r}`);
    }
    const data = await c.command('DATA');
    if (!data.startsWith('354')) throw new Error(`DATA: ${data}`);
    const msg = [
      `From: <${from}>`,
      `To: <${o.rcpts[0]![0]}>`,
      `Subject: ${o.subject ?? 'DSN test'}`,
      `Message-ID: <${Math.random().toString(36).slice(2)}@sender.test>`,
      '',
      o.body ?? 'hello',
      '',
    ].join('\r\n');
    await c.write(`${msg}.\r\n`);
    const reply = await c.reply(10_000);
    await c.command('QUIT').catch(() => '');
    return queuedId(reply);
  } finally {
    c.close();
  }
}

async function report(m: TestMx, i: number) {
  const parsed = await parse(m.messages[i]!.raw);
  const status = parsed.attachments.find((a) => a.contentType === 'message/delivery-status');
  if (!status) throw new Error('no message/delivery-status part');
  return { parsed, fields: dsnFields(status.content.toString('utf8')) };
}

const settle = (ms = 400) => new Promise((r) => setTimeout(r, ms));

t.test('failures: NOTIFY=NEVER and NOTIFY=SUCCESS get no failure DSN, FAILURE and no NOTIFY do; ENVID, ORCPT echoed; RET=HDRS returns headers', async (t) => {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  recipientMx.setScript({ rcpt: (a) => (a.startsWith('bad') ? { code: 550, message: '5.1.1 No such user' } : null) });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  const { ferry, smtpPort } = await startRelay(t, {
    dmarc: { mode: 'off' },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
  });
  const id = await submitWith(smtpPort, {
    mailArgs: 'RET=HDRS ENVID=send+2B42',
    rcpts: [
      ['bad-never@example.net', 'NOTIFY=NEVER'],
      ['bad-failure@example.net', 'NOTIFY=FAILURE,DELAY ORCPT=rfc822;Orig-Failure@app.test'],
      ['bad-default@example.net'],
      ['bad-success@example.net', 'NOTIFY=SUCCESS'],
    ],
    body: 'the secret body line',
  });
  const stored = ferry.queue.messages.get(id)!;
  t.equal(stored.dsnRet, 'HDRS');
  t.equal(stored.dsnEnvid, 'send+42', 'ENVID is stored xtext-decoded');
  t.same(
    ferry.queue.recipients.forMessage(id).map((r) => [r.address, r.dsnNotify, r.dsnOrcpt]),
    [
      ['bad-never@example.net', ['NEVER'], null],
      ['bad-failure@example.net', ['FAILURE', 'DELAY'], 'rfc822;Orig-Failure@app.test'],
      ['bad-default@example.net', null, null],
      ['bad-success@example.net', ['SUCCESS'], null],
    ],
  );
  await senderMx.waitForMessages(1, 10_000);
  await waitFor(() => ferry.queue.recipients.forMessage(id).every((r) => r.status === 'bounced'), 10_000, 'all bounced');
  await settle();
  t.equal(senderMx.messages.length, 1, 'one DSN');
  const { parsed, fields } = await report(senderMx, 0);
  t.equal(fields.message['original-envelope-id'], 'send+42');
  t.same(fields.recipients.map((r) => r['final-recipient']), ['rfc822; bad-failure@example.net', 'rfc822; bad-default@example.net'], 'NEVER and SUCCESS-only recipients are left out');
  t.match(fields.recipients[0], { 'original-recipient': 'rfc822;Orig-Failure@app.test', action: 'failed', status: '5.1.1' });
  t.notOk(fields.recipients[1]!['original-recipient'], 'no ORCPT given: no Original-Recipient');
  t.ok(parsed.attachments.some((a) => a.contentType === 'text/rfc822-headers'), 'RET=HDRS: the headers');
  t.notOk(parsed.attachments.some((a) => a.contentType === 'message/rfc822'));
  t.notMatch(senderMx.messages[0]!.raw.toString(), /the secret body line/, 'and not the body');
});

t.test('RET=FULL returns the whole message in a failure DSN; beyond dsn.returnFullMaxBytes only the headers', async (t) => {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  recipientMx.setScript({ rcpt: () => ({ code: 550, message: '5.1.1 No such user' }) });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  const { smtpPort } = await startRelay(t, {
    dmarc: { mode: 'off' },
    dsn: { returnFullMaxBytes: 4000 },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
  });
  await submitWith(smtpPort, { mailArgs: 'RET=FULL', rcpts: [['bad@example.net']], body: 'the returned body line' });
  await senderMx.waitForMessages(1, 10_000);
  const { parsed } = await report(senderMx, 0);
  const full = parsed.attachments.find((a) => a.contentType === 'message/rfc822');
  t.ok(full, 'a message/rfc822 part');
  t.match(full!.content.toString(), /the returned body line/);
  t.match(full!.content.toString(), /Subject: DSN test/);

  // Another address: the first one is on the suppression list now.
  await submitWith(smtpPort, { mailArgs: 'RET=FULL', rcpts: [['bad2@example.net']], body: `${'x'.repeat(70)}\r\n`.repeat(80) });
  await senderMx.waitForMessages(2, 10_000);
  const big = await report(senderMx, 1);
  t.notOk(big.parsed.attachments.some((a) => a.contentType === 'message/rfc822'), 'too large: not returned');
  t.ok(big.parsed.attachments.some((a) => a.contentType === 'text/rfc822-headers'), 'the headers instead');
});

t.test('NOTIFY=SUCCESS: "delivered" from a hop without DSN; parameters passed on and "relayed" with a DSN-capable hop', async (t) => {
  const plainMx = await mx(t, { host: '127.0.0.2' });
  const dsnMx = await mx(t, { host: '127.0.0.4', dsn: true });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  const { ferry, smtpPort } = await startRelay(t, {
    dmarc: { mode: 'off' },
    routes: { 'example.net': `127.0.0.2:${plainMx.port}`, 'dsn.test': `127.0.0.4:${dsnMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
  });
  const plain = await submitWith(smtpPort, { mailArgs: 'ENVID=plain-1', rcpts: [['ok@example.net', 'NOTIFY=SUCCESS ORCPT=rfc822;ok@app.test'], ['quiet@example.net']] });
  await senderMx.waitForMessages(1, 10_000);
  t.same(plainMx.messages[0]!.envelope.dsn, undefined, 'the plain hop announced no DSN');
  const d1 = await report(senderMx, 0);
  t.match(d1.parsed.subject, /Delivery Status Notification \(Success\)/);
  t.equal(d1.fields.message['original-envelope-id'], 'plain-1');
  t.same(d1.fields.recipients.map((r) => r['final-recipient']), ['rfc822; ok@example.net'], 'only the recipient that asked');
  t.match(d1.fields.recipients[0], { action: 'delivered', status: /^2\./, 'original-recipient': 'rfc822;ok@app.test', 'remote-mta': 'dns; 127.0.0.2' });
  t.match(d1.parsed.text, /<ok@example\.net>: delivered/);
  t.same(ferry.queue.recipients.forMessage(plain).map((r) => r.status), ['delivered', 'delivered']);

  await submitWith(smtpPort, {
    mailArgs: 'RET=FULL ENVID=relay-7',
    rcpts: [['a@dsn.test', 'NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@app.test']],
    body: 'not in a success report',
  });
  await dsnMx.waitForMessages(1, 10_000);
  t.same(
    dsnMx.messages[0]!.envelope.dsn,
    { ret: 'FULL', envid: 'relay-7', rcpt: [{ notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;a@app.test' }] },
    'RET, ENVID, NOTIFY and ORCPT reach the next hop',
  );
  await senderMx.waitForMessages(2, 10_000);
  const d2 = await report(senderMx, 1);
  t.equal(d2.fields.message['original-envelope-id'], 'relay-7');
  t.match(d2.fields.recipients[0], { 'final-recipient': 'rfc822; a@dsn.test', action: 'relayed', 'original-recipient': 'rfc822;a@app.test' });
  t.notOk(d2.parsed.attachments.some((a) => a.contentType === 'message/rfc822'), 'a success report returns headers only, even with RET=FULL');
  t.notMatch(senderMx.messages[1]!.raw.toString(), /not in a success report/);
});

t.test('mixed NOTIFY/ORCPT at one DSN-capable destination: one transaction per distinct set; one for all at a hop without DSN', async (t) => {
  const dsnMx = await mx(t, { host: '127.0.0.4', dsn: true });
  const plainMx = await mx(t, { host: '127.0.0.2' });
  const { smtpPort } = await startRelay(t, {
    dmarc: { mode: 'off' },
    dsn: { enabled: false },
    routes: { 'dsn.test': `127.0.0.4:${dsnMx.port}`, 'example.net': `127.0.0.2:${plainMx.port}` },
  });
  const rcpts: [string, string?][] = [
    ['a@X', 'NOTIFY=SUCCESS'],
    ['b@X', 'NOTIFY=SUCCESS'],
    ['c@X', 'NOTIFY=NEVER'],
    ['d@X'],
    ['e@X', 'NOTIFY=FAILURE ORCPT=rfc822;e@app.test'],
    ['f@X', 'NOTIFY=FAILURE ORCPT=rfc822;f@app.test'],
  ];
  await submitWith(smtpPort, { rcpts: rcpts.map(([a, p]) => [a.replace('X', 'dsn.test'), p]) });
  await dsnMx.waitForMessages(5, 10_000);
  await settle();
  t.equal(dsnMx.messages.length, 5, 'five transactions for six recipients');
  const seen = dsnMx.messages
    .map((m) => ({ to: m.envelope.to, rcpt: m.envelope.dsn!.rcpt }))
    .sort((x, y) => x.to[0]!.localeCompare(y.to[0]!));
  t.same(seen, [
    { to: ['a@dsn.test', 'b@dsn.test'], rcpt: [{ notify: ['SUCCESS'], orcpt: null }, { notify: ['SUCCESS'], orcpt: null }] },
    { to: ['c@dsn.test'], rcpt: [{ notify: ['NEVER'], orcpt: null }] },
    { to: ['d@dsn.test'], rcpt: [{ notify: null, orcpt: null }] },
    { to: ['e@dsn.test'], rcpt: [{ notify: ['FAILURE'], orcpt: 'rfc822;e@app.test' }] },
    { to: ['f@dsn.test'], rcpt: [{ notify: ['FAILURE'], orcpt: 'rfc822;f@app.test' }] },
  ]);

  await submitWith(smtpPort, { rcpts: rcpts.map(([a, p]) => [a.replace('X', 'example.net'), p]) });
  await plainMx.waitForMessages(1, 10_000);
  await settle();
  t.equal(plainMx.messages.length, 1, 'a hop without DSN: the parameters cannot go on, so one transaction carries all');
  t.equal(plainMx.messages[0]!.envelope.to.length, 6);
});

t.test('NOTIFY=DELAY: one delay DSN once deferred for dsn.delayAfterHours, with Will-Retry-Until; none without DELAY', async (t) => {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  recipientMx.setScript({ rcpt: () => ({ code: 451, message: '4.7.1 Greylisted, try again later' }) });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  const { ferry, smtpPort } = await startRelay(t, {
    dmarc: { mode: 'off' },
    // Retries every 0.3 s; a delay report is due after 0.36 s deferred.
    dsn: { delayAfterHours: 0.0001 },
    delivery: { maxAgeHours: 1, retryScheduleMinutes: [0.005], retryJitter: 0 },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
  });
  const id = await submitWith(smtpPort, { mailArgs: 'ENVID=slow-1', rcpts: [['slow@example.net', 'NOTIFY=DELAY,FAILURE'], ['other@example.net']] });
  await senderMx.waitForMessages(1, 15_000);
  await waitFor(() => ferry.queue.recipients.forMessage(id).every((r) => r.attempts >= 4), 15_000, 'more deferrals');
  await settle();
  t.equal(senderMx.messages.length, 1, 'one delay DSN, however many deferrals');
  const { parsed, fields } = await report(senderMx, 0);
  t.match(parsed.subject, /Delayed Mail/);
  t.same(fields.recipients.map((r) => r['final-recipient']), ['rfc822; slow@example.net']);
  t.match(fields.recipients[0], { action: 'delayed', status: '4.7.1', 'will-retry-until': /\d{4} \d\d:\d\d:\d\d \+0000$/ });
  const arrival = ferry.queue.messages.get(id)!.createdAt;
  t.equal(Date.parse(fields.recipients[0]!['will-retry-until']!), Math.floor((arrival + 3_600_000) / 1000) * 1000, 'arrival + delivery.maxAgeHours');
  t.match(parsed.text, /still trying until/);
  const rows = ferry.queue.recipients.forMessage(id);
  t.same(rows.map((r) => r.status), ['deferred', 'deferred']);
  t.ok(rows[0]!.dsnDelayAt, 'the delay report is recorded on the recipient');
  t.equal(rows[1]!.dsnDelayAt, null);
});

t.test('NOTIFY=NEVER: no DSN on expiry, nor for a recipient dropped at intake', async (t) => {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  recipientMx.setScript({ rcpt: () => ({ code: 452, message: '4.2.2 Mailbox full' }) });
  const senderMx = await mx(t, { host: '127.0.0.3' });
  const { ferry, smtpPort } = await startRelay(t, {
    dmarc: { mode: 'off' },
    dsn: { onDropped: true },
    delivery: { maxAgeHours: 0.0003, retryScheduleMinutes: [0.005], retryJitter: 0 },
    bounces: { mailboxFullSuppressAfterHours: 1000 },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}`, 'sender.test': `127.0.0.3:${senderMx.port}` },
  });
  const id = await submitWith(smtpPort, { rcpts: [['never@example.net', 'NOTIFY=NEVER'], ['told@example.net']] });
  await senderMx.waitForMessages(1, 15_000);
  await waitFor(() => ferry.queue.recipients.forMessage(id).every((r) => r.status === 'expired'), 15_000, 'expiry');
  const { fields } = await report(senderMx, 0);
  t.same(fields.recipients.map((r) => r['final-recipient']), ['rfc822; told@example.net'], 'the NEVER recipient expired unreported');

  const list = testSuppressions(ferry.db);
  list.suppress('gone@example.net', 'manual', 'test', 'manual');
  const dropped = await submitWith(smtpPort, { rcpts: [['gone@example.net', 'NOTIFY=NEVER']] });
  t.same(ferry.queue.recipients.forMessage(dropped).map((r) => r.status), ['dropped']);
  await submitWith(smtpPort, { rcpts: [['gone@example.net']], subject: 'second' });
  await senderMx.waitForMessages(2, 10_000);
  await settle();
  t.equal(senderMx.messages.length, 2, 'only the drop without NOTIFY=NEVER was reported');
  t.match((await parse(senderMx.messages[1]!.raw)).subject, /suppression list: second/);
});

t.test('events and webhooks carry the ENVID', async (t) => {
  const recipientMx = await mx(t, { host: '127.0.0.2' });
  const secret = 'a-webhook-secret-1234';
  const receiver = await startWebhookReceiver(t, secret);
  const { smtpPort, dataDir } = await startRelay(t, {
    dmarc: { mode: 'off' },
    webhooks: { urls: [receiver.url], secret, pollIntervalMs: 50 },
    routes: { 'example.net': `127.0.0.2:${recipientMx.port}` },
  });
  const id = await submitWith(smtpPort, { mailArgs: 'ENVID=app-send-99', rcpts: [['x@example.net']] });
  const delivered = await waitFor(() => receiver.acknowledged().find((e) => e.event === 'delivered' && e.queue_id === id), 10_000, 'the delivered webhook');
  t.equal(delivered.envid, 'app-send-99');
  t.equal(receiver.acknowledged().find((e) => e.event === 'queued')?.envid, 'app-send-99');
  const plain = await submitWith(smtpPort, { rcpts: [['y@example.net']] });
  const other = await waitFor(() => receiver.acknowledged().find((e) => e.event === 'delivered' && e.queue_id === plain), 10_000, 'the second webhook');
  t.equal(other.envid, null, 'no ENVID: null');
  const listed = await runFerry(['events', 'list', '--message', id, '--json'], { env: { FERRY_DATA_DIR: dataDir } });
  t.equal(listed.code, 0, listed.stderr);
  const events = JSON.parse(listed.stdout) as { event: string; envid: string | null }[];
  t.ok(events.length >= 2 && events.every((e) => e.envid === 'app-send-99'), 'ferry events list carries it too');
});

t.test('DSN is announced on the submission listener, not on the bounce listener', async (t) => {
  const { ferry, smtpPort } = await startRelay(t, {
    verp: { enabled: true, domain: 'bounce.sender.test', secret: 'verp-secret-0123456789' },
    bounceListener: { listen: '127.0.0.1:0' },
  });
  const ehlo = async (port: number) => {
    const c = await rawConnect(port);
    try {
      await c.reply();
      return await c.command('EHLO client.test');
    } finally {
      c.close();
    }
  };
  t.match(await ehlo(smtpPort), /^250-DSN$/m);
  const c = await rawSession(smtpPort);
  t.match(await c.command(`MAIL FROM:<a@sender.test> ENVID=${'e'.repeat(101)}`), /^501 5\.5\.4 ENVID is longer than 100 characters/);
  t.match(await c.command(`MAIL FROM:<a@sender.test> ENVID=${'e'.repeat(100)}`), /^250/);
  t.match(await c.command(`RCPT TO:<b@example.net> ORCPT=rfc822;${'o'.repeat(500)}`), /^501 5\.5\.4 ORCPT is longer than 500 characters/);
  t.match(await c.command('RCPT TO:<b@example.net> NOTIFY=NEVER,SUCCESS'), /^501/, 'NEVER with others: refused by smtp-server');
  t.match(await c.command('RCPT TO:<b@example.net> NOTIFY=SUCCESS ORCPT=rfc822;b@app.test'), /^250/);
  c.close();
  const bounce = ferry.addresses as unknown as { bounce: string };
  t.notMatch(await ehlo(Number(bounce.bounce.slice(bounce.bounce.lastIndexOf(':') + 1))), /DSN/);
});
