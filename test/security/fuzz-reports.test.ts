import t from 'tap';
import fc from 'fast-check';
import { parseInboundReport, REPORT_PARSE_LIMITS } from '../../src/bounce/report-parse.js';
import { growth, LINEAR_RATIO_BOUND } from '../helpers/linear-time.js';

/**
 * Property-based tests for parseInboundReport (anyone on the internet chooses its input):
 * it never throws, reads back every generated delivery report and complaint, and its cost
 * grows linearly with the input (and stops growing past its bound, mimeMaxBytes).
 */
const address = fc.tuple(fc.stringMatching(/^[a-z0-9][a-z0-9.+_-]{0,14}$/), fc.stringMatching(/^[a-z0-9]{1,10}\.[a-z]{2,6}$/)).map(([l, d]) => `${l}@${d}`);
const recipient = fc.record({
  address,
  action: fc.constantFrom('failed', 'delayed', 'delivered', 'relayed', 'expanded'),
  status: fc.tuple(fc.constantFrom('2', '4', '5'), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 999 })).map((p) => p.join('.')),
  diagnostic: fc.option(fc.stringMatching(/^[2-5][0-9]{2} [ -~]{0,60}$/), { nil: null }),
  remoteMta: fc.option(fc.stringMatching(/^[a-z]{1,10}\.[a-z]{2,5}$/), { nil: null }),
});
const encoding = fc.constantFrom('7bit', 'base64', 'quoted-printable');

function encode(text: string, cte: string): string {
  if (cte === 'base64') return Buffer.from(text).toString('base64').replace(/.{1,76}/g, '$&\r\n');
  if (cte === 'quoted-printable') return text.replace(/=/g, '=3D');
  return text;
}

interface Rcpt {
  address: string;
  action: string;
  status: string;
  diagnostic: string | null;
  remoteMta: string | null;
}

function dsn(reportingMta: string, rcpts: Rcpt[], cte: string, human: string): Buffer {
  const fields = [`Reporting-MTA: dns; ${reportingMta}`, ''];
  for (const r of rcpts) {
    fields.push(`Final-Recipient: rfc822; ${r.address}`, `Action: ${r.action}`, `Status: ${r.status}`);
    if (r.remoteMta) fields.push(`Remote-MTA: dns; ${r.remoteMta}`);
    if (r.diagnostic) fields.push(`Diagnostic-Code: smtp; ${r.diagnostic}`);
    fields.push('');
  }
  return Buffer.from(
    [
      'From: MAILER-DAEMON@mx.test',
      'Subject: Undelivered',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="=_b"',
      '',
      '--=_b',
      'Content-Type: text/plain; charset=utf-8',
      '',
      human,
      '--=_b',
      'Content-Type: message/delivery-status',
      `Content-Transfer-Encoding: ${cte}`,
      '',
      encode(fields.join('\r\n'), cte),
      '--=_b--',
      '',
    ].join('\r\n'),
  );
}

t.test('delivery reports read back: every recipient block, in order, whatever the transfer encoding', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.stringMatching(/^[a-z]{1,12}\.[a-z]{2,5}$/),
      fc.array(recipient, { minLength: 1, maxLength: 8 }),
      encoding,
      fc.stringMatching(/^[A-Za-z][ -~]{0,80}$/),
      async (mta, rcpts, cte, human) => {
        const r = await parseInboundReport(dsn(mta, rcpts, cte, human));
        t.equal(r.kind, 'dsn');
        if (r.kind !== 'dsn') return;
        t.equal(r.reportingMta, mta);
        t.equal(r.humanText, human.trim());
        t.same(
          r.recipients.map((x) => [x.finalRecipient, x.action, x.status, x.diagnostic, x.remoteMta]),
          // Field values are trimmed (RFC 5322 unfolding), so is the expectation.
          rcpts.map((x) => [x.address, x.action, x.status, x.diagnostic === null ? null : x.diagnostic.trim(), x.remoteMta]),
        );
      },
    ),
    { numRuns: 300 },
  );
});

