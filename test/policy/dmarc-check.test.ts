import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createDmarcCheck } from '../../src/policy/dmarc-check.js';
import type { DmarcGuard, DmarcVerdict } from '../../src/policy/dmarc-guard.js';
import { readHeaderFacts } from '../../src/receive/headers.js';
import type { IntakeSession } from '../../src/core/message-check.js';

/**
 * The DMARC guard looks at every From mailbox (issue 11: a receiver may apply DMARC to any of
 * them, so "From: me@ours.test, ceo@bank.test" must not pass on its first mailbox alone).
 * The guard here implements the real interface with fixed policies per domain.
 */
function guard(policies: Record<string, DmarcVerdict>, asked: string[]): DmarcGuard {
  return {
    async check(address) {
      asked.push(address);
      return policies[address.split('@')[1]!] ?? { action: 'accept' };
    },
  };
}

const session = { sessionId: 's1' } as IntakeSession;
const reject: DmarcVerdict = { action: 'reject', code: 550, text: '5.7.1 bank.test publishes DMARC p=reject' };

t.test('every From domain is checked; the first refusal wins', async (t) => {
  const asked: string[] = [];
  const check = createDmarcCheck(guard({ 'bank.test': reject }, asked), { clock: new ManualClock(0), timeoutMs: 1000, logger: silentLogger() });
  const block = Buffer.from('From: me@ours.test, ceo@bank.test, other@bank.test\r\nSubject: s\r\n\r\n');
  await t.rejects(check({ session, headers: readHeaderFacts(block), headerBlock: block }), { responseCode: 550, message: /bank\.test publishes DMARC/ });
  t.same(asked, ['me@ours.test', 'ceo@bank.test'], 'one lookup per domain, in order, stopping at the refusal');
});

t.test('a single accepted From passes unchanged; a rewrite verdict rewrites', async (t) => {
  const asked: string[] = [];
  const rewrite: DmarcVerdict = { action: 'rewrite', from: '"x via Ferry" <n@ours.test>', replyTo: 'x@yahoo.test' };
  const check = createDmarcCheck(guard({ 'yahoo.test': rewrite }, asked), { clock: new ManualClock(0), timeoutMs: 1000, logger: silentLogger() });
  const plain = Buffer.from('From: me@ours.test\r\n\r\n');
  t.equal(await check({ session, headers: readHeaderFacts(plain), headerBlock: plain }), undefined);
  const two = Buffer.from('From: me@ours.test, x@yahoo.test\r\n\r\n');
  const out = await check({ session, headers: readHeaderFacts(two), headerBlock: two });
  t.equal(out?.toString(), 'From: "x via Ferry" <n@ours.test>\r\nReply-To: x@yahoo.test\r\n\r\n');
  const none = Buffer.from('Subject: no from\r\n\r\n');
  t.equal(await check({ session, headers: readHeaderFacts(none), headerBlock: none }), undefined);
});
