import t from 'tap';
import type { Db } from '../../src/store/db.js';
import { checkIntegrity } from '../../src/store/integrity.js';

const fakeDb = (rows: string[]) => ({ pragma: () => rows.map((r) => ({ integrity_check: r })) }) as unknown as Db;

t.test('a problem row of several lines becomes one problem per line, without SQLite\'s heading', async (t) => {
  const r = checkIntegrity(fakeDb(['*** in database main ***\nTree 44 page 411: btreeInitPage() returns error code 11\nTree 44 page 409 cell 24: Rowid 1 out of order', 'Tree 9 page 3: never used']), 'integrity_check');
  t.equal(r.ok, false);
  t.same(r.problems, ['Tree 44 page 411: btreeInitPage() returns error code 11', 'Tree 44 page 409 cell 24: Rowid 1 out of order', 'Tree 9 page 3: never used']);
  t.notOk(r.problems.some((p) => p.includes('\n')), 'no line breaks left');
});

t.test('ok is ok; a report that is only a heading is still a failure', async (t) => {
  t.same(checkIntegrity(fakeDb(['ok']), 'quick_check'), { ok: true, problems: [], check: 'quick_check' });
  const r = checkIntegrity(fakeDb(['*** in database main ***']), 'integrity_check');
  t.equal(r.ok, false);
  t.same(r.problems, ['*** in database main ***']);
});
