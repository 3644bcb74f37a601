import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * How a running relay tells `ferry reload` what its last reload did: a small JSON file in the
 * data directory, replaced atomically after every reload. A file rather than the HTTP endpoint,
 * so the answer arrives without http.listen and even when the reload changed http.listen.
 */
export interface ReloadReport {
  pid: number;
  /** counts this process's reloads: a reader waits for a report newer than the one it saw */
  seq: number;
  at: string;
  ok: boolean;
  error: string | null;
  applied: string[];
  /** changed keys that keep the value the relay started with until it restarts */
  restartNeeded: string[];
}

export function reloadReportPath(dataDir: string): string {
  return join(dataDir, 'reload.json');
}

export function writeReloadReport(file: string, report: ReloadReport): void {
  const tmp = `${file}.${report.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(report)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** null: no report yet, or not one this version wrote. */
export function readReloadReport(file: string): ReloadReport | null {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as Partial<ReloadReport>;
    if (typeof r.pid !== 'number' || typeof r.seq !== 'number' || typeof r.ok !== 'boolean') return null;
    return { pid: r.pid, seq: r.seq, at: String(r.at), ok: r.ok, error: r.error ?? null, applied: r.applied ?? [], restartNeeded: r.restartNeeded ?? [] };
  } catch {
    return null;
  }
}

/** Whether `after` is a report made after `before` was read (by the relay with pid `pid`). */
export function isNewReport(after: ReloadReport | null, before: ReloadReport | null, pid: number): after is ReloadReport {
  if (!after || after.pid !== pid) return false;
  return !before || before.pid !== pid || after.seq > before.seq;
}
