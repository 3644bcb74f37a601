import type { Logger } from '../core/logger.js';
import { isTempSpoolFile, type Spool } from './spool.js';

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
  referenced: () => { id: string; file: string; finished?: boolean }[];
  logger: Logger;
}): Promise<RecoveryReport> {
  const { spool, logger } = opts;
  const report: RecoveryReport = { tempFilesRemoved: 0, orphanFilesRemoved: 0, missingBodies: [], finishedWithoutFile: [] };
  const refs = opts.referenced();
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
