import t from 'tap';
import nodemailer from 'nodemailer';
import { runFerry } from '../helpers/cli.js';
import { queuedId, startRelay, tempDir } from '../helpers/relay.js';

async function send(port: number, auth: { user: string; pass: string }, from = 'app@example.com') {
  const tr = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth, connectionTimeout: 5000 });
  try {
    return await tr.sendMail({ from, to: 'someone@example.net', subject: 'cli', text: 'hi' });
  } finally {
    tr.close();
  }
}

t.test('users CLI round trip, then a relay on that data dir accepts the passwords', async (t) => {
  const dataDir = tempDir(t);
  const env = { FERRY_DATA_DIR: dataDir };
  // Admin commands never create a database: `ferry init` does, before the relay's first start.
  const init = await runFerry(['init'], { env });
  t.equal(init.code, 0, 'ferry init exits 0');
  t.equal(init.stdout, `created ${dataDir}/ferry.db\n`);

  const added = await runFerry(['users', 'add', 'alice', '--from-domains', 'Example.com, example.org'], { env });
  t.equal(added.code, 0, 'users add exits 0');
  t.equal(added.stderr, '');
  t.match(added.stdout, /^added user alice \(sender domains: example\.com, example\.org\)\n/);
  const generated = /^password: (\S+)$/m.exec(added.stdout)?.[1];
  t.ok(generated && generated.length >= 20, 'prints a generated password');
  t.equal(added.stdout.split(generated!).length - 1, 1, 'the password is printed exactly once');

  const dup = await runFerry(['users', 'add', 'alice'], { env });
  t.equal(dup.code, 1, 'adding an existing user fails');
  t.equal(dup.stderr, 'ferry: user alice already exists (use "ferry users passwd alice" to change the password)\n');

  const bob = await runFerry(['users', 'add', 'bob', '--password-stdin'], { env, stdin: 'bobs-chosen-password\n' });
  t.equal(bob.code, 0);
  t.equal(bob.stdout, 'added user bob\n', 'no password printed when it came from stdin');

  const short = await runFerry(['users', 'add', 'carol', '--password-stdin'], { env, stdin: 'short\n' });
  t.equal(short.code, 2, 'usage error');
  t.match(short.stderr, /^ferry: password from stdin: at least 8 characters/);

  const list = await runFerry(['users', 'list'], { env });
  t.equal(list.code, 0);
  t.match(list.stdout, /alice\s*│\s*example\.com, example\.org/);
  t.match(list.stdout, /bob\s*│\s*\(any\)/);
  t.notMatch(list.stdout, /scrypt|bobs-chosen-password/, 'no hashes or passwords listed');

  const json = await runFerry(['users', 'list', '--json'], { env });
  t.equal(json.code, 0);
  const users = JSON.parse(json.stdout) as { name: string; fromDomains: string[]; createdAt: string }[];
  t.same(users.map((u) => [u.name, u.fromDomains]), [['alice', ['example.com', 'example.org']], ['bob', []]]);
  t.match(users[0]!.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.notMatch(json.stdout, /password|scrypt/i);

  // A relay on that data directory: the CLI's passwords work, restricted domains apply.
  const relay = await startRelay(t, { dataDir });
  t.ok(queuedId((await send(relay.smtpPort, { user: 'alice', pass: generated! })).response), 'alice authenticates with the generated password');
  t.ok(queuedId((await send(relay.smtpPort, { user: 'bob', pass: 'bobs-chosen-password' })).response), 'bob with the stdin password');
  const wrongDomain = await send(relay.smtpPort, { user: 'alice', pass: generated! }, 'x@other.net').then(() => null, (e: { responseCode?: number }) => e);
  t.equal(wrongDomain?.responseCode, 550, 'alice is held to her sender domains');

  // passwd while the relay runs: the old password stops working at once.
  const passwd = await runFerry(['users', 'passwd', 'alice'], { env });
  t.equal(passwd.code, 0);
  t.match(passwd.stdout, /^password changed for alice\npassword: \S+\n/);
  const newPassword = /^password: (\S+)$/m.exec(passwd.stdout)![1]!;
  t.not(newPassword, generated);
  const old = await send(relay.smtpPort, { user: 'alice', pass: generated! }).then(() => null, (e: { responseCode?: number }) => e);
  t.equal(old?.responseCode, 535, 'the old password is refused');
  t.ok(queuedId((await send(relay.smtpPort, { user: 'alice', pass: newPassword })).response), 'the new one works');

  const passwdStdin = await runFerry(['users', 'passwd', 'bob', '--password-stdin'], { env, stdin: 'another-password-99' });
  t.equal(passwdStdin.code, 0);
  t.equal(passwdStdin.stdout, 'password changed for bob\n');

  const removed = await runFerry(['users', 'remove', 'bob'], { env });
  t.equal(removed.code, 0);
  t.equal(removed.stdout, 'removed user bob\n');
  const gone = await send(relay.smtpPort, { user: 'bob', pass: 'another-password-99' }).then(() => null, (e: { responseCode?: number }) => e);
  t.equal(gone?.responseCode, 535, 'a removed user cannot authenticate');

  const unknown = await runFerry(['users', 'remove', 'nobody'], { env });
  t.equal(unknown.code, 1);
  t.equal(unknown.stdout, '');
  t.equal(unknown.stderr, 'ferry: no user named nobody\n', 'one line on stderr');
  const unknownPasswd = await runFerry(['users', 'passwd', 'nobody'], { env });
  t.equal(unknownPasswd.code, 1);
  t.equal(unknownPasswd.stderr, 'ferry: no user named nobody\n');

  const after = JSON.parse((await runFerry(['users', 'list', '--json'], { env })).stdout) as { name: string }[];
  t.same(after.map((u) => u.name), ['alice']);
});
