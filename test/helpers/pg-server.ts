import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, chownSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.js';

const run = promisify(execFile);

/**
 * Throwaway PostgreSQL servers for the tests.
 *
 * Under the tap runner one server serves the whole run: `.taprc`'s `before` script
 * (test/helpers/pg-before.ts) starts it and records it in a file named after the runner's PID
 * (every test file and the before/after scripts are children of that one `tap` process), and
 * the `after` script (test/helpers/pg-after.ts) stops it. Each test file gets fresh databases on
 * it (`testPg()`), dropped in the file's root teardown; advisory locks, LISTEN/NOTIFY and
 * pg_stat_activity filters are per database, so two files running at once cannot disturb each
 * other. A file run without the runner's server (plain `node`, or the server failed to start)
 * starts a private server as before, stopped in its teardown. Tests that stop or kill a server
 * start their own with `startPgServer()`.
 *
 * A server listens on 127.0.0.1 on a free port, with its unix socket in its own temporary
 * directory, owned by the `postgres` OS user (initdb refuses to run as root). Its data directory
 * is a copy of one initdb output cached per machine (initdb costs seconds on a loaded machine, a
 * copy a fraction of that); stop is pg_ctl stop by data directory, then SIGKILL of the postmaster.
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


/** Runs a PostgreSQL binary as the postgres OS user when we are root (initdb refuses root). */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  if (process.getuid?.() === 0) return ['runuser', ['-u', 'postgres', '--', bin, ...args]];
  return [bin, args];
}

let dbSeq = 0;

/**
 * A fresh cluster in `data`: a copy of a cached initdb output for this binary directory, made on
 * first use (written under a private name, then renamed into place, so concurrent first uses
 * cannot see a half-written one).
 */
async function initCluster(binDir: string, data: string): Promise<void> {
  const owner = process.getuid?.() ?? 0;
  const cache = join(tmpdir(), `ferry-pg-initdb-${binDir.replace(/[^a-zA-Z0-9]+/g, '_')}-${owner}`);
  if (!existsSync(join(cache, 'global', 'pg_control'))) {
    const scratch = mkdtempSync(`${cache}-tmp-`);
    if (owner === 0) chownSync(scratch, ...postgresIds());
    const fresh = join(scratch, 'data');
    // --no-sync: a test cluster's files need not survive a power cut; commits still wait for the
    // WAL write (synchronous_commit on), only the fsync itself is skipped unless opts.fsync.
    await run(...asPostgres(join(binDir, 'initdb'), ['-D', fresh, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']));
    try {
      renameSync(fresh, cache);
    } catch {
      // Another process cached one first: theirs is as good.
    }
    rmSync(scratch, { recursive: true, force: true });
  }
  // -a keeps the postgres owner and the 0700 mode the server insists on.
  await run('cp', ['-a', cache, data]);
}

let pgIds: [number, number] | undefined;
function postgresIds(): [number, number] {
  pgIds ??= [Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim())];
  return pgIds;
}

/** `detached`: the server outlives this process (no stop on exit); someone must stop() it by record. */
export async function startPgServer(opts: { fsync?: boolean; detached?: boolean } = {}): Promise<PgServer> {
  const binDir = findPgBin();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pg-'));
  if (process.getuid?.() === 0) chownSync(dir, ...postgresIds());
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  await initCluster(binDir, data);
  let port = 0;
  let started = false;
  for (let tries = 0; tries < 5 && !started; tries++) {
    port = await freePort();
    const serverOpts = [
      `-p ${port}`,
      "-h 127.0.0.1",
      `-k ${dir}`,
      `-c fsync=${opts.fsync ? 'on' : 'off'}`,
      // Two test files at once share the run's server, each with a few pools.
      '-c max_connections=200',
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
  // If the test process dies without its teardown, do not leave a server behind (unless the
  // server is meant to outlive this process: the run's shared one, stopped by the after script).
  const onExit = () => {
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      /* already gone */
    }
  };
  if (!opts.detached) process.once('exit', onExit);
  let stopped = false;
  return {
    baseUrl,
    port,
    dir,
    pid,
    createDatabase: (name) => createDatabase(baseUrl, name),
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      await stopServer(binDir, dir, pid);
    },
  };
}

/** pg_ctl stop by data directory, then SIGKILL of the postmaster if that fails; removes the directory. */
async function stopServer(binDir: string, dir: string, pid: number): Promise<void> {
  try {
    await run(...asPostgres(join(binDir, 'pg_ctl'), ['stop', '-D', join(dir, 'data'), '-m', 'fast', '-w', '-t', '20']));
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Where the run's shared server is recorded: one file per tap runner process (`key`). */
export function sharedPgFile(key: number | string = process.ppid): string {
  return join(tmpdir(), `ferry-pg-shared-${key}.json`);
}

interface SharedRecord {
  baseUrl: string;
  port: number;
  dir: string;
  pid: number;
}

/** Starts the run's shared server and records it under `key` (the before script's job). */
export async function startSharedPg(key: number | string): Promise<SharedRecord> {
  const s = await startPgServer({ detached: true });
  const rec: SharedRecord = { baseUrl: s.baseUrl, port: s.port, dir: s.dir, pid: s.pid };
  writeFileSync(sharedPgFile(key), JSON.stringify(rec));
  return rec;
}

/** Stops the shared server recorded under `key` and removes the record (the after script's job). */
export async function stopSharedPg(key: number | string): Promise<boolean> {
  const file = sharedPgFile(key);
  if (!existsSync(file)) return false;
  const rec = JSON.parse(readFileSync(file, 'utf8')) as SharedRecord;
  await stopServer(findPgBin(), rec.dir, rec.pid);
  rmSync(file, { force: true });
  return true;
}

/**
 * Stops shared servers whose tap runner is gone (a run killed before its after script), so
 * that they do not pile up across runs.
 */
export async function reapSharedPg(): Promise<number> {
  let reaped = 0;
  for (const name of readdirSync(tmpdir())) {
    const m = /^ferry-pg-shared-(\d+)\.json$/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // its runner still runs
    } catch {
      /* runner gone */
    }
    if (await stopSharedPg(m[1]!).catch(() => false)) reaped++;
  }
  return reaped;
}

/** The run's shared server, when this process runs under a tap runner that started one. */
export function sharedServer(): PgServer | undefined {
  const file = sharedPgFile();
  if (!existsSync(file)) return undefined;
  const rec = JSON.parse(readFileSync(file, 'utf8')) as SharedRecord;
  try {
    process.kill(rec.pid, 0);
  } catch {
    return undefined;
  }
  return {
    ...rec,
    createDatabase: (name) => createDatabase(rec.baseUrl, name),
    async stop() {
      // The run's server belongs to the after script; a file's teardown drops its databases.
    },
  };
}

export async function adminQuery(baseUrl: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: `${baseUrl}postgres` });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function createDatabase(baseUrl: string, name?: string): Promise<string> {
  const db = name ?? `ferry_${process.pid}_${++dbSeq}`;
  await adminQuery(baseUrl, `CREATE DATABASE ${db}`);
  return `${baseUrl}${db}`;
}

