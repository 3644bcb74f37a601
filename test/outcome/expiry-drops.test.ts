import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import type { FatePlan, FateRecipient, FateResult } from '../../src/core/fate.js';
import { silentLogger } from '../../src/core/logger.js';
import type { AcceptedMessage, RecipientRow, SuppressionRow } from '../../src/core/store-types.js';
import { createExpiry } from '../../src/outcome/expiry.js';
import type { FateInput } from '../../src/outcome/fate.js';
import { withIntakeDropFates } from '../../src/outcome/intake-drops.js';

// The fates main.ts used to assemble itself: what each hands to outcome/fate, and what it does
// with the answer. outcome/fate and the engines are faked here: their own tests cover them.

const T0 = Date.UTC(2026, 0, 1);

function recipient(id: number, messageId = 'M1'): RecipientRow {
  return {
    id, messageId, address: `r${id}@example.org`, domain: 'example.org', status: 'queued', attempts: 0, nextAttemptAt: T0, leaseUntil: null,
    createdAt: T0, updatedAt: T0, lastCode: null, lastEnhanced: null, lastReply: null, category: null, mxHost: null, remoteIp: null,
    tlsProtocol: null, tlsCipher: null, dsnNotify: null, dsnOrcpt: null, dsnDelayAt: null, waitReason: null, complainedAt: null,
  };
}

/** A fate that records what it was given and answers `applied` for each input. */
function fakeFate(applied: (input: FateInput) => boolean) {
  const recorded: FateInput[][] = [];
  const planned: FateInput[][] = [];
  const hooked: FateResult[][] = [];
  const resultOf = (input: FateInput): FateResult => ({ plan: { recipientId: input.recipient.id } as FatePlan, applied: applied(input), previousStatus: input.recipient.status, dsnRecorded: false });
  return {
    recorded,
    planned,
    hooked,
    record: async (inputs: readonly FateInput[]) => {
      recorded.push([...inputs]);
      return inputs.map(resultOf);
    },
    plan: (inputs: readonly FateInput[]) => {
      planned.push([...inputs]);
      return inputs.map((i) => ({ recipientId: i.recipient.id }) as FatePlan);
    },
    committed: (results: readonly FateResult[]) => {
      hooked.push([...results]);
      return [];
    },
  };
}

function expiryWith(rows: RecipientRow[], applied: (input: FateInput) => boolean, maxAgeHours = 1) {
  const fate = fakeFate(applied);
  const bodyLost: [string, number][] = [];
  let fullBatches = 0;
  const clock = new ManualClock(T0 + 5_000);
  const overdueAsked: [number, number, number][] = [];
  const expiry = createExpiry({
    fate,
    recipients: {
      forMessage: async () => rows,
      overdue: async (now, maxAgeMs, limit) => {
        overdueAsked.push([now, maxAgeMs, limit]);
        return rows.slice(0, limit);
      },
    },
    messages: {
      markBodyLost: async (id, at) => {
        bodyLost.push([id, at]);
        return true;
      },
    },
    clock,
    logger: silentLogger(),
    maxAgeHours: () => maxAgeHours,
    onFullBatch: () => fullBatches++,
  });
  return { expiry, fate, bodyLost, fullBatches: () => fullBatches, overdueAsked };
}

t.test('a lost body: each recipient of the message gets a lost-body fate; the body is marked lost only when none applied', async (t) => {
  const some = expiryWith([recipient(1), recipient(2)], (i) => i.recipient.id === 2);
  await some.expiry.lostBody('M1', 'spool file missing');
  t.same(some.fate.recorded[0]!.map((i) => [i.origin, i.recipient.id, i.facts]), [['lost-body', 1, { reason: 'spool file missing' }], ['lost-body', 2, { reason: 'spool file missing' }]]);
  t.same(some.bodyLost, [], 'a recipient still pending was ended: its fate reports the loss');

  const none = expiryWith([recipient(1)], () => false);
  await none.expiry.lostBody('M1', 'spool file missing');
  t.same(none.bodyLost, [['M1', T0 + 5_000]], 'nothing pending: the message only forgets its file');
});

