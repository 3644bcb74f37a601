import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

/**
 * Which build of better-sqlite3 this process loads. Two are installed:
 *
 * - `better-sqlite3` 12 (node::ObjectWrap) for Node 20: 13 segfaults there.
 * - `better-sqlite3-napi`, an npm alias of better-sqlite3 13 (Node-API, prebuilt binaries in the
 *   package), for Node 22 and later. Since Node 24.19, node::ObjectWrap registers an environment
 *   cleanup hook, and a 12.x Statement compiled against those headers aborts the process when
 *   the garbage collector finalizes it ("Assertion failed: (env) != nullptr", nodejs/node#65446);
 *   measured here: the test suite on Node 24.21 with 12.x built from source aborted in 9 files.
 *
 * The API Ferry uses is the same in both; the types are 12's.
 */
const require = createRequire(import.meta.url);
const nodeMajor = Number(process.versions.node.split('.')[0]);

export const sqliteDriver: 'better-sqlite3@12' | 'better-sqlite3@13' = nodeMajor >= 22 ? 'better-sqlite3@13' : 'better-sqlite3@12';

// Loaded by name, not imported: only the build for this Node version may ever be loaded.
const Database = (nodeMajor >= 22 ? require('better-sqlite3-napi') : require('better-sqlite3')) as typeof BetterSqlite3;

export default Database;
