import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { buildConfig, loadConfig, splitHostPort } from '../../src/config/load.js';
import { FerryError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/relay.js';

function configError(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FerryError) return err;
    throw err;
  }
  throw new Error('expected a FerryError');
}

t.test('defaults: the embedded quick start', async (t) => {
  const cwd = tempDir(t);
  const c = loadConfig({ env: {}, cwd });
  t.equal(c.smtp.listen, '127.0.0.1:2525');
  t.equal(c.dataDir, join(cwd, 'data'), 'dataDir resolved against cwd');
  t.equal(c.hostname, hostname(), 'hostname from the OS');
  t.equal(c.smtp.maxMessageSizeBytes, 25 * 1024 * 1024);
  t.same(c.smtp.relayNetworks, ['127.0.0.0/8', '::1/128']);
  t.equal(c.smtp.tlsListen, null);
  t.same(c.smtp.authFailures, { max: 5, maxPerNetwork: 20, maxPerUser: 20, windowMs: 60_000, lockoutMs: 300_000, maxConcurrentPerClient: 2 });
  t.same(c.smtp.insecureAuthNetworks, ['127.0.0.0/8', '::1/128'], 'AUTH in clear only from loopback');
  t.equal(c.smtp.greetingDelayMs, 0, 'relay-network clients are greeted at once');
  t.equal(c.smtp.threadNice, 0, 'the SMTP thread is not raised unless asked');
  t.same(c.smtp.untrusted, { reservedClients: 100, maxPerNetwork: 50, authTimeoutMs: 30_000, greetingDelayMs: 100 });
  t.equal(c.spool.inlineMaxBytes, 128 * 1024);
  t.equal(c.log.level, 'info');
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.smtp) && Object.isFrozen(c.smtp.relayNetworks), 'deeply frozen');
});

t.test('a YAML file and a JSON file', async (t) => {
  const cwd = tempDir(t);
  writeFileSync(
    join(cwd, 'ferry.yaml'),
    'hostname: relay.example.com\ndataDir: /srv/ferry\nsmtp:\n  listen: 0.0.0.0:587\n  maxRecipients: 50\n  relayNetworks: [10.0.0.0/8]\nlog:\n  level: warn\n',
  );
  const y = loadConfig({ file: 'ferry.yaml', env: {}, cwd });
  t.equal(y.hostname, 'relay.example.com');
  t.equal(y.dataDir, '/srv/ferry');
  t.equal(y.smtp.listen, '0.0.0.0:587');
  t.equal(y.smtp.maxRecipients, 50);
  t.same(y.smtp.relayNetworks, ['10.0.0.0/8']);
  t.equal(y.smtp.maxClients, 1000, 'unset keys keep their defaults');
  t.equal(y.log.level, 'warn');

  writeFileSync(join(cwd, 'ferry.json'), JSON.stringify({ smtp: { tlsListen: '127.0.0.1:465' }, routes: { 'Example.COM': 'smtp.example.net:25' } }));
  const j = loadConfig({ file: join(cwd, 'ferry.json'), env: {}, cwd: '/' });
  t.equal(j.smtp.tlsListen, '127.0.0.1:465');
  t.same(j.routes['example.com'], { host: 'smtp.example.net:25', auth: null, requireTls: false, implicitTls: false }, 'route shorthand expanded, domain lower-cased');

  writeFileSync(join(cwd, 'empty.yaml'), '# nothing but a comment\n');
  t.equal(loadConfig({ file: 'empty.yaml', env: {}, cwd }).smtp.listen, '127.0.0.1:2525', 'an empty file means defaults');
});

t.test('smtp.threadNice: -20 to 0, an integer; anything else names the key and the value', async (t) => {
  t.equal(buildConfig({ smtp: { threadNice: 0 } }, '/').smtp.threadNice, 0);
  t.equal(buildConfig({ smtp: { threadNice: -20 } }, '/').smtp.threadNice, -20);
  for (const bad of [5, -21, -2.5, 'high']) {
    const err = configError(() => buildConfig({ smtp: { threadNice: bad } }, '/'));
    t.equal(err.code, 'FERRY_ERR_CONFIG');
    t.match(err.message, /smtp\.threadNice/, `${String(bad)} names the key`);
  }
});

