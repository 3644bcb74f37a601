import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { createAuthThrottle, type AuthAdmission, type AuthThrottleOptions } from '../../src/policy/auth-throttle.js';
import { clientKeys, isLoopbackRange } from '../../src/policy/networks.js';

const OPTS: AuthThrottleOptions = { max: 3, maxPerNetwork: 5, maxPerUser: 4, maxConcurrentPerClient: 10, windowMs: 1000, lockoutMs: 5000 };

function fail(th: ReturnType<typeof createAuthThrottle>, ip: string, user = 'app'): string[] | string {
  const a = th.begin(ip, user);
  if (!a.ok) return `${a.reason}:${a.scope}`;
  return a.settle(false).locked;
}

t.test('max failures within the window lock AUTH from the host for lockoutMs', async (t) => {
  const clock = new ManualClock(0);
  const th = createAuthThrottle(clock, { ...OPTS, maxPerUser: 100 });
  t.same(fail(th, '10.0.0.1'), []);
  t.same(fail(th, '10.0.0.1'), []);
  t.equal(th.isLocked('10.0.0.1'), false);
  t.same(fail(th, '10.0.0.1'), ['host'], 'the 3rd failure locks the host');
  t.equal(th.isLocked('10.0.0.1'), true);
  t.same(fail(th, '10.0.0.1'), 'locked:host', 'a locked host gets no password check');
  t.equal(th.isLocked('10.0.1.1'), false, 'another network is unaffected');
  clock.advance(4999);
  t.equal(th.isLocked('10.0.0.1'), true);
  clock.advance(1);
  t.equal(th.isLocked('10.0.0.1'), false, 'unlocked when the lockout ends');
  t.same(fail(th, '10.0.0.1'), [], 'the count starts again');
});

t.test('an attempt takes its slot before the check: parallel attempts cannot exceed the budget', async (t) => {
  const clock = new ManualClock(0);
  const th = createAuthThrottle(clock, { ...OPTS, maxPerUser: 100 });
  const admitted: AuthAdmission[] = [];
  const refused: string[] = [];
  for (let i = 0; i < 60; i++) {
    const a = th.begin('10.0.0.1', 'app');
    if (a.ok) admitted.push(a);
    else refused.push(`${a.reason}:${a.scope}`);
  }
  t.equal(admitted.length, 3, 'only max checks may run while none has ended');
  t.equal(refused[0], 'busy:host');
  for (const a of admitted) if (a.ok) a.settle(false);
  t.equal(th.isLocked('10.0.0.1'), true, 'and their failures lock the host');
});

t.test('concurrency per host is capped; a released slot is not counted', async (t) => {
  const clock = new ManualClock(0);
  const th = createAuthThrottle(clock, { ...OPTS, maxConcurrentPerClient: 2 });
  const a = th.begin('10.0.0.1', 'u1');
  const b = th.begin('10.0.0.1', 'u2');
  const c = th.begin('10.0.0.1', 'u3');
  t.ok(a.ok && b.ok);
  t.same(c.ok ? 'admitted' : `${c.reason}:${c.scope}`, 'busy:host');
  if (a.ok) a.release();
  if (a.ok) a.release();
  if (b.ok) t.same(b.settle(true).locked, []);
  const d = th.begin('10.0.0.1', 'u4');
  t.ok(d.ok, 'slots free again');
  t.same(fail(th, '10.0.0.1', 'u5'), [], 'the released and the successful check did not count as failures');
  t.same(fail(th, '10.0.0.1', 'u6'), []);
  t.same(fail(th, '10.0.0.1', 'u7'), 'busy:host', 'u4 still running + 2 failures fill the budget of 3');
  if (d.ok) t.same(d.settle(false).locked, ['host'], 'u4 failing is the 3rd failure');
});

