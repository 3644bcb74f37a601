import type { Test } from 'tap';
import type { EngineFactory } from './engines.js';
import type { TlsCountsDelta } from '../../../src/core/tls-store-types.js';
import { message } from './fixtures.js';

const T0 = 1_760_000_000_000;

/**
 * The contract of the MTA-STS policy cache and the TLS-RPT counts (groups `mtaSts` and
 * `tlsReports`), one function per group like groups.ts; contract.test.ts runs them with the rest.
 */
export const TLS_CONTRACT: Record<string, (t: Test, engine: EngineFactory) => Promise<void>> = {
  async mtaSts(t, engine) {
    const s = await engine.open(t);
    t.equal(await s.mtaSts.get('example.com'), null);
    const p = { domain: 'Example.COM', policyId: 'id1', mode: 'enforce' as const, mx: ['mx.example.com', '*.example.net'], maxAgeSeconds: 86400, text: 'version: STSv1', fetchedAt: T0, expiresAt: T0 + 86_400_000 };
    await s.mtaSts.put(p);
    t.same(await s.mtaSts.get('EXAMPLE.com'), { ...p, domain: 'example.com' }, 'names are matched lower-cased');
    await s.mtaSts.put({ ...p, policyId: 'id2', mode: 'testing', mx: [] });
    const again = await s.mtaSts.get('example.com');
    t.same([again?.policyId, again?.mode, again?.mx], ['id2', 'testing', []], 'put replaces');
    await s.mtaSts.delete('Example.com');
    t.equal(await s.mtaSts.get('example.com'), null);
  },

  async tlsReports(t, engine) {
    const s = await engine.open(t);
    const policy = { type: 'sts', strings: ['version: STSv1', 'mode: enforce'], mxHosts: ['mx.a.test'] };
    const delta = (day: string, domain: string, success: number, failure: number, count = 0): TlsCountsDelta => ({
      day,
      policyDomain: domain,
      policy,
      success,
      failure,
      failures: count ? [{ resultType: 'certificate-expired', receivingMxHostname: 'mx.a.test', receivingIp: '192.0.2.1', receivingMxHelo: '', failureReasonCode: 'expired', count }] : [],
    });
    await s.tlsReports.add([delta('2026-01-01', 'a.test', 3, 1, 1), delta('2026-01-01', 'b.test', 1, 0)]);
    await s.tlsReports.add([delta('2026-01-01', 'a.test', 2, 2, 2), delta('2026-01-02', 'a.test', 1, 0)]);
    await s.tlsReports.add([]);
    const day = await s.tlsReports.day('2026-01-01');
    t.same(
      day.map((d) => [d.policyDomain, d.success, d.failure, d.failures.map((f) => f.count)]),
      [
        ['a.test', 5, 3, [3]],
        ['b.test', 1, 0, []],
      ],
      'counts of one policy add up, failure details too',
    );
    t.same(day[0]!.policy, policy);
    t.same((await s.tlsReports.domain('2026-01-01', 'b.test')).map((d) => d.success), [1]);
    t.same(await s.tlsReports.pending('2026-01-01', '2026-01-02'), [
      { day: '2026-01-01', policyDomain: 'a.test' },
      { day: '2026-01-01', policyDomain: 'b.test' },
      { day: '2026-01-02', policyDomain: 'a.test' },
    ]);
    const sent = { day: '2026-01-01', policyDomain: 'a.test', destination: 'mailto:tls@a.test', state: 'queued' as const, reportId: 'r1', detail: null, at: T0 };
    await s.tlsReports.markSent(sent);
    await s.tlsReports.markSent({ ...sent, state: 'sent', at: T0 + 1 });
    await s.tlsReports.markSent({ ...sent, destination: '', state: 'done', reportId: null });
    t.same((await s.tlsReports.sent('2026-01-01', 'a.test')).map((r) => [r.destination, r.state]), [
      ['', 'done'],
      ['mailto:tls@a.test', 'sent'],
    ]);
    t.equal((await s.tlsReports.sentOnDay('2026-01-01')).length, 2);
    t.same(await s.tlsReports.pending('2026-01-01', '2026-01-02'), [
      { day: '2026-01-01', policyDomain: 'b.test' },
      { day: '2026-01-02', policyDomain: 'a.test' },
    ], 'a finished report is no longer pending');
    t.equal(await s.tlsReports.prune('2026-01-02'), 2, 'two policy rows of the first day');
    t.same(await s.tlsReports.day('2026-01-01'), []);
    t.same(await s.tlsReports.sentOnDay('2026-01-01'), []);
    t.equal((await s.tlsReports.day('2026-01-02')).length, 1);

    // A mailto: report is queued with the rows saying where it went, in one transaction.
    const report = message({ recipients: ['tlsrpt@reports.test'] });
    const queued = { day: '2026-01-02', policyDomain: 'a.test', destination: 'mailto:tlsrpt@reports.test', state: 'queued' as const, reportId: 'r2', detail: `queue id ${report.message.id}`, at: T0 };
    await s.queue.acceptTlsReport(report, [queued, { ...queued, destination: '', state: 'queued' as const }]);
    t.ok(await s.messages.get(report.message.id), 'the report mail is queued');
    t.same((await s.recipients.forMessage(report.message.id)).map((r) => [r.address, r.status]), [['tlsrpt@reports.test', 'queued']]);
    t.same((await s.tlsReports.sent('2026-01-02', 'a.test')).map((r) => [r.destination, r.state, r.reportId]), [['', 'queued', 'r2'], ['mailto:tlsrpt@reports.test', 'queued', 'r2']]);
    await t.rejects(s.queue.acceptTlsReport(message({ id: report.message.id }), [{ ...queued, policyDomain: 'c.test' }]), 'a duplicate message id is refused');
    t.same(await s.tlsReports.sent('2026-01-02', 'c.test'), [], 'and its sent rows are not written');
  },
};
