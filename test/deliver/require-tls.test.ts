import t from 'tap';
import { hasTlsRequiredNo, ignoresRecipientTlsPolicy, requireTlsVerdict, type RequireTlsSessionFacts } from '../../src/deliver/require-tls.js';

/** RFC 8689 decisions as a table: the session facts deliver reports, the message's two flags. */

const good: RequireTlsSessionFacts = { mxHost: 'mx1.example.test', protocol: 'TLSv1.3', verified: true, policyApplied: 'sts-enforce', requireTlsOffered: true };

t.test('a message without REQUIRETLS is sent whatever the session', async (t) => {
  for (const s of [good, { ...good, protocol: null, verified: false, policyApplied: 'none' as const, requireTlsOffered: false }]) {
    t.same(requireTlsVerdict({ requireTls: false, tlsRequiredNo: false }, s), { send: true, requireTlsParam: false });
  }
});

t.test('REQUIRETLS: sent (and passed on) only over verified TLS, under MTA-STS enforce or DANE, to a server offering REQUIRETLS', async (t) => {
  const msg = { requireTls: true, tlsRequiredNo: false };
  t.same(requireTlsVerdict(msg, good), { send: true, requireTlsParam: true }, 'sts-enforce');
  t.same(requireTlsVerdict(msg, { ...good, policyApplied: 'dane' }), { send: true, requireTlsParam: true }, 'dane');
  const refused: [string, Partial<RequireTlsSessionFacts>, RegExp][] = [
    ['clear text', { protocol: null, verified: false }, /not encrypted/],
    ['no policy', { policyApplied: 'none' }, /not validated .* \(policy: none\)/],
    ['MTA-STS testing', { policyApplied: 'sts-testing' }, /policy: sts-testing/],
    ['certificate not verified', { verified: false }, /certificate .* not verified/],
    ['no REQUIRETLS after STARTTLS', { requireTlsOffered: false }, /does not advertise REQUIRETLS/],
  ];
  for (const [name, change, reason] of refused) {
    const v = requireTlsVerdict(msg, { ...good, ...change });
    t.equal(v.send, false, name);
    if (!v.send) {
      t.equal(v.code, 550, name);
      t.equal(v.enhanced, '5.7.30', name);
      t.match(v.reason, reason, name);
    }
  }
});

t.test('TLS-Required: No is ignored when REQUIRETLS was given (RFC 8689 §4.1)', async (t) => {
  const v = requireTlsVerdict({ requireTls: true, tlsRequiredNo: true }, { ...good, policyApplied: 'none' });
  t.equal(v.send, false);
  t.equal(ignoresRecipientTlsPolicy({ requireTls: true, tlsRequiredNo: true }), false);
  t.equal(ignoresRecipientTlsPolicy({ requireTls: false, tlsRequiredNo: true }), true);
  t.equal(ignoresRecipientTlsPolicy({ requireTls: false, tlsRequiredNo: false }), false);
});

t.test('the TLS-Required header is read with the shared header parser', async (t) => {
  const block = (s: string) => Buffer.from(`${s}\r\n`.replace(/\n/g, '\r\n').replace(/\r\r\n/g, '\r\n'));
  t.equal(hasTlsRequiredNo(block('From: a@b.test\r\nTLS-Required: No\r\nSubject: x\r\n')), true);
  t.equal(hasTlsRequiredNo(block('tls-required:   no  \r\n')), true, 'case and spacing');
  t.equal(hasTlsRequiredNo(block('TLS-Required:\r\n No\r\n')), true, 'folded');
  t.equal(hasTlsRequiredNo(block('TLS-Required: Yes\r\n')), false);
  t.equal(hasTlsRequiredNo(block('TLS-Required: No thanks\r\n')), false);
  t.equal(hasTlsRequiredNo(block('X-TLS-Required: No\r\n')), false);
  t.equal(hasTlsRequiredNo(block('TLS-Required: No\r\nTLS-Required: No\r\n')), false, 'twice: not trusted');
  t.equal(hasTlsRequiredNo(block('Subject: TLS-Required: No\r\n')), false);
  t.equal(hasTlsRequiredNo(Buffer.alloc(0)), false);
});
