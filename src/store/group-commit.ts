/**
 * Group commit: callers submit items; everything submitted while the previous commit ran (or
 * within the same turn of the event loop) is written by one synchronous `apply` call, i.e. one
 * SQLite transaction and one fsync. Each caller's promise settles with its batch's result.
 */
export interface GroupCommitter<T> {
  submit(item: T): Promise<void>;
  /** Items waiting for the next commit. */
  readonly pending: number;
}

export function createGroupCommitter<T>(apply: (items: T[]) => void, maxBatch: number): GroupCommitter<T> {
  let queue: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        apply(batch.map((b) => b.item));
      } catch (err) {
        if (batch.length === 1) {
          batch[0]!.reject(err);
          continue;
        }
        // One bad item must not fail the others that shared its transaction: retry each alone.
        for (const b of batch) {
          try {
            apply([b.item]);
            b.resolve();
          } catch (itemErr) {
            b.reject(itemErr);
          }
        }
        continue;
      }
      for (const b of batch) b.resolve();
    }
  }

  return {
    submit(item) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          // setImmediate runs after the current I/O phase: every DATA stream that ended in
          // this phase joins the same transaction.
          setImmediate(flush);
        }
      });
    },
    get pending() {
      return queue.length;
    },
  };
}