t.test('the /24 has its own budget: rotating addresses does not give fresh guesses', async (t) => {
  const clock = new ManualClock(0);
  const th = createAuthThrottle(clock, { ...OPTS, maxPerUser: 100 });
  const results: (string[] | string)[] = [];
  for (let i = 1; i <= 8; i++) results.push(fail(th, `10.0.0.${i}`));
  t.same(results.slice(0, 5), [[], [], [], [], ['network']], 'five hosts, one failure each, lock the /24');
  t.same(results.slice(5), ['locked:network', 'locked:network', 'locked:network']);
  t.equal(th.isLocked('10.0.0.200'), true);
  t.equal(th.isLocked('10.0.1.1'), false);
});

t.test('IPv6 clients are one host per /64', async (t) => {
  const clock = new ManualClock(0);
  const th = createAuthThrottle(clock, { ...OPTS, maxPerUser: 100 });
  t.same(fail(th, '2001:db8:1:2::1'), []);
  t.same(fail(th, '2001:db8:1:2:ffff::9'), []);
  t.same(fail(th, '2001:db8:1:2:abcd:1:2:3'), ['host']);
  t.equal(th.isLocked('2001:db8:1:2::77'), true, 'the whole /64 is locked');
  t.equal(th.isLocked('2001:db8:1:3::1'), false, 'the next /64 is not');
});

t.test('a username has its own budget across networks; its right password clears it', async (t) => {
  const clock = new ManualClock(0);
  const th = createAuthThrottle(clock, OPTS);
  t.same(fail(th, '10.1.0.1', 'Boss'), []);
  t.same(fail(th, '10.2.0.1', 'boss'), []);
  const ok = th.begin('10.3.0.1', 'boss');
  t.ok(ok.ok);
  if (ok.ok) ok.settle(true);
  for (let i = 4; i <= 6; i++) t.same(fail(th, `10.${i}.0.1`, 'boss'), [], `failure from network ${i}`);
  t.same(fail(th, '10.7.0.1', 'BOSS'), ['user'], 'the 4th failure since the success locks the user (case-insensitive)');
  t.same(fail(th, '10.8.0.1', 'boss'), 'locked:user');
  t.same(fail(th, '10.8.0.1', 'other'), [], 'other users may still try');
});

t.test('failures older than the window do not count', async (t) => {
  const clock = new ManualClock(0);
  const th = createAuthThrottle(clock, OPTS);
  fail(th, 'ip');
  fail(th, 'ip');
  clock.advance(1001);
  t.same(fail(th, 'ip'), [], 'the first two expired');
});

t.test('stale budgets are pruned once there are many', async (t) => {
  const clock = new ManualClock(0);
  const th = createAuthThrottle(clock, { ...OPTS, maxPerUser: 1_000_000 });
  for (let i = 0; i < 10_050; i++) fail(th, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `u${i}`);
  clock.advance(OPTS.lockoutMs + OPTS.windowMs + 1);
  t.same(fail(th, '10.99.0.1'), [], 'still works after pruning');
  t.equal(th.isLocked('10.0.0.0'), false);
});

t.test('client keys and loopback ranges', async (t) => {
  t.same(clientKeys('192.0.2.77'), { host: '192.0.2.77', network: '192.0.2.0/24' });
  t.same(clientKeys('::ffff:192.0.2.77'), { host: '192.0.2.77', network: '192.0.2.0/24' }, 'IPv4-mapped counts as IPv4');
  t.same(clientKeys('2001:db8:0:5:1:2:3:4'), { host: '2001:db8:0:5::/64', network: '2001:db8:0:5::/64' });
  t.same(clientKeys('not-an-ip'), { host: 'not-an-ip', network: 'not-an-ip' });
  t.equal(isLoopbackRange('127.0.0.0/8'), true);
  t.equal(isLoopbackRange('127.0.0.1'), true);
  t.equal(isLoopbackRange('::1/128'), true);
  t.equal(isLoopbackRange('0.0.0.0/0'), false);
  t.equal(isLoopbackRange('10.0.0.0/8'), false);
  t.equal(isLoopbackRange('::/0'), false);
  t.equal(isLoopbackRange('nonsense'), false);
});
