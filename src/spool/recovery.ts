import type { Logger } from '../core/logger.js';
import { isTempSpoolFile, type Spool } from './spool.js';

/** A committed message's spool file, as the queue refers to it. */
export interface SpoolReference {
  id: string;
  file: string;
  /** every recipient is final: no delivery needs the body any more */
  finished?: boolean;
}

export interface RecoveryReport {
  tempFilesRemoved: number;
  orphanFilesRemoved: number;
  missingBodies: string[];
  /** Finished messages whose file is gone: nothing needed it any more (retention removed it before a crash). */
  finishedWithoutFile: string[];
}

/**
 * Start-up reconciliation of the spool with the committed rows. A crash can leave a temp file
 * (never committed: delete), a complete file whose row never committed (the client never got
 * 250: delete), but never a committed row without its file — unless the disk lost it, in which
 * case the message is reported so its recipients can be ended with a clear reason (once: the
 * caller then stops the row pointing at the file). A finished message's file may be gone for a
 * good reason (retention unlinked it just as a crash lost the row's update): that is no loss.
 */
export async function recoverSpool(opts: {
  spool: Spool;
  referenced: () => SpoolReference[] | Promise<SpoolReference[]>;
  logger: Logger;
}): Promise<RecoveryReport> {
  const { spool, logger } = opts;
  const report: RecoveryReport = { tempFilesRemoved: 0, orphanFilesRemoved: 0, missingBodies: [], finishedWithoutFile: [] };
  const refs = await opts.referenced();
  const referenced = new Set(refs.map((r) => r.file));
  for (const f of spool.list()) {
    if (isTempSpoolFile(f.file)) {
      await spool.remove(f.file);
      report.tempFilesRemoved++;
      logger.warn({ file: f.file, size: f.size }, 'recovery: removed a spool file that was being written at a crash');
    } else if (!referenced.has(f.file)) {
      await spool.remove(f.file);
      report.orphanFilesRemoved++;
      logger.warn({ file: f.file, size: f.size }, 'recovery: removed a spool file with no committed message (never acknowledged)');
    }
  }
  for (const r of refs) {
    if (spool.exists(r.file)) continue;
    if (r.finished) {
      // Not a loss: every recipient is final, so no delivery needs this body.
      report.finishedWithoutFile.push(r.id);
      logger.debug({ queueId: r.id, file: r.file }, 'recovery: a finished message no longer has its spool file');
    } else {
      report.missingBodies.push(r.id);
      logger.error({ queueId: r.id, file: r.file }, 'recovery: a committed message has lost its spool file');
    }
  }
  return report;
}

/** What start-up recovery asks of the queue (each step may answer now or later). */
export interface QueueRecovery {
  /** Deliveries this node had in flight at its last stop are due again; how many. */
  releaseOwned(): number | Promise<number>;
  referenced(): SpoolReference[] | Promise<SpoolReference[]>;
  /** A committed message lost its body: its pending recipients end, and the sender is told. */
  lostBody(id: string, reason: string): unknown;
  /** A finished message's file is gone: the row stops pointing at it. */
  forgetSpoolFile(id: string): unknown;
}

/** Everything a start does before it takes mail: claims of the last run released, then the spool reconciled with the queue. */
export async function recoverAtStart(spool: Spool, queue: QueueRecovery, logger: Logger): Promise<RecoveryReport> {
  const released = await queue.releaseOwned();
  if (released) logger.warn({ recipients: released }, 'recovery: deliveries in flight at the last stop are due again');
  const report = await recoverSpool({ spool, referenced: () => queue.referenced(), logger });
  for (const id of report.missingBodies) await queue.lostBody(id, 'spool file missing at start-up: the message body was lost');
  for (const id of report.finishedWithoutFile) await queue.forgetSpoolFile(id);
  return report;
}
