import pg from 'pg';
import t from 'tap';
import { openTestStore, testPg } from '../../helpers/postgres.js';

// The webhook sender polls events.settledAfter: on a relay with months of events each poll must
// read a range after the cursor, not scan and sort the table (migration 006, events_txid_id).

t.test('settledAfter reads a range of events_txid_id, in (transaction, id) order, with no sort', async (t) => {
  const { url } = await testPg();
  const store = await openTestStore(t, url, 'node-a');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.teardown(() => client.end());
  // 2,000 events in 200 transactions, so the planner sees many (txid, id) pairs.
  for (let tx = 0; tx < 200; tx++) {
    await client.query(
      `INSERT INTO events (at, message_id, type) SELECT 1, 'm' || g, 'queued' FROM generate_series($1::int, $1::int + 9) g`,
      [tx * 10],
    );
  }
  await client.query('ANALYZE events');
  const { rows: mid } = await client.query<{ id: string; txid: string }>('SELECT id, txid::text AS txid FROM events ORDER BY id OFFSET 1000 LIMIT 1');
  // The planner is told scans of the whole table are expensive: what remains is whether the
  // statement can be read as a range at all (a comparison with a subquery's row cannot).
  await client.query('SET enable_seqscan = off');
  const plan = (
    await client.query(
      `EXPLAIN SELECT id FROM events
       WHERE (txid, id) > ($1::xid8, $2::bigint) AND txid < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY txid, id LIMIT 100`,
      [mid[0]!.txid, mid[0]!.id],
    )
  ).rows
    .map((r: Record<string, string>) => r['QUERY PLAN'])
    .join('\n');
  t.match(plan, /Index (Only )?Scan using events_txid_id/, plan);
  t.notMatch(plan, /Sort/, 'no sort: the index gives the order');

  // And the store's own statement returns the events after the cursor in that order.
  const after = await store.events.settledAfter(Number(mid[0]!.id), 5);
  t.same(
    after.map((e) => e.messageId),
    ['m1001', 'm1002', 'm1003', 'm1004', 'm1005'],
    'the next five after the cursor',
  );
  // A cursor whose event is gone (retention) falls back to ids.
  await client.query('DELETE FROM events WHERE id = $1', [mid[0]!.id]);
  t.same((await store.events.settledAfter(Number(mid[0]!.id), 2)).map((e) => e.messageId), ['m1001', 'm1002']);
});

t.test('a new follower starts after the last settled event: an event of a transaction still running then is not skipped', async (t) => {
  const { url } = await testPg();
  const store = await openTestStore(t, url, 'node-a');
  const older = new pg.Client({ connectionString: url });
  const plain = new pg.Client({ connectionString: url });
  await older.connect();
  await plain.connect();
  t.teardown(async () => {
    await older.end();
    await plain.end();
  });
  await plain.query(`INSERT INTO events (at, message_id, type) VALUES (1, 'before', 'queued')`);
  // An older transaction writes its event (the lower id) and commits after a younger one has
  // committed its own: the newest committed id is the younger's, and a follower starting there
  // would never see the older's (it sorts before, in (transaction, id) order).
  await older.query('BEGIN');
  await older.query(`INSERT INTO events (at, message_id, type) VALUES (1, 'older', 'queued')`);
  await plain.query(`INSERT INTO events (at, message_id, type) VALUES (1, 'younger', 'queued')`);
  const start = await store.events.lastId();
  await older.query('COMMIT');
  const seen: string[] = [];
  const until = Date.now() + 15_000;
  let after = start;
  // Settling waits for every transaction on the server (other test files share it): bounded poll.
  while (!seen.includes('older') && Date.now() < until) {
    const batch = await store.events.settledAfter(after, 10);
    for (const e of batch) seen.push(e.messageId);
    if (batch.length) after = batch.at(-1)!.id;
    else await new Promise((r) => setTimeout(r, 5));
  }
  t.ok(seen.includes('older'), `the older transaction's event is delivered to a follower that started while it ran (seen ${seen.join(', ')})`);
  t.notOk(seen.includes('before'), 'what had settled before the start is not');
});
