import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_DIR_MODE, DATA_FILE_MODE } from '../core/data-dir.js';
import { dataDirLockState } from '../ops/data-dir-lock.js';
import { checkIntegrity, corruptionError } from '../store/integrity.js';
import { FerryError } from '../core/errors.js';
import type { CliContext } from './context.js';

interface DataCheck {
  check: string;
  status: 'pass' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

/**
 * `ferry doctor --data`: the full PRAGMA integrity_check (every page, every index entry against
 * its table: as long as the database is big, unlike the quick_check at start), the foreign
 * keys, the file modes and who holds the data directory. Exits 4 when the database is corrupt,
 * 1 when another check fails.
 */
export function runDataDoctor(ctx: CliContext, asJson: boolean): void {
  const dataDir = ctx.config().dataDir;
  const file = join(dataDir, 'ferry.db');
  const db = ctx.db('ferry doctor --data');
  const checks: DataCheck[] = [];

  const integrity = checkIntegrity(db, 'integrity_check', 20);
  checks.push(
    integrity.ok
      ? { check: 'integrity', status: 'pass', detail: `PRAGMA integrity_check: ok (${statSync(file).size} bytes)` }
      : { check: 'integrity', status: 'fail', detail: `PRAGMA integrity_check: ${integrity.problems.join('; ')}`, fix: 'restore a backup or recover the database: README "Recovering from a corrupt database"' },
  );
  if (integrity.ok) {
    const orphans = (db.pragma('foreign_key_check') as unknown[]).length;
    checks.push(orphans === 0 ? { check: 'foreign keys', status: 'pass', detail: 'PRAGMA foreign_key_check: ok' } : { check: 'foreign keys', status: 'fail', detail: `${orphans} rows point at rows that do not exist` });
  }
  const mode = (path: string, want: number, what: string) => {
    let got: number;
    try {
      got = statSync(path).mode & 0o777;
    } catch {
      return; // an absent -wal/-shm is fine
    }
    checks.push(
      got === want
        ? { check: 'mode', status: 'pass', detail: `${path} ${octal(got)}` }
        : { check: 'mode', status: 'warn', detail: `${path} is ${octal(got)}, expected ${octal(want)} (${what})`, fix: `chmod ${octal(want)} ${path} (ferry start does it)` },
    );
  };
  mode(dataDir, DATA_DIR_MODE, 'only the relay user may enter it');
  for (const f of [file, `${file}-wal`, `${file}-shm`]) mode(f, DATA_FILE_MODE, 'password hashes and message bodies');
  const lock = dataDirLockState(dataDir);
  checks.push({ check: 'lock', status: lock === 'unknown' ? 'warn' : 'pass', detail: lock === 'held' ? 'a relay holds the data directory' : lock === 'free' ? 'no relay runs on this data directory' : 'cannot read the lock file as this user' });

  if (asJson) ctx.io.stdout.write(`${JSON.stringify({ dataDir, ok: checks.every((c) => c.status !== 'fail'), checks }, null, 2)}\n`);
  else for (const c of checks) ctx.io.stdout.write(`${c.status.toUpperCase().padEnd(5)} ${c.check.padEnd(12)} ${c.detail}${c.fix ? ` — fix: ${c.fix}` : ''}\n`);
  if (!integrity.ok) throw corruptionError(file, `integrity_check: ${integrity.problems[0] ?? ''}`);
  const failed = checks.filter((c) => c.status === 'fail').length;
  if (failed) throw new FerryError('FERRY_ERR_STORE', `doctor --data: ${failed} of ${checks.length} checks failed for ${dataDir}`);
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}
