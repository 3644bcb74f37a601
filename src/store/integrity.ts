import type BetterSqlite3 from 'better-sqlite3';
import { FerryError, errorMessage } from '../core/errors.js';

type Db = BetterSqlite3.Database;

/**
 * Above this size `ferry start` does not run PRAGMA quick_check: it reads every page (on the
 * event loop, before any port is bound), about a second per few hundred MB on an ordinary disk.
 * A bigger database still gets its header and schema read at start (a corrupt header fails
 * there), and `ferry doctor --data` runs the full integrity_check on any size.
 */
export const QUICK_CHECK_MAX_BYTES = 256 * 1024 * 1024;

/** Where the README explains what to do about a corrupt database. */
export const RECOVERY_DOCS = 'README "Recovering from a corrupt database"';

const CORRUPT_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_VTAB', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_INDEX']);

/** Does this error (or one it wraps) say the database file is damaged? */
export function isCorruption(err: unknown): boolean {
  for (let e = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (code === 'FERRY_ERR_CORRUPT') return true;
    if (typeof code === 'string' && CORRUPT_CODES.has(code)) return true;
  }
  return false;
}

export function corruptionError(file: string, detail: string, cause?: unknown): FerryError {
  return new FerryError(
    'FERRY_ERR_CORRUPT',
    `the database ${file} is corrupt (${oneLine(detail)}): stop here, keep the file, and restore a backup or recover it: see ${RECOVERY_DOCS}`,
    { cause },
  );
}

export interface IntegrityReport {
  ok: boolean;
  /** What SQLite found, at most `maxProblems` lines. */
  problems: string[];
  /** The check that ran; 'header' when the file was too big for a quick check at start. */
  check: 'quick_check' | 'integrity_check' | 'header';
}

/**
 * Runs PRAGMA quick_check (every page and its b-tree structure, not index contents) or
 * integrity_check (also every index entry against its table). A check that cannot even read
 * the file (SQLITE_NOTADB, SQLITE_CORRUPT thrown) is a failed check, not an exception.
 */
export function checkIntegrity(db: Db, check: 'quick_check' | 'integrity_check', maxProblems = 10): IntegrityReport {
  try {
    const rows = db.pragma(`${check}(${maxProblems})`) as Record<string, string>[];
    // A row can hold several lines (the first starts "*** in database main ***" on a line of its
    // own): one problem per line, so that every report of them stays one line per check.
    const reported = rows.map((r) => String(Object.values(r)[0])).filter((p) => p !== 'ok');
    const lines = reported.flatMap((p) => p.split('\n')).map((p) => p.trim());
    const problems = lines.filter((p) => p !== '' && !(p.startsWith('*** in database ') && p.endsWith(' ***')));
    return { ok: reported.length === 0, problems: problems.length ? problems : lines, check };
  } catch (err) {
    if (!isCorruption(err)) throw err;
    return { ok: false, problems: [errorMessage(err)], check };
  }
}

/** The start-up check: quick_check up to QUICK_CHECK_MAX_BYTES, the header and schema above. Throws FERRY_ERR_CORRUPT. */
export function startupCheck(db: Db, file: string, sizeBytes: number, maxBytes = QUICK_CHECK_MAX_BYTES): IntegrityReport {
  let report: IntegrityReport;
  if (sizeBytes > maxBytes) {
    try {
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      report = { ok: true, problems: [], check: 'header' };
    } catch (err) {
      if (!isCorruption(err)) throw err;
      report = { ok: false, problems: [errorMessage(err)], check: 'header' };
    }
  } else {
    report = checkIntegrity(db, 'quick_check', 3);
  }
  if (!report.ok) throw corruptionError(file, `${report.check}: ${report.problems.join('; ')}`);
  return report;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}
