import t from 'tap';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/admin/cli.js';
import { openTestStore, testPg } from '../helpers/postgres.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-cli-pg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One accepted message (as test/helpers/store.ts builds it; that helper imports the relay). */
function accepted(id: string, at: number, recipients: string[]) {
  const headers = Buffer.from(`Received: test\r\nSubject: ${id}\r\n\r\n`);
  return {
    message: {
      id, createdAt: at, sender: 'app@example.com', username: null, clientIp: '127.0.0.1', helo: 'client.test', tls: null,
      size: headers.length + 6, headers, body: Buffer.from('body\r\n'), spoolFile: null, headerFrom: 'app@example.com',
      messageIdHeader: null, subject: id, eightBit: false, smtputf8: false, kind: 'submission' as const,
    },
    recipients: recipients.map((address) => ({ address, domain: address.split('@')[1]!, status: 'queued' as const, reason: null, category: null })),
  };
}

/**
 * The admin commands on a PostgreSQL store (store.url / FERRY_STORE_URL): they act on the
 * cluster's data through the Store, not on a SQLite file in dataDir.
 */
function cli(env: Record<string, string>, cwd: string) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const run = async (...argv: string[]) => {
    out = '';
    err = '';
    return runCli(argv, { io: { stdout, stderr, stdin: new PassThrough(), isTTY: false }, env: { FERRY_DEFAULT_CONFIG: '', ...env }, cwd, onSignal: () => undefined });
  };
  return { run, out: () => out, err: () => err };
}

t.test('messages show, suppressions add/list/remove and queue list act on the PostgreSQL store', async (t) => {
  const { url } = await testPg();
  const node = await openTestStore(t, url, 'mx-a');
  const at = Date.now();
  await node.queue.accept([accepted('PG1', at, ['ann@dest.test', 'bob@dest.test', 'cy@other.test'])]);
  // dataDir has no SQLite database: every command below must go to PostgreSQL.
  const dir = tempDir(t);
  const c = cli({ FERRY_STORE_URL: url, FERRY_DATA_DIR: dir }, dir);

  t.equal(await c.run('messages', 'show', 'PG1', '--json'), 0, c.err());
  const shown = JSON.parse(c.out()) as { message: { id: string }; recipients: { address: string; status: string }[]; events: { type: string }[] };
  t.equal(shown.message.id, 'PG1');
  t.same(shown.recipients.map((r) => [r.address, r.status]), [['ann@dest.test', 'queued'], ['bob@dest.test', 'queued'], ['cy@other.test', 'queued']]);
  t.ok(shown.events.length >= 3, 'the events recorded at intake');
  t.equal(await c.run('messages', 'show', 'NOPE'), 1);
  t.match(c.err(), /^ferry: no message with id NOPE/);

  t.equal(await c.run('suppressions', 'add', 'Gone@Dest.test', '@spam.test', '--reason', 'asked to stop'), 0, c.err());
  t.match(c.out(), /suppressed gone@dest\.test \(manual\)\nsuppressed @spam\.test \(manual\)/);
  t.ok(await node.suppressions.get('gone@dest.test', null), 'the entry is in the cluster');
  t.ok(await node.suppressions.lookup('gone@dest.test', 'dest.test', null, Date.now()), 'and every node finds it');
  t.equal(await c.run('suppressions', 'list', '--json'), 0, c.err());
  t.same((JSON.parse(c.out()) as { address: string }[]).map((e) => e.address).sort(), ['@spam.test', 'gone@dest.test']);
  t.equal(await c.run('suppressions', 'show', 'x@spam.test'), 0, c.err());
  t.match(c.out(), /x@spam\.test is suppressed by the domain entry @spam\.test/);
  t.equal(await c.run('suppressions', 'remove', 'gone@dest.test'), 0, c.err());
  t.equal(c.out(), 'removed gone@dest.test\n');
  t.equal(await node.suppressions.get('gone@dest.test', null), undefined, 'removed from the cluster');
  t.equal(await c.run('suppressions', 'remove', 'gone@dest.test'), 1);
  t.match(c.err(), /not suppressed: gone@dest\.test/);

  t.equal(await c.run('queue', 'list', '--json'), 0, c.err());
  t.same(
    (JSON.parse(c.out()) as { domain: string; queued: number; deferred: number; inFlight: number }[]).map((r) => [r.domain, r.queued, r.deferred, r.inFlight]),
    [['dest.test', 2, 0, 0], ['other.test', 1, 0, 0]],
  );
  t.equal(await c.run('queue', 'retry', '--domain', 'dest.test'), 0, c.err());
  t.match(c.out(), /^2 recipients due now/);
});

