import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../core/store.js';
import { SCAN_START, type ScanCursor } from '../core/store-types.js';

/**
 * Retention: what is deleted once mail is finished.
 *
 * - A body (inline or spool file) goes as soon as no recipient of its message can be delivered
 *   again, or keepBodiesHours after that. The row is updated first and the file unlinked after
 *   the commit: a crash in between leaves an unreferenced file, which start-up recovery removes.
 * - A message's record (the row, its recipients, attempts and events) goes `days` after its last
 *   change, unless a DSN about it is still to be queued or a webhook URL has not been sent one
 *   of its events.
 * - The suppression list is not touched: entries leave only by their own expiry.
 *
 * Work is done in batches of `batchSize` messages, one short transaction each, yielding to the
 * event loop between batches so SMTP sessions and deliveries never wait behind a long pass.
 */
export interface RetentionSettings {
  days: number;
  keepBodiesHours: number;
  sweepIntervalMs: number;
  batchSize: number;
}

export interface RetentionDeps {
  /** Each batch is one named store operation (retention.clearBodies, retention.pruneRecords): one short transaction. */
  store: Pick<Store, 'retention'>;
  /** Unlinks a spool file (a missing file is not an error). */
  removeSpoolFile: (file: string) => Promise<void>;
  clock: Clock;
  logger: Logger;
  /** Read at each pass: a reload changes retention from the next pass on. */
  settings: () => RetentionSettings;
  /** The configured webhook URLs: events they have not been sent are kept. */
  webhookUrls: () => readonly string[];
}

export interface RetentionReport {
  dryRun: boolean;
  /** Bodies deleted (or that would be). */
  bodies: { inline: number; files: number; bytes: number };
  /** Finished messages whose whole record was deleted (or would be). */
  messages: number;
  recipients: number;
  attempts: number;
  events: number;
  /** Old enough, but kept: a DSN about it is not queued yet, or a webhook has not sent its events. */
  heldBack: { dsn: number; webhook: number };
}

