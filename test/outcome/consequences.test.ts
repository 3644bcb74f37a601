import t from 'tap';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/logger.js';
import { createConsequences } from '../../src/outcome/consequences.js';
import { openDatabase } from '../../src/store/db.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { testSuppressions } from '../helpers/suppressions.js';
import { fateFor } from '../helpers/fate.js';
import { tempDir } from '../helpers/relay.js';
import type { AttemptFact } from '../../src/outcome/decide.js';

const HOUR = 3_600_000;

function setup(t: Parameters<Parameters<typeof t.test>[1]>[0]) {
  const db = openDatabase({ file: join(tempDir(t), 'ferry.db') });
  t.teardown(() => db.close());
  const clock = new ManualClock(Date.UTC(2026, 10, 27, 12));
  const queue = createQueueStore(db);
  const list = testSuppressions(db, () => clock.now());
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } as never);
  const consequences = createConsequences({ logger, now: () => clock.now() });
  const { outcome } = fateFor(db, {
    clock, logger,
    retry: { retryScheduleMinutes: [5], retryJitter: 0, maxAgeHours: 200, mailboxFullSuppressAfterHours: 72 },
    afterCommit: (a) => consequences.onApplied(a),
  });
  let n = 0;
  /** One message to `address`, accepted `ageHours` ago; applies the reply; returns the recipient after. */
  async function attempt(address: string, reply: string, ageHours = 0) {
    const id = `M${++n}`;
    const createdAt = clock.now() - ageHours * HOUR;
    queue.accept([{
      message: { id, createdAt, sender: 'app@sender.test', username: null, clientIp: null, helo: null, tls: null, size: 1, headers: Buffer.from('\r\n'), body: null,
        spoolFile: null, headerFrom: null, messageIdHeader: null, subject: null, eightBit: false, smtputf8: false, kind: 'submission' },
      recipients: [{ address, domain: address.split('@')[1]!, status: 'queued', reason: null, category: null }],
    }]);
    const recipient = queue.recipients.forMessage(id)[0]!;
    const m = /^(\d{3})[ -](?:([245]\.\d\.\d{1,3}) )?/.exec(reply)!;
    const fact: AttemptFact = { kind: 'failed', phase: 'rcpt', reply: { code: Number(m[1]), enhanced: m[2] ?? null, text: reply } };
    await outcome.applySoon([{ recipient, fact, firstQueuedAt: createdAt }], { startedAt: clock.now(), durationMs: 5, hop: { host: 'mx.dest.test', ip: '127.0.0.2', port: 25, tls: null }, hops: null });
    return queue.recipients.get(recipient.id)!;
  }
  /** One message to `address`, accepted now; applies each reply at its hour after acceptance, moving the clock. */
  async function series(address: string, replies: [hour: number, reply: string][]) {
    const id = `M${++n}`;
    const createdAt = clock.now();
    queue.accept([{
      message: { id, createdAt, sender: 'app@sender.test', username: null, clientIp: null, helo: null, tls: null, size: 1, headers: Buffer.from('\r\n'), body: null,
        spoolFile: null, headerFrom: null, messageIdHeader: null, subject: null, eightBit: false, smtputf8: false, kind: 'submission' },
      recipients: [{ address, domain: address.split('@')[1]!, status: 'queued', reason: null, category: null }],
    }]);
    const rid = queue.recipients.forMessage(id)[0]!.id;
    const seen: boolean[] = [];
    for (const [hour, reply] of replies) {
      clock.advance(createdAt + hour * HOUR - clock.now());
      const m = /^(\d{3})[ -](?:([245]\.\d\.\d{1,3}) )?/.exec(reply)!;
      const fact: AttemptFact = { kind: 'failed', phase: 'rcpt', reply: { code: Number(m[1]), enhanced: m[2] ?? null, text: reply } };
      await outcome.applySoon([{ recipient: queue.recipients.get(rid)!, fact, firstQueuedAt: createdAt }], { startedAt: clock.now(), durationMs: 5, hop: { host: 'mx.dest.test', ip: '127.0.0.2', port: 25, tls: null }, hops: null });
      seen.push(list.find(address, null) !== null);
    }
    return seen;
  }
  return { list, lines, consequences, attempt, series };
}

