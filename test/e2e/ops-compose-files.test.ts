import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { nodeNameOf } from '../../src/store/open.js';
import { REPO_ROOT } from '../helpers/cli.js';

/**
 * deploy/compose.yaml (PostgreSQL, two Ferry nodes, haproxy as the one submission address) is
 * checked without a Docker daemon: each node's configuration is what the image would read
 * (the Dockerfile's ENV and config file, the service's environment, its hostname) validated by
 * Ferry's own loader; the store URL names the compose database; haproxy's servers are exactly
 * the Ferry services at their SMTP port; the published port is haproxy's bind. (Running the same
 * topology on loopback: test/e2e/pg-cluster-submission.test.ts.)
 */

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  hostname?: string;
  environment?: Record<string, string>;
  command?: string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: unknown;
}

const DEPLOY = join(REPO_ROOT, 'deploy');
const compose = parse(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const PASSWORD = 's3cret-for-the-test';

/** Compose's variable interpolation for the forms the file uses: ${VAR}, ${VAR:?message}, ${VAR:-default}. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?:(:?[?-])([^}]*))?\}/g, (_, name: string, op: string | undefined, arg: string) => {
    if (env[name] !== undefined && env[name] !== '') return env[name];
    if (op?.endsWith('?')) throw new Error(`${name}: ${arg}`);
    return op?.endsWith('-') ? arg : '';
  });
}

/** The Dockerfile's runtime stage: its ENV, WORKDIR and COPY lines. */
function dockerfile() {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of runtime.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const pair of line.slice(4).trim().split(/\s+/)) {
      const i = pair.indexOf('=');
      env[pair.slice(0, i)] = pair.slice(i + 1);
    }
  }
  return { env, workdir: /^WORKDIR (\S+)/m.exec(runtime)?.[1], copies: runtime.split('\n').filter((l) => l.startsWith('COPY ')) };
}

const ferryServices = Object.entries(services).filter(([, s]) => s.build?.dockerfile === 'Dockerfile');

/** What a Ferry service's process would load: the image's ENV, the service's environment, the file the image carries. */
function nodeConfig(s: Service) {
  const image = dockerfile();
  const environment = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), { FERRY_DB_PASSWORD: PASSWORD })]));
  const env = { ...image.env, ...environment };
  // The image's /app is the repository's files (COPY config ./config under WORKDIR /app).
  const file = env['FERRY_CONFIG']!.replace(new RegExp(`^${image.workdir}/`), REPO_ROOT);
  return loadConfig({ env: { ...env, FERRY_CONFIG: file, FERRY_DEFAULT_CONFIG: '' }, cwd: REPO_ROOT });
}

t.test('the services: PostgreSQL, two Ferry nodes built from this repository, one submission proxy', async (t) => {
  t.same(Object.keys(services).sort(), ['ferry-a', 'ferry-b', 'postgres', 'submission']);
  t.same(ferryServices.map(([n]) => n).sort(), ['ferry-a', 'ferry-b']);
  for (const [name, s] of ferryServices) {
    t.ok(existsSync(join(DEPLOY, s.build!.context, s.build!.dockerfile)), `${name}: the build context (${s.build!.context}) holds the Dockerfile`);
    t.same(s.depends_on, { postgres: { condition: 'service_healthy' } }, `${name}: starts once PostgreSQL answers`);
  }
  t.ok(services['postgres']!.healthcheck, 'PostgreSQL has the health check the nodes wait for');
  const image = dockerfile();
  t.equal(image.workdir, '/app');
  t.ok(image.copies.includes('COPY config ./config'), 'the image carries config/ (the file FERRY_CONFIG names)');
  t.throws(() => interpolate(services['postgres']!.environment!['POSTGRES_PASSWORD']!, {}), /set FERRY_DB_PASSWORD/, 'no password, no start: it comes from the environment of `docker compose`');
});

