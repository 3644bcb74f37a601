import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { buildConfig } from '../../src/config/load.js';
import { createFerry } from '../../src/main.js';
import { loadTlsMaterial } from '../../src/receive/tls-cert.js';
import { queuedId, tempDir } from '../helpers/relay.js';

t.test('with no certificate configured, one is generated on first start, kept, and reused', async (t) => {
  const dataDir = tempDir(t);
  const config = buildConfig(
    { dataDir, hostname: 'relay.ferry.test', smtp: { listen: '127.0.0.1:0' }, http: { listen: null }, log: { level: 'silent' }, dns: { servers: ['127.0.0.1:9'], timeoutMs: 300, tries: 1 } },
    dataDir,
  );
  const ferry = createFerry(config);
  const { smtp } = await ferry.start();
  t.teardown(() => ferry.stop());
  const certPath = join(dataDir, 'tls', 'selfsigned.crt');
  const keyPath = join(dataDir, 'tls', 'selfsigned.key');
  const cert = new X509Certificate(readFileSync(certPath));
  t.match(cert.subject, /CN=relay\.ferry\.test/, 'named after the hostname');
  t.equal(statSync(keyPath).mode & 0o777, 0o600, 'the key is private');

  // STARTTLS works with it: a client that trusts only this certificate, verifying the name.
  const port = Number(smtp.slice(smtp.lastIndexOf(':') + 1));
  const tr = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    requireTLS: true,
    tls: { ca: readFileSync(certPath), servername: 'relay.ferry.test', rejectUnauthorized: true },
  });
  const info = await tr.sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'x' });
  tr.close();
  t.ok(queuedId(info.response), 'accepted over TLS verified against the kept certificate');

  const again = loadTlsMaterial({ certFile: null, keyFile: null, dataDir, hostname: 'relay.ferry.test' });
  t.equal(again.selfSigned, true);
  t.ok(again.cert.equals(readFileSync(certPath)), 'a restart reuses the kept certificate');
});

t.test('certFile without keyFile is a configuration error', async (t) => {
  t.throws(() => loadTlsMaterial({ certFile: '/x.crt', keyFile: null, dataDir: '/tmp', hostname: 'h' }), { code: 'FERRY_ERR_CONFIG', message: /certFile and keyFile must be set together/ });
  t.throws(() => loadTlsMaterial({ certFile: '/nope.crt', keyFile: '/nope.key', dataDir: '/tmp', hostname: 'h' }), { code: 'FERRY_ERR_CONFIG', message: /cannot read \/nope\.crt: ENOENT/ });
});
