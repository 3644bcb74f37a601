// tap's `before` script (.taprc): starts the run's shared PostgreSQL server (test/helpers/postgres.ts).
// It never fails the run: without a shared server each PostgreSQL test file starts its own, and
// fails loudly there if the binaries are missing.
import { reapSharedPg, startSharedPg } from './pg-server.js';

try {
  await reapSharedPg();
  await startSharedPg(process.ppid);
} catch (err) {
  process.stderr.write(`# shared PostgreSQL server not started (each test file starts its own): ${(err as Error).message.split('\n')[0]}\n`);
}
