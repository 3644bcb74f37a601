import t from 'tap';
import fc from 'fast-check';
import { MAX_RECORD_CHARS, MAX_RUA, parseTlsRptRecord, selectTlsRptRecord } from '../../src/tlsrpt/record.js';

/**
 * The `_smtp._tls` TXT record (RFC 8460 §3) comes from anyone's DNS: table cases for what the
 * RFC allows and forbids, and properties for arbitrary text (never throws, only usable URIs).
 */

t.test('records the RFC allows', async (t) => {
  const cases: [string, string[]][] = [
    ['v=TLSRPTv1; rua=mailto:reports@example.com', ['mailto:reports@example.com']],
    ['v=TLSRPTv1;rua=https://reporting.example.com/v1/tlsrpt', ['https://reporting.example.com/v1/tlsrpt']],
    ['v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.net/x;', ['mailto:a@example.com', 'https://r.example.net/x']],
    ['v=TLSRPTv1 ; rua=mailto:a@example.com , mailto:b@example.org ', ['mailto:a@example.com', 'mailto:b@example.org']],
    ['v=TLSRPTv1; ext_1=foo; rua=mailto:a@example.com', ['mailto:a@example.com']],
    ['v=TLSRPTv1; rua=mailto:tls%2Breports@example.com?subject=x', ['mailto:tls%2Breports@example.com?subject=x']],
    // a duplicate destination is used once
    ['v=TLSRPTv1; rua=mailto:a@example.com,mailto:a@example.com', ['mailto:a@example.com']],
  ];
  for (const [text, uris] of cases) {
    const r = parseTlsRptRecord(text);
    t.ok(r.ok, text);
    if (r.ok) t.same(r.rua.map((u) => u.uri), uris, text);
  }
  const r = parseTlsRptRecord('v=TLSRPTv1; rua=mailto:tls%2Breports@example.com');
  t.equal(r.ok && r.rua[0]!.kind === 'mailto' ? r.rua[0]!.address : null, 'tls+reports@example.com', 'percent-decoded address');
});

t.test('records the RFC forbids or Ferry cannot use', async (t) => {
  const cases: [string, RegExp][] = [
    ['', /does not start/],
    ['v=TLSRPTv2; rua=mailto:a@example.com', /does not start/],
    ['rua=mailto:a@example.com; v=TLSRPTv1', /does not start/],
    ['v=TLSRPTv1', /no rua/],
    ['v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com', /more than one rua/],
    ['v=TLSRPTv1; ; rua=mailto:a@example.com', /malformed field/],
    ['v=TLSRPTv1; -x=1; rua=mailto:a@example.com', /malformed field name/],
    ['v=TLSRPTv1; rua=http://example.com/report', /no usable rua.*unsupported scheme/],
    ['v=TLSRPTv1; rua=ftp://example.com/report', /no usable rua/],
    ['v=TLSRPTv1; rua=mailto:not-an-address', /no usable rua/],
    ['v=TLSRPTv1; rua=mailto:a@example.com%2Cb@example.com', /no usable rua.*more than one address/],
    ['v=TLSRPTv1; rua=mailto:%E0%A4%A', /no usable rua.*percent/],
    ['v=TLSRPTv1; rua=https://user:pw@example.com/', /no usable rua/],
    [`v=TLSRPTv1; rua=mailto:a@example.com; x=${'a'.repeat(MAX_RECORD_CHARS)}`, /longer than/],
  ];
  for (const [text, reason] of cases) {
    const r = parseTlsRptRecord(text);
    t.notOk(r.ok, text.slice(0, 80));
    if (!r.ok) t.match(r.reason, reason, text.slice(0, 80));
  }
});

