import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * The writer thread compiled by `npm run build`, when it is newer than every source it is built
 * from: a thread started from the TypeScript sources compiles them again (seconds per thread).
 * Stale or missing: the sources (slow, never wrong).
 */
export function freshWriterEntry(): URL | undefined {
  const js = join(root, 'dist/store/sqlite/writer-thread.js');
  if (!existsSync(js)) return undefined;
  const built = statSync(js).mtimeMs;
  const sources = Math.max(newestSource(join(root, 'src/store')), newestSource(join(root, 'src/core')));
  return built >= sources ? pathToFileURL(js) : undefined;
}

