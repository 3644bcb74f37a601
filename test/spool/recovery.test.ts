import t from 'tap';
import { writeFileSync, unlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/load.js';
import { createFerry } from '../../src/main.js';
import { accepted } from '../helpers/store.js';
import { tempDir } from '../helpers/relay.js';
import type { DnsResolver } from '../../src/core/resolver.js';

/**
 * DNS that answers nothing until the test is over: the recovered messages stay queued while they
 * are checked. (With the system's resolver, delivery raced the checks: on a machine whose DNS said
 * example.net does not exist, the inline message had bounced before it was looked at.)
 */
function silentDns(): { resolver: DnsResolver; release(): void } {
  const waiting: Array<(e: Error) => void> = [];
  let released = false;
  const lookup = <T>(): Promise<T> =>
    new Promise<T>((_resolve, reject) => {
      const fail = (e: Error) => reject(e);
      if (released) fail(Object.assign(new Error('no DNS in this test'), { code: 'ESERVFAIL' }));
      else waiting.push(fail);
    });
  return {
    resolver: { resolveMx: lookup, resolve4: lookup, resolve6: lookup, resolveTxt: lookup, reverse: lookup },
    release() {
      released = true;
      for (const fail of waiting.splice(0)) fail(Object.assign(new Error('no DNS in this test'), { code: 'ESERVFAIL' }));
    },
  };
}

t.test('start-up recovery: temp files and orphans are removed, a lost body expires its recipients', async (t) => {
  const dataDir = tempDir(t);
  const config = buildConfig({ dataDir, hostname: 'ferry.test', smtp: { listen: '127.0.0.1:0' }, http: { listen: null }, log: { level: 'silent' } }, dataDir);

  // First life: commit three messages, two with spool files.
  const first = createFerry(config);
  const spoolDir = first.spool.dir;
  const inline = accepted({ recipients: ['a@example.net'] });
  const kept = accepted({ recipients: ['b@example.net'], spoolFile: 'KEPT.eml' });
  const lost = accepted({ recipients: ['c@example.net', 'd@example.net'], spoolFile: 'LOST.eml' });
  kept.message.id = 'KEPT';
  lost.message.id = 'LOST';
  writeFileSync(join(spoolDir, 'KEPT.eml'), 'kept body\r\n');
  writeFileSync(join(spoolDir, 'LOST.eml'), 'lost body\r\n');
  first.queue.accept([inline, kept, lost]);
  const [d] = first.queue.recipients.forMessage('LOST').slice(1);
  first.queue.recipients.changeStatus(d!.id, { status: 'delivered', at: 1, nextAttemptAt: null, attempted: true });
  first.db.close();

  // The crash: a half-written temp file, a complete file whose row never committed, a lost body.
  writeFileSync(join(spoolDir, 'HALF.eml.tmp'), 'half');
  writeFileSync(join(spoolDir, 'ORPHAN.eml'), 'never acknowledged');
  unlinkSync(join(spoolDir, 'LOST.eml'));

  const dns = silentDns();
  const second = createFerry(config, { resolver: dns.resolver });
  await second.start();
  t.teardown(async () => {
    dns.release();
    await second.stop();
  });

  t.equal(existsSync(join(spoolDir, 'HALF.eml.tmp')), false, 'temp file removed');
  t.equal(existsSync(join(spoolDir, 'ORPHAN.eml')), false, 'orphan removed');
  t.equal(existsSync(join(spoolDir, 'KEPT.eml')), true, 'a referenced file is kept');
  t.same(second.spool.list().map((f) => f.file), ['KEPT.eml']);

  t.same(second.queue.recipients.forMessage(inline.message.id).map((r) => r.status), ['queued'], 'inline message untouched');
  t.same(second.queue.recipients.forMessage('KEPT').map((r) => r.status), ['queued'], 'message with its file untouched');
  const lostRows = second.queue.recipients.forMessage('LOST');
  t.same(lostRows.map((r) => [r.address, r.status]), [['c@example.net', 'expired'], ['d@example.net', 'delivered']], 'pending recipient expired, delivered one kept');
  t.match(lostRows[0]!.lastReply, /spool file missing/);
  const ev = second.queue.events.forMessage('LOST').filter((e) => e.type === 'expired');
  t.equal(ev.length, 1, 'one expired event');
  t.match(ev[0]!.detail, { reason: /spool file missing/ });
});
