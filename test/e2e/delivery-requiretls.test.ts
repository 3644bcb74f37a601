import t from 'tap';
import nodemailer from 'nodemailer';
import { runFerry } from '../helpers/cli.js';
import { rawSession } from '../helpers/raw-smtp.js';
import { queuedId, type StartedRelay } from '../helpers/relay.js';
import { waitFor as poll } from '../helpers/bounce.js';
import { isStatus, recipients, sampleMessage, setupDelivery, waitFor } from './fixtures/delivery.js';

/**
 * RFC 8689 through the real relay: Ferry offers REQUIRETLS after STARTTLS, keeps the flag with
 * the message, and delivers such a message only to an MX validated by MTA-STS (enforce) or DANE
 * that offers REQUIRETLS; otherwise the recipient bounces with 5.7.30 and the sender gets a DSN.
 * `TLS-Required: No` is honoured only without REQUIRETLS.
 */

/** Submits over STARTTLS, optionally with REQUIRETLS on MAIL FROM; returns the queue id. */
async function submit(relay: StartedRelay, o: { requireTls: boolean; raw?: string; to?: string }): Promise<string> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: relay.smtpPort,
    secure: false,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
  });
  try {
    const info = await transport.sendMail({
      envelope: { from: 'sender@ferry.test', to: [o.to ?? 'frank@example.test'] },
      raw: o.raw ?? sampleMessage('requiretls'),
      ...(o.requireTls ? { requireTLSExtensionEnabled: true } : {}),
    });
    return queuedId(info.response);
  } finally {
    transport.close();
  }
}

const withHeader = (header: string) => sampleMessage('relaxed').replace('Subject: relaxed', `Subject: relaxed\r\n${header}`);

t.test('REQUIRETLS is offered only after STARTTLS', async (t) => {
  const { relay } = await setupDelivery(t, { mx: { tls: true } });
  const c = await rawSession(relay.smtpPort);
  const ehlo = await c.command('EHLO client.test');
  t.notMatch(ehlo, /REQUIRETLS/, 'not in clear text');
  const refused = await c.command('MAIL FROM:<sender@ferry.test> REQUIRETLS');
  t.match(refused, /^5\d\d /, 'REQUIRETLS on MAIL FROM in clear text is refused');
  c.close();
});

t.test('REQUIRETLS to an MX without REQUIRETLS nor a validated policy: bounced 5.7.30, nothing sent, the sender gets a DSN', async (t) => {
  // Bodies kept: the DSN (itself under REQUIRETLS) bounces at once too, and retention would
  // clear its body before the test reads it.
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: true }, config: { retention: { keepBodiesHours: 1000 } } });
  const id = await submit(relay, { requireTls: true });
  t.equal(ferry.queue.messages.get(id)!.requireTls, true, 'the flag is stored with the message');
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'bounced');
  t.equal(r!.lastEnhanced, '5.7.30');
  t.equal(r!.category, 'policy');
  t.match(r!.lastReply, /REQUIRETLS support required: .*mx1\.example\.test/);
  t.equal(mx!.messages.length, 0, 'the MX got nothing');
  // The DSN is queued after the bounce's commit (its own transaction): wait for it.
  const dsn = await poll(() => ferry.db.prepare("SELECT id FROM messages WHERE kind = 'dsn'").get() as { id: string } | undefined, 10_000, 'a DSN').catch(() => undefined);
  t.ok(dsn, 'a DSN is queued');
  const row = ferry.queue.messages.get(dsn!.id)!;
  t.equal(row.requireTls, true, 'the DSN is itself sent under REQUIRETLS (RFC 8689 §4.3)');
  t.same(recipients(ferry, dsn!.id).map((x) => x.address), ['sender@ferry.test']);
  t.ok(row.body, 'the report body is stored inline');
  const text = Buffer.concat([row.headers, row.body ?? Buffer.alloc(0)]).toString('utf8');
  t.match(text, /Status: 5\.7\.30/);
  t.match(text, /Final-Recipient: rfc822; ?frank@example\.test/);

  // What an operator sees
  const shown = await runFerry(['messages', 'show', id], { env: { FERRY_DATA_DIR: relay.dataDir } });
  t.equal(shown.code, 0, shown.stderr);
  t.match(shown.stdout, /requiretls yes/);
  t.match(shown.stdout, /5\.7\.30/);
});

t.test('REQUIRETLS and TLS-Required: No together: the header is ignored (RFC 8689 §4.1), still bounced', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: true } });
  const id = await submit(relay, { requireTls: true, raw: withHeader('TLS-Required: No') });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'bounced');
  t.equal(r!.lastEnhanced, '5.7.30');
  t.equal(mx!.messages.length, 0);
});

t.test('TLS-Required: No without REQUIRETLS: delivered (opportunistic TLS still used), header passed on', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: true } });
  const id = await submit(relay, { requireTls: false, raw: withHeader('TLS-Required: No') });
  t.equal(ferry.queue.messages.get(id)!.requireTls, false);
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'delivered');
  t.equal(mx!.messages.length, 1);
  t.equal(mx!.messages[0]!.tls, true, 'STARTTLS was still used');
  t.match(mx!.messages[0]!.raw.toString(), /\r\nTLS-Required: No\r\n/);
});

t.test('without REQUIRETLS nothing changes: delivered to an MX without STARTTLS', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, { mx: { tls: false } });
  const id = await submit(relay, { requireTls: false });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'delivered');
  t.equal(mx!.messages.length, 1);
});
