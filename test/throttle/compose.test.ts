import t from 'tap';
import { composeRecipientPolicies, composeSenderPolicies } from '../../src/throttle/compose.js';
import type { RecipientPolicy } from '../../src/core/policy.js';
import { parseAddress } from '../../src/policy/addresses.js';

t.test('recipient policies run in order; the first that does not accept decides', async (t) => {
  const calls: string[] = [];
  const p = (name: string, d: ReturnType<RecipientPolicy['check']>): RecipientPolicy => ({
    check: () => {
      calls.push(name);
      return d;
    },
  });
  const addr = parseAddress('a@example.com')!;
  const drop = { action: 'drop' as const, reason: 'suppressed', category: 'user_unknown' };
  t.same(composeRecipientPolicies(p('suppression', drop), p('quota', { action: 'accept' })).check(addr, null), drop);
  t.same(calls, ['suppression'], 'a dropped recipient never reaches (and costs) the quota');
  calls.length = 0;
  const reject = { action: 'reject' as const, code: 451, text: '4.7.1 quota' };
  t.same(composeRecipientPolicies(p('suppression', { action: 'accept' }), p('quota', reject)).check(addr, null), reject);
  t.same(calls, ['suppression', 'quota']);
  t.same(composeRecipientPolicies().check(addr, null), { action: 'accept' });
  t.same(composeSenderPolicies({ check: () => null }, { check: () => ({ code: 451, text: 'x' }) }).check(null, null), { code: 451, text: 'x' });
  t.equal(composeSenderPolicies().check(null, null), null);
});
