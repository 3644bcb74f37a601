import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFerryProcess } from '../helpers/cli.js';
import { startDnsServer, type Zone } from '../helpers/dns-server.js';
import { startMx } from '../helpers/mx-server.js';
import { openTestStore, testPg } from '../helpers/postgres.js';
import { tempDir, type StartedRelay } from '../helpers/relay.js';
import { testCert } from '../helpers/tls.js';
import { utcDay } from '../../src/tlsrpt/sink.js';
import { send } from './fixtures/delivery.js';
import { until } from './fixtures/pg-nodes.js';
import { createPki } from './fixtures/tls-pki.js';
import { freePortOn, startPolicyServer, stsPolicy, labNet } from './fixtures/tls-lab.js';

/**
 * MTA-STS on the PostgreSQL store: `ferry start` with store.url in a child process trusting a
 * throwaway CA. The policy is cached in the cluster's mta_sts table, a downgrade (TXT removed, MX
 * moved to a server without TLS) is refused from that cache, and the sessions are counted in the
 * cluster's TLS-RPT tables. (The SQLite relay's cases: tls-mta-sts.test.ts.)
 */

const NET = labNet(4);
const HTTPS = `${NET}.1`;
const GOOD = `${NET}.10`;
const NO_TLS = `${NET}.13`;

t.test('MTA-STS through a relay on PostgreSQL: policy cached in the cluster, downgrade refused, sessions counted', async (t) => {
  const { url } = await testPg();
  const pki = createPki();
  t.teardown(() => pki.close());
  const ca = pki.ca('Ferry throwaway CA');
  const port = await freePortOn(GOOD);
  const good = await startMx({ host: GOOD, port, cert: pki.issue(ca, ['mx.pgsts.test']) });
  const noTls = await startMx({ host: NO_TLS, port, tls: false });
  t.teardown(async () => {
    await good.close();
    await noTls.close();
  });
  const web = await startPolicyServer(t, HTTPS, pki.issue(ca, ['mta-sts.pgsts.test']));
  web.set('pgsts.test', stsPolicy('enforce', ['mx.pgsts.test']));
  const zone: Zone = {
    'pgsts.test': { MX: [{ exchange: 'mx.pgsts.test', priority: 10 }] },
    'mx.pgsts.test': { A: [GOOD] },
    '_mta-sts.pgsts.test': { TXT: ['v=STSv1; id=pg1'] },
    'mta-sts.pgsts.test': { A: [HTTPS] },
  };
  const dns = await startDnsServer(zone);
  t.teardown(() => dns.close());

  const dataDir = tempDir(t);
  // The test certificate where Ferry keeps its generated one: no key generation in the child.
  const { key, cert } = testCert();
  mkdirSync(join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.key'), key, { mode: 0o600 });
  writeFileSync(join(dataDir, 'tls', 'selfsigned.crt'), cert);
  const file = join(dataDir, 'ferry.json');
  writeFileSync(
    file,
    JSON.stringify({
      hostname: 'ferry.test',
      log: { level: 'info' },
      dmarc: { mode: 'off' },
      sign: { threads: 0 },
      smtp: { listen: '127.0.0.1:0' },
      http: { listen: null },
      dns: { servers: [dns.address], timeoutMs: 1000, tries: 1 },
      delivery: { allowPrivateMx: true, port, connectTimeoutMs: 3000, greetingTimeoutMs: 3000, commandTimeoutMs: 3000, dataTimeoutMs: 3000, idleConnectionMs: 0 },
      outboundTls: { mtaSts: { fetchTimeoutMs: 3000 } },
      tlsRpt: { flushIntervalMs: 200 },
      store: { nodeName: 'sts-node', leaseMs: 5_000, heartbeatMs: 2_000 },
    }),
  );
  const proc = await startFerryProcess({ FERRY_STORE_URL: url, FERRY_DATA_DIR: dataDir, FERRY_CONFIG: file, FERRY_HTTP_LISTEN: '', FERRY_DNS_SERVERS: '', NODE_EXTRA_CA_CERTS: ca.file });
  t.teardown(async () => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await proc.exited;
  });
  const started = JSON.parse(proc.lines.find((l) => l.includes('"msg":"ferry started"'))!) as { smtp: string; store?: string };
  t.equal(started.store, 'postgres', 'the relay runs on the PostgreSQL store');
  const relay = { smtpPort: Number(started.smtp.slice(started.smtp.lastIndexOf(':') + 1)) } as StartedRelay;
  // what an operator's tools see in the cluster (not a node: no heartbeat, no leases)
  const store = await openTestStore(t, url, 'watcher', { asNode: false });
  const settled = (id: string) =>
    until(`${id} settled`, async () => {
      const rs = await store.recipients.forMessage(id);
      return rs.length > 0 && rs.every((r) => ['delivered', 'deferred', 'bounced'].includes(r.status)) ? rs : null;
    });

  const first = await send(relay, { to: ['rcpt@pgsts.test'] });
  t.equal((await settled(first))[0]!.status, 'delivered');
  t.match((await store.attempts.forMessage(first))[0], { mxHost: 'mx.pgsts.test', tlsPolicy: 'sts-enforce', tlsVerified: true, tlsResult: 'success' });
  t.match(await store.mtaSts.get('pgsts.test'), { policyId: 'pg1', mode: 'enforce', mx: ['mx.pgsts.test'] }, 'the policy is cached in the cluster');

  // the attacker removes the TXT record and points the MX at a server without STARTTLS
  delete zone['_mta-sts.pgsts.test'];
  zone['mx.pgsts.test'] = { A: [NO_TLS] };
  dns.setZone(zone);
  const second = await send(relay, { to: ['rcpt@pgsts.test'] });
  t.equal((await settled(second))[0]!.status, 'deferred', 'mail waits rather than leaks');
  t.equal(noTls.messages.length, 0, 'the attacker MX got nothing');
  t.match((await store.attempts.forMessage(second))[0]!.hops, [{ result: 'tls_failed', tls: { policy: 'sts-enforce', result: 'starttls-not-supported' } }]);
  t.equal(web.requests('pgsts.test'), 1, 'fetched once, then served from the cluster cache');
  t.ok(proc.lines.some((l) => l.includes('downgrade refused') && l.includes('pgsts.test')), 'logged: downgrade refused');

  const counted = await until('the sessions counted in the cluster', async () => {
    const p = (await store.tlsReports.day(utcDay(Date.now()))).find((x) => x.policyDomain === 'pgsts.test');
    return p && p.success + p.failure >= 2 ? p : null;
  });
  t.match(counted, { policy: { type: 'sts', mxHosts: ['mx.pgsts.test'] }, success: 1, failure: 1 });
  t.same(counted.failures.map((f) => [f.resultType, f.receivingMxHostname, f.receivingIp]), [['starttls-not-supported', 'mx.pgsts.test', NO_TLS]]);
});
