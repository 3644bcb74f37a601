import t from 'tap';
import nodemailer from 'nodemailer';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { runFerry } from '../helpers/cli.js';
import { addUser, queuedId, startRelay, tempDir } from '../helpers/relay.js';
import { mx, waitFor } from '../helpers/bounce.js';
import { createDkimKeysRepo } from '../../src/store/dkim-keys-repo.js';
import { generateDkimKey, txtValue, writePrivateKey } from '../../src/sign/keys.js';
import { testSuppressions } from '../helpers/suppressions.js';
import { createOneClick } from '../../src/suppress/one-click.js';
import type { Ferry } from '../../src/main.js';

/**
 * One-click unsubscribe (RFC 8058) through the real relay: Ferry adds a per-recipient
 * List-Unsubscribe (and List-Unsubscribe-Post) under the DKIM signature, the endpoint and the
 * mailto: address put exactly that recipient on the suppression list for that sender, and a
 * forged or replayed token, or a GET, changes nothing.
 */
const SECRET = 'unsubscribe-secret-0123456789';
const PASSWORD = 'shop-password-123';

async function verifyDkim(message: Buffer, txt: Map<string, string>) {
  const resolver = async (name: string, type: string): Promise<string[][]> => {
    const v = type === 'TXT' ? txt.get(name.toLowerCase()) : undefined;
    if (v === undefined) throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
    return [[v]];
  };
  const res = await dkimVerify(message, { resolver });
  return res.results.map((r: { status: { result: string } }) => r.status.result);
}

function addKey(ferry: Ferry, dataDir: string): Map<string, string> {
  const key = generateDkimKey('ed25519');
  const keyFile = writePrivateKey(dataDir, 'signed.test', 'sel1', key.privateKeyPem);
  createDkimKeysRepo(ferry.db).add({ domain: 'signed.test', selector: 'sel1', algorithm: 'ed25519', keyFile, publicKey: key.publicKey, createdAt: Date.now() });
  return new Map([['sel1._domainkey.signed.test', txtValue('ed25519', key.publicKey)]]);
}

async function send(port: number, mail: nodemailer.SendMailOptions, auth?: { user: string; pass: string }): Promise<string> {
  const tr = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, connectionTimeout: 5000, ...(auth ? { auth } : {}) });
  try {
    return (await tr.sendMail(mail)).response;
  } finally {
    tr.close();
  }
}

function header(raw: Buffer, name: string): string | undefined {
  const text = raw.toString('latin1').split('\r\n\r\n')[0]!.replace(/\r\n[ \t]+/g, ' ');
  return text.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))?.slice(name.length + 1).trim();
}

