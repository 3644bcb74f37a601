import t from 'tap';
import { readdirSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { buildConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import type { IntakeSession } from '../../src/core/message-check.js';
import type { AcceptedMessage } from '../../src/core/store-types.js';
import { createAuthThrottle } from '../../src/policy/auth-throttle.js';
import { createNetworkMatcher } from '../../src/policy/networks.js';
import { createIntake, type Intake } from '../../src/receive/intake.js';
import { createSmtpListener } from '../../src/receive/smtp-listener.js';
import { discardingStore, WARM_UP_DOMAIN } from '../../src/receive/warm-up.js';
import { createSpool } from '../../src/spool/spool.js';
import { rawSession } from '../helpers/raw-smtp.js';
import { tempDir } from '../helpers/relay.js';
import { testCert } from '../helpers/tls.js';

// The start-up warm-up (receive/warm-up.ts) runs sessions against a twin of the listener before
// it is bound. What matters: the twin's messages go through the real intake code and reach a
// store that keeps nothing; none of them reaches the real intake, the metrics observer or the
// spool; the real listener serves real clients afterwards as usual; and a warm-up that cannot
// run (loopback not a relay network) costs nothing but itself.

function harness(t: Parameters<Parameters<typeof t.test>[1]>[0], smtp: Record<string, unknown>, sessions: number) {
  const dir = tempDir(t);
  const config = buildConfig({ dataDir: dir, hostname: 'ferry.test', smtp: { listen: '127.0.0.1:0', ...smtp } }, dir).smtp;
  const real: IntakeSession[] = [];
  const intake: Intake = {
    async receive(session: IntakeSession, stream: Readable) {
      for await (const chunk of stream) void chunk;
      real.push(session);
      return { id: `real-${real.length}`, size: 1 };
    },
  };
  // Bodies as spool files (inline limit 0), so that the discarding store has something to remove.
  const spool = createSpool({ dir: `${dir}/spool`, inlineMaxBytes: 0 });
  const keeper = discardingStore(spool);
  const twinAccepted: AcceptedMessage[] = [];
  const twinIntake = createIntake({
    spool,
    store: {
      queue: {
        accept: (batch) => {
          twinAccepted.push(...batch);
          return keeper.queue.accept(batch);
        },
      },
    },
    clock: systemClock,
    newId: (() => {
      let n = 0;
      return () => `warm${++n}`;
    })(),
    hostname: 'ferry.test',
    maxHeaderBytes: config.maxHeaderBytes,
    maxMessageSizeBytes: config.maxMessageSizeBytes,
    checks: [],
    logger: silentLogger(),
  });
  const observed = { accepted: 0, refused: 0 };
  const rcptChecks: string[] = [];
  const listener = createSmtpListener({
    config,
    hostname: 'ferry.test',
    tls: testCert(),
    intake,
    authenticator: { verify: async () => null },
    throttle: createAuthThrottle(systemClock, config.authFailures),
    mayRelay: createNetworkMatcher(config.relayNetworks),
    recipientPolicy: {
      check: (address) => {
        rcptChecks.push(address.address);
        return { action: 'accept' };
      },
    },
    clock: systemClock,
    logger: silentLogger(),
    observer: { accepted: () => void observed.accepted++, refused: () => void observed.refused++ },
    // No time cap here (the default, 5 s, could end it early on a loaded machine): only the count.
    warmUp: { sessions, intake: twinIntake, maxMs: 3_600_000 },
  });
  t.teardown(() => listener.stop());
  return { listener, real, twinAccepted, observed, rcptChecks, spoolDir: `${dir}/spool` };
}

async function sendOne(port: number): Promise<string> {
  const c = await rawSession(port);
  try {
    for (const line of ['MAIL FROM:<app@source.test>', 'RCPT TO:<someone@dest.test>', 'DATA']) {
      const reply = await c.command(line);
      if (!/^[23]/.test(reply)) return reply;
    }
    return await c.command('From: app@source.test\r\nSubject: real\r\n\r\nhello\r\n.');
  } finally {
    c.close();
  }
}

t.test('warm-up sessions run through the intake into a store that keeps nothing, before the listener is bound', async (t) => {
  const h = harness(t, {}, 25);
  const { smtp } = await h.listener.start();
  t.equal(await h.listener.warmedUp(), 25, 'all 25 sessions ended with 221 before start() resolved');
  t.equal(h.twinAccepted.length, 25, "the twin's intake reached the (discarding) store once per session");
  t.ok(
    h.twinAccepted.every((m) => m.recipients.length === 1 && m.recipients[0]!.address.endsWith(`@${WARM_UP_DOMAIN}`) && m.message.sender === `warm-up@${WARM_UP_DOMAIN}`),
    'every warm-up address is under the reserved .invalid name',
  );
  t.ok(h.twinAccepted.every((m) => m.message.spoolFile !== null), 'the bodies went to spool files (inline limit 0)');
  t.same(readdirSync(h.spoolDir), [], 'and the discarding store removed every one of them');
  t.equal(h.rcptChecks.length, 25, 'the real RCPT policy was asked (a read)');
  t.equal(h.real.length, 0, 'nothing reached the real intake');
  t.same(h.observed, { accepted: 0, refused: 0 }, 'nothing was counted');

  const port = Number(smtp.slice(smtp.lastIndexOf(':') + 1));
  t.match(await sendOne(port), /^250 /, 'a real client is served afterwards');
  t.equal(h.real.length, 1, 'by the real intake');
  t.equal(h.twinAccepted.length, 25, 'not by the twin');
  t.same(h.observed, { accepted: 1, refused: 0 }, 'and counted');
});

t.test('a warm-up that cannot relay (loopback outside relayNetworks) stops at once; the listener starts as usual', async (t) => {
  const h = harness(t, { relayNetworks: ['10.0.0.0/8'], insecureAuthNetworks: ['127.0.0.0/8'] }, 25);
  await h.listener.start();
  t.equal(await h.listener.warmedUp(), 0, 'no session completed (MAIL FROM refused with 530)');
  t.equal(h.twinAccepted.length, 0, 'nothing reached the twin store');
  t.same(h.observed, { accepted: 0, refused: 0 }, "the twin's refusal is not counted either");
});

t.test('warmUpSessions 0 (the default) runs no warm-up', async (t) => {
  const h = harness(t, {}, buildConfig({ dataDir: '/nonexistent', hostname: 'x' }, '/').smtp.warmUpSessions);
  await h.listener.start();
  t.equal(await h.listener.warmedUp(), 0);
  t.equal(h.twinAccepted.length, 0);
  t.equal(h.rcptChecks.length, 0);
});

t.test('stop() during the warm-up ends it, and start() binds nothing', async (t) => {
  const h = harness(t, {}, 1_000_000);
  const starting = h.listener.start();
  // Wait (no sleep: a condition) until the warm-up is under way.
  await new Promise<void>((resolve) => {
    const poll = () => (h.twinAccepted.length > 0 ? resolve() : setImmediate(poll));
    poll();
  });
  await h.listener.stop();
  await t.rejects(starting, { code: 'FERRY_ERR_SHUTDOWN' }, 'start() refuses to bind after stop()');
  t.ok((await h.listener.warmedUp()) < 1_000_000, 'the warm-up ended early');
  t.equal(h.listener.activeSessions, 0);
});