t.test('user_unknown suppresses with the reply as reason, source bounce', async (t) => {
  const { list, attempt } = setup(t);
  const r = await attempt('nobody@dest.test', '550 5.1.1 <nobody@dest.test>: Recipient address rejected: User unknown in virtual mailbox table');
  t.equal(r.status, 'bounced');
  t.match(list.find('nobody@dest.test', null), { category: 'user_unknown', source: 'bounce', reason: '550 5.1.1 <nobody@dest.test>: Recipient address rejected: User unknown in virtual mailbox table' });
});

t.test('a 4xx whose category is permanent bounces at once', async (t) => {
  const { list, attempt } = setup(t);
  const r = await attempt('gone@dest.test', '450 4.1.1 <gone@dest.test>: Recipient address rejected: User unknown in local recipient table');
  t.equal(r.status, 'bounced', 'no retry, no waiting for expiry');
  t.equal(r.attempts, 1);
  t.equal(r.category, 'user_unknown');
  t.ok(list.find('gone@dest.test', null), 'and suppressed');
});

t.test('mailbox_full suppresses only once full replies have persisted for mailboxFullSuppressAfterHours', async (t) => {
  const { list, series } = setup(t);
  const FULL = '452 4.2.2 The email account that you tried to reach is over quota.';
  const TIMEOUT = '421 4.4.2 mx.dest.test Error: timeout exceeded';
  t.same(await series('full1@dest.test', [[0, FULL], [24, FULL], [71, FULL], [72, FULL]]), [false, false, false, true], 'full from hour 0: suppressed at hour 72, not before');
  t.match(list.find('full1@dest.test', null), { category: 'mailbox_full', source: 'bounce' });
  t.same(await series('full2@dest.test', [[0, TIMEOUT], [48, TIMEOUT], [72, FULL], [100, FULL], [144, FULL]]), [false, false, false, false, true], 'the run starts at the first full reply, not at queue time');
  t.same(await series('full3@dest.test', [[0, FULL], [30, TIMEOUT], [72, FULL], [143, FULL], [144, FULL]]), [false, false, false, false, true], 'another reply in between starts a new run');
});

t.test('blocked, policy and spam_content never suppress; they are counted per destination and logged', async (t) => {
  const { list, lines, consequences, attempt } = setup(t);
  const replies: [string, string][] = [
    ['a@dest.test', '554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org'],
    ['b@dest.test', '550 5.7.26 This mail is unauthenticated, which poses a security risk to the sender and Gmail users, and has been blocked. The sender must authenticate with at least one of SPF or DKIM.'],
    ['c@dest.test', '554 5.7.1 Message rejected as spam by Content Filtering.'],
    ['d@dest.test', '554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org'],
  ];
  const cats: (string | null)[] = [];
  for (const [a, r] of replies) cats.push((await attempt(a, r)).category);
  t.same(cats, ['blocked', 'policy', 'spam_content', 'blocked']);
  for (const [a] of replies) t.equal(list.find(a, null), null, `${a} not suppressed`);
  t.same(
    consequences.senderProblems().map((p) => [p.domain, p.category, p.count]).sort(),
    [['dest.test', 'blocked', 2], ['dest.test', 'policy', 1], ['dest.test', 'spam_content', 1]],
  );
  const warns = lines.filter((l) => l.level === 40);
  t.equal(warns.length, 4, 'one warning per occurrence');
  t.match(warns[0], { destination: 'dest.test', category: 'blocked', reply: /spamhaus/, msg: /sender reputation problem/ });
  t.match(warns[1], { category: 'policy', msg: /sender setup problem/ });
});
