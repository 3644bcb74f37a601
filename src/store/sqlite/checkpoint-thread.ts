import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import Database from '../sqlite-driver.js';
import { serializeError, type FromCheckpointer, type ToCheckpointer } from './writer-protocol.js';

/**
 * The WAL checkpointer: a connection of its own, on a thread of its own (started by the writer
 * thread), that copies committed WAL frames back into the database file when the writer asks.
 * A checkpoint does not block the writer (SQLite's checkpoint lock is not its write lock), so an
 * accept's COMMIT and its sync run beside one instead of paying for it: with SQLite's automatic
 * checkpoint, the commit that crossed the threshold copied every page and synced the database
 * file before its 250 (20 ms for a 40 MB WAL, one accept in ~500; bench/RESULTS.md, commit13).
 * PASSIVE: never waits for a reader or the writer; what it could not copy waits for the next.
 */
const port = parentPort!;
const { file } = workerData as { file: string };

function send(m: FromCheckpointer): void {
  port.postMessage(m);
}

let db: InstanceType<typeof Database>;
try {
  db = new Database(file, { fileMustExist: true });
  // It never writes: its own automatic checkpoint would never run; said for the reader.
  db.pragma('wal_autocheckpoint = 0');
} catch (err) {
  send({ t: 'failed', error: serializeError(err) });
  process.exit(1);
}
const checkpoint = db!.prepare('PRAGMA wal_checkpoint(PASSIVE)');

port.on('message', (m: ToCheckpointer) => {
  if (m.t === 'close') {
    db.close();
    port.close();
    return;
  }
  const t0 = performance.now();
  try {
    const r = checkpoint.get() as { busy: number; log: number; checkpointed: number };
    send({ t: 'checkpointed', busy: r.busy !== 0, frames: r.log, copied: r.checkpointed, ms: performance.now() - t0 });
  } catch (err) {
    // An I/O error here leaves the WAL as it was (the frames are still in it): the writer's own
    // bound (wal_autocheckpoint) takes over; the writer reports it.
    send({ t: 'failed', error: serializeError(err) });
  }
});
