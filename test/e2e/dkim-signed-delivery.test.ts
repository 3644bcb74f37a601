import t from 'tap';
import nodemailer from 'nodemailer';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { startRelay } from '../helpers/relay.js';
import { startMx } from '../helpers/mx-server.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { createDkimKeysRepo } from '../../src/store/dkim-keys-repo.js';
import { generateDkimKey, txtValue, writePrivateKey } from '../../src/sign/keys.js';

// Client → Ferry → test MX: the bytes the MX receives carry Ferry's signatures, and an
// independent verifier (mailauth) accepts them; the DMARC guard refuses or rewrites mail
// whose From domain forbids third-party senders.

async function verifyAt(message: Buffer, txt: Map<string, string>) {
  const resolver = async (name: string, type: string): Promise<string[][]> => {
    const v = type === 'TXT' ? txt.get(name.toLowerCase()) : undefined;
    if (v === undefined) throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
    return [[v]];
  };
  const res = await dkimVerify(message, { resolver });
  return res.results.map((r: { status: { result: string }; signingDomain?: string; selector?: string }) => ({
    result: r.status.result,
    domain: r.signingDomain,
    selector: r.selector,
  }));
}

function send(port: number, mail: nodemailer.SendMailOptions) {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  return transport.sendMail(mail).finally(() => transport.close());
}

t.test('a delivered message carries rsa and ed25519 signatures that verify, for 8-bit, empty and 100 KB bodies', async (t) => {
  const mx = await startMx({ host: '127.0.0.2', tls: false });
  t.teardown(() => mx.close());
  const relay = await startRelay(t, { routes: { '*': `127.0.0.2:${mx.port}` }, dmarc: { mode: 'off' } });
  const repo = createDkimKeysRepo(relay.ferry.db);
  const txt = new Map<string, string>();
  for (const [selector, algorithm] of [['rsa1', 'rsa'], ['ed1', 'ed25519']] as const) {
    const key = generateDkimKey(algorithm, 1024);
    const keyFile = writePrivateKey(relay.dataDir, 'signed.test', selector, key.privateKeyPem);
    repo.add({ domain: 'signed.test', selector, algorithm, keyFile, publicKey: key.publicKey, createdAt: Date.now() });
    txt.set(`${selector}._domainkey.signed.test`, txtValue(algorithm, key.publicKey));
  }

  await send(relay.smtpPort, { from: 'App <app@signed.test>', to: 'a@dest.test', subject: 'Grüße', text: 'Ärger über Öl — ünïcödé\n' });
  await send(relay.smtpPort, {
    envelope: { from: 'app@mail.signed.test', to: ['b@dest.test'] },
    raw: Buffer.concat([Buffer.from('From: app@mail.signed.test\r\nTo: b@dest.test\r\nSubject: latin1\r\n\r\n'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a])]),
  });
  await send(relay.smtpPort, { envelope: { from: 'app@signed.test', to: ['c@dest.test'] }, raw: 'From: app@signed.test\r\nTo: c@dest.test\r\nSubject: empty\r\n\r\n' });
  // 100 KB inline: its body is kept apart from the row and read by reference (signer, delivery thread).
  const large = 'a line of a large message, signed and sent by reference\n'.repeat(1_800);
  await send(relay.smtpPort, { from: 'app@signed.test', to: 'd@dest.test', subject: 'large', text: large });
  await mx.waitForMessages(4, 60_000);
  const big = mx.messages.find((m) => m.envelope.to[0] === 'd@dest.test')!;
  t.ok(big.raw.includes(Buffer.from(large.replace(/\n/g, '\r\n'))), 'the large body arrives whole');
  t.ok(relay.ferry.db.prepare('SELECT count(*) FROM message_bodies').pluck().get() === 1, 'it was stored apart from its row');

  for (const m of mx.messages) {
    const results = await verifyAt(m.raw, txt);
    t.same(
      results.map((r: { result: string; selector?: string }) => [r.result, r.selector]).sort(),
      [['pass', 'ed1'], ['pass', 'rsa1']],
      `both signatures verify for the message to ${m.envelope.to.join(',')}`,
    );
    t.match(m.raw.toString('latin1'), /^DKIM-Signature: /, 'the signature is the first header (the last change to the message)');
  }
  const latin1 = mx.messages.find((m) => m.envelope.to[0] === 'b@dest.test')!;
  t.ok(latin1.raw.includes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a])), 'the Latin-1 body arrives byte for byte');

  // A changed header after signing must fail: proves the verifier is really checking.
  const tampered = Buffer.from(mx.messages[0]!.raw.toString('latin1').replace('\r\nSubject:', '\r\nSubject: X'), 'latin1');
  const bad = await verifyAt(tampered, txt);
  t.ok(bad.every((r: { result: string }) => r.result !== 'pass'), 'a tampered message does not verify');
});

t.test('DMARC guard: p=reject From domain without a key is refused at end of DATA, or rewritten', async (t) => {
  const dns = await startDnsServer({
    '_dmarc.strict.test': { TXT: ['v=DMARC1; p=reject; rua=mailto:d@strict.test'] },
    '_dmarc.relaxed.test': { TXT: ['v=DMARC1; p=none'] },
  });
  t.teardown(() => dns.close());
  const mx = await startMx({ host: '127.0.0.2', tls: false });
  t.teardown(() => mx.close());

  const rejecting = await startRelay(t, {
    routes: { '*': `127.0.0.2:${mx.port}` },
    dns: { servers: [dns.address], timeoutMs: 1000, tries: 1 },
    dmarc: { mode: 'reject' },
  });
  await t.rejects(
    send(rejecting.smtpPort, { from: 'someone@strict.test', to: 'x@dest.test', subject: 'hi', text: 'hi' }),
    { responseCode: 550, response: /5\.7\.1/ },
    'a p=reject domain we cannot sign for is refused with 550 5.7.1',
  );
  await send(rejecting.smtpPort, { from: 'someone@relaxed.test', to: 'x@dest.test', subject: 'hi', text: 'hi' });
  await mx.waitForMessages(1, 10_000);
  t.match(mx.messages[0]!.raw.toString(), /From: someone@relaxed\.test/, 'a p=none domain passes unchanged');

  const rewriting = await startRelay(t, {
    routes: { '*': `127.0.0.2:${mx.port}` },
    dns: { servers: [dns.address], timeoutMs: 1000, tries: 1 },
    dmarc: { mode: 'rewrite', rewrite: { address: 'relay@ours.test', brand: 'Ours' } },
  });
  await send(rewriting.smtpPort, { from: 'Jane Doe <jane@strict.test>', to: 'y@dest.test', subject: 'hi', text: 'hi' });
  await mx.waitForMessages(2, 10_000);
  const rewritten = mx.messages[1]!.raw.toString();
  t.match(rewritten, /\r\nFrom: "Jane Doe via Ours" <relay@ours\.test>\r\n/, 'From is rewritten to the configured address');
  t.match(rewritten, /\r\nReply-To: .*jane@strict\.test/, 'Reply-To keeps the original sender');
  t.notMatch(rewritten, /\r\nFrom: [^\r\n]*jane@strict\.test/, 'the forbidden From is gone');
});
