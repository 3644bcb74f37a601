import t from 'tap';
import { PassThrough, Readable, Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { classifyReplyStream, registerBouncesCommands } from '../../src/admin/bounces.js';
import { createClassifier } from '../../src/classify/classifier.js';

interface Harness {
  program: Command;
  stdin: PassThrough;
  lines(): Record<string, unknown>[];
  err(): string;
}

function harness(): Harness {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const program = new Command();
  program.exitOverride();
  registerBouncesCommands(program, { stdout, stderr, stdin, isTTY: false });
  return {
    program,
    stdin,
    lines: () =>
      out
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    err: () => err,
  };
}

// The command reports unparsable input through process.exitCode; each test restores it so
// the test process itself still exits 0.
t.beforeEach(() => {
  process.exitCode = undefined;
});
t.afterEach(() => {
  process.exitCode = undefined;
});

t.test('arguments: one JSON object per reply, in order, with the full shape', async (t) => {
  const h = harness();
  await h.program.parseAsync(
    ['bounces', 'classify', '550 5.1.1 <a@example.com>: User unknown', '452 4.2.2 The email account is over quota'],
    { from: 'user' },
  );
  t.same(h.lines(), [
    {
      input: '550 5.1.1 <a@example.com>: User unknown',
      code: 550,
      enhanced: '5.1.1',
      category: 'user_unknown',
      permanent: true,
      suppress: true,
      rule: 'user-unknown',
    },
    {
      input: '452 4.2.2 The email account is over quota',
      code: 452,
      enhanced: '4.2.2',
      category: 'mailbox_full',
      permanent: false,
      suppress: false,
      rule: 'mailbox-full',
    },
  ]);
  t.equal(process.exitCode, undefined, 'exit code untouched when every line is a reply');
  t.equal(h.err(), '');
});

t.test('stdin: one reply per line, blank lines skipped, CRLF tolerated', async (t) => {
  const h = harness();
  h.stdin.end('550 5.7.1 Relaying denied\r\n\r\n   \n421 4.7.0 Try again later\n554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org');
  await h.program.parseAsync(['bounces', 'classify'], { from: 'user' });
  const lines = h.lines();
  t.equal(lines.length, 3);
  t.match(lines[0], { input: '550 5.7.1 Relaying denied', category: 'policy', permanent: true });
  t.match(lines[1], { input: '421 4.7.0 Try again later', category: 'temporary', permanent: false });
  t.match(lines[2], { category: 'blocked', permanent: true, suppress: false });
  t.equal(process.exitCode, undefined);
});

t.test('an unparsable line is reported on stdout, the rest go on, and the exit code is 1', async (t) => {
  const h = harness();
  h.stdin.end('hello there\n550 5.1.1 no such user\n');
  await h.program.parseAsync(['bounces', 'classify'], { from: 'user' });
  const lines = h.lines();
  t.equal(lines.length, 2);
  t.same(Object.keys(lines[0]!).sort(), ['error', 'input']);
  t.equal(lines[0]!.input, 'hello there');
  t.match(lines[0]!.error, /SMTP reply/);
  t.match(lines[1], { category: 'user_unknown' });
  t.equal(process.exitCode, 1);
});

t.test('an unparsable argument sets the exit code too', async (t) => {
  const h = harness();
  await h.program.parseAsync(['bounces', 'classify', 'garbage', '550 5.1.1 unknown user'], { from: 'user' });
  t.equal(h.lines().length, 2);
  t.equal(process.exitCode, 1);
});

t.test('large input streams in bounded chunks and respects backpressure', async (t) => {
  const count = 50_000;
  const replies = ['550 5.1.1 User unknown', '421 4.7.0 Too many connections, slow down', '552 5.2.2 Mailbox full'];
  async function* source() {
    // Yield in pieces that split lines, as a pipe would.
    let pending = '';
    for (let i = 0; i < count; i++) {
      pending += `${replies[i % replies.length]} #${i}\n`;
      if (pending.length > 4000) {
        yield pending.slice(0, 3001);
        pending = pending.slice(3001);
      }
    }
    yield pending;
  }
  let writes = 0;
  let lines = 0;
  let last = '';
  const sink = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, done) {
      writes++;
      const text = last + chunk.toString('utf8');
      const parts = text.split('\n');
      last = parts.pop()!;
      lines += parts.length;
      // A slow consumer: the writer must wait for 'drain' instead of buffering everything.
      setImmediate(done);
    },
  });
  const result = await classifyReplyStream(Readable.from(source()), sink, createClassifier());
  await new Promise<void>((resolve) => sink.end(resolve));
  t.same(result, { lines: count, failures: 0 });
  t.equal(lines, count, 'every line written');
  t.equal(last, '', 'output ends with a newline');
  t.ok(writes < count / 100, `${writes} writes for ${count} lines`);
});

