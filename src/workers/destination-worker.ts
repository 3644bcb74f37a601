import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Deliverer, OpenSessionResult } from '../deliver/deliverer.js';
import type { HopTry, OutgoingDsn, OutgoingMessage, RecipientOutcome } from '../deliver/types.js';
import { hasTlsRequiredNo, REQUIRETLS_STATUS } from '../deliver/require-tls.js';
import type { AttemptFact } from '../outcome/decide.js';
import type { ApplyItem, AttemptContext, OutcomeApplier } from '../outcome/apply.js';
import type { PreparedMessage, SigningStage } from '../sign/prepare.js';
import type { Spool } from '../spool/spool.js';
import type { MessagesStore, RecipientsStore } from '../core/store.js';
import type { MessageRow, RecipientRow } from '../core/store-types.js';
import { RATE_LIMITED } from '../store/recipients-repo.js';
import type { Destination, DestinationGate } from './destination.js';
import type { TurnBudget } from './turn-budget.js';
import type { IntakeFirst } from './intake-first.js';

export type { PreparedMessage };

/** The store reads and writes a delivery worker makes itself (outcomes go through outcome/fate). */
export interface WorkerStore {
  messages: Pick<MessagesStore, 'get'>;
  recipients: Pick<RecipientsStore, 'releaseMany'>;
}

export interface WorkerDeps {
  store: WorkerStore;
  spool: Spool;
  deliverer: Deliverer;
  outcome: OutcomeApplier;
  clock: Clock;
  logger: Logger;
  gate: DestinationGate;
  /** The sign stage (DKIM); absent: messages go as stored. */
  signing: SigningStage | undefined;
  /** The MAIL FROM for one transaction (VERP); absent: the message's own envelope sender. */
  envelopeSender?: ((message: MessageRow, rows: readonly RecipientRow[]) => string) | undefined;
  /** Ends a message whose stored body is gone and reports it (outcome/fate, origin lost-body). */
  expireLostBody?: ((messageId: string, reason: string) => Promise<unknown> | void) | undefined;
  signal: AbortSignal;
  /** How long a connection with nothing to send waits for more of its destination's mail (0: closes at once). */
  idleMs?: number;
  /** Reports recipients this worker has finished with (delivered, deferred, released...). */
  finished: (count: number) => void;
  /** Shared by the workers: their messages' synchronous starts spread over event-loop turns; absent: each starts at once. */
  turns?: TurnBudget | undefined;
  /** Shared by the workers: while intake is short of CPU, message starts take a bounded share (intake-first.ts); absent: no limit. */
  pace?: IntakeFirst | undefined;
}

/**
 * One connection's life for one destination: open a session (MX failover happens inside),
 * then send the destination's waiting messages over it one transaction each, until none are
 * left, the per-connection limit is reached, or the connection breaks.
 */
export async function runDestinationWorker(claimed: Destination, deps: WorkerDeps): Promise<void> {
  const { clock, logger } = deps;
  let dest = claimed;
  let openedAt = clock.now();
  let open = await deps.deliverer.openSession(dest.domain, deps.signal);
  if (!open.ok) {
    // Messages that may bypass the recipient domain's MTA-STS/DANE policy get a second session
    // without it when that policy is what kept every host out; the others wait for the policy.
    const relaxed = open.reason === 'all_hops_failed' && refusedByPolicy(open.tries) ? await takeRelaxable(dest, deps) : null;
    await failAllPending(dest, open, openedAt, clock.now() - openedAt, deps);
    if (!relaxed) return;
    logger.warn({ domain: dest.domain, messages: relaxed.pending.size }, 'recipient TLS policy failed: messages marked TLS-Required: No (or TLS reports) go without it');
    dest = relaxed;
    openedAt = clock.now();
    open = await deps.deliverer.openSession(dest.domain, deps.signal, { ignoreRecipientPolicy: true });
    if (!open.ok) {
      await failAllPending(dest, open, openedAt, clock.now() - openedAt, deps);
      return;
    }
  }
  const session = open.session;
  const perConnection = Math.max(1, deps.gate.messagesPerConnection(dest.domain));
  let sent = 0;
  const recording = new Set<Promise<void>>();
  try {
    while (session.usable && sent < perConnection && !deps.signal.aborted) {
      let next = dest.pending.entries().next();
      if (next.done) {
        // Nothing waits now: keep the connection a moment for the next claim's mail (a steady
        // stream of messages reuses it instead of opening one per batch).
        await idle(dest, deps);
        next = dest.pending.entries().next();
        if (next.done || !session.usable || deps.signal.aborted) break;
      }
      // Intake first: while the SMTP sessions are short of CPU, this start may wait its share.
      const admitted = deps.pace?.admit();
      if (admitted) {
        await admitted;
        if (!session.usable || deps.signal.aborted) break;
        // Meanwhile the message may have gone (another worker, a stop, a lost lease): look again.
        next = dest.pending.entries().next();
        if (next.done) continue;
      }
      const [key, rows] = next.value;
      const messageId = rows[0]!.messageId;
      const now = clock.now();
      // Taken off before the gate answers (it may answer after a round trip): another worker
      // of this destination must not pick the same message meanwhile.
      dest.pending.delete(key);
      const wait = await deps.gate.takeMessage(dest.domain, now, dest.pending.size);
      if (wait !== null) {
        // Over the destination's budget: give the rest back (this one first), due when budget returns.
        const rest = [...dest.pending];
        dest.pending.clear();
        dest.pending.set(key, rows);
        for (const [k, v] of rest) dest.pending.set(k, v);
        const held = holdBack(dest, wait, now, deps.gate);
        await releaseMany(held, deps);
        deps.finished(held.length);
        break;
      }
      // The outcome commits with others finishing now; the next message need not wait for it.
      const { recorded, retry } = await sendOne(messageId, rows, session, open.tries, deps);
      recording.add(recorded);
      void recorded.finally(() => recording.delete(recorded));
      sent++;
      // The reused connection was gone before anything of the message was sent: it goes over the
      // next session (this worker ends, the scheduler starts another for what is pending).
      if (retry.length) dest.pending.set(key, retry);
    }
  } finally {
    await session.close().catch(() => undefined);
    await Promise.all(recording);
    // What a relaxed session did not carry goes back to the destination for the next worker.
    if (dest !== claimed) for (const [key, rows] of dest.pending) claimed.pending.set(key, rows);
  }
}

