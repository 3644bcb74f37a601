import t from 'tap';
import fc from 'fast-check';
import { mxMatches, policyAllowsMx } from '../../../src/deliver/tls-policy/mx-match.js';

t.test('MTA-STS MX patterns (RFC 8461 §4.1)', async (t) => {
  const cases: [string, string, boolean][] = [
    ['mx.example.com', 'mx.example.com', true],
    ['MX.Example.COM', 'mx.example.com.', true],
    ['mx.example.com', 'mx2.example.com', false],
    ['*.example.com', 'mx.example.com', true],
    ['*.example.com', 'MX.EXAMPLE.COM.', true],
    // a wildcard is exactly one label: mailauth 4.13 accepts these, Ferry must not
    ['*.example.com', 'a.b.example.com', false],
    ['*.example.com', 'example.com', false],
    ['*.example.com', '.example.com', false],
    ['*.example.com', 'mx.example.com.evil.test', false],
    ['*.example.com', 'mxexample.com', false],
    ['*.*.example.com', 'a.b.example.com', false],
    ['*.', 'com', false],
    ['', 'mx.example.com', false],
    ['mx.example.com', '', false],
  ];
  for (const [pattern, host, want] of cases) t.equal(mxMatches(pattern, host), want, `${pattern} vs ${host}`);
  t.ok(policyAllowsMx(['mx1.example.com', '*.backup.example.com'], 'x.backup.example.com'));
  t.notOk(policyAllowsMx([], 'mx.example.com'));
});

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));

t.test('property: a wildcard matches a host iff the host is one non-empty label plus the suffix', async () => {
  fc.assert(
    fc.property(name, fc.array(label, { minLength: 0, maxLength: 3 }), name, (suffix, extra, other) => {
      const pattern = `*.${suffix}`;
      // exactly one label in front
      if (!mxMatches(pattern, `${extra[0] ?? 'x'}.${suffix}`)) return false;
      // two or more labels in front never match
      if (extra.length >= 2 && mxMatches(pattern, `${extra.join('.')}.${suffix}`)) return false;
      // the bare suffix never matches
      if (mxMatches(pattern, suffix)) return false;
      // an unrelated name matches only when it really has the form
      const m = mxMatches(pattern, other);
      const dot = other.indexOf('.');
      return m === (dot > 0 && other.slice(dot + 1) === suffix);
    }),
  );
});

t.test('property: any input strings, never throws, exact names are case-insensitive', async () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), (a, b) => {
      mxMatches(a, b);
      return true;
    }),
  );
  fc.assert(fc.property(name, (n) => mxMatches(n.toUpperCase(), `${n}.`)));
});
