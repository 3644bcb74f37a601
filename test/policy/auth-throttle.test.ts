import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { createAuthThrottle } from '../../src/policy/auth-throttle.js';

t.test('max failures within the window lock the IP out for lockoutMs', async (t) => {
  const clock = new ManualClock(0);
  const th = createAuthThrottle(clock, { max: 3, windowMs: 1000, lockoutMs: 5000 });
  t.equal(th.fail('10.0.0.1'), false);
  t.equal(th.fail('10.0.0.1'), false);
  t.equal(th.isLocked('10.0.0.1'), false);
  t.equal(th.fail('10.0.0.1'), true, 'the 3rd failure locks');
  t.equal(th.isLocked('10.0.0.1'), true);
  t.equal(th.isLocked('10.0.0.2'), false, 'other IPs unaffected');
  clock.advance(4999);
  t.equal(th.isLocked('10.0.0.1'), true);
  clock.advance(1);
  t.equal(th.isLocked('10.0.0.1'), false, 'unlocked when the lockout ends');
  t.equal(th.fail('10.0.0.1'), false, 'the count starts again');
});

t.test('failures older than the window do not count; success forgives', async (t) => {
  const clock = new ManualClock(0);
  const th = createAuthThrottle(clock, { max: 3, windowMs: 1000, lockoutMs: 5000 });
  th.fail('ip');
  th.fail('ip');
  clock.advance(1001);
  t.equal(th.fail('ip'), false, 'the first two expired');
  th.fail('ip');
  th.succeed('ip');
  t.equal(th.fail('ip'), false, 'a success clears the count');
  t.equal(th.fail('ip'), false);
  t.equal(th.fail('ip'), true);
});
