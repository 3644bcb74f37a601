// tap's `after` script (.taprc): stops the run's shared PostgreSQL server (test/helpers/postgres.ts).
import { stopSharedPg } from './pg-server.js';

try {
  await stopSharedPg(process.ppid);
} catch (err) {
  process.stderr.write(`# shared PostgreSQL server not stopped cleanly: ${(err as Error).message.split('\n')[0]}\n`);
}
