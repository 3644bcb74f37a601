import t from 'tap';
import { DEFAULT_TABLE_WIDTH, fitWidths, moreLine, parseSince, table, waitingUntil } from '../../src/admin/format.js';

const widest = (s: string) => Math.max(...s.split('\n').map((l) => l.length));

t.test('tables fit the width: short columns keep theirs, long ones wrap, long words are split not cut', async (t) => {
  const id = '0MWYWL59BBDDFE71C30A8';
  const reply = `451 4.7.1 ${'please slow down and try again later '.repeat(30)}`;
  const out = table(['id', 'status', 'reply'], [[id, 'deferred', reply]]);
  t.ok(widest(out) <= DEFAULT_TABLE_WIDTH, 'default 120');
  t.match(out, id, 'the short id column is whole');
  const narrow = table(['id', 'reply'], [[id, 'x'.repeat(300)]], 40);
  t.ok(widest(narrow) <= 40);
  t.equal((narrow.match(/x/g) ?? []).length, 300, 'a word longer than its column is split, nothing lost');
  t.equal(table(['a'], [['b']], 10), table(['a'], [['b']]), 'a table that fits is untouched');
  const huge = table(['reply'], [['y'.repeat(5000)]], 200);
  t.match(huge, /\(--json for the full text\)/, 'a very long cell is clipped and says where the rest is');
  t.equal(fitWidths(['a', 'b'], [['1', '2']], 80), null);
  t.same(fitWidths(['a', 'b'], [['1', 'z'.repeat(100)]], 40), [3, 34]);
});

t.test('small formats', async (t) => {
  const now = Date.UTC(2026, 11, 6, 12, 0, 0);
  t.equal(waitingUntil('rate limited', now + 180_000, now), 'rate limited until 12:03:00 UTC');
  t.equal(waitingUntil('rate limited', now + 86_400_000, now), 'rate limited until 2026-12-07T12:00:00Z');
  t.equal(moreLine(5, 'M1', 100), '5 more; use --limit or --before M1\n');
  t.equal(moreLine(101, 7, 100), '100+ more; use --limit or --before 7\n');
  t.equal(parseSince('1h', '--since', now), now - 3_600_000);
  t.equal(parseSince('2026-11-01', '--since', now), Date.UTC(2026, 10, 1));
  for (const bad of ['5', 'June 1', 'yesterday', '2026']) t.throws(() => parseSince(bad, '--since', now), { code: 'FERRY_ERR_USAGE' }, bad);
});
