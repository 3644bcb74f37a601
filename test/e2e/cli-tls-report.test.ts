import t from 'tap';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { createTlsReportRepo } from '../../src/store/tls-report-repo.js';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

// `ferry tls report` through the real command: a table for people, --json for scripts, and one
// clear line on stderr for a bad day or a --send the configuration does not allow.

function seed(dataDir: string): void {
  const db = openDatabase({ file: join(dataDir, 'ferry.db') });
  const repo = createTlsReportRepo(db);
  repo.add([
    {
      day: '2026-03-10',
      policyDomain: 'example.test',
      policy: { type: 'sts', strings: ['version: STSv1', 'mode: enforce'], mxHosts: ['*.example.test'] },
      success: 7,
      failure: 2,
      failures: [{ resultType: 'certificate-expired', receivingMxHostname: 'mx1.example.test', receivingIp: '192.0.2.1', receivingMxHelo: '', failureReasonCode: '', count: 2 }],
    },
    { day: '2026-03-11', policyDomain: 'other.test', policy: { type: 'no-policy-found', strings: [], mxHosts: [] }, success: 1, failure: 0, failures: [] },
  ]);
  repo.markSent({ day: '2026-03-10', policyDomain: 'example.test', destination: 'mailto:r@example.test', state: 'queued', reportId: 'x', detail: 'queue id Q1', at: Date.UTC(2026, 2, 11, 0, 30) });
  db.close();
}

t.test('tls report: the day\'s counts as a table and as JSON', async (t) => {
  const dir = tempDir(t);
  seed(dir);
  const env = { FERRY_DATA_DIR: dir };
  const human = await runFerry(['tls', 'report', '--day', '2026-03-10'], { env });
  t.equal(human.code, 0, human.stderr);
  t.match(human.stdout, /TLS sessions on 2026-03-10 \(UTC\)/);
  t.match(human.stdout, /example\.test/);
  t.match(human.stdout, /certificate-expired mx1\.example\.test\[192\.0\.2\.1\]: 2/);
  t.match(human.stdout, /mailto:r@example\.test/);
  t.notMatch(human.stdout, /other\.test/, 'another day is not shown');

  const machine = await runFerry(['tls', 'report', '--day', '2026-03-10', '--json'], { env });
  t.equal(machine.code, 0, machine.stderr);
  const out = JSON.parse(machine.stdout) as { day: string; policies: { policyDomain: string; successful: number; failed: number; failures: { resultType: string; count: number }[] }[]; sent: { destination: string; state: string }[] };
  t.equal(out.day, '2026-03-10');
  t.same(out.policies.map((p) => [p.policyDomain, p.successful, p.failed, p.failures.map((f) => [f.resultType, f.count])]), [['example.test', 7, 2, [['certificate-expired', 2]]]]);
  t.same(out.sent.map((s) => [s.destination, s.state]), [['mailto:r@example.test', 'queued']]);

  const empty = await runFerry(['tls', 'report', '--day', '2026-01-01'], { env });
  t.equal(empty.code, 0);
  t.match(empty.stdout, /No TLS sessions counted on 2026-01-01/);
});

t.test('tls report: a bad --day and a --send without tlsRpt.enabled are one line on stderr', async (t) => {
  const dir = tempDir(t);
  seed(dir);
  const env = { FERRY_DATA_DIR: dir };
  const bad = await runFerry(['tls', 'report', '--day', '2026-02-30'], { env });
  t.not(bad.code, 0);
  t.match(bad.stderr, /--day must be a date YYYY-MM-DD, got "2026-02-30"/);
  t.equal(bad.stderr.trim().split('\n').length, 1);
  const send = await runFerry(['tls', 'report', '--send'], { env });
  t.not(send.code, 0);
  t.match(send.stderr, /tlsRpt\.enabled is false/);
  t.equal(send.stderr.trim().split('\n').length, 1);
});
