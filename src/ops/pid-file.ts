import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where a running relay keeps its process id: dataDir/ferry.pid. */
export function pidFilePath(dataDir: string): string {
  return join(dataDir, 'ferry.pid');
}

/** The process id in the file; null: no file, or not a pid. */
export function readPidFile(file: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Written atomically (temp file, rename) so a reader never sees half a number. */
export function writePidFile(file: string, pid: number): void {
  const tmp = `${file}.${pid}.tmp`;
  writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
  renameSync(tmp, file);
}

/** Removes the file only if it still names `pid` (a newer relay may have replaced it). */
export function removePidFile(file: string, pid: number): void {
  if (readPidFile(file) !== pid) return;
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/** Signal 0: does a process with this id exist (EPERM: it does, owned by someone else)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
