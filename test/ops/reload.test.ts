import t from 'tap';
import { buildConfig } from '../../src/config/load.js';
import { planReload } from '../../src/ops/reload.js';

const base = { dataDir: '/tmp/ferry-plan', hostname: 'ferry.test' };
const cfg = (extra: Record<string, unknown> = {}) => buildConfig({ ...base, ...extra }, '/');

t.test('unchanged config: nothing to apply', async (t) => {
  t.same(planReload(cfg(), cfg()), { live: [], restart: [] });
});

t.test('live keys and restart keys are told apart, by their full paths', async (t) => {
  const plan = planReload(
    cfg(),
    cfg({
      dataDir: '/elsewhere',
      smtp: { listen: '0.0.0.0:25', tls: { certFile: '/c.pem', keyFile: '/k.pem' } },
      routes: { 'example.com': 'smarthost.test:587' },
      dkim: { defaultDomain: 'ferry.test' },
      dmarc: { mode: 'off' },
      suppression: { mode: 'reject' },
      delivery: { retryScheduleMinutes: [1, 2], concurrency: 5 },
      disk: { minFreeBytes: 0 },
      http: { listen: '127.0.0.1:9100' },
    }),
  );
  t.same(plan.live.sort(), [
    'delivery.retryScheduleMinutes',
    'disk.minFreeBytes',
    'dkim.defaultDomain',
    'dmarc.mode',
    'routes',
    'smtp.tls.certFile',
    'smtp.tls.keyFile',
    'suppression.mode',
  ]);
  t.same(plan.restart.sort(), ['dataDir', 'delivery.concurrency', 'http.listen', 'smtp.listen']);
});

t.test('a key unknown to the plan needs a restart (safe default)', async (t) => {
  const plan = planReload(cfg(), cfg({ spool: { commitBatchMax: 7 } }));
  t.same(plan, { live: [], restart: ['spool.commitBatchMax'] });
});