t.test('a failing input or output ends the run with the error', async (t) => {
  const broken = new Readable({
    read() {
      this.push('550 5.1.1 User unknown\n');
      this.destroy(new Error('read failed'));
    },
  });
  const sink = new Writable({ write: (_c, _e, done) => done() });
  await t.rejects(classifyReplyStream(broken, sink, createClassifier()), /read failed/);

  const many = Readable.from(['550 5.1.1 User unknown\n'.repeat(10_000)]);
  const closed = new Writable({
    write: (_c, _e, done) => done(new Error('EPIPE')),
  });
  await t.rejects(classifyReplyStream(many, closed, createClassifier()), /EPIPE/);
});

t.test('--eml FILE: one JSON line per recipient of a real bounce', async (t) => {
  const h = harness();
  const file = new URL('../classify/fixtures/eml/lhost-postfix-02.eml', import.meta.url).pathname;
  await h.program.parseAsync(['bounces', 'classify', '--eml', file], { from: 'user' });
  const lines = h.lines();
  t.equal(lines.length, 2);
  t.match(lines[1], { kind: 'dsn', recipient: 'userunknown@example.co.jp', action: 'failed', status: '5.1.1', remoteMta: 'mx.example.co.jp', code: 550, enhanced: '5.1.1', category: 'user_unknown', permanent: true, suppress: true, rule: 'user-unknown' });
  t.match(lines[1]!.reply, /User Unknown/);
});

t.test('--eml -: the message from stdin; a non-bounce and a missing file fail with one line', async (t) => {
  const h = harness();
  const run = h.program.parseAsync(['bounces', 'classify', '--eml', '-'], { from: 'user' });
  h.stdin.end(readFileSync(new URL('../classify/fixtures/eml/lhost-qmail-01.eml', import.meta.url)));
  await run;
  t.match(h.lines(), [{ kind: 'other', recipient: 'kijitora@example.ne.jp', category: 'user_unknown' }]);

  const h2 = harness();
  const run2 = h2.program.parseAsync(['bounces', 'classify', '--eml', '-'], { from: 'user' });
  h2.stdin.end('Subject: hi\r\n\r\nhello\r\n');
  await t.rejects(run2, { code: 'FERRY_ERR_USAGE', message: /not a bounce/ });

  const h3 = harness();
  await t.rejects(h3.program.parseAsync(['bounces', 'classify', '--eml', '/nonexistent/x.eml'], { from: 'user' }), { message: /no such file/ });
  const h4 = harness();
  await t.rejects(h4.program.parseAsync(['bounces', 'classify', '--eml', '-', '550 x'], { from: 'user' }), { message: /no reply arguments/ });
});

t.test('--eml with a complaint names it', async (t) => {
  const h = harness();
  const run = h.program.parseAsync(['bounces', 'classify', '--eml', '-'], { from: 'user' });
  h.stdin.end(
    ['Subject: c', 'MIME-Version: 1.0', 'Content-Type: multipart/report; report-type=feedback-report; boundary="b"', '', '--b',
      'Content-Type: message/feedback-report', '', 'Feedback-Type: abuse', 'Original-Rcpt-To: <u@example.net>', '', '--b--', ''].join('\r\n'),
  );
  await run;
  t.same(h.lines(), [{ kind: 'complaint', feedbackType: 'abuse', recipients: ['u@example.net'] }]);
});

t.test('Exchange NDR lines in the "#5xx x.x.x ... ##" form are replies', async (t) => {
  const h = harness();
  await h.program.parseAsync(['bounces', 'classify', '#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##', '#554 5.4.14 Hop count exceeded - possible mail loop ##'], { from: 'user' });
  t.match(h.lines(), [{ code: 550, enhanced: '5.1.1', category: 'user_unknown' }, { code: 554, enhanced: '5.4.14', category: 'other' }]);
  t.equal(process.exitCode, undefined);
});

t.test('CR-only line ends are lines too, also across chunks, and a CRLF split between chunks is one end', async (t) => {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString('utf8');
      done();
    },
  });
  const input = Readable.from(['550 5.1.1 User unknown\r552 5.2.2 Mailbox full\r', '\n421 4.7.0 Too many connections\r450 4.2.0 Greylisted', '\r\n']);
  const result = await classifyReplyStream(input, sink, createClassifier());
  t.same(result, { lines: 4, failures: 0 });
  t.same(
    out.trim().split('\n').map((l) => (JSON.parse(l) as { category: string }).category),
    ['user_unknown', 'mailbox_full', 'rate_limited', 'temporary'],
  );
  const bytes = Readable.from([Buffer.concat([Buffer.from('550 5.1.1 Benutzer unbekannt '), Buffer.from([0xc3])]), Buffer.from([0xbc, 0x0a])]);
  let text = '';
  await classifyReplyStream(bytes, new Writable({ write: (c: Buffer, _e, d) => ((text += c.toString('utf8')), d()) }), createClassifier());
  t.match(text, /unbekannt ü/, 'a UTF-8 character split between chunks is decoded whole');
});
