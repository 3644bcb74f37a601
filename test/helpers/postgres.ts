import tap from 'tap';
import { adminQuery, sharedServer, startPgServer, type PgServer } from './pg-server.js';

// The servers themselves (private, and the run's shared one) live in pg-server.ts, which the
// tap runner's before/after scripts import without tap; see its header.
export * from './pg-server.js';

/**
 * The test file's server (the run's shared one, else a private one started once per file and
 * stopped in the file's root teardown) and a fresh database on it for each caller. Databases
 * made on the shared server are dropped in the file's root teardown.
 */
let fileServer: Promise<PgServer> | undefined;
let sharedDbs: string[] | undefined;
export async function testPg(): Promise<{ url: string; server: PgServer }> {
  if (!fileServer) {
    const shared = sharedServer();
    if (shared) {
      fileServer = Promise.resolve(shared);
      const dbs: string[] = (sharedDbs = []);
      tap.teardown(async () => {
        fileServer = undefined;
        sharedDbs = undefined;
        // FORCE: a pool a failed test left open must not keep the database (and the disk) alive.
        for (const db of dbs) await adminQuery(shared.baseUrl, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      });
    } else {
      fileServer = startPgServer();
      tap.teardown(async () => {
        const s = await fileServer;
        fileServer = undefined;
        await s?.stop();
      });
    }
  }
  const server = await fileServer;
  const url = await server.createDatabase();
  sharedDbs?.push(new URL(url).pathname.slice(1));
  return { url, server };
}

/** An engine instance (a "node") on the database at `url`, closed in teardown unless crashed or closed first. */
export async function openTestStore(
  t: { teardown(fn: () => unknown): void },
  url: string,
  nodeName: string,
  over: Partial<import('../../src/store/postgres/engine.js').PostgresStoreOptions> = {},
) {
  const { openPostgresStore } = await import('../../src/store/postgres/engine.js');
  const store = await openPostgresStore({ url, poolSize: 5, nodeName, version: 'test', heartbeatMs: 1000, now: Date.now, ...over });
  t.teardown(() => store.close());
  return store;
}
