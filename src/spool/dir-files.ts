import { readdirSync, statSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** The files of one body directory (spool or staging), for recovery and retention sweeps. */
export function listFiles(dir: string): { file: string; size: number; mtimeMs: number }[] {
  const out: { file: string; size: number; mtimeMs: number }[] = [];
  for (const name of readdirSync(dir)) {
    try {
      const st = statSync(join(dir, name));
      if (st.isFile()) out.push({ file: name, size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      // removed between readdir and stat: nothing to list
    }
  }
  return out;
}

/** Removes a body file; one already gone is what the caller wanted. */
export async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
