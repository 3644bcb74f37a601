import t from 'tap';
import nodemailer from 'nodemailer';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { createQueueStore } from '../../src/store/queue-store.js';
import { createSpool } from '../../src/spool/spool.js';
import { freePort, runFerry, startFerryProcess, type RunningFerry } from '../helpers/cli.js';
import { queuedId, tempDir } from '../helpers/relay.js';

interface Listed {
  id: string;
  sender: string;
  size: number;
  recipients: { address: string; status: string }[];
}

/**
 * The promise behind every 250: a message acknowledged by a Ferry that is then killed with
 * SIGKILL (no shutdown code runs at all) is in the queue when Ferry starts again.
 */
t.test('kill -9 right after 250: the message and its recipients survive a restart', async (t) => {
  const dataDir = tempDir(t);
  const port = await freePort();
  // Outbound mail goes to a closed loopback port: nothing leaves the machine, nothing is delivered.
  const configFile = join(dataDir, 'ferry.yaml');
  writeFileSync(configFile, `hostname: ferry.test\nlog:\n  level: info\nroutes:\n  "*": 127.0.0.1:${await freePort()}\n`);
  const env = { FERRY_DATA_DIR: dataDir, FERRY_SMTP_LISTEN: `127.0.0.1:${port}`, FERRY_HTTP_LISTEN: '127.0.0.1:0', FERRY_CONFIG: configFile };
  const children: RunningFerry[] = [];
  t.teardown(async () => {
    for (const c of children) {
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
      await c.exited;
    }
  });

  const first = await startFerryProcess(env);
  children.push(first);
  t.ok(first.lines.some((l) => l.includes('"msg":"ferry started"')), 'the child logged "ferry started"');

  const big = Buffer.from(
    `From: app@example.com\r\nTo: big@example.net\r\nSubject: big\r\n\r\n${Array.from({ length: 14_000 }, () => randomBytes(54).toString('base64')).join('\r\n')}\r\n`,
  );
  t.ok(big.length > 1_000_000, 'the large message is over 1 MB');

  const send = async (msg: { to: string[]; raw: Buffer | string }) => {
    const tr = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, connectionTimeout: 5000, socketTimeout: 30_000 });
    try {
      return await tr.sendMail({ envelope: { from: 'app@example.com', to: msg.to }, raw: msg.raw });
    } finally {
      tr.close();
    }
  };

  const small = await send({ to: ['one@example.net', 'two@example.org'], raw: 'From: app@example.com\r\nSubject: small\r\n\r\nhello\r\n' });
  const smallId = queuedId(small.response);
  // The large one is the last thing this process does: SIGKILL the instant its 250 arrives.
  const largeInfo = await send({ to: ['big@example.net'], raw: big });
  first.child.kill('SIGKILL');
  const largeId = queuedId(largeInfo.response);
  const died = await first.exited;
  t.equal(died.signal, 'SIGKILL', 'the relay was killed, no shutdown ran');

  // Straight after the crash, the real CLI sees both messages with their recipients in the
  // queue. (The relay may already have tried the first one against the closed route: deferred.)
  const listed = await runFerry(['messages', 'list', '--json'], { env });
  t.equal(listed.code, 0, listed.stderr);
  const rows = JSON.parse(listed.stdout) as Listed[];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const pending = (list: Listed['recipients'] | undefined) => (list ?? []).map((r) => [r.address, ['queued', 'deferred'].includes(r.status) ? 'pending' : r.status]);
  t.same(pending(byId.get(smallId)?.recipients), [['one@example.net', 'pending'], ['two@example.org', 'pending']]);
  t.same(pending(byId.get(largeId)?.recipients), [['big@example.net', 'pending']]);

  // The large body is in its spool file, whole.
  const db = openDatabase({ file: join(dataDir, 'ferry.db') });
  const row = createQueueStore(db).messages.get(largeId)!;
  db.close();
  t.equal(row.spoolFile, `${largeId}.eml`, 'the large body is a spool file');
  const chunks: Buffer[] = [];
  for await (const c of createSpool({ dir: join(dataDir, 'spool'), inlineMaxBytes: 0 }).open({ headers: row.headers, inline: null, file: row.spoolFile })) chunks.push(c as Buffer);
  const stored = Buffer.concat(chunks);
  t.ok(stored.subarray(stored.length - big.length).equals(big), 'the spool file holds the body byte for byte');

  // Restart on the same data directory: recovery keeps both, nothing is lost.
  const second = await startFerryProcess(env);
  children.push(second);
  const after = JSON.parse((await runFerry(['messages', 'list', '--json'], { env })).stdout) as Listed[];
  const afterById = new Map(after.map((r) => [r.id, r]));
  for (const id of [smallId, largeId]) {
    const m = afterById.get(id);
    t.ok(m, `message ${id} is there after the restart`);
    for (const r of m?.recipients ?? []) t.ok(['queued', 'deferred'].includes(r.status), `${r.address} still pending (${r.status})`);
  }
  t.notOk(second.lines.some((l) => /lost its spool file|missing at start-up/.test(l)), 'recovery found no lost body');

  // A clean stop after the restart: exit code 0.
  second.child.kill('SIGTERM');
  const stopped = await second.exited;
  t.equal(stopped.code, 0, `clean exit after SIGTERM ${second.stderr()}`);
  t.ok(second.lines.some((l) => l.includes('"msg":"ferry stopped"')), 'logged "ferry stopped"');
});