t.test('unknown keys are refused, naming the key', async (t) => {
  const top = configError(() => buildConfig({ smtpp: {} }, '/'));
  t.equal(top.code, 'FERRY_ERR_CONFIG');
  t.match(top.message, /unknown key "smtpp"/);
  t.equal(top.message.split('\n').length, 1, 'one line');

  const nested = configError(() => buildConfig({ smtp: { maxMessageSize: 10 } }, '/'));
  t.match(nested.message, /unknown key "smtp\.maxMessageSize"/);

  const deep = configError(() => buildConfig({ smtp: { tls: { cert: 'x' } } }, '/'));
  t.match(deep.message, /unknown key "smtp\.tls\.cert"/);

  const cwd = tempDir(t);
  writeFileSync(join(cwd, 'bad.yaml'), 'smtp:\n  lisen: 127.0.0.1:25\n');
  const fromFile = configError(() => loadConfig({ file: 'bad.yaml', env: {}, cwd }));
  t.match(fromFile.message, /^bad\.yaml: unknown key "smtp\.lisen"/, 'the file is named');
});

t.test('a wrong value names the key, the value and what is allowed', async (t) => {
  const port = configError(() => buildConfig({ smtp: { listen: 'localhost' } }, '/'));
  t.match(port.message, /smtp\.listen = "localhost": expected host:port/);

  const num = configError(() => buildConfig({ smtp: { maxRecipients: -3 } }, '/'));
  t.match(num.message, /smtp\.maxRecipients = -3: .*(>0|positive|greater)/i);

  const type = configError(() => buildConfig({ smtp: { maxRecipients: '100' } }, '/'));
  t.match(type.message, /smtp\.maxRecipients = "100": .*number/i);

  const level = configError(() => buildConfig({ log: { level: 'loud' } }, '/'));
  t.match(level.message, /log\.level = "loud": .*"info"/, 'lists the allowed values');

  const cidr = configError(() => buildConfig({ smtp: { relayNetworks: ['10.0.0.0/33'] } }, '/'));
  t.match(cidr.message, /smtp\.relayNetworks\.0 = "10\.0\.0\.0\/33": expected an IP address or CIDR range/);

  const big = configError(() => buildConfig({ smtp: { listen: '127.0.0.1:70000' } }, '/'));
  t.match(big.message, /smtp\.listen = "127\.0\.0\.1:70000": port must be 0-65535/);

  const two = configError(() => buildConfig({ smtp: { maxClients: 0 }, bogus: 1 }, '/'));
  t.equal(two.message.split('\n').length, 1, 'one line');
  t.match(two.message, /smtp\.maxClients = 0: .*; .*bogus/, 'every problem is reported, separated by "; "');

  const twice = configError(() => buildConfig({ smtp: { listen: 'nohostport' } }, '/'));
  t.equal(twice.message.match(/smtp\.listen/g)?.length, 1, 'a key that fails several checks is named once');
});