t.test('complaints read back: feedback type and every Original-Rcpt-To', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('abuse', 'fraud', 'virus', 'other'), fc.array(address, { minLength: 1, maxLength: 5 }), fc.option(fc.stringMatching(/^[A-Za-z]{1,10}\/[0-9.]{1,5}$/), { nil: null }), async (type, rcpts, ua) => {
      const raw = Buffer.from(
        [
          'Content-Type: multipart/report; report-type=feedback-report; boundary="b"',
          '',
          '--b',
          'Content-Type: message/feedback-report',
          '',
          `Feedback-Type: ${type}`,
          ...(ua ? [`User-Agent: ${ua}`] : []),
          ...rcpts.map((a) => `Original-Rcpt-To: <${a}>`),
          '--b--',
          '',
        ].join('\r\n'),
      );
      t.match(await parseInboundReport(raw), { kind: 'complaint', feedbackType: type, userAgent: ua, originalRcptTo: rcpts });
    }),
    { numRuns: 300 },
  );
});

const mimeish = fc.array(
  fc.oneof(
    fc.constantFrom('\r\n', '\n', '--b', '--b--', 'Content-Type: multipart/report; boundary="b"', 'Content-Type: message/delivery-status', 'Content-Type: message/feedback-report', 'Content-Transfer-Encoding: base64', 'Final-Recipient: rfc822; a@b', 'Action: failed', 'Status: 5.1.1', ': ', ' ', '='),
    fc.string({ maxLength: 8 }),
    fc.string({ unit: 'binary', maxLength: 8 }),
  ),
  { maxLength: 80 },
);

t.test('any input: never throws; the result keeps its invariants', async (t) => {
  await fc.assert(
    fc.asyncProperty(mimeish, async (parts) => {
      const raw = Buffer.from(parts.join(''), 'latin1');
      const r = await parseInboundReport(raw);
      t.ok(['dsn', 'complaint', 'other'].includes(r.kind));
      t.ok(r.searchText.startsWith(raw.toString('latin1')), 'the raw text is searched for VERP addresses');
      if (r.kind === 'dsn') {
        t.ok(r.recipients.length >= 1 && r.recipients.length <= REPORT_PARSE_LIMITS.maxRecipients);
        for (const x of r.recipients) t.ok(x.status === null || /^[245]\.\d{1,3}\.\d{1,3}$/.test(x.status));
        t.ok(r.humanText === null || r.humanText.length <= REPORT_PARSE_LIMITS.humanTextMaxChars);
      }
    }),
    { numRuns: 500 },
  );
});

const HOSTILE: Record<string, (n: number) => Buffer> = {
  'ARF with blank lines (issue 11)': (n) => Buffer.from(`Content-Type: multipart/report; report-type=feedback-report; boundary="b"\r\n\r\n--b\r\ncontent-type: message/feedback-report\r\n${'\r\n'.repeat(n / 2)}`),
  'ARF inline, no boundary': (n) => Buffer.from(`Content-Type: multipart/report; report-type=feedback-report\r\n\r\ncontent-type: message/feedback-report\r\n${'\n'.repeat(n)}`),
  'delivery-status of 1-byte lines': (n) => Buffer.from(`Content-Type: multipart/report; boundary="b"\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n${'a\r\n'.repeat(n / 3)}`),
  'near-boundary lines': (n) => Buffer.from(`Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\n${'--bb\r\n'.repeat(n / 6)}`),
  'huge To header in a part': (n) => Buffer.from(`Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nTo: ${'a@b.c, '.repeat(n / 7)}\r\n\r\nx\r\n--b--\r\n`),
};

t.test('parsing cost grows linearly with the report (and is capped at mimeMaxBytes)', async (t) => {
  for (const [name, make] of Object.entries(HOSTILE)) {
    const g = await growth(make, parseInboundReport as (i: never) => Promise<unknown>, 8 * 1024);
    t.ok(g.ratio < LINEAR_RATIO_BOUND, `${name}: 8x the input costs ${g.ratio.toFixed(1)}x the time (${g.small.toFixed(1)} → ${g.large.toFixed(1)} ms)`);
  }
  // Past the bound the cost stops growing: 1 MB costs about what mimeMaxBytes does.
  const make = HOSTILE['ARF with blank lines (issue 11)']!;
  const g = await growth(make, parseInboundReport as (i: never) => Promise<unknown>, REPORT_PARSE_LIMITS.mimeMaxBytes);
  t.ok(g.ratio < 4, `8x past mimeMaxBytes costs ${g.ratio.toFixed(1)}x (${g.small.toFixed(1)} → ${g.large.toFixed(1)} ms)`);
});
