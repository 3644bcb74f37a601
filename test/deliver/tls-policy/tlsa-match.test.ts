import t from 'tap';
import fc from 'fast-check';
import { createHash, X509Certificate } from 'node:crypto';
import { daneCheck, isUsableTlsa, tlsaMatchesCert, type TlsaRecord } from '../../../src/deliver/tls-policy/tlsa-match.js';
import { createPki, firstDer } from '../../e2e/fixtures/tls-pki.js';

const pki = createPki();
t.teardown(() => pki.close());
const ca = pki.ca('TLSA test CA');
const leafPem = pki.issue(ca, ['mx.example.test']);
const leaf = firstDer(leafPem.cert);
const caDer = firstDer(ca.cert);
const self = firstDer(pki.selfSigned(['mx.example.test']).cert);
const spki = (der: Buffer): Buffer => new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
const sha = (alg: string, b: Buffer): Buffer => createHash(alg).update(b).digest();
const now = Date.now();

t.test('selectors and matching types', async (t) => {
  for (const [selector, data] of [[0, leaf], [1, spki(leaf)]] as const) {
    t.ok(tlsaMatchesCert({ usage: 3, selector, matchingType: 0, data }, leaf), `selector ${selector}, exact`);
    t.ok(tlsaMatchesCert({ usage: 3, selector, matchingType: 1, data: sha('sha256', data) }, leaf), `selector ${selector}, SHA-256`);
    t.ok(tlsaMatchesCert({ usage: 3, selector, matchingType: 2, data: sha('sha512', data) }, leaf), `selector ${selector}, SHA-512`);
    t.notOk(tlsaMatchesCert({ usage: 3, selector, matchingType: 1, data: sha('sha256', data) }, self), 'another certificate does not match');
  }
});

t.test('DANE-EE: the leaf matches, names and dates are not checked', async (t) => {
  const r: TlsaRecord = { usage: 3, selector: 1, matchingType: 1, data: sha('sha256', spki(self)) };
  t.match(daneCheck([r], [self], 'some-other-name.test', now), { verified: true, detail: 'DANE-EE' });
  t.match(daneCheck([r], [leaf], 'mx.example.test', now), { verified: false, result: 'validation-failure' });
});

t.test('DANE-TA: path from the leaf to the matched anchor, name checked', async (t) => {
  const r: TlsaRecord = { usage: 2, selector: 0, matchingType: 1, data: sha('sha256', caDer) };
  t.match(daneCheck([r], [leaf, caDer], 'mx.example.test', now), { verified: true, detail: 'DANE-TA' });
  t.match(daneCheck([r], [leaf, caDer], 'other.example.test', now), { verified: false, result: 'certificate-host-mismatch' });
  // the anchor must be in the presented chain (RFC 7672 §3.2.1)
  t.match(daneCheck([r], [leaf], 'mx.example.test', now), { verified: false });
  // a leaf not issued by the anchor does not chain to it
  t.match(daneCheck([r], [self, caDer], 'mx.example.test', now), { verified: false, result: 'validation-failure' });
  // outside the leaf's validity
  t.match(daneCheck([r], [leaf, caDer], 'mx.example.test', now + 30 * 86400_000), { verified: false, result: 'certificate-expired' });
  // usage 2 must not match the leaf itself
  t.match(daneCheck([{ usage: 2, selector: 0, matchingType: 0, data: leaf }], [leaf, caDer], 'mx.example.test', now), { verified: false });
});

t.test('a digest of the wrong length, or empty data, makes a record unusable', async (t) => {
  t.notOk(isUsableTlsa({ usage: 3, selector: 0, matchingType: 0, data: Buffer.alloc(0) }));
  t.notOk(isUsableTlsa({ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(31) }));
  t.notOk(isUsableTlsa({ usage: 3, selector: 1, matchingType: 2, data: Buffer.alloc(32) }));
  t.match(daneCheck([{ usage: 3, selector: 0, matchingType: 0, data: Buffer.alloc(0) }], [Buffer.alloc(0)], 'x', now), { verified: false, result: 'tlsa-invalid' });
});

t.test('only usages 2 and 3 count (PKIX-TA/EE are not for SMTP)', async (t) => {
  for (const usage of [0, 1]) {
    const r: TlsaRecord = { usage, selector: 0, matchingType: 0, data: leaf };
    t.notOk(isUsableTlsa(r));
    t.match(daneCheck([r], [leaf], 'mx.example.test', now), { verified: false, result: 'tlsa-invalid' });
  }
});

t.test('property: TLSA records from DNS are untrusted; any record never throws and matches only its own digest', async () => {
  const record = fc.record({
    usage: fc.integer({ min: 0, max: 255 }),
    selector: fc.integer({ min: 0, max: 255 }),
    matchingType: fc.integer({ min: 0, max: 255 }),
    data: fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
  });
  fc.assert(
    fc.property(fc.array(record, { maxLength: 5 }), fc.array(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)), { maxLength: 3 }), (records, junkChain) => {
      const a = daneCheck(records, [leaf, caDer], 'mx.example.test', now);
      const b = daneCheck(records, junkChain, 'mx.example.test', now);
      // random bytes cannot be the digest of our certificates, nor a parsable certificate
      return !a.verified && !b.verified;
    }),
    { numRuns: 500 },
  );
});
