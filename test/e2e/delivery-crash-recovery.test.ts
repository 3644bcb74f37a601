import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import { openDatabase } from '../../src/store/db.js';
import { createRecipientsRepo } from '../../src/store/recipients-repo.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { startMx } from '../helpers/mx-server.js';
import { startRelay, tempDir, type StartedRelay } from '../helpers/relay.js';
import { attempts, defaultZone, isStatus, send, waitFor } from './fixtures/delivery.js';

// bin/ferry imports this; run it directly (tap's child-process hooks cannot load an extensionless ESM file)
const FERRY = fileURLToPath(new URL('../../dist/admin/entry.js', import.meta.url));

/**
 * A Ferry (the real command, in a child process) claims a recipient and is killed with SIGKILL
 * while the MX holds the transfer open: its lease stays in the database. A new Ferry on the same
 * data directory with the same hostname delivers it at start, without waiting for the lease.
 */
t.test('a delivery in flight when the process dies is delivered by the next start', async (t) => {
  const mx = await startMx({ host: '127.0.0.2', raw: true, script: { dataFault: 'stall' } });
  t.teardown(() => mx.close());
  const dns = await startDnsServer(defaultZone());
  t.teardown(() => dns.close());
  const dataDir = tempDir(t);
  const config = {
    dataDir,
    hostname: 'ferry.test',
    log: { level: 'info' },
    dmarc: { mode: 'off' },
    smtp: { listen: '127.0.0.1:0' },
    http: { listen: null },
    dns: { servers: [dns.address], timeoutMs: 500, tries: 1 },
    delivery: { allowPrivateMx: true, port: mx.port, dataTimeoutMs: 60_000, commandTimeoutMs: 60_000 },
  };
  const configFile = join(dataDir, 'ferry.json');
  writeFileSync(configFile, JSON.stringify(config));

  // a plain node: not the test runner's loaders (NODE_OPTIONS)
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };
  const child = spawn(process.execPath, [FERRY, 'start', '-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  const smtp = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child ferry did not start in 60 s: ${stderr}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`the child ferry exited (${code}): ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; smtp?: string };
        if (rec.msg === 'ferry started' && rec.smtp) {
          clearTimeout(timer);
          resolve(rec.smtp);
        }
      } catch {
        // not a log line
      }
    });
  });
  const port = Number(smtp.slice(smtp.lastIndexOf(':') + 1));
  const id = await send({ smtpPort: port } as StartedRelay, { to: ['nina@example.test'] });

  // watch through a second connection, as the CLI would, until the transfer is under way
  const db = openDatabase({ file: join(dataDir, 'ferry.db') });
  const repo = createRecipientsRepo(db);
  const deadline = Date.now() + 15_000;
  while (!(mx.connections > 0 && repo.forMessage(id)[0]?.leaseUntil)) {
    if (Date.now() > deadline) {
      throw new Error(`the child never claimed the recipient: ${JSON.stringify(repo.forMessage(id)[0])}, MX connections ${mx.connections}; ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGKILL');
  await exited;
  const held = repo.forMessage(id)[0]!;
  db.close();
  t.equal(held.status, 'queued', 'no outcome was recorded before the crash');
  t.ok(held.leaseUntil! > Date.now() + 10 * 60_000, 'the dead process still holds its lease');
  t.equal(mx.messages.length, 0);

  mx.setScript({});
  const relay = await startRelay(
    t,
    { ...config, log: { level: 'silent' }, smtp: undefined },
    { random: seededRandom(3) },
  );
  const [r] = await waitFor(relay.ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'delivered', 'delivered at start, long before the lease would have run out');
  t.equal(r!.attempts, 1, 'the interrupted transfer is not counted as an attempt');
  t.equal(mx.messages.length, 1, 'at least once: the MX has the message');
  t.equal(attempts(relay.ferry, id).length, 1);
});

t.test('a lease held by another node is left alone until it runs out', async (t) => {
  const mx = await startMx({ host: '127.0.0.2', tls: false });
  t.teardown(() => mx.close());
  const dns = await startDnsServer(defaultZone());
  t.teardown(() => dns.close());
  const dataDir = tempDir(t);
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  // node-a accepted a message and claimed its recipient, then died (its lease is in the database)
  const db = openDatabase({ file: join(dataDir, 'ferry.db') });
  const queue = createQueueStore(db);
  const headers = Buffer.from('From: s@ferry.test\r\nSubject: held\r\n\r\n');
  const body = Buffer.from('held by node-a\r\n');
  queue.accept([
    {
      message: {
        id: 'HELD1', createdAt: clock.now(), sender: 's@ferry.test', username: null, clientIp: '127.0.0.1', helo: 'c', tls: null,
        size: headers.length + body.length, headers, body, spoolFile: null, headerFrom: 's@ferry.test', messageIdHeader: null,
        subject: 'held', eightBit: false, smtputf8: false, kind: 'submission',
      },
      recipients: [{ address: 'omar@example.test', domain: 'example.test', status: 'queued', reason: null, category: null }],
    },
  ]);
  t.equal(queue.recipients.claim(clock.now(), clock.now() + 600_000, 'node-a.test', 10).length, 1);
  db.close();

  const b = await startRelay(
    t,
    {
      dataDir,
      hostname: 'node-b.test',
      dmarc: { mode: 'off' },
      dns: { servers: [dns.address], timeoutMs: 500, tries: 1 },
      delivery: { allowPrivateMx: true, port: mx.port },
    },
    { clock, random: seededRandom(2) },
  );
  await new Promise((r) => setTimeout(r, 200));
  t.equal(b.ferry.queue.recipients.forMessage('HELD1')[0]!.status, 'queued', 'node-b does not take node-a’s lease at start');
  t.equal(mx.connections, 0);
  clock.advance(600_000);
  const [r] = await waitFor(b.ferry, 'HELD1', isStatus('delivered'));
  t.equal(r!.attempts, 1, 'node-b delivers it once the lease has run out');
  t.match(mx.messages[0]!.raw.toString(), 'held by node-a');
});
