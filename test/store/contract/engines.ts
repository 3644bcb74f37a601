import type { Test } from 'tap';
import { join } from 'node:path';
import type { Store } from '../../../src/core/store.js';
import { openDatabase } from '../../../src/store/db.js';
import { createInProcessSqliteStore } from '../../../src/store/sqlite/engine.js';
import { openThreadedSqliteStore } from '../../../src/store/sqlite/threaded.js';
import { tempDir } from '../../helpers/relay.js';
import { freshWriterEntry } from '../../helpers/writer-entry.js';
import { openTestStore, testPg } from '../../helpers/postgres.js';

export { freshWriterEntry };

/** One engine under test: opens a fresh, empty store, closed in teardown. */
export interface EngineFactory {
  name: string;
  open(t: Test): Promise<Store>;
}

/**
 * Every engine the contract suite runs against: SQLite in this thread, SQLite with its writer
 * thread, and PostgreSQL. Adding an engine is one entry here.
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
  {
    // A throwaway server for the test file (test/helpers/postgres.ts), a fresh database per store.
    name: 'postgres',
    async open(t) {
      const { url } = await testPg();
      return openTestStore(t, url, 'contract');
    },
  },
];