t.test('unusable destinations beside usable ones are reported, not fatal; at most MAX_RUA are used', async (t) => {
  const r = parseTlsRptRecord('v=TLSRPTv1; rua=http://x.example/,mailto:ok@example.com');
  t.ok(r.ok);
  if (r.ok) {
    t.same(r.rua.map((u) => u.uri), ['mailto:ok@example.com']);
    t.equal(r.ignored.length, 1);
  }
  const many = Array.from({ length: MAX_RUA + 3 }, (_, i) => `mailto:r${i}@example.com`).join(',');
  const m = parseTlsRptRecord(`v=TLSRPTv1; rua=${many}`);
  t.equal(m.ok ? m.rua.length : 0, MAX_RUA);
});

t.test('exactly one v=TLSRPTv1 record among the TXT records at the name', async (t) => {
  t.ok(selectTlsRptRecord(['google-site-verification=x', 'v=TLSRPTv1; rua=mailto:a@example.com']).ok, 'other records are discarded');
  const two = selectTlsRptRecord(['v=TLSRPTv1; rua=mailto:a@example.com', 'v=TLSRPTv1; rua=mailto:b@example.com']);
  t.notOk(two.ok);
  if (!two.ok) t.match(two.reason, /2 v=TLSRPTv1 records/);
  t.notOk(selectTlsRptRecord([]).ok);
  t.notOk(selectTlsRptRecord(['v=spf1 -all']).ok);
});

t.test('property: any text parses without throwing, quickly, into usable destinations only', async (t) => {
  const piece = fc.oneof(
    fc.constantFrom('v=TLSRPTv1', ';', ' ', '\t', 'rua=', ',', 'mailto:', 'https://', 'http://', '@', 'a@b.example', '%', '%2B', '?', '=', 'r.example/x', 'ext=1', '\u00e9', '\u0000'),
    fc.string({ maxLength: 8 }),
  );
  const text = fc.array(piece, { maxLength: 40 }).map((a) => a.join(''));
  fc.assert(
    fc.property(text, (s) => {
      const r = parseTlsRptRecord(s);
      if (!r.ok) return typeof r.reason === 'string' && r.reason.length > 0;
      if (!s.startsWith('v=TLSRPTv1') || r.rua.length === 0 || r.rua.length > MAX_RUA) return false;
      for (const u of r.rua) {
        if (u.kind === 'https' && u.url.protocol !== 'https:') return false;
        if (u.kind === 'mailto' && (!u.address.includes('@') || u.address.endsWith('@'))) return false;
      }
      return true;
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 random records');
});

t.test('property: well-formed records round-trip', async (t) => {
  const label = fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/);
  const domain = fc.tuple(label, label).map(([a, b]) => `${a}.${b}`);
  const mailto = fc.tuple(label, domain).map(([l, d]) => `mailto:${l}@${d}`);
  const https = fc.tuple(domain, label).map(([d, p]) => `https://${d}/${p}`);
  const uris = fc.uniqueArray(fc.oneof(mailto, https), { minLength: 1, maxLength: MAX_RUA });
  const ws = fc.constantFrom('', ' ', '  ', '\t');
  fc.assert(
    fc.property(uris, ws, ws, fc.boolean(), (list, a, b, trailing) => {
      const text = `v=TLSRPTv1${a};${b}rua=${list.join(`${a},${b}`)}${trailing ? ';' : ''}`;
      const r = parseTlsRptRecord(text);
      return r.ok && r.rua.map((u) => u.uri).join('|') === list.join('|');
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 generated records');
});

t.test('property: parsing time stays linear on long hostile records', async (t) => {
  const long = `v=TLSRPTv1; rua=${'mailto:a@b.example,'.repeat(200)}${';x=1'.repeat(500)}`.slice(0, MAX_RECORD_CHARS);
  const started = process.hrtime.bigint();
  for (let i = 0; i < 200; i++) parseTlsRptRecord(long);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  // Linear parsing takes milliseconds per parse; backtracking on such a record takes seconds or
  // more per parse. The bound is far from both so that a loaded machine cannot fail it.
  t.ok(ms < 20_000, `200 parses of a ${long.length}-char record took ${ms.toFixed(0)} ms`);
});
