import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { ManualClock } from '../../src/core/clock.js';
import { FerryError } from '../../src/core/errors.js';
import { openDatabase } from '../../src/store/db.js';
import { csvHeader, csvLine, exportSuppressions, importSuppressions, parseExpires } from '../../src/suppress/csv.js';
import { createSuppressionsRepo } from '../../src/store/suppressions-repo.js';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import type { NewSuppression } from '../../src/core/store-types.js';
import { buildConfig } from '../../src/config/load.js';
import { growth, LINEAR_RATIO_BOUND } from '../helpers/linear-time.js';

/**
 * Property-based tests for the CSV import of suppressions (an admin imports files from other
 * systems) and for config loading: round trips, only typed errors, and linear time.
 */
function store(t: Parameters<Parameters<typeof t.test>[1]>[0]) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fuzz-csv-'));
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  const clock = new ManualClock(Date.UTC(2026, 0, 15, 12));
  const engine = createInProcessSqliteStore(db);
  // Imports write through the Store (as the CLI does); the assertions read the table directly.
  const list = {
    repo: createSuppressionsRepo(db),
    apply: (rows: NewSuppression[]) => engine.audited.importSuppressions(rows, null),
    entries: engine.suppressions,
  };
  t.teardown(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, clock, list };
}

const local = fc.stringMatching(/^[a-z0-9][a-z0-9._+-]{0,12}[a-z0-9]$/).filter((l) => !l.includes('..'));
const domain = fc.stringMatching(/^[a-z0-9]{1,10}\.[a-z]{2,5}$/);
const reason = fc.string({ maxLength: 40 }).map((s) => s.trim());
const row = fc.record({
  address: fc.oneof(fc.tuple(local, domain).map(([l, d]) => `${l}@${d}`), domain.map((d) => `@${d}`)),
  reason,
  category: fc.constantFrom('manual', 'user_unknown', 'complaint', 'mailbox_disabled'),
  expiresDays: fc.option(fc.integer({ min: 1, max: 900 }), { nil: null }),
  user: fc.option(fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/), { nil: null }),
});

async function exported(list: ReturnType<typeof store>['list']): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await exportSuppressions(list.entries, out, 'csv');
  out.end();
  return Buffer.concat(chunks).toString('utf8');
}

t.test('CSV round trip: written rows (commas, quotes, line breaks in reasons) import back as they were', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(row, { selector: (r) => `${r.address}|${r.user}`, maxLength: 20 }), async (rows) => {
      const { clock, list } = store(t);
      const now = clock.now();
      const lines = rows.map((r) =>
        csvLine({ address: r.address, reason: r.reason, category: r.category, expiresAt: r.expiresDays === null ? null : now + r.expiresDays * 86_400_000, scope: r.user } as never),
      );
      const res = await importSuppressions({ apply: list.apply, input: Readable.from([csvHeader() + lines.join('')]), clock });
      t.same(res, { imported: rows.length, skipped: 0 });
      for (const r of rows) {
        const got = list.repo.get(r.address, r.user);
        t.match(got, { category: r.category, reason: r.reason, expiresAt: r.expiresDays === null ? null : now + r.expiresDays * 86_400_000 });
      }
      // export → import into a second store gives the same export
      const first = await exported(list);
      const other = store(t);
      await importSuppressions({ apply: other.list.apply, input: Readable.from([first]), clock: other.clock });
      t.equal(await exported(other.list), first);
    }),
    { numRuns: 15 },
  );
});

t.test('any CSV input: imports or reports rows, and fails only with a typed error', async (t) => {
  const chunk = fc.oneof(fc.constantFrom('address', 'reason', 'category', 'expires', 'user', ',', '"', '""', '\n', '\r\n', '\r', '@', 'a@b.test', '30d', '2026-12-31', 'manual'), fc.string({ maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 6 }));
  await fc.assert(
    fc.asyncProperty(fc.array(chunk, { maxLength: 60 }), async (parts) => {
      const { clock, list } = store(t);
      const bad: number[] = [];
      try {
        const res = await importSuppressions({ apply: list.apply, input: Readable.from([Buffer.from(parts.join(''), 'latin1')]), clock, onBadRow: (line) => bad.push(line) });
        t.ok(list.repo.count() <= res.imported, 'no entry appears that was not imported (repeated addresses merge)');
        t.ok(res.skipped >= 0 && bad.length <= res.skipped + 1);
      } catch (err) {
        t.ok(err instanceof FerryError, `typed error: ${(err as Error).message}`);
        t.equal(list.repo.count(), 0, 'a refused file changes nothing');
      }
    }),
    { numRuns: 60 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (s) => {
      const v = parseExpires(s, 0);
      t.ok(v === null || v === undefined || Number.isFinite(v));
    }),
  );
});

