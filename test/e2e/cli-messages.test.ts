import t from 'tap';
import nodemailer from 'nodemailer';
import { runFerry } from '../helpers/cli.js';
import { queuedId, startRelay } from '../helpers/relay.js';

interface Listed {
  id: string;
  createdAt: string;
  sender: string;
  subject: string | null;
  recipients: { address: string; status: string }[];
}

t.test('messages list and show, as the CLI reports them', async (t) => {
  const relay = await startRelay(t);
  const env = { FERRY_DATA_DIR: relay.dataDir };
  const tr = nodemailer.createTransport({ host: '127.0.0.1', port: relay.smtpPort, ignoreTLS: true });
  t.teardown(() => tr.close());
  const a = queuedId((await tr.sendMail({ from: 'app@example.com', to: ['x@example.net', 'y@example.org'], subject: 'first', text: '1' })).response);
  const b = queuedId((await tr.sendMail({ from: 'other@example.com', to: 'z@example.net', subject: 'second', text: '2' })).response);

  const all = await runFerry(['messages', 'list', '--json'], { env });
  t.equal(all.code, 0, all.stderr);
  const rows = JSON.parse(all.stdout) as Listed[];
  t.same(rows.map((r) => r.id), [b, a], 'newest first');
  t.same(rows[1]!.recipients.map((r) => r.address), ['x@example.net', 'y@example.org']);
  t.equal(rows[1]!.subject, 'first');
  t.match(rows[0]!.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const byRecipient = JSON.parse((await runFerry(['messages', 'list', '--json', '--recipient', 'Z@example.net'], { env })).stdout) as Listed[];
  t.same(byRecipient.map((r) => r.id), [b], '--recipient (case-insensitive)');
  const since = JSON.parse((await runFerry(['messages', 'list', '--json', '--since', '1h'], { env })).stdout) as Listed[];
  t.equal(since.length, 2, '--since 1h');
  const future = JSON.parse((await runFerry(['messages', 'list', '--json', '--since', '2999-01-01'], { env })).stdout) as Listed[];
  t.same(future, [], '--since a future date');
  const bounced = JSON.parse((await runFerry(['messages', 'list', '--json', '--status', 'bounced'], { env })).stdout) as Listed[];
  t.same(bounced, [], '--status bounced: none');
  t.equal((await runFerry(['messages', 'list', '--limit', '1', '--json'], { env })).stdout.includes(a), false, '--limit 1 shows only the newest');

  const table = await runFerry(['messages', 'list'], { env });
  t.match(table.stdout, new RegExp(`${a}.*2 recipients`));

  const badStatus = await runFerry(['messages', 'list', '--status', 'lost'], { env });
  t.equal(badStatus.code, 2);
  t.match(badStatus.stderr, /^ferry: --status "lost": expected one of queued, deferred, delivered, bounced, dropped, expired\n$/);
  const badSince = await runFerry(['messages', 'list', '--since', 'yesterday-ish'], { env });
  t.equal(badSince.code, 2);

  const show = await runFerry(['messages', 'show', a, '--json'], { env });
  t.equal(show.code, 0);
  const detail = JSON.parse(show.stdout) as { message: { id: string; sender: string }; recipients: { address: string }[]; events: { type: string; recipient: string }[] };
  t.equal(detail.message.id, a);
  t.equal(detail.message.sender, 'app@example.com');
  t.same(detail.recipients.map((r) => r.address), ['x@example.net', 'y@example.org']);
  t.same(detail.events.slice(0, 2).map((e) => [e.recipient, e.type]), [['x@example.net', 'queued'], ['y@example.org', 'queued']], 'the history starts with acceptance');

  const human = await runFerry(['messages', 'show', a], { env });
  t.match(human.stdout, new RegExp(`^message ${a}\\n`));
  t.match(human.stdout, /sender\s+app@example\.com/);
  t.match(human.stdout, /history/);

  const missing = await runFerry(['messages', 'show', 'NOPE'], { env });
  t.equal(missing.code, 1);
  t.equal(missing.stderr, 'ferry: no message with id NOPE\n');
});
