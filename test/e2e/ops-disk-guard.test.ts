import t from 'tap';
import { buildConfig } from '../../src/config/load.js';
import { rawSession } from '../helpers/raw-smtp.js';
import { startRelay } from '../helpers/relay.js';

/** The same config as the running relay's, with other disk thresholds. */
function withDisk(base: Record<string, unknown>, dataDir: string, disk: Record<string, unknown>) {
  return buildConfig({ ...base, disk }, dataDir);
}

t.test('below the free-space threshold MAIL FROM gets 452 4.3.1; a reload that lowers it lets mail in again', async (t) => {
  // A floor far above any real disk's free space: the guard trips at start.
  const base = { hostname: 'ferry.test', log: { level: 'silent' }, smtp: { listen: '127.0.0.1:0' } };
  const { ferry, smtpPort, dataDir } = await startRelay(t, { disk: { minFreeBytes: Number.MAX_SAFE_INTEGER } });

  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  t.equal(await c.command('MAIL FROM:<sender@ferry.test>'), '452 4.3.1 Insufficient system storage, try again later');
  t.equal(await c.command('RCPT TO:<alice@example.test>'), '503 5.5.1 Error: need MAIL command', 'no transaction was opened');

  const ready = await ferry.readiness();
  t.equal(ready.ok, false);
  t.match(ready.checks.find((x) => x.name === 'disk')!.detail, /below disk\.minFreeBytes/);
  t.match(await ferry.metrics.render(), /ferry_messages_refused_total\{phase="mail",reason="disk_full"\} 1/);
  t.match(await ferry.metrics.render(), /ferry_disk_low 1/);

  const result = await ferry.reload(withDisk({ ...base, dataDir }, dataDir, { minFreeBytes: 1024 }));
  t.equal(result.ok, true);
  t.same(result.applied, ['disk.minFreeBytes']);
  t.equal(await c.command('MAIL FROM:<sender@ferry.test>'), '250 2.1.0 Accepted', 'the same session may now send');
  t.equal((await ferry.readiness()).ok, true);
  t.match(await ferry.metrics.render(), /ferry_disk_low 0/);
});

t.test('a percentage floor trips the guard too', async (t) => {
  const { smtpPort } = await startRelay(t, { disk: { minFreeBytes: 0, minFreePercent: 100 } });
  const c = await rawSession(smtpPort);
  t.teardown(() => c.close());
  t.match(await c.command('MAIL FROM:<sender@ferry.test>'), /^452 4\.3\.1 /);
});