t.test('suppressions import/export and queue purge act on the PostgreSQL store', async (t) => {
  const { url } = await testPg();
  const node = await openTestStore(t, url, 'mx-b');
  await node.queue.accept([accepted('PG2', Date.now(), ['ann@slow.test', 'bob@slow.test'])]);
  const dir = tempDir(t);
  const c = cli({ FERRY_STORE_URL: url, FERRY_DATA_DIR: dir }, dir);

  const file = join(dir, 'list.csv');
  writeFileSync(file, 'address,reason\nann@x.test,first\nBob@X.test,second\nann@x.test,last\n');
  t.equal(await c.run('suppressions', 'import', file), 0, c.err());
  t.equal(c.out(), 'imported 3, skipped 0\n');
  t.equal((await node.suppressions.get('ann@x.test', null))!.reason, 'last', 'the last line for an address wins');
  t.ok(await node.suppressions.lookup('bob@x.test', 'x.test', null, Date.now()), 'every node finds the imported entries');
  t.equal(await c.run('suppressions', 'export'), 0, c.err());
  t.equal(c.out(), 'address,reason,category,expires,user\nann@x.test,last,manual,,\nbob@x.test,second,manual,,\n', 'the export re-imports');

  t.equal(await c.run('queue', 'purge', 'PG2'), 0, c.err());
  t.match(c.out(), /^2 recipients purged \(expired: purged by admin\)\n1 delivery status notification queued to the senders\n/);
  t.same((await node.recipients.forMessage('PG2')).map((r) => [r.address, r.status]), [['ann@slow.test', 'expired'], ['bob@slow.test', 'expired']]);
  t.same(await node.dsnOutbox.list(0, 10), [], 'the report left the outbox');
  const dsn = (await node.messages.list({ limit: 10 })).find((m) => m.kind === 'dsn');
  t.match(dsn, { sender: '' }, 'and is queued to the sender as a DSN');
  t.match(await node.recipients.forMessage(dsn!.id), [{ address: 'app@example.com', status: 'queued' }]);
});

t.test('commands that are SQLite-file operations refuse under store.url: one line, exit 2', async (t) => {
  const { url } = await testPg();
  const dir = tempDir(t);
  const c = cli({ FERRY_STORE_URL: url, FERRY_DATA_DIR: dir }, dir);
  for (const argv of [['backup', `${dir}/copy.db`], ['doctor', '--data'], ['init']]) {
    t.equal(await c.run(...argv), 2, argv.join(' '));
    t.match(c.err(), /^ferry: .*PostgreSQL store \(store\.url\)/, argv.join(' '));
    t.equal(c.err().trim().split('\n').length, 1, 'one line');
  }
});

