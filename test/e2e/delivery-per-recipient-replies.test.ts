import t from 'tap';
import { attempts, isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

t.test('5xx and 2xx to RCPT in one transaction: bounced and delivered, one connection, one copy', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, {
    mx: {
      tls: false,
      script: { rcpt: (a) => (a.startsWith('nobody@') ? { code: 550, message: '5.1.1 <nobody@example.test>: Recipient address rejected: User unknown' } : null) },
    },
  });
  const id = await send(relay, { to: ['alice@example.test', 'nobody@example.test', 'bob@example.test'] });
  const rows = await waitFor(ferry, id, isStatus('delivered', 'bounced'));
  const by = Object.fromEntries(rows.map((r) => [r.address, r]));
  t.equal(by['alice@example.test']!.status, 'delivered');
  t.equal(by['bob@example.test']!.status, 'delivered');
  t.equal(by['nobody@example.test']!.status, 'bounced');
  t.equal(by['nobody@example.test']!.lastCode, 550);
  t.equal(by['nobody@example.test']!.lastEnhanced, '5.1.1');
  t.equal(by['nobody@example.test']!.category, 'user_unknown');
  t.equal(by['alice@example.test']!.category, null);

  t.equal(mx!.connections, 1, 'one connection');
  t.equal(mx!.messages.length, 1, 'one transaction carried the message');
  t.same(mx!.messages[0]!.envelope.to, ['alice@example.test', 'bob@example.test']);
  const a = attempts(ferry, id);
  t.same(a.map((x) => x.phase).sort(), ['message', 'message', 'rcpt']);
});

t.test('a 4xx to one RCPT defers only that recipient', async (t) => {
  const { mx, ferry, relay } = await setupDelivery(t, {
    mx: { tls: false, script: { rcpt: (a) => (a.startsWith('full@') ? { code: 452, message: '4.2.2 Mailbox full' } : null) } },
  });
  const id = await send(relay, { to: ['alice@example.test', 'full@example.test'] });
  const rows = await waitFor(ferry, id, isStatus('delivered', 'deferred'));
  t.same(rows.map((r) => [r.address, r.status]), [['alice@example.test', 'delivered'], ['full@example.test', 'deferred']]);
  t.equal(rows[1]!.category, 'mailbox_full');
  t.equal(mx!.messages.length, 1);
});

t.test("each recipient's own RCPT reply is recorded beside the final reply, also when the transaction fails after RCPT", async (t) => {
  let dotReply: { code: number; message: string } | null = null;
  const { ferry, relay } = await setupDelivery(t, {
    mx: {
      tls: false,
      raw: true,
      script: {
        rcpt: (a) => (a.startsWith('nobody@') ? { code: 550, message: '5.1.1 <nobody@example.test>: User unknown' } : null),
        data: () => dotReply,
      },
    },
  });
  const id = await send(relay, { to: ['alice@example.test', 'nobody@example.test'] });
  await waitFor(ferry, id, isStatus('delivered', 'bounced'));
  const a = attempts(ferry, id);
  const alice = a.find((x) => x.result === 'delivered')!;
  t.match(alice.reply, /^250 /, 'the attempt reply is the one to the final dot');
  t.equal(alice.rcptReply, '250 2.1.5 Ok', 'and the RCPT reply is kept');
  const nobody = a.find((x) => x.result === 'bounced')!;
  t.equal(nobody.rcptReply, '550 5.1.1 <nobody@example.test>: User unknown', 'a refused recipient: its RCPT reply');

  dotReply = { code: 451, message: '4.3.0 queue write failed' };
  const id2 = await send(relay, { to: ['carol@example.test'] });
  await waitFor(ferry, id2, isStatus('deferred'));
  const [carol] = attempts(ferry, id2);
  t.equal(carol!.reply, '451 4.3.0 queue write failed', 'the failure after DATA');
  t.equal(carol!.rcptReply, '250 2.1.5 Ok', 'with the RCPT reply that accepted her');
});
