import t from 'tap';
import { connect as tlsConnect } from 'node:tls';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import selfsigned from 'selfsigned';
import { buildConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { generateDkimKey, writePrivateKey } from '../../src/sign/keys.js';
import { rawSession } from '../helpers/raw-smtp.js';
import { tempDir } from '../helpers/relay.js';
import { isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

/** The DKIM selector in the message's signature (s=...). */
function selectorOf(raw: Buffer): string | null {
  const header = /^DKIM-Signature:[\s\S]*?(?=\r\n\S)/m.exec(raw.toString('latin1'))?.[0] ?? '';
  return /\bs=([^;\s]+)/.exec(header.replace(/\r\n\s+/g, ' '))?.[1] ?? null;
}

function makeCert(dir: string, name: string): { certFile: string; keyFile: string } {
  const pems = selfsigned.generate([{ name: 'commonName', value: name }], { days: 2, keySize: 2048, algorithm: 'sha256' });
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(certFile, pems.cert);
  writeFileSync(keyFile, pems.private);
  return { certFile, keyFile };
}

/** The common name of the certificate a new STARTTLS session is offered. */
async function startTlsName(port: number): Promise<string> {
  const c = await rawSession(port);
  try {
    const r = await c.command('STARTTLS');
    if (!r.startsWith('220')) throw new Error(`STARTTLS: ${r}`);
    const secure = tlsConnect({ socket: c.socket, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    const cn = secure.getPeerCertificate().subject.CN;
    secure.destroy();
    return String(Array.isArray(cn) ? cn[0] : cn);
  } finally {
    c.close();
  }
}

t.test('reload swaps a DKIM key, a retry limit and the TLS certificate on a running relay; a broken config keeps the old one', async (t) => {
  const keysDir = tempDir(t, 'ferry-reload-keys-');
  for (const sel of ['one', 'two']) writePrivateKey(keysDir, 'ferry.test', sel, generateDkimKey('rsa', 1024).privateKeyPem);
  const keyFile = (sel: string) => join(keysDir, 'dkim', 'ferry.test', `${sel}.pem`);
  const certA = makeCert(keysDir, 'first.test');
  const certB = makeCert(keysDir, 'second.test');

  const { mx, ferry, relay } = await setupDelivery(t, {
    mx: { tls: false, script: { rcpt: (a) => (a.startsWith('later') ? { code: 451, message: '4.2.0 Try again later' } : null) } },
    delivery: { retryScheduleMinutes: [60], retryJitter: 0 },
    config: {
      dkim: { keys: [{ domain: 'ferry.test', selector: 'one', keyFile: keyFile('one') }] },
      smtp: { listen: '127.0.0.1:0', tls: certA },
    },
  });
  // The running config, as a plain object to derive the next ones from.
  const raw = JSON.parse(JSON.stringify(ferry.config)) as Record<string, any>;
  const next = (change: (c: Record<string, any>) => void): Config => {
    const c = JSON.parse(JSON.stringify(raw));
    change(c);
    return buildConfig(c, relay.dataDir);
  };

  // Before: key "one", a 60-minute retry, certificate A.
  let id = await send(relay, { from: '', to: ['alice@example.test'] });
  await waitFor(ferry, id, isStatus('delivered'));
  t.equal(selectorOf(mx!.messages.at(-1)!.raw), 'one');
  id = await send(relay, { from: '', to: ['later1@example.test'] });
  let [r] = await waitFor(ferry, id, isStatus('deferred'));
  t.equal(r!.nextAttemptAt! - r!.updatedAt, 60 * 60_000, 'retry in 60 minutes');
  t.equal(await startTlsName(relay.smtpPort), 'first.test');

  // A session opened before the reload stays open through it.
  const open = await rawSession(relay.smtpPort);
  t.teardown(() => open.close());

  const result = await ferry.reload(
    next((c) => {
      c.dkim.keys = [{ domain: 'ferry.test', selector: 'two', keyFile: keyFile('two') }];
      c.delivery.retryScheduleMinutes = [2];
      c.smtp.tls = certB;
    }),
  );
  t.equal(result.ok, true);
  t.same(result.applied.sort(), ['delivery.retryScheduleMinutes', 'dkim.keys', 'smtp.tls.certFile', 'smtp.tls.keyFile']);
  t.same(result.restartNeeded, []);

  id = await send(relay, { from: '', to: ['bob@example.test'] });
  await waitFor(ferry, id, isStatus('delivered'));
  t.equal(selectorOf(mx!.messages.at(-1)!.raw), 'two', 'signed with the new key');
  id = await send(relay, { from: '', to: ['later2@example.test'] });
  [r] = await waitFor(ferry, id, isStatus('deferred'));
  t.equal(r!.nextAttemptAt! - r!.updatedAt, 2 * 60_000, 'the new retry schedule applies');
  t.equal(await startTlsName(relay.smtpPort), 'second.test', 'new sessions get the new certificate');
  t.equal(await open.command('NOOP'), '250 2.0.0 OK', 'the session opened before the reload is still there');

  // Broken: a key file that is not there. Nothing is swapped.
  const broken = await ferry.reload(
    next((c) => {
      c.dkim.keys = [{ domain: 'ferry.test', selector: 'three', keyFile: join(keysDir, 'missing.pem') }];
      c.delivery.retryScheduleMinutes = [5];
    }),
  );
  t.equal(broken.ok, false);
  t.match(broken.error, /cannot load DKIM key .*missing\.pem/);
  t.equal(ferry.config.delivery.retryScheduleMinutes[0], 2, 'the old config stays in force');
  // Broken: a certificate file that is not there.
  const noCert = await ferry.reload(next((c) => (c.smtp.tls = { certFile: join(keysDir, 'gone.crt'), keyFile: certB.keyFile })));
  t.equal(noCert.ok, false);
  t.match(noCert.error, /smtp\.tls: cannot read/);

  id = await send(relay, { from: '', to: ['carol@example.test'] });
  await waitFor(ferry, id, isStatus('delivered'));
  t.equal(selectorOf(mx!.messages.at(-1)!.raw), 'two', 'still signed with the key of the last good config');
  t.equal(await startTlsName(relay.smtpPort), 'second.test');
  const metrics = await ferry.metrics.render();
  t.match(metrics, /^ferry_config_reloads_total\{result="ok"\} 1$/m);
  t.match(metrics, /^ferry_config_reloads_total\{result="error"\} 2$/m);
});

t.test('settings that cannot change live are named and keep their value', async (t) => {
  const { ferry, relay } = await setupDelivery(t, { mx: { tls: false } });
  const raw = JSON.parse(JSON.stringify(ferry.config)) as Record<string, any>;
  raw.smtp.listen = '127.0.0.1:1';
  raw.smtp.maxRecipients = 3;
  raw.log.level = 'warn';
  const result = await ferry.reload(buildConfig(raw, relay.dataDir));
  t.equal(result.ok, true);
  t.same(result.restartNeeded, ['smtp.listen', 'smtp.maxRecipients']);
  t.same(result.applied, ['log.level']);
  t.equal(ferry.logger.level, 'warn');
  const c = await rawSession(relay.smtpPort);
  t.teardown(() => c.close());
  t.match(await c.command('NOOP'), /^250/, 'still listening where it started');
});