t.test('tls check and tls report (with --send) act on the PostgreSQL store', async (t) => {
  const { url } = await testPg();
  const node = await openTestStore(t, url, 'mx-tls');
  const { startDnsServer } = await import('../helpers/dns-server.js');
  const dns = await startDnsServer({
    'pgtls.test': { MX: [{ exchange: 'mx.pgtls.test', priority: 10 }] },
    'mx.pgtls.test': { A: ['192.0.2.25'] },
    '_smtp._tls.pgtls.test': { TXT: ['v=TLSRPTv1; rua=mailto:tlsrpt@reports.test'] },
  });
  t.teardown(() => dns.close());
  const now = Date.now();
  const day = new Date(now).toISOString().slice(0, 10);
  await node.mtaSts.put({ domain: 'pgtls.test', policyId: 'pg1', mode: 'enforce', mx: ['mx.pgtls.test'], maxAgeSeconds: 86400, text: 'version: STSv1\r\nmode: enforce\r\nmx: mx.pgtls.test\r\nmax_age: 86400\r\n', fetchedAt: now, expiresAt: now + 86_400_000 });
  await node.queue.accept([accepted('PGTLS1', now, ['rcpt@pgtls.test'])]);
  const [r] = await node.recipients.forMessage('PGTLS1');
  await node.attempts.insert({
    recipientId: r!.id, messageId: 'PGTLS1', at: now, durationMs: 5, result: 'delivered', phase: 'data', mxHost: 'mx.pgtls.test', ip: '192.0.2.25', port: 25,
    tlsProtocol: 'TLSv1.3', tlsCipher: 'TLS_AES_256_GCM_SHA384', tlsVerified: true, tlsPolicy: 'sts-enforce', tlsResult: 'success',
    code: 250, enhanced: '2.0.0', reply: 'ok', errorKind: null, error: null, category: null, rule: null, hops: null,
  });
  const policy = { type: 'sts', strings: ['version: STSv1', 'mode: enforce', 'mx: mx.pgtls.test', 'max_age: 86400'], mxHosts: ['mx.pgtls.test'] };
  await node.tlsReports.add([{ day, policyDomain: 'pgtls.test', policy, success: 3, failure: 1, failures: [{ resultType: 'certificate-host-mismatch', receivingMxHostname: 'mx.pgtls.test', receivingIp: '192.0.2.25', receivingMxHelo: '', failureReasonCode: 'wrong name', count: 1 }] }]);

  // dataDir has no SQLite database: both commands must read (and --send write) PostgreSQL.
  const dir = tempDir(t);
  const configFile = join(dir, 'ferry.json');
  writeFileSync(configFile, JSON.stringify({
    dataDir: dir, hostname: 'ferry.test', store: { url }, dns: { servers: [dns.address], timeoutMs: 1000, tries: 1 },
    tlsRpt: { enabled: true, organization: 'Ferry PG', contact: 'postmaster@ferry.test' },
  }));
  const c = cli({ FERRY_DNS_SERVERS: dns.address }, dir);

  t.equal(await c.run('tls', 'check', 'pgtls.test', '--json', '-c', configFile), 0, c.err());
  t.match(JSON.parse(c.out()), {
    domain: 'pgtls.test',
    cached: { policyId: 'pg1', mode: 'enforce', mx: ['mx.pgtls.test'], expired: false },
    mx: [{ host: 'mx.pgtls.test', inPolicy: true }],
    recent: [{ mxHost: 'mx.pgtls.test', tlsPolicy: 'sts-enforce', tlsVerified: true, tlsResult: 'success', result: 'delivered' }],
  });

  t.equal(await c.run('tls', 'report', '--day', day, '--json', '-c', configFile), 0, c.err());
  t.match(JSON.parse(c.out()), { day, policies: [{ policyDomain: 'pgtls.test', policyType: 'sts', successful: 3, failed: 1, failures: [{ resultType: 'certificate-host-mismatch', count: 1 }] }], sent: [] });

  t.equal(await c.run('tls', 'report', '--day', day, '--send', '--json', '-c', configFile), 0, c.err());
  t.match(JSON.parse(c.out()), { sendResults: [{ policyDomain: 'pgtls.test', state: 'sent' }] });
  const report = (await node.messages.list({ limit: 10 })).find((m) => m.kind === 'tlsrpt');
  t.match(report, { sender: '' }, 'the report mail is in the cluster queue, null sender');
  t.match(await node.recipients.forMessage(report!.id), [{ address: 'tlsrpt@reports.test', status: 'queued' }]);
  t.same((await node.tlsReports.sent(day, 'pgtls.test')).map((s) => [s.destination, s.state]), [['', 'done'], ['mailto:tlsrpt@reports.test', 'queued']]);
});