t.test('per-message request: signed per-recipient headers; POST, mailto, forged and replayed tokens, GET; CLI list and remove', async (t) => {
  const sink = await mx(t, { host: '127.0.0.2' });
  const { ferry, smtpPort, dataDir } = await startRelay(t, {
    dmarc: { mode: 'off' },
    routes: { 'example.net': `127.0.0.2:${sink.port}` },
    verp: { enabled: true, domain: 'bounce.signed.test', secret: 'verp-secret-0123456789' },
    bounceListener: { listen: '127.0.0.1:0' },
    unsubscribe: { baseUrl: 'https://mail.signed.test', secret: SECRET, listen: '127.0.0.1:0' },
  });
  const txt = addKey(ferry, dataDir);
  await addUser(ferry, 'shop', PASSWORD);
  const addresses = ferry.addresses as unknown as { unsubscribe: string; bounce: string };
  const base = `http://${addresses.unsubscribe}`;

  const id = queuedId(
    await send(
      smtpPort,
      { from: 'news@signed.test', to: ['alice@example.net', 'bob@example.net'], subject: 'News', text: 'hello\n', headers: { 'X-Ferry-Unsubscribe': 'one-click' } },
      { user: 'shop', pass: PASSWORD },
    ),
  );
  t.equal(ferry.queue.messages.get(id)!.listUnsubscribe, true);
  await sink.waitForMessages(2, 10_000);
  const oneClick = createOneClick({ secret: SECRET, baseUrl: 'https://mail.signed.test', mailto: null });
  const urls = new Map<string, string>();
  const mailtos = new Map<string, string>();
  for (const m of sink.messages) {
    const to = m.envelope.to;
    t.equal(to.length, 1, 'one transaction per recipient');
    t.notMatch(m.raw.toString(), /X-Ferry-Unsubscribe/i, 'the request header is not sent');
    t.equal(header(m.raw, 'List-Unsubscribe-Post'), 'List-Unsubscribe=One-Click');
    const lu = header(m.raw, 'List-Unsubscribe')!;
    const https = /<(https:\/\/mail\.signed\.test\/unsubscribe\?t=([^>]+))>/.exec(lu)!;
    const mailto = /<mailto:(unsubscribe@bounce\.signed\.test)\?subject=unsubscribe%20([^>]+)>/.exec(lu)!;
    t.ok(https && mailto, 'an https URL and a mailto: on the bounce domain');
    t.match(oneClick.verify(https[2]!), { queueId: id, user: 'shop', recipient: to[0] }, 'the token names this recipient and user');
    t.equal(mailto[2], https[2]);
    urls.set(to[0]!, https[1]!.replace('https://mail.signed.test', base));
    mailtos.set(to[0]!, mailto[2]!);
    t.same(await verifyDkim(m.raw, txt), ['pass'], 'the signature verifies');
    const h = /\bh=([^;]+)/.exec(header(m.raw, 'DKIM-Signature')!)![1]!.replace(/\s+/g, '').toLowerCase().split(':');
    t.ok(h.includes('list-unsubscribe') && h.includes('list-unsubscribe-post'), 'and covers List-Unsubscribe and List-Unsubscribe-Post');
    const tampered = Buffer.from(m.raw.toString('latin1').replace('unsubscribe?t=u1.', 'unsubscribe?t=u1.x'), 'latin1');
    t.notSame(await verifyDkim(tampered, txt), ['pass'], 'a changed List-Unsubscribe breaks it');
  }
  t.same([...urls.keys()].sort(), ['alice@example.net', 'bob@example.net']);
  const list = testSuppressions(ferry.db);

  const page = await fetch(urls.get('alice@example.net')!);
  t.equal(page.status, 200);
  t.match(await page.text(), /method="post"/);
  t.equal(list.find('alice@example.net', 'shop'), null, 'a GET changes nothing');

  // Bob's token with Alice's address swapped in: refused.
  const bobToken = new URL(urls.get('bob@example.net')!).searchParams.get('t')!;
  const [, , bobMac] = bobToken.split('.') as [string, string, string];
  const swapped = `u1.${Buffer.from(JSON.stringify([id, 'shop', 'alice@example.net'])).toString('base64url')}.${bobMac}`;
  const forged = await fetch(`${base}/unsubscribe?t=${swapped}`, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(forged.status, 404);
  await forged.text();
  t.equal(list.find('alice@example.net', 'shop'), null, 'a token replayed for another recipient does nothing');

  const res = await fetch(urls.get('alice@example.net')!, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(res.status, 200);
  await res.text();
  t.match(list.find('alice@example.net', 'shop'), { category: 'unsubscribed', source: 'one-click', scope: 'shop' });
  t.equal(list.find('bob@example.net', 'shop'), null, 'exactly that recipient');
  t.ok(ferry.queue.events.forMessage(id).some((e) => e.type === 'unsubscribed' && e.recipient === 'alice@example.net'), 'an unsubscribed event');

  // Bob unsubscribes by mail, through the bounce listener.
  const [bhost, bport] = [addresses.bounce.slice(0, addresses.bounce.lastIndexOf(':')), Number(addresses.bounce.slice(addresses.bounce.lastIndexOf(':') + 1))];
  const tr = nodemailer.createTransport({ host: bhost, port: bport, secure: false, ignoreTLS: true });
  await tr.sendMail({ from: 'bob@example.net', to: 'unsubscribe@bounce.signed.test', subject: `unsubscribe ${mailtos.get('bob@example.net')}`, text: 'stop' }).finally(() => tr.close());
  await waitFor(() => list.find('bob@example.net', 'shop'), 10_000, 'bob suppressed by mail');
  t.match(list.find('bob@example.net', 'shop'), { category: 'unsubscribed', source: 'one-click', scope: 'shop' });

  // Suppressed for shop only: shop's next message drops Alice, a relay client's does not.
  const again = queuedId(await send(smtpPort, { from: 'news@signed.test', to: 'alice@example.net', subject: 'again', text: 'x' }, { user: 'shop', pass: PASSWORD }));
  t.same(ferry.queue.recipients.forMessage(again).map((r) => r.status), ['dropped']);
  const other = queuedId(await send(smtpPort, { from: 'news@signed.test', to: 'alice@example.net', subject: 'other sender', text: 'x' }));
  t.notSame(ferry.queue.recipients.forMessage(other).map((r) => r.status), ['dropped'], 'another sender still reaches her');

  const env = { FERRY_DATA_DIR: dataDir };
  const listed = await runFerry(['suppressions', 'list', '--category', 'unsubscribed'], { env });
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, /alice@example\.net\s+│ unsubscribed/);
  t.match(listed.stdout, /bob@example\.net\s+│ unsubscribed/);
  const json = await runFerry(['suppressions', 'list', '--category', 'unsubscribed', '--source', 'one-click', '--json'], { env });
  t.equal((JSON.parse(json.stdout) as unknown[]).length, 2);
  const removed = await runFerry(['suppressions', 'remove', 'alice@example.net', '--user', 'shop'], { env });
  t.equal(removed.code, 0, removed.stderr);
  const back = queuedId(await send(smtpPort, { from: 'news@signed.test', to: 'alice@example.net', subject: 'welcome back', text: 'x' }, { user: 'shop', pass: PASSWORD }));
  t.notSame(ferry.queue.recipients.forMessage(back).map((r) => r.status), ['dropped'], 'removing the entry re-enables mail');
});

t.test('per-user setting: every message of the user gets the headers; one transaction per recipient even at one domain', async (t) => {
  const dataDir = tempDir(t);
  const env = { FERRY_DATA_DIR: dataDir };
  // admin commands act only on an existing database (issue 12): create it as an operator would
  t.equal((await runFerry(['init'], { env })).code, 0);
  t.equal((await runFerry(['users', 'add', 'shop', '--password-stdin'], { env, stdin: `${PASSWORD}\n` })).code, 0);
  const on = await runFerry(['users', 'one-click', 'shop', 'on'], { env });
  t.equal(on.stdout, 'shop: one-click unsubscribe on\n');
  t.equal((await runFerry(['users', 'one-click', 'nobody', 'on'], { env })).code, 1);
  t.match((await runFerry(['users', 'one-click', 'shop', 'maybe'], { env })).stderr, /expected on or off/);
  const listed = JSON.parse((await runFerry(['users', 'list', '--json'], { env })).stdout) as { oneClickUnsubscribe: boolean }[];
  t.equal(listed[0]!.oneClickUnsubscribe, true);

  const sink = await mx(t, { host: '127.0.0.2' });
  const { smtpPort } = await startRelay(t, {
    dataDir,
    dmarc: { mode: 'off' },
    routes: { 'example.net': `127.0.0.2:${sink.port}` },
    unsubscribe: { baseUrl: 'https://mail.signed.test/', secret: SECRET },
  });
  await send(smtpPort, { from: 'news@signed.test', to: ['a@example.net', 'b@example.net'], subject: 'hi', text: 'x' }, { user: 'shop', pass: PASSWORD });
  await sink.waitForMessages(2, 10_000);
  t.same(sink.messages.map((m) => m.envelope.to.length), [1, 1], 'one transaction each');
  for (const m of sink.messages) {
    const lu = header(m.raw, 'List-Unsubscribe')!;
    t.match(lu, /^<https:\/\/mail\.signed\.test\/unsubscribe\?t=u1\.[^>]+>$/, 'https only: no bounce listener, no mailto');
  }
  // A relay client without the setting or the header: untouched, one transaction.
  await send(smtpPort, { from: 'news@signed.test', to: ['c@example.net', 'd@example.net'], subject: 'plain', text: 'x' });
  await sink.waitForMessages(3, 10_000);
  t.equal(header(sink.messages[2]!.raw, 'List-Unsubscribe'), undefined);
  t.equal(sink.messages[2]!.envelope.to.length, 2);
});
