import t from 'tap';
import nodemailer from 'nodemailer';
import { startRelay } from '../helpers/relay.js';
import { startMx } from '../helpers/mx-server.js';
import { createDkimKeysRepo } from '../../src/store/dkim-keys-repo.js';
import { generateDkimKey, writePrivateKey } from '../../src/sign/keys.js';

// Client → Ferry → test MX with DKIM signing on a signing thread that dies (process.exit) for
// one From domain: that message is neither lost nor sent unsigned — its recipient is deferred
// (retried later) — and the next message is signed by a new thread and delivered.

function send(port: number, from: string, to: string) {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  return transport.sendMail({ from, to, subject: 'hi', text: 'hello\n' }).finally(() => transport.close());
}

t.test('a signing thread that dies: the message stays queued (deferred), the next one is signed by a new thread', async (t) => {
  const mx = await startMx({ host: '127.0.0.2', tls: false });
  t.teardown(() => mx.close());
  const relay = await startRelay(
    t,
    { routes: { '*': `127.0.0.2:${mx.port}` }, dmarc: { mode: 'off' }, sign: { threads: 1 } },
    { signWorkerUrl: new URL('../sign/fixtures/crashing-sign-worker.ts', import.meta.url) },
  );
  const repo = createDkimKeysRepo(relay.ferry.db);
  for (const domain of ['crash.test', 'signed.test']) {
    const key = generateDkimKey('rsa', 1024);
    const keyFile = writePrivateKey(relay.dataDir, domain, 'sel', key.privateKeyPem);
    repo.add({ domain, selector: 'sel', algorithm: 'rsa', keyFile, publicKey: key.publicKey, createdAt: Date.now() });
  }
  const status = () =>
    relay.ferry.db.prepare('SELECT address, status, attempts, last_reply AS lastReply FROM recipients ORDER BY address').all() as { address: string; status: string; attempts: number; lastReply: string | null }[];

  await send(relay.smtpPort, 'app@crash.test', 'lost@dest.test');
  const until = Date.now() + 90_000; // a signing thread loads its TypeScript through the test runner: slow on a busy machine
  while (status()[0]?.status !== 'deferred' && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  const [crashed] = status();
  t.equal(crashed?.status, 'deferred', 'deferred: queued for another attempt, not lost');
  t.equal(crashed?.attempts, 1);
  t.equal(mx.messages.length, 0, 'nothing sent unsigned');

  await send(relay.smtpPort, 'app@signed.test', 'ok@dest.test');
  await mx.waitForMessages(1, 90_000);
  t.match(mx.messages[0]!.raw.toString('latin1'), /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=signed\.test; s=sel/, 'signed by the new thread');
  t.same(mx.messages[0]!.envelope.to, ['ok@dest.test']);
});
