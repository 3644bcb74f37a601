import tap from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, chownSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/**
 * A throwaway PostgreSQL server for one test file.
 *
 * One server per test file, not one shared server: tap runs two files at once, and a shared
 * server would need a lock, a reference count and someone to stop it last, while a crashed file
 * would leave it running. A private server costs ~1 s of initdb and start, stops in teardown
 * (pg_ctl stop by its data directory, then SIGKILL of the postmaster PID if that fails) and
 * cannot be disturbed by the other file. The server listens on 127.0.0.1 on a free port, with
 * its unix socket in its own temporary directory, owned by the `postgres` OS user (initdb
 * refuses to run as root).
 *
 * Missing binaries fail the test loudly (never a silent skip): `.ci/run` installs the Debian
 * `postgresql` package where they are missing.
 */
/** Where initdb/pg_ctl are looked for: FERRY_PG_BIN, Debian's versioned directories (newest first), then PATH-like places. */
export const PG_BIN_DIRS = [
  process.env.FERRY_PG_BIN,
  '/usr/lib/postgresql/15/bin',
  ...debianVersions(),
  '/usr/local/bin',
  '/usr/bin',
].filter((d): d is string => !!d);

function debianVersions(): string[] {
  try {
    return readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => `/usr/lib/postgresql/${v}/bin`);
  } catch {
    return [];
  }
}

export function findPgBin(): string {
  for (const dir of PG_BIN_DIRS) {
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error(
    `PostgreSQL server binaries (initdb, pg_ctl) not found in ${PG_BIN_DIRS.join(', ')}: install the Debian package "postgresql" (.ci/run does) or set FERRY_PG_BIN`,
  );
}

export interface PgServer {
  /** postgres://postgres@127.0.0.1:PORT/ (no database): append a database name. */
  baseUrl: string;
  port: number;
  dir: string;
  pid: number;
  /** Creates a new empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL binary as the postgres OS user when we are root (initdb refuses root). */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  if (process.getuid?.() === 0) return ['runuser', ['-u', 'postgres', '--', bin, ...args]];
  return [bin, args];
}

let dbSeq = 0;

export async function startPgServer(opts: { fsync?: boolean } = {}): Promise<PgServer> {
  const binDir = findPgBin();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  // --no-sync: a test cluster's files need not survive a power cut; commits still wait for the
  // WAL write (synchronous_commit on), only the fsync itself is skipped unless opts.fsync.
  await run(...asPostgres(join(binDir, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']));
  let port = 0;
  let started = false;
  for (let tries = 0; tries < 5 && !started; tries++) {
    port = await freePort();
    const serverOpts = [
      `-p ${port}`,
      "-h 127.0.0.1",
      `-k ${dir}`,
      `-c fsync=${opts.fsync ? 'on' : 'off'}`,
      '-c max_connections=100',
      '-c shared_buffers=32MB',
    ].join(' ');
    try {
      await run(...asPostgres(join(binDir, 'pg_ctl'), ['start', '-w', '-t', '30', '-D', data, '-l', log, '-o', serverOpts]));
      started = true;
    } catch (err) {
      // Another process took the port between our probe and the server's bind: try another.
      const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
      if (!/could not bind|Address already in use/.test(text) || tries === 4) {
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${text}`);
      }
      writeFileSync(log, '');
    }
  }
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const baseUrl = `postgres://postgres@127.0.0.1:${port}/`;
  // If the test process dies without its teardown, do not leave a server behind.
  const onExit = () => {
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      /* already gone */
    }
  };
  process.once('exit', onExit);
  let stopped = false;
  return {
    baseUrl,
    port,
    dir,
    pid,
    async createDatabase(name) {
      const db = name ?? `ferry_${process.pid}_${++dbSeq}`;
      const c = new pg.Client({ connectionString: `${baseUrl}postgres` });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${db}`);
      } finally {
        await c.end();
      }
      return `${baseUrl}${db}`;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      try {
        await run(...asPostgres(join(binDir, 'pg_ctl'), ['stop', '-D', data, '-m', 'fast', '-w', '-t', '20']));
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The test file's server (started once per file, stopped in the file's root teardown) and a
 * fresh database on it for each caller.
 */
let fileServer: Promise<PgServer> | undefined;
export async function testPg(): Promise<{ url: string; server: PgServer }> {
  if (!fileServer) {
    fileServer = startPgServer();
    tap.teardown(async () => {
      const s = await fileServer;
      fileServer = undefined;
      await s?.stop();
    });
  }
  const server = await fileServer;
  const url = await server.createDatabase();
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