/** Waits up to deps.idleMs, until the scheduler wakes this worker (more mail, a stop, a connection needed elsewhere) or the signal aborts. */
function idle(dest: Destination, deps: WorkerDeps): Promise<void> {
  const ms = deps.idleMs ?? 0;
  if (ms <= 0 || deps.signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      timer.cancel();
      deps.signal.removeEventListener('abort', done);
      dest.idle?.delete(done);
      resolve();
    };
    const timer = deps.clock.setTimer(ms, done);
    deps.signal.addEventListener('abort', done, { once: true });
    (dest.idle ??= new Set()).add(done);
  });
}

async function sendOne(
  messageId: string,
  rows: RecipientRow[],
  session: Extract<OpenSessionResult, { ok: true }>['session'],
  tries: HopTry[],
  deps: WorkerDeps,
): Promise<{ recorded: Promise<void>; retry: RecipientRow[] }> {
  const { clock, logger } = deps;
  const results: { items: ApplyItem[]; ctx: AttemptContext }[] = [];
  let left = rows;
  let retry: RecipientRow[] = [];
  try {
    // The store read of the row (and its inline body) is synchronous: many messages starting at
    // once take their turns of the event loop (turn-budget.ts) instead of holding one.
    const prepare = () => (deps.signing ? deps.signing.prepare(messageId) : defaultPrepare(deps.store, messageId));
    const prepared = await (deps.turns ? deps.turns.run(prepare) : prepare());
    if (!prepared) {
      // The message was purged while waiting: nothing to send.
      deps.finished(rows.length);
      return { recorded: Promise.resolve(), retry };
    }
    const m = prepared.message;
    if (m.spoolFile && !deps.spool.exists(m.spoolFile)) {
      const reason = `spool file ${m.spoolFile} is missing: the message body was lost`;
      // Its recipients' fate (outcome/fate, origin lost-body): expired, reported to the sender.
      await deps.expireLostBody?.(m.id, reason);
      logger.error({ queueId: m.id, file: m.spoolFile }, 'spool file missing at delivery: recipients expired');
      deps.finished(rows.length);
      return { recorded: Promise.resolve(), retry };
    }
    const hopDsn = session.extensions.includes('DSN');
    // `TLS-Required: No` is not read here: it matters only when the recipient domain's policy kept
    // every host out (takeRelaxable, before the session), and nothing on the send path reads it.
    // Parsing the header block for it per message cost the SMTP thread 11 µs warm, 115 µs cold.
    const perRecipient = deps.signing?.perRecipient(m) ?? false;
    for (const group of transactionGroups(rows, perRecipient, hopDsn)) {
      const headers = perRecipient ? await deps.signing!.forRecipient(prepared, group[0]!) : prepared.headers;
      const dsn = dsnParameters(m, group[0]!);
      const outgoing: OutgoingMessage = {
        id: m.id,
        from: deps.envelopeSender ? deps.envelopeSender(m, group) : m.sender,
        to: group.map((r) => r.address),
        size: headers.length + (m.size - m.headers.length),
        eightBit: m.eightBit,
        smtputf8: m.smtputf8,
        requireTls: m.requireTls ?? false,
        ...(dsn ? { dsn } : {}),
        body: () => deps.spool.open({ id: m.id, bodyBytes: m.size - m.headers.length, headers, inline: m.body, file: m.spoolFile, row: m.bodyRef ?? null }),
        // the same bytes as plain data, for a delivery thread that reads them itself (a body left in the store too)
        bodySource: () => {
          const source = deps.spool.signSource({ id: m.id, bodyBytes: m.size - m.headers.length, headers, inline: m.body, file: m.spoolFile, row: m.bodyRef ?? null });
          return typeof source === 'function' ? null : source;
        },
      };
      // Its start (the body copied and handed to the delivery thread) takes its turn too.
      const report = await (deps.turns ? deps.turns.run(() => session.send(outgoing)) : session.send(outgoing));
      if (report.notSent) {
        retry = left;
        break;
      }
      const byAddress = new Map(report.recipients.map((o) => [o.address, o]));
      results.push({
        items: group.map((r) => ({ recipient: r, fact: toFact(byAddress.get(r.address)), firstQueuedAt: r.createdAt })),
        ctx: {
          startedAt: report.startedAt,
          durationMs: report.durationMs,
          hop: { host: report.hop.host, ip: report.hop.ip, port: report.hop.port, tls: report.hop.tls },
          hops: tries,
          // The next hop took the RFC 3461 parameters: it reports from here on ("relayed").
          dsnRelayed: hopDsn && dsn !== null,
        },
      });
      left = left.filter((r) => !group.includes(r));
    }
  } catch (err) {
    logger.error({ err, queueId: messageId }, 'delivery of a message failed locally');
    results.push({
      items: left.map((r) => ({
        recipient: r,
        fact: { kind: 'failed', phase: 'data', error: { kind: 'local', message: `local error: ${(err as Error).message}` } } as AttemptFact,
        firstQueuedAt: r.createdAt,
      })),
      ctx: { startedAt: clock.now(), durationMs: null, hop: null, hops: tries },
    });
  }
  const recorded = Promise.all(results.map((r) => record(r.items, r.ctx, deps).finally(() => deps.finished(r.items.length))));
  return { recorded: recorded.then(() => undefined), retry };
}