export interface Retention {
  /** Messages some of whose recipients just became final: their bodies are looked at soon. */
  finished(messageIds: Iterable<string>): void;
  /** One whole pass (bodies, then records). Concurrent calls share the pass under way. */
  run(options?: { dryRun?: boolean }): Promise<RetentionReport>;
  start(): void;
  /** Stops the timer and waits for a pass under way to end at its next batch. */
  stop(): Promise<void>;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function emptyReport(dryRun: boolean): RetentionReport {
  return { dryRun, bodies: { inline: 0, files: 0, bytes: 0 }, messages: 0, recipients: 0, attempts: 0, events: 0, heldBack: { dsn: 0, webhook: 0 } };
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export function createRetention(deps: RetentionDeps): Retention {
  const { clock, logger } = deps;
  const repo = deps.store.retention;
  const finishedIds = new Set<string>();
  let timer: TimerHandle | null = null;
  let running: Promise<RetentionReport> | null = null;
  let quick: Promise<void> | null = null;
  let stopped = false;

  /** Clears the bodies of these (finished) messages in one transaction; returns the files to unlink. */
  const clearBodies = async (ids: readonly string[], now: number, report: RetentionReport, dryRun: boolean): Promise<string[]> => {
    const keepMs = deps.settings().keepBodiesHours * HOUR_MS;
    // A lost body removal (power cut) is done again by the next pass; the file is unlinked only
    // after the commit, so no row ever points at a file that is gone for this reason.
    const cleared = await repo.clearBodies(ids, now, now - keepMs, dryRun);
    const files: string[] = [];
    for (const b of cleared) {
      if (b.spoolFile) {
        files.push(b.spoolFile);
        report.bodies.files++;
      } else report.bodies.inline++;
      report.bodies.bytes += b.bytes;
    }
    return files;
  };

  async function unlinkAll(files: string[]): Promise<void> {
    for (const f of files) {
      try {
        await deps.removeSpoolFile(f);
      } catch (err) {
        logger.warn({ err, file: f }, 'retention: could not remove a spool file (recovery removes it at the next start)');
      }
    }
  }

  async function sweepBodies(report: RetentionReport, dryRun: boolean): Promise<void> {
    let cursor: ScanCursor = SCAN_START;
    for (;;) {
      if (stopped && !dryRun) return;
      const { batchSize } = deps.settings();
      const batch = await repo.bodies(cursor, batchSize);
      if (batch.length === 0) return;
      const last = batch.at(-1)!;
      cursor = { createdAt: last.createdAt, id: last.id };
      const now = clock.now();
      const ids = batch.filter((b) => !b.pending).map((b) => b.id);
      if (ids.length) await unlinkAll((await clearBodies(ids, now, report, dryRun)).filter(() => !dryRun));
      if (batch.length < batchSize) return;
      await yieldToEventLoop();
    }
  }

  async function pruneRecords(report: RetentionReport, dryRun: boolean): Promise<void> {
    const { days } = deps.settings();
    if (days <= 0) return;
    const cutoff = clock.now() - days * DAY_MS;
    const sentUpTo = await repo.webhookSentUpTo(deps.webhookUrls());
    let cursor: ScanCursor = SCAN_START;
    for (;;) {
      if (stopped && !dryRun) return;
      const { batchSize } = deps.settings();
      const batch = await repo.oldMessages(cutoff, cursor, batchSize);
      if (batch.length === 0) return;
      const last = batch.at(-1)!;
      cursor = { createdAt: last.createdAt, id: last.id };
      const files: string[] = [];
      const { pruned, heldBack } = await repo.pruneRecords(batch.map((m) => m.id), cutoff, sentUpTo, dryRun);
      report.heldBack.dsn += heldBack.dsn;
      report.heldBack.webhook += heldBack.webhook;
      for (const m of pruned) {
        report.messages++;
        report.recipients += m.recipients;
        report.attempts += m.attempts;
        report.events += m.events;
        // A body kept longer than the record itself (keepBodiesHours beyond days) goes with it.
        if (m.spoolFile) {
          files.push(m.spoolFile);
          report.bodies.files++;
        }
      }
      if (!dryRun) await unlinkAll(files);
      if (batch.length < batchSize) return;
      await yieldToEventLoop();
    }
  }

  async function pass(dryRun: boolean): Promise<RetentionReport> {
    const report = emptyReport(dryRun);
    await sweepBodies(report, dryRun);
    await pruneRecords(report, dryRun);
    const removed = report.bodies.inline + report.bodies.files + report.messages;
    if (removed > 0 && !dryRun) {
      logger.info(
        { bodies: report.bodies.inline + report.bodies.files, spoolFiles: report.bodies.files, bodyBytes: report.bodies.bytes, messages: report.messages, events: report.events, heldBack: report.heldBack },
        'retention: removed finished bodies and old records',
      );
    }
    return report;
  }

  /** The relay's fast path: bodies of messages that just finished, batch by batch. */
  async function drainFinished(): Promise<void> {
    while (finishedIds.size > 0 && !stopped) {
      const { batchSize } = deps.settings();
      const ids: string[] = [];
      for (const id of finishedIds) {
        ids.push(id);
        finishedIds.delete(id);
        if (ids.length >= batchSize) break;
      }
      const report = emptyReport(false);
      await unlinkAll(await clearBodies(ids, clock.now(), report, false));
      await yieldToEventLoop();
    }
  }

  function run(options: { dryRun?: boolean } = {}): Promise<RetentionReport> {
    const dryRun = options.dryRun ?? false;
    if (dryRun) return pass(true);
    running ??= pass(false).finally(() => {
      running = null;
    });
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    timer = clock.setTimer(deps.settings().sweepIntervalMs, () => {
      timer = null;
      run()
        .catch((err: unknown) => logger.error({ err }, 'retention pass failed (tried again at the next interval)'))
        .finally(schedule);
    });
  }

  function noteFinished(ids: Iterable<string>): void {
    if (stopped) return;
    // With keepBodiesHours the bodies are not due yet: the periodic pass finds them when they are.
    if (deps.settings().keepBodiesHours > 0) return;
    for (const id of ids) finishedIds.add(id);
    if (finishedIds.size === 0 || quick) return;
    quick = yieldToEventLoop()
      .then(drainFinished)
      .catch((err: unknown) => logger.error({ err }, 'retention: removing finished bodies failed (the periodic pass tries again)'))
      .finally(() => {
        quick = null;
        if (finishedIds.size > 0) noteFinished([]);
      });
  }

  return {
    finished: noteFinished,
    run,
    start() {
      stopped = false;
      // A first pass at start: whatever finished while the relay was down.
      run()
        .catch((err: unknown) => logger.error({ err }, 'retention pass failed (tried again at the next interval)'))
        .finally(schedule);
    },
    async stop() {
      stopped = true;
      timer?.cancel();
      timer = null;
      await Promise.allSettled([running, quick]);
    },
  };
}