t.test('overdue: the maximum age is read at each sweep; a full batch asks for another sweep; the count is of fates applied', async (t) => {
  const few = expiryWith([recipient(1), recipient(2), recipient(3)], (i) => i.recipient.id !== 2, 2);
  t.equal(await few.expiry.overdue(T0), 2);
  t.same(few.overdueAsked, [[T0, 2 * 3_600_000, 500]]);
  t.same(few.fate.recorded[0]!.map((i) => [i.origin, i.facts]), Array(3).fill(['expiry', { reason: 'not delivered within 2 hours (delivery.maxAgeHours)' }]));
  t.equal(few.fullBatches(), 0);

  const full = expiryWith(Array.from({ length: 500 }, (_, i) => recipient(i + 1)), () => true, 1);
  t.equal(await full.expiry.overdue(T0), 500);
  t.equal(full.fate.recorded[0]![0]!.facts.reason, 'not delivered within 1 hour (delivery.maxAgeHours)');
  t.equal(full.fullBatches(), 1);

  const empty = expiryWith([], () => true);
  t.equal(await empty.expiry.overdue(T0), 0);
  t.same(empty.fate.recorded, [], 'nothing overdue: no fate call');
});

function accepted(recipients: AcceptedMessage['recipients']): AcceptedMessage {
  const headers = Buffer.from('Subject: x\r\n\r\n');
  return {
    message: { id: 'M1', createdAt: T0, sender: 's@ferry.test', username: 'app', clientIp: null, helo: null, tls: null, size: headers.length, headers, body: Buffer.alloc(0), spoolFile: null, headerFrom: null, messageIdHeader: null, subject: null, eightBit: false, smtputf8: false, kind: 'submission' },
    recipients,
  };
}

t.test('intake drops: planned before the commit with the suppression entry that dropped them; the hook runs after it', async (t) => {
  const suppressed: SuppressionRow = { id: 7, address: 'gone@example.org', domain: 'example.org', category: 'bad_mailbox', reason: 'bounced', source: 'bounce', scope: null, createdAt: T0 - 1_000, expiresAt: null, hits: 0, lastHitAt: null };
  const fate = fakeFate(() => true);
  const sent: AcceptedMessage[][] = [];
  const asked: [string, string | null][] = [];
  const intake = withIntakeDropFates({
    queue: {
      accept: async (batch) => {
        sent.push(batch);
        return batch.flatMap((m) => (m.dropFates ?? []).map((plan) => ({ plan, applied: true, previousStatus: null, dsnRecorded: false })));
      },
    },
    fate,
    suppressionOf: async (address, user) => {
      asked.push([address, user]);
      return suppressed;
    },
  });
  const m = accepted([
    { address: 'ok@example.org', domain: 'example.org', status: 'queued', reason: null, category: null },
    { address: 'gone@example.org', domain: 'example.org', status: 'dropped', reason: 'suppressed', category: 'other' },
  ]);
  const results = await intake.queue.accept([m]);
  t.same(asked, [['gone@example.org', 'app']]);
  const input = fate.planned[0]![0]!;
  t.equal(input.origin, 'intake-drop');
  t.equal((input.recipient as FateRecipient).address, 'gone@example.org');
  t.same(input.facts, { reason: 'suppressed', category: 'bad_mailbox', suppressedAt: T0 - 1_000 });
  t.equal(sent[0]![0]!.dropFates!.length, 1, 'the plan travels with the message into the intake commit');
  t.same(fate.hooked, [results], 'the after-commit hook sees what the commit wrote');

  const plain = fakeFate(() => true);
  const noReports = withIntakeDropFates({ queue: { accept: async () => [] }, fate: plain, suppressionOf: null });
  await noReports.queue.accept([m, accepted([{ address: 'ok@example.org', domain: 'example.org', status: 'queued', reason: null, category: null }])]);
  t.same(plain.planned[0]![0]!.facts, { reason: 'suppressed', category: 'other', suppressedAt: null }, 'reports off: the drop as intake saw it');
  t.equal(plain.planned.length, 1, 'a message without drops plans nothing');
  t.same(plain.hooked, [], 'nothing written: no hook');
});