t.test('environment overrides: FERRY_DATA_DIR, FERRY_SMTP_LISTEN, FERRY_CONFIG', async (t) => {
  const cwd = tempDir(t);
  writeFileSync(join(cwd, 'env.yaml'), 'dataDir: /from/file\nsmtp:\n  listen: 127.0.0.1:2600\n  maxRecipients: 7\n');
  const c = loadConfig({ env: { FERRY_CONFIG: 'env.yaml' }, cwd });
  t.equal(c.smtp.maxRecipients, 7, 'FERRY_CONFIG names the file');
  t.equal(c.dataDir, '/from/file');

  const o = loadConfig({ env: { FERRY_CONFIG: 'env.yaml', FERRY_DATA_DIR: 'rel/data', FERRY_SMTP_LISTEN: '127.0.0.1:2700' }, cwd });
  t.equal(o.dataDir, join(cwd, 'rel/data'), 'FERRY_DATA_DIR wins over the file');
  t.equal(o.smtp.listen, '127.0.0.1:2700', 'FERRY_SMTP_LISTEN wins over the file');
  t.equal(o.smtp.maxRecipients, 7, 'the rest of the smtp section is kept');

  writeFileSync(join(cwd, 'other.yaml'), 'smtp:\n  maxRecipients: 9\n');
  t.equal(loadConfig({ file: 'other.yaml', env: { FERRY_CONFIG: 'env.yaml' }, cwd }).smtp.maxRecipients, 9, '--config wins over FERRY_CONFIG');

  const bad = configError(() => loadConfig({ env: { FERRY_SMTP_LISTEN: 'nonsense' }, cwd }));
  t.match(bad.message, /smtp\.listen = "nonsense"/, 'a bad override is reported like a bad file value');
});

t.test('FERRY_DNS_SERVERS: comma-separated host:port for dns.servers, the rest of the section kept', async (t) => {
  const cwd = tempDir(t);
  writeFileSync(join(cwd, 'dns.yaml'), 'dns:\n  servers: ["127.0.0.9:53"]\n  timeoutMs: 700\n');
  const fromFile = loadConfig({ env: { FERRY_CONFIG: 'dns.yaml' }, cwd });
  t.same(fromFile.dns.servers, ['127.0.0.9:53']);
  const o = loadConfig({ env: { FERRY_CONFIG: 'dns.yaml', FERRY_DNS_SERVERS: ' 127.0.0.53:53, 127.0.0.54:5353 ,' }, cwd });
  t.same(o.dns.servers, ['127.0.0.53:53', '127.0.0.54:5353'], 'the variable wins over the file');
  t.equal(o.dns.timeoutMs, 700);
  t.same(loadConfig({ env: { FERRY_CONFIG: 'dns.yaml', FERRY_DNS_SERVERS: '' }, cwd }).dns.servers, ['127.0.0.9:53'], 'empty: the file decides');
  const bad = configError(() => loadConfig({ env: { FERRY_DNS_SERVERS: 'not a server' }, cwd }));
  t.match(bad.message, /dns\.servers/, 'a bad value names the key');
});

t.test('an unreadable file and invalid YAML give one clear line', async (t) => {
  const cwd = tempDir(t);
  const missing = configError(() => loadConfig({ file: 'nope.yaml', env: {}, cwd }));
  t.equal(missing.code, 'FERRY_ERR_CONFIG_FILE');
  t.equal(missing.message, 'config file nope.yaml: cannot read it: no such file');

  writeFileSync(join(cwd, 'broken.yaml'), 'smtp:\n  listen: [unclosed\n  other: : :\n');
  const broken = configError(() => loadConfig({ file: 'broken.yaml', env: {}, cwd }));
  t.equal(broken.code, 'FERRY_ERR_CONFIG_FILE');
  t.match(broken.message, /^config file broken\.yaml: not valid YAML\/JSON: /);
  t.equal(broken.message.split('\n').length, 1, 'one line');

  writeFileSync(join(cwd, 'list.yaml'), '- a\n- b\n');
  t.match(configError(() => loadConfig({ file: 'list.yaml', env: {}, cwd })).message, /expected a mapping of keys at the top level/);

  if (process.getuid?.() !== 0) {
    writeFileSync(join(cwd, 'secret.yaml'), 'hostname: x\n');
    chmodSync(join(cwd, 'secret.yaml'), 0o000);
    t.equal(configError(() => loadConfig({ file: 'secret.yaml', env: {}, cwd })).message, 'config file secret.yaml: EACCES');
  }
});

t.test('splitHostPort', async (t) => {
  t.same(splitHostPort('127.0.0.1:25'), { host: '127.0.0.1', port: 25 });
  t.same(splitHostPort('[::1]:2525'), { host: '::1', port: 2525 });
});
