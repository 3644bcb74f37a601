import type { Test } from 'tap';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Store } from '../../../src/core/store.js';
import { openDatabase } from '../../../src/store/db.js';
import { createInProcessSqliteStore } from '../../../src/store/sqlite/engine.js';
import { openThreadedSqliteStore } from '../../../src/store/sqlite/threaded.js';
import { tempDir } from '../../helpers/relay.js';

/** One engine under test: opens a fresh, empty store, closed in teardown. */
export interface EngineFactory {
  name: string;
  open(t: Test): Promise<Store>;
}

const root = fileURLToPath(new URL('../../../', import.meta.url));

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

/**
 * Every engine the contract suite runs against. Adding an engine (PostgreSQL) is one entry here.
 */
export const ENGINES: EngineFactory[] = [
  {
    name: 'sqlite in-process',
    async open(t) {
      const store = createInProcessSqliteStore(openDatabase({ file: join(tempDir(t), 'ferry.db') }));
      t.teardown(() => store.close());
      return store;
    },
  },
  {
    name: 'sqlite threaded',
    async open(t) {
      const writerEntry = freshWriterEntry();
      const store = await openThreadedSqliteStore({ file: join(tempDir(t), 'ferry.db'), ...(writerEntry ? { writerEntry } : {}) });
      t.teardown(() => store.close());
      return store;
    },
  },
];
