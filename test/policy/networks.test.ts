import t from 'tap';
import { createNetworkMatcher, isLoopback } from '../../src/policy/networks.js';

t.test('relay networks: CIDR ranges, single addresses, IPv4-mapped IPv6', async (t) => {
  const may = createNetworkMatcher(['127.0.0.0/8', '::1/128', '10.1.0.0/16', '192.0.2.7', '2001:db8::/32']);
  const table: [string, boolean][] = [
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.1.200.3', true],
    ['::ffff:10.1.0.1', true],
    ['10.2.0.1', false],
    ['192.0.2.7', true],
    ['192.0.2.8', false],
    ['2001:db8:1::5', true],
    ['2001:db9::1', false],
    ['8.8.8.8', false],
    ['not an ip', false],
    ['', false],
  ];
  for (const [ip, want] of table) t.equal(may(ip), want, `${ip || '(empty)'} → ${want}`);
  t.equal(createNetworkMatcher([])('127.0.0.1'), false, 'no networks: nobody relays without AUTH');
});

t.test('isLoopback', async (t) => {
  for (const ip of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) t.equal(isLoopback(ip), true, ip);
  for (const ip of ['10.0.0.1', '::2', '192.168.1.1', 'garbage']) t.equal(isLoopback(ip), false, ip);
});

t.test('a matcher answers the same when asked again, and past its remembered set', async (t) => {
  const may = createNetworkMatcher(['10.0.0.0/8']);
  for (let round = 0; round < 2; round++) {
    t.equal(may('10.0.0.1'), true, `round ${round}: inside`);
    t.equal(may('::ffff:10.0.0.1'), true, `round ${round}: mapped`);
    t.equal(may('11.0.0.1'), false, `round ${round}: outside`);
  }
  // More distinct addresses than it keeps: every answer is still right.
  let wrong = 0;
  for (let i = 0; i < 10_000; i++) {
    const inside = i % 2 === 0;
    const ip = `${inside ? 10 : 11}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    if (may(ip) !== inside) wrong++;
  }
  t.equal(wrong, 0);
  t.equal(may('10.0.0.1'), true);
});