/**
 * One transaction per group. Recipients that need their own header block (a per-recipient
 * List-Unsubscribe) go alone; when the next hop takes RFC 3461 parameters, NOTIFY and ORCPT are
 * per transaction (the SMTP client sends one set for all its RCPTs), so only recipients that
 * agree on both share one. Otherwise the whole group is one transaction.
 */
export function transactionGroups(rows: RecipientRow[], perRecipient: boolean, hopDsn: boolean): RecipientRow[][] {
  if (perRecipient) return rows.map((r) => [r]);
  if (!hopDsn) return [rows];
  const groups = new Map<string, RecipientRow[]>();
  for (const r of rows) {
    const key = `${(r.dsnNotify ?? []).join(',')}\u0000${r.dsnOrcpt ?? ''}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.values()];
}

/** The RFC 3461 parameters to pass on for a transaction (its recipients share NOTIFY/ORCPT); null: none given. */
export function dsnParameters(m: MessageRow, r: RecipientRow): OutgoingDsn | null {
  const dsn: OutgoingDsn = {};
  if (m.dsnRet) dsn.ret = m.dsnRet;
  if (m.dsnEnvid) dsn.envid = m.dsnEnvid;
  if (r.dsnNotify && r.dsnNotify.length) dsn.notify = [...r.dsnNotify];
  if (r.dsnOrcpt) dsn.orcpt = r.dsnOrcpt;
  return Object.keys(dsn).length ? dsn : null;
}

/**
 * Records an attempt's outcome, committed with the other attempts finishing now (one fsync for
 * all). If even that fails (the database is gone), the recipients keep their lease and are
 * tried again when it runs out: at least once, never lost.
 */
async function record(items: ApplyItem[], ctx: AttemptContext, deps: WorkerDeps): Promise<void> {
  try {
    await deps.outcome.applySoon(items, ctx);
  } catch (err) {
    deps.logger.error(
      { err, queueId: items[0]?.recipient.messageId, recipients: items.length },
      'recording a delivery outcome failed: the recipients are retried when their lease runs out',
    );
  }
}

async function defaultPrepare(store: WorkerStore, id: string): Promise<PreparedMessage | null> {
  const message = await store.messages.get(id);
  return message ? { message, headers: message.headers } : null;
}

function toFact(o: RecipientOutcome | undefined): AttemptFact {
  if (!o) return { kind: 'failed', phase: 'data', error: { kind: 'protocol', message: 'the delivery report did not mention this recipient' } };
  if (o.ok) return { kind: 'delivered', reply: o.reply, rcptReply: o.rcptReply };
  return {
    kind: 'failed',
    phase: o.phase,
    reply: o.reply,
    rcptReply: o.rcptReply,
    error: o.error,
    permanentLocal: o.permanentLocal
      ? {
          category: o.localReason === 'size' ? 'message_too_large' : o.localReason === 'requiretls' ? 'policy' : 'other',
          message: o.error?.message ?? o.reply?.text ?? 'refused locally',
          enhanced: o.localReason === 'requiretls' ? REQUIRETLS_STATUS : undefined,
        }
      : undefined,
  };
}

/** The session could not be opened: every waiting message of the destination shares that fate (one commit). */
/** Some host was held back or failed because of the recipient domain's MTA-STS or DANE policy. */
function refusedByPolicy(tries: readonly HopTry[]): boolean {
  return tries.some((t) => t.tls !== undefined && t.tls.policy !== 'none' && t.result !== 'connected');
}

/**
 * Moves out of `dest` the messages allowed to go without the recipient domain's TLS policy:
 * `TLS-Required: No` without REQUIRETLS (RFC 8689 §5), and TLS reports, which must reach a
 * domain whose policy is broken (RFC 8460 §5.3). null when there are none.
 */
async function takeRelaxable(dest: Destination, deps: WorkerDeps): Promise<Destination | null> {
  const pending = new Map<string, RecipientRow[]>();
  for (const [key, rows] of [...dest.pending]) {
    const m = await deps.store.messages.get(rows[0]!.messageId);
    if (!m || m.requireTls) continue;
    if (m.kind === 'tlsrpt' || hasTlsRequiredNo(m.headers)) pending.set(key, rows);
  }
  if (pending.size === 0) return null;
  for (const key of pending.keys()) dest.pending.delete(key);
  return { ...dest, pending };
}

async function failAllPending(dest: Destination, open: Extract<OpenSessionResult, { ok: false }>, startedAt: number, durationMs: number, deps: WorkerDeps): Promise<void> {
  if (open.reason === 'aborted') {
    await releaseAll(dest, deps.clock.now(), deps);
    return;
  }
  const fact: AttemptFact = {
    kind: 'failed',
    phase: open.reason === 'all_hops_failed' ? 'connect' : 'route',
    error: open.error,
    // Surface the last reply a host gave (e.g. a 421 greeting) so it can be classified.
    reply: [...open.tries].reverse().find((t) => t.reply)?.reply,
    permanentRoute: open.permanent ? { message: open.error.message } : undefined,
  };
  const items: ApplyItem[] = [];
  for (const rows of dest.pending.values()) for (const r of rows) items.push({ recipient: r, fact, firstQueuedAt: r.createdAt });
  dest.pending.clear();
  await record(items, { startedAt, durationMs, hop: null, hops: open.tries }, deps).finally(() => deps.finished(items.length));
}

/**
 * The destination is out of budget until `at`: its waiting messages go back to the queue, each
 * due when the gate says its turn comes (spread out, so a long wait does not make them all due
 * at once and get claimed and handed back again and again). Clears the destination's pending
 * messages and returns the rows to release, so a caller can release many destinations' in one
 * transaction (one commit, not one fsync per destination).
 */
export function holdBack(dest: Destination, at: number, now: number, gate: DestinationGate): { id: number; at: number; reason: string }[] {
  const groups = [...dest.pending.values()];
  dest.pending.clear();
  const times = gate.releaseTimes?.(dest.domain, now, groups.length) ?? [];
  const items: { id: number; at: number; reason: string }[] = [];
  groups.forEach((rows, i) => {
    const due = Math.max(at, times[i] ?? at);
    // Recorded on the row so `messages show` and `queue list` can say why it waits.
    for (const r of rows) items.push({ id: r.id, at: due, reason: RATE_LIMITED });
  });
  return items;
}

async function releaseAll(dest: Destination, at: number, deps: WorkerDeps): Promise<void> {
  const items: { id: number; at: number }[] = [];
  for (const rows of dest.pending.values()) for (const r of rows) items.push({ id: r.id, at });
  dest.pending.clear();
  // one transaction (one fsync), not one per recipient
  await releaseMany(items, deps);
  deps.finished(items.length);
}

/** Gives claimed recipients back; a release that fails leaves the leases to run out (the rows become due again by themselves). */
async function releaseMany(items: { id: number; at: number; reason?: string | null }[], deps: WorkerDeps): Promise<void> {
  if (items.length === 0) return;
  await deps.store.recipients.releaseMany(items).catch((err: unknown) => deps.logger.error({ err, recipients: items.length }, 'releasing claimed recipients failed (their leases run out instead)'));
}