t.test("each node's configuration, as its container would load it, is valid and names the compose database", async (t) => {
  const pgEnv = services['postgres']!.environment!;
  const names = new Set<string>();
  const dataVolumes = new Set<string>();
  for (const [name, s] of ferryServices) {
    const config = nodeConfig(s);
    t.ok(config.store.url, `${name}: on the PostgreSQL store`);
    const url = new URL(config.store.url!);
    t.equal(url.hostname, 'postgres', `${name}: the database host is the postgres service`);
    t.equal(url.port, '5432');
    t.equal(decodeURIComponent(url.username), pgEnv['POSTGRES_USER']);
    t.equal(decodeURIComponent(url.password), interpolate(pgEnv['POSTGRES_PASSWORD']!, { FERRY_DB_PASSWORD: PASSWORD }), `${name}: the password is the one the database was created with`);
    t.equal(url.pathname.slice(1), pgEnv['POSTGRES_DB']);
    // In the container, the machine's hostname is the service's `hostname`.
    t.notOk(config.store.nodeName, `${name}: no store.nodeName in the file: the node is named by its hostname`);
    t.ok(s.hostname, `${name}: has a hostname`);
    names.add(config.store.nodeName ?? s.hostname!);
    t.equal(nodeNameOf({ ...config, store: { ...config.store, nodeName: s.hostname! } }), s.hostname);
    t.equal(config.smtp.listen, '0.0.0.0:2525', `${name}: SMTP on every interface of the container (haproxy connects over the compose network)`);
    t.equal(config.dataDir, '/data');
    const data = (s.volumes ?? []).find((v) => v.endsWith(':/data'));
    t.ok(data, `${name}: its data directory is a volume`);
    dataVolumes.add(data!.split(':')[0]!);
    t.ok(data!.split(':')[0]! in compose.volumes, `${name}: a named volume`);
  }
  t.equal(names.size, ferryServices.length, 'every node has its own name (a second live node with the same name is refused)');
  t.equal(dataVolumes.size, ferryServices.length, 'every node has its own data directory');

  // Connections: nodes × (poolSize + 3) plus admin commands fit under max_connections.
  const command = services['postgres']!.command!;
  const setting = (key: string) => command.find((c) => c.startsWith(`${key}=`))?.slice(key.length + 1);
  t.equal(setting('synchronous_commit'), 'on', 'PostgreSQL commits durably');
  t.equal(setting('fsync'), 'on');
  const pool = ferryServices.reduce((n, [, s]) => n + nodeConfig(s).store.poolSize + 3, 0);
  t.ok(Number(setting('max_connections')) >= pool + 10, `max_connections ${setting('max_connections')} ≥ ${pool} for the nodes + 10 for admin commands`);
});

t.test('haproxy: one submission address in front of exactly the Ferry nodes, at their SMTP port', async (t) => {
  const sub = services['submission']!;
  const mount = (sub.volumes ?? []).find((v) => v.includes('haproxy.cfg'))!;
  t.equal(mount, './haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro', "haproxy.cfg at the image's default path");
  const cfg = readFileSync(join(DEPLOY, mount.split(':')[0]!), 'utf8');
  const lines = cfg.split('\n').map((l) => l.trim());
  t.ok(lines.includes('mode tcp'), 'TCP mode: SMTP passes through untouched');
  const bind = lines.find((l) => l.startsWith('bind '))!;
  const bindPort = bind.slice(bind.lastIndexOf(':') + 1);
  t.same(sub.ports, [`${bindPort}:${bindPort}`], `the published port is the port haproxy binds (${bindPort})`);
  const servers = lines.filter((l) => l.startsWith('server ')).map((l) => l.split(/\s+/)[2]!);
  t.equal(servers.length, ferryServices.length, 'one server line per node');
  for (const [name, s] of ferryServices) {
    const port = nodeConfig(s).smtp.listen.split(':').pop();
    t.ok(servers.includes(`${name}:${port}`), `${name}:${port} is a server (the service name resolves on the compose network)`);
  }
  t.ok(lines.some((l) => l.startsWith('option smtpchk')), 'a node that stops answering EHLO leaves the rotation');
  const deps = sub.depends_on as string[];
  t.same([...deps].sort(), ferryServices.map(([n]) => n).sort(), 'starts after the nodes');
});
