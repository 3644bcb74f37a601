import t from 'tap';
import { createClassifier } from '../../src/classify/classifier.js';
import { seededRandom } from '../../src/core/random.js';
import { decide, retryDelayMs, type AttemptFact, type RetryPolicy } from '../../src/outcome/decide.js';

const classifier = createClassifier();
const policy: RetryPolicy = { retryScheduleMinutes: [5, 10, 30, 60, 120, 240], retryJitter: 0, maxAgeHours: 72, mailboxFullSuppressAfterHours: 24 };
const T0 = Date.UTC(2026, 0, 1);
const H = 3_600_000;
const reply = (code: number, enhanced: string | null, text: string) => ({ code, enhanced, text: `${code} ${enhanced ? `${enhanced} ` : ''}${text}` });

t.test('what each fact becomes', async (t) => {
  const cases: { name: string; fact: AttemptFact; attemptsSoFar?: number; ageH?: number; want: { status: string; next: number | null; category: string | null; suppress: boolean } }[] = [
    { name: '250 → delivered', fact: { kind: 'delivered', reply: reply(250, '2.0.0', 'ok') }, want: { status: 'delivered', next: null, category: null, suppress: false } },
    { name: '451 at first attempt → deferred 5 min', fact: { kind: 'failed', phase: 'message', reply: reply(451, '4.3.0', 'try later') }, want: { status: 'deferred', next: 5 * 60_000, category: 'temporary', suppress: false } },
    { name: '451 after 3 attempts → deferred 60 min', fact: { kind: 'failed', phase: 'message', reply: reply(451, '4.3.0', 'try later') }, attemptsSoFar: 3, want: { status: 'deferred', next: 60 * 60_000, category: 'temporary', suppress: false } },
    { name: 'past the end of the schedule the last step repeats', fact: { kind: 'failed', phase: 'message', reply: reply(451, '4.3.0', 'try later') }, attemptsSoFar: 40, want: { status: 'deferred', next: 240 * 60_000, category: 'temporary', suppress: false } },
    { name: '550 5.1.1 → bounced, suppressed', fact: { kind: 'failed', phase: 'rcpt', reply: reply(550, '5.1.1', 'No such user') }, want: { status: 'bounced', next: null, category: 'user_unknown', suppress: true } },
    { name: 'connection refused → deferred', fact: { kind: 'failed', phase: 'connect', error: { kind: 'connect', message: 'ECONNREFUSED' } }, want: { status: 'deferred', next: 5 * 60_000, category: 'temporary', suppress: false } },
    { name: 'null MX → bounced domain_invalid', fact: { kind: 'failed', phase: 'route', error: { kind: 'dns', message: 'null MX' }, permanentRoute: { message: 'null MX' } }, want: { status: 'bounced', next: null, category: 'domain_invalid', suppress: true } },
    { name: 'too big for the remote → bounced, not suppressed', fact: { kind: 'failed', phase: 'message', permanentLocal: { category: 'message_too_large', message: 'over SIZE' } }, want: { status: 'bounced', next: null, category: 'message_too_large', suppress: false } },
    { name: '4xx at the maximum age → expired', fact: { kind: 'failed', phase: 'message', reply: reply(451, '4.3.0', 'try later') }, ageH: 72, want: { status: 'expired', next: null, category: 'temporary', suppress: false } },
    { name: 'timeout just before the maximum age → deferred', fact: { kind: 'failed', phase: 'data', error: { kind: 'timeout', message: 'ETIMEDOUT' } }, ageH: 71.9, want: { status: 'deferred', next: 5 * 60_000, category: 'temporary', suppress: false } },
    { name: 'a retry interval reaching past the maximum age is cut to the expiry time', fact: { kind: 'failed', phase: 'message', reply: reply(451, '4.3.0', 'try later') }, attemptsSoFar: 40, ageH: 70, want: { status: 'deferred', next: 2 * H, category: 'temporary', suppress: false } },
    { name: 'mailbox full for less than a day → deferred, kept', fact: { kind: 'failed', phase: 'rcpt', reply: reply(452, '4.2.2', 'Mailbox full') }, ageH: 23, want: { status: 'deferred', next: 5 * 60_000, category: 'mailbox_full', suppress: false } },
    { name: 'mailbox full for a day → deferred, suppressed', fact: { kind: 'failed', phase: 'rcpt', reply: reply(452, '4.2.2', 'Mailbox full') }, ageH: 24, want: { status: 'deferred', next: 5 * 60_000, category: 'mailbox_full', suppress: true } },
  ];
  for (const c of cases) {
    const now = T0 + (c.ageH ?? 0) * H;
    const d = decide(c.fact, { now, firstQueuedAt: T0, attemptsSoFar: c.attemptsSoFar ?? 0 }, classifier, policy, seededRandom(1));
    t.same(
      { status: d.status, next: d.nextAttemptAt === null ? null : d.nextAttemptAt - now, category: d.classification?.category ?? null, suppress: d.suppress },
      c.want,
      c.name,
    );
  }
});

t.test('the reply recorded: the remote text, else what Ferry knows', async (t) => {
  const d1 = decide({ kind: 'failed', phase: 'rcpt', reply: reply(550, '5.1.1', 'No such user') }, { now: T0, firstQueuedAt: T0, attemptsSoFar: 0 }, classifier, policy, seededRandom(1));
  t.same([d1.code, d1.enhanced, d1.replyText], [550, '5.1.1', '550 5.1.1 No such user']);
  const d2 = decide({ kind: 'failed', phase: 'connect', error: { kind: 'connect', message: 'no mail server took a session' } }, { now: T0, firstQueuedAt: T0, attemptsSoFar: 0 }, classifier, policy, seededRandom(1));
  t.same([d2.code, d2.enhanced, d2.replyText], [null, null, 'no mail server took a session']);
});

t.test('jitter stays within ± the configured fraction and spreads retries', async (t) => {
  const p = { ...policy, retryJitter: 0.1 };
  const random = seededRandom(42);
  const seen = new Set<number>();
  let min = Infinity;
  let max = 0;
  for (let i = 0; i < 500; i++) {
    const ms = retryDelayMs(0, p, random);
    min = Math.min(min, ms);
    max = Math.max(max, ms);
    seen.add(Math.round(ms / 1000));
  }
  t.ok(min >= 270_000 && max <= 330_000, `${min}..${max} within 5 min ± 10%`);
  t.ok(seen.size > 30, 'not all at the same instant');
  t.equal(retryDelayMs(0, { ...policy, retryScheduleMinutes: [0.001] }, random), 1000, 'never sooner than a second');
});
