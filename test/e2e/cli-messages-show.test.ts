import t from 'tap';
import { ManualClock } from '../../src/core/clock.js';
import { runFerry } from '../helpers/cli.js';
import { isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

// `ferry messages show` and `ferry queue list` through the real command, on a relay's data.

const LONG_REPLY = `4.3.0 ${'Greylisted: the server is busy and this text goes on '.repeat(14).trim()}`;

t.test('deferred with a long reply, then delivered: table fits the width, no category on the delivered recipient', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const { mx, ferry, relay } = await setupDelivery(t, {
    clock,
    mx: { tls: false, script: { data: (n) => (n === 1 ? { code: 451, message: LONG_REPLY } : null) } },
    delivery: { retryScheduleMinutes: [5], retryJitter: 0 },
  });
  const id = await send(relay, { to: ['carol@example.test'] });
  await waitFor(ferry, id, isStatus('deferred'));
  clock.advance(5 * 60_000);
  await waitFor(ferry, id, isStatus('delivered'));
  t.equal(mx!.messages.length, 1);
  const env = { FERRY_DATA_DIR: relay.dataDir };

  const shown = await runFerry(['messages', 'show', id], { env });
  t.equal(shown.code, 0, shown.stderr);
  const widest = Math.max(...shown.stdout.split('\n').map((l) => l.length));
  t.ok(widest <= 120, `not a terminal: at most 120 columns (widest line: ${widest})`);
  t.match(shown.stdout, /Greylisted/, 'the long reply is there, wrapped');
  const [recipientsPart, rest] = shown.stdout.split('\nattempts\n');
  t.match(recipientsPart, /carol@example\.test.*delivered/);
  t.notMatch(recipientsPart, /temporary/, 'a delivered recipient shows no category');
  t.match(rest, /temporary/, 'the deferred attempt keeps its category');

  const narrow = await runFerry(['messages', 'show', id], { env: { ...env, COLUMNS: '80' } });
  const tooWide = narrow.stdout.split('\n').filter((l) => l.length > 80);
  t.same(tooWide, [], 'COLUMNS=80: at most 80 columns');
  t.match(narrow.stdout, new RegExp(id), 'the queue id is not cut');

  const json = await runFerry(['messages', 'show', id, '--json'], { env });
  const doc = JSON.parse(json.stdout) as { recipients: { status: string; category: string | null }[]; attempts: { reply: string | null }[] };
  t.same(doc.recipients.map((r) => [r.status, r.category]), [['delivered', null]], 'stored without a category');
  t.equal(doc.attempts[0]!.reply, `451 ${LONG_REPLY}`, '--json keeps the full reply');
});
