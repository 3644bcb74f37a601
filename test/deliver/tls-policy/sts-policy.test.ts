import t from 'tap';
import fc from 'fast-check';
import { MAX_AGE_LIMIT_SECONDS, parseStsPolicy, parseStsTxt } from '../../../src/deliver/tls-policy/sts-policy.js';

t.test('policy files', async (t) => {
  t.same(parseStsPolicy('version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n'), {
    ok: true,
    policy: { mode: 'enforce', mx: ['mx1.example.com', '*.example.net'], maxAgeSeconds: 604800 },
  });
  t.match(parseStsPolicy('version: STSv1\nmode: testing\nmx: mx\nmax_age: 86400\n'), { ok: true, policy: { mode: 'testing' } });
  t.match(parseStsPolicy('version: STSv1\nmode: none\nmax_age: 86400\n'), { ok: true, policy: { mode: 'none', mx: [] } });
  t.match(parseStsPolicy('version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n'), { ok: false, error: /version/i });
  t.match(parseStsPolicy('version: STSv1\nmode: always\nmx: a\nmax_age: 1\n'), { ok: false, error: /mode/i });
  t.match(parseStsPolicy('version: STSv1\nmode: enforce\nmax_age: 1\n'), { ok: false, error: /mx/ });
  t.match(parseStsPolicy('version: STSv1\nmode: enforce\nmx: a\nmax_age: 1.5\n'), { ok: false, error: /max_age/ });
  t.match(parseStsPolicy(`version: STSv1\nmode: enforce\nmx: a\nmax_age: ${MAX_AGE_LIMIT_SECONDS + 1}\n`), { ok: false, error: /max_age/ });
  t.match(parseStsPolicy('<html>not a policy</html>'), { ok: false });
});

t.test('TXT records', async (t) => {
  t.same(parseStsTxt(['v=STSv1; id=20160831085700Z;']), { ok: true, id: '20160831085700Z' });
  t.same(parseStsTxt(['some other record', 'v=STSv1;id=abc']), { ok: true, id: 'abc' });
  t.match(parseStsTxt([]), { ok: false });
  t.match(parseStsTxt(['v=STSv1; id=a', 'v=STSv1; id=b']), { ok: false, error: /more than one/ });
  t.match(parseStsTxt(['v=STSv1; id=not valid!']), { ok: false });
  t.match(parseStsTxt(['v=STSv10; id=a']), { ok: false });
});

// The policy file and TXT record come from the network: whatever they hold, parsing returns a value
const policyLine = fc.oneof(
  fc.constantFrom('version: STSv1', 'mode: enforce', 'mode: testing', 'mode: none', 'mx: mx.example.com', 'mx: *.example.com', 'max_age: 86400'),
  fc.tuple(fc.constantFrom('version', 'mode', 'mx', 'max_age', 'x'), fc.string({ maxLength: 20 })).map(([k, v]) => `${k}:${v}`),
  fc.string({ maxLength: 40 }),
);

t.test('property: untrusted policy text never throws, and what parses is a policy Ferry can apply', async () => {
  fc.assert(
    fc.property(fc.array(policyLine, { maxLength: 12 }), fc.constantFrom('\n', '\r\n'), (lines, eol) => {
      const r = parseStsPolicy(lines.join(eol));
      if (!r.ok) return typeof r.error === 'string';
      const p = r.policy;
      return (
        ['enforce', 'testing', 'none'].includes(p.mode) &&
        Number.isInteger(p.maxAgeSeconds) &&
        p.maxAgeSeconds >= 0 &&
        p.maxAgeSeconds <= MAX_AGE_LIMIT_SECONDS &&
        (p.mode === 'none' || p.mx.length > 0) &&
        p.mx.every((m) => typeof m === 'string' && m.length > 0)
      );
    }),
    { numRuns: 2000 },
  );
});

t.test('property: untrusted TXT records never throw; an id is 1-32 letters and digits', async () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.string({ maxLength: 60 }), fc.string({ maxLength: 40 }).map((s) => `v=STSv1; id=${s}`)), { maxLength: 4 }), (records) => {
      const r = parseStsTxt(records);
      return r.ok ? /^[A-Za-z0-9]{1,32}$/.test(r.id) : typeof r.error === 'string';
    }),
    { numRuns: 2000 },
  );
});
