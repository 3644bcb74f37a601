import t from 'tap';
import { buildConfig } from '../../src/config/load.js';

/** The outbound TLS keys: what they accept, and the one-line error for what they do not. */

t.test('dns.dnssec must be a loopback resolver: its AD flag is trusted', async (t) => {
  t.match(buildConfig({ dns: { dnssec: { server: '127.0.0.1:53' } } }, '/tmp').dns.dnssec, { server: '127.0.0.1:53' });
  t.match(buildConfig({ dns: { dnssec: { server: '[::1]:5353' } } }, '/tmp').dns.dnssec, { server: '[::1]:5353' });
  t.equal(buildConfig({}, '/tmp').dns.dnssec, null, 'off by default');
  t.throws(() => buildConfig({ dns: { dnssec: { server: '192.0.2.53:53' } } }, '/tmp'), /dns\.dnssec\.server.*loopback/s);
});

t.test('route requireTls: true, false or "encrypt-only"; defaults of outboundTls', async (t) => {
  const c = buildConfig({ routes: { 'a.test': { host: 'smart.test:25', requireTls: 'encrypt-only' } } }, '/tmp');
  t.equal(c.routes['a.test']!.requireTls, 'encrypt-only');
  t.throws(() => buildConfig({ routes: { 'a.test': { host: 'smart.test:25', requireTls: 'verify' } } }, '/tmp'), /routes\.a\.test.*verify/);
  t.match(buildConfig({}, '/tmp').outboundTls, { mtaSts: { enabled: true, fetchTimeoutMs: 10_000 }, encryptOnlyDomains: [], cleartextFallback: true });
});

t.test('TLS-RPT reports are opt-in, and sending them needs an organization and a contact (RFC 8460)', async (t) => {
  t.match(buildConfig({}, '/tmp').tlsRpt, { enabled: false, organization: null, contact: null });
  t.throws(() => buildConfig({ tlsRpt: { enabled: true } }, '/tmp'), /tlsRpt\.enabled needs tlsRpt\.organization and tlsRpt\.contact/);
  t.throws(() => buildConfig({ tlsRpt: { enabled: true, organization: 'Example' } }, '/tmp'), /tlsRpt\.enabled needs/);
  t.match(buildConfig({ tlsRpt: { enabled: true, organization: 'Example', contact: 'postmaster@example.test' } }, '/tmp').tlsRpt, { enabled: true, organization: 'Example', contact: 'postmaster@example.test' });
});
