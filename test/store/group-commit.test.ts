import t from 'tap';
import { createGroupCommitter } from '../../src/store/group-commit.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { accepted, testDb } from '../helpers/store.js';

t.test('many concurrent submits share a few transactions, and every one is committed', async (t) => {
  const { db } = testDb(t);
  const q = createQueueStore(db);
  const batches: number[] = [];
  const committer = createGroupCommitter<ReturnType<typeof accepted>>((batch) => {
    batches.push(batch.length);
    q.accept(batch);
  }, 500);
  const items = Array.from({ length: 300 }, () => accepted());
  await Promise.all(items.map((m) => committer.submit(m)));
  t.equal(batches.reduce((a, b) => a + b, 0), 300, 'every item applied once');
  t.ok(batches.length <= 3, `${batches.length} transaction(s) for 300 submits`);
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n, 300);
  t.equal(committer.pending, 0);
});

t.test('batches are capped at maxBatch', async (t) => {
  const batches: number[] = [];
  const committer = createGroupCommitter<number>((b) => void batches.push(b.length), 10);
  await Promise.all(Array.from({ length: 35 }, (_, i) => committer.submit(i)));
  t.same(batches, [10, 10, 10, 5]);
});

t.test('submits arriving while a commit runs go into the next commit; a submit resolves only after its commit', async (t) => {
  const applied: number[][] = [];
  const committer = createGroupCommitter<number>((b) => void applied.push([...b]), 100);
  const first = committer.submit(1);
  let settled = false;
  void first.then(() => (settled = true));
  t.equal(settled, false, 'not resolved before the commit ran');
  t.equal(committer.pending, 1);
  await first;
  t.same(applied, [[1]]);
  await Promise.all([committer.submit(2), committer.submit(3)]);
  t.same(applied, [[1], [2, 3]]);
});

t.test('a failed commit rejects only the item that cannot be committed', async (t) => {
  const calls: number[][] = [];
  const committer = createGroupCommitter<number>((b) => {
    calls.push([...b]);
    if (b.includes(13)) throw new Error('constraint failed');
  }, 2);
  const results = await Promise.allSettled([11, 12, 13, 14].map((n) => committer.submit(n)));
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'], 'its batch-mate 14 is still committed');
  t.same(calls, [[11, 12], [13, 14], [13], [14]], 'the failed batch is retried one item at a time');

  const { db } = testDb(t);
  const q = createQueueStore(db);
  const real = createGroupCommitter<ReturnType<typeof accepted>>((b) => q.accept(b), 100);
  const a = accepted();
  const dup = accepted({ id: a.message.id });
  const c = accepted();
  const settled = await Promise.allSettled([real.submit(a), real.submit(dup), real.submit(c)]);
  t.same(settled.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'], 'a duplicate id fails alone');
  t.ok(q.messages.get(c.message.id), 'the message after it is committed');
});
