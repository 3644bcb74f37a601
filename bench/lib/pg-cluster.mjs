// Shared by bench/cluster-limit.mjs, bench/cluster-suppression.mjs and bench/pg-vs-sqlite.mjs: a
// throwaway PostgreSQL 15 (fsync on, synchronous_commit on) in a temporary directory, and
// `bin/ferry start` nodes on it, real processes; a loopback SMTP sink for what they deliver.
// Everything started here is stopped at exit (by PID / pg_ctl).
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const freePort = () => new Promise((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });

/** Starts the server; returns { baseUrl, createDatabase(name) → url, work (a scratch directory) }. */
export async function startPg(label) {
  const debian = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => b - a).map((v) => `/usr/lib/postgresql/${v}/bin`) : [];
  const BIN = ['/usr/lib/postgresql/15/bin', ...debian, '/usr/local/bin', '/usr/bin'].find((d) => existsSync(join(d, 'initdb')));
  if (!BIN) throw new Error('PostgreSQL binaries not found (apt-get install postgresql)');
  const asPg = (bin, args) => (process.getuid() === 0 ? ['runuser', ['-u', 'postgres', '--', join(BIN, bin), ...args]] : [join(BIN, bin), args]);
  const run = (bin, args) => execFileSync(...asPg(bin, args), { stdio: 'pipe' });
  const port = await freePort();
  const pgDir = mkdtempSync(join(tmpdir(), `ferry-${label}-`));
  if (process.getuid() === 0) chownSync(pgDir, Number(execFileSync('id', ['-u', 'postgres'])), Number(execFileSync('id', ['-g', 'postgres'])));
  const data = join(pgDir, 'data');
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C']);
  run('pg_ctl', ['start', '-w', '-D', data, '-l', join(pgDir, 'log'), '-o', `-p ${port} -h 127.0.0.1 -k ${pgDir} -c fsync=on -c synchronous_commit=on`]);
  const work = mkdtempSync(join(tmpdir(), `ferry-${label}-nodes-`));
  process.on('exit', () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    try { run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']); } catch { /* already down */ }
    rmSync(pgDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  const baseUrl = `postgres://postgres@127.0.0.1:${port}`;
  return {
    baseUrl,
    work,
    /** CPU ms the server has used: the postmaster, the backends it reaped, and those alive. */
    cpuMs() {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      let ms = cpuMs(pid, true);
      for (const d of readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        try {
          if (Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === pid) ms += cpuMs(Number(d)) ?? 0;
        } catch {
          // gone meanwhile
        }
      }
      return ms;
    },
    async createDatabase(name) {
      const admin = new pg.Client({ connectionString: `${baseUrl}/postgres` });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      return `${baseUrl}/${name}`;
    },
  };
}

const children = [];

/** The environment of a node or an admin command on the store at `url`. */
export function nodeEnv(url, dataDir, config = join(dataDir, 'ferry.json')) {
  return { PATH: process.env.PATH, HOME: process.env.HOME, FERRY_DEFAULT_CONFIG: '', FERRY_STORE_URL: url, FERRY_DATA_DIR: dataDir, FERRY_CONFIG: config };
}

/** `bin/ferry <args>` on the store at `url` (an admin command), its stdout. */
export function ferryAdmin(work, url, args) {
  const dir = join(work, `admin-${process.hrtime.bigint()}`);
  mkdirSync(dir, { recursive: true });
  return execFileSync(process.execPath, [join(ROOT, 'bin/ferry'), ...args], { cwd: ROOT, env: nodeEnv(url, dir, ''), stdio: 'pipe' }).toString();
}

/**
 * A node: resolves with { name, child, port (SMTP), pid, exited } once its SMTP port greets.
 * `config`: top-level sections over the defaults (sink route, no DNS, no HTTP, no signing
 * threads, warnings only in the log).
 */
export async function startNode(work, url, name, config) {
  const dataDir = join(work, `${name}-${process.hrtime.bigint()}`);
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  writeFileSync(join(dataDir, 'ferry.json'), JSON.stringify({
    hostname: 'ferry.bench',
    log: { level: 'warn' },
    dmarc: { mode: 'off' },
    sign: { threads: 0 },
    smtp: { listen: `127.0.0.1:${port}` },
    http: { listen: null },
    dns: { servers: ['127.0.0.1:9'], timeoutMs: 300, tries: 1 },
    outboundTls: { mtaSts: { enabled: false } },
    delivery: { allowPrivateMx: true },
    store: { nodeName: name },
    ...config,
  }));
  const child = spawn(process.execPath, [join(ROOT, 'bin/ferry'), 'start'], { cwd: ROOT, env: nodeEnv(url, dataDir), stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  const exited = new Promise((r) => child.once('exit', r));
  let gone = false;
  void exited.then(() => (gone = true));
  const greets = () =>
    new Promise((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('220'));
      });
      s.once('error', () => resolve(false));
    });
  while (!(await greets())) {
    if (gone) throw new Error(`node ${name} exited while starting (${child.exitCode ?? child.signalCode})`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { name, child, pid: child.pid, port, exited };
}

/** CPU time (user + system, ms) a process has used so far, with its reaped children's if asked; from /proc (Linux, 100 ticks/s). */
export function cpuMs(pid, withChildren = false) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const ticks = Number(f[11]) + Number(f[12]) + (withChildren ? Number(f[13]) + Number(f[14]) : 0);
    return ticks * 10;
  } catch {
    return null;
  }
}

/** A loopback SMTP sink that takes every message (no STARTTLS, no AUTH); onMessage() runs as each one ends. Returns { sink, port }. */
export async function startSink(onMessage) {
  const sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, cb) {
      stream.resume();
      stream.on('end', () => {
        onMessage();
        cb();
      });
    },
  });
  const port = await new Promise((r) => sink.listen(0, '127.0.0.1', () => r(sink.server.address().port)));
  return { sink, port };
}
