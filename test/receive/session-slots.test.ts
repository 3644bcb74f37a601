import t from 'tap';
import { createSessionSlots } from '../../src/receive/session-slots.js';

const trusted = (ip: string) => ip === '10.9.9.9';

t.test('untrusted sessions fill at most maxClients − reservedClients; newcomers push out the oldest idle one', async (t) => {
  const slots = createSessionSlots({ maxClients: 5, maxClientsPerIp: 10, reservedClients: 2, maxUntrustedPerNetwork: 10 }, trusted);
  t.same(slots.admit('a', '10.0.0.1'), { ok: true, trusted: false, evict: null });
  t.same(slots.admit('b', '10.0.0.2'), { ok: true, trusted: false, evict: null });
  t.same(slots.admit('c', '10.0.0.3'), { ok: true, trusted: false, evict: null });
  t.equal(slots.untrustedSize, 3);
  slots.authenticating('a', true);
  t.same(slots.admit('d', '10.0.1.1'), { ok: true, trusted: false, evict: 'b' }, 'a is in a password check: b, the oldest idle, goes');
  t.equal(slots.isUntrusted('b'), false);
  slots.authenticating('c', true);
  slots.authenticating('d', true);
  t.match(slots.admit('e', '10.0.1.2'), { ok: false, text: /^4\.7\.0 Too many unauthenticated connections, try again later/ }, 'nobody idle to push out');
  slots.authenticating('a', false);
  slots.authenticated('a');
  t.equal(slots.untrustedSize, 2, 'authenticated: no longer untrusted');
  t.same(slots.admit('e', '10.0.1.2'), { ok: true, trusted: false, evict: null });
  t.same(slots.admit('t', '10.9.9.9'), { ok: true, trusted: true, evict: null }, 'trusted sessions do not use the untrusted share');
  t.equal(slots.size, 5, 'b, on its way out, no longer holds a slot');
  slots.closed('b');
  slots.closed('b');
  t.equal(slots.size, 5);
  slots.closed('nobody');
  // Every slot is taken (a authenticated, c d e untrusted, t trusted): a trusted newcomer pushes out an idle untrusted one.
  slots.authenticating('c', false);
  t.same(slots.admit('t2', '10.9.9.9'), { ok: true, trusted: true, evict: 'c' });
  slots.authenticating('e', true);
  t.match(slots.admit('t3', '10.9.9.9'), { ok: false, text: /^4\.7\.0 Too many connections, try again in a moment/ }, 'nobody idle to push out');
});

t.test('per-address and per-network caps', async (t) => {
  const slots = createSessionSlots({ maxClients: 100, maxClientsPerIp: 2, reservedClients: 0, maxUntrustedPerNetwork: 3 }, trusted);
  t.ok(slots.admit('1', '10.0.0.1').ok);
  t.ok(slots.admit('2', '10.0.0.1').ok);
  t.match(slots.admit('3', '10.0.0.1'), { ok: false, text: /from your address \(at most 2\)/ });
  t.ok(slots.admit('4', '10.0.0.2').ok);
  t.match(slots.admit('5', '10.0.0.3'), { ok: false, text: /from your network \(at most 3\)/ }, 'the /24 is full');
  t.ok(slots.admit('6', '10.0.1.3').ok, 'another /24 is not');
  t.ok(slots.admit('7', '2001:db8::1').ok);
  t.ok(slots.admit('8', '2001:db8::2').ok);
  t.ok(slots.admit('9', '2001:db8::3').ok);
  t.match(slots.admit('10', '2001:db8::ffff:4'), { ok: false, text: /from your network/ }, 'the /64 is full');
  slots.closed('1');
  t.ok(slots.admit('11', '10.0.0.5').ok, 'a closed session frees its network slot');
  t.ok(slots.admit('12', '10.9.9.9').ok);
  t.ok(slots.admit('13', '10.9.9.9').ok);
  t.match(slots.admit('14', '10.9.9.9'), { ok: false }, 'the per-address cap holds for trusted clients too');
});