t.test('CSV import time grows linearly with the rows (and with a hostile field)', async (t) => {
  const { clock, list } = store(t);
  const rows = (n: number) => csvHeader() + Array.from({ length: n }, (_, i) => `u${i}@example.com,"a, ""quoted"" reason",manual,30d,\n`).join('');
  let g = await growth(rows, (csv: never) => importSuppressions({ apply: list.apply, input: Readable.from([csv]), clock }), 250, 3);
  t.ok(g.ratio < LINEAR_RATIO_BOUND, `8x the rows cost ${g.ratio.toFixed(1)}x the time (${g.small.toFixed(1)} → ${g.large.toFixed(1)} ms)`);
  const field = (n: number) => `address,reason\nx@example.com,"${'"",'.repeat(n / 3)}"\n${'a'.repeat(n)}1 30d\n`;
  g = await growth(field, (csv: never) => importSuppressions({ apply: list.apply, input: Readable.from([csv]), clock, onBadRow: () => undefined }), 32 * 1024, 3);
  t.ok(g.ratio < LINEAR_RATIO_BOUND, `a hostile field 8x longer costs ${g.ratio.toFixed(1)}x the time (${g.small.toFixed(1)} → ${g.large.toFixed(1)} ms)`);
});

const json = fc.jsonValue({ maxDepth: 3 });
const knownKeys = fc.constantFrom('hostname', 'dataDir', 'smtp', 'routes', 'dmarc', 'verp', 'bounceListener', 'dns', 'log', 'http', 'delivery', 'limits', 'webhooks', 'store');

t.test('config: any value either validates to a frozen config or fails with FERRY_ERR_CONFIG', async (t) => {
  fc.assert(
    fc.property(fc.oneof(json, fc.dictionary(knownKeys, json, { maxKeys: 5 })), (raw) => {
      try {
        const config = buildConfig(raw, '/tmp');
        t.ok(Object.isFrozen(config) && Object.isFrozen(config.smtp), 'frozen');
        // validating what came out again gives the same config (idempotent)
        t.same(buildConfig(JSON.parse(JSON.stringify(config)), '/tmp'), config);
      } catch (err) {
        t.ok(err instanceof FerryError && err.code === 'FERRY_ERR_CONFIG', `typed error ${(err as { code?: string }).code}`);
        t.notOk((err as Error).message.includes('\n'), 'one line');
      }
    }),
    { numRuns: 300 },
  );
});

t.test('config: valid routes and limits round trip, and validation time grows linearly', async (t) => {
  fc.assert(
    fc.property(fc.dictionary(fc.stringMatching(/^[a-z]{1,10}\.[a-z]{2,4}$/), fc.tuple(fc.integer({ min: 2, max: 254 }), fc.integer({ min: 1, max: 65535 })), { maxKeys: 10 }), (routes) => {
      const raw = { routes: Object.fromEntries(Object.entries(routes).map(([d, [h, p]]) => [d, `127.0.0.${h}:${p}`])) };
      const config = buildConfig(raw, '/tmp');
      for (const [d, [h, p]] of Object.entries(routes)) t.equal(config.routes[d]!.host, `127.0.0.${h}:${p}`);
    }),
    { numRuns: 200 },
  );
  const big = (n: number) => ({ routes: Object.fromEntries(Array.from({ length: n }, (_, i) => [`d${i}.example.com`, `127.0.0.2:${(i % 60000) + 1}`])) });
  const g = await growth(big, (raw: never) => buildConfig(raw, '/tmp'), 500, 3);
  t.ok(g.ratio < LINEAR_RATIO_BOUND, `8x the routes cost ${g.ratio.toFixed(1)}x the time (${g.small.toFixed(1)} → ${g.large.toFixed(1)} ms)`);
});
