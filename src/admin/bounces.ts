import { once } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import type { Command } from 'commander';
import type { Classification, Classifier } from '../core/types.js';
import { createClassifier } from '../classify/classifier.js';
import { parseReply } from '../classify/parse-reply.js';
import type { BounceMessageVerdict } from '../bounce/dsn-classify.js';
import { FerryError } from '../core/errors.js';
import { readFile } from 'node:fs/promises';
import type { CliIo } from './io.js';

/** Output is gathered into chunks of about this size: one write per line would dominate. */
const CHUNK_CHARS = 64 * 1024;

/**
 * Output chunks are filled as bytes, line by line: a string built with += is a rope that the
 * stream must flatten and encode at write time, which cost a quarter of the command's time.
 */
const CHUNK_BYTES = 64 * 1024;

const NOT_A_REPLY = 'not an SMTP reply: expected a 3-digit reply code at the start';

/** Whitespace only; checked without allocating for the usual non-blank line. */
function isBlank(line: string): boolean {
  return line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === '');
}

export interface ClassifyRunResult {
  /** Non-blank lines read. */
  lines: number;
  /** Lines that were not SMTP replies. */
  failures: number;
}

/** Turns one input line into one JSON line; `ok` is false when it was not an SMTP reply. */
export type ReplyFormatter = (input: string) => { json: string; ok: boolean };

/**
 * The JSON for a verdict is built once per verdict object (the classifier shares them), so a
 * line costs one JSON.stringify of its own text instead of one of a whole object.
 */
export function createReplyFormatter(classifier: Classifier): ReplyFormatter {
  const tails = new WeakMap<Classification, string>();
  const tailOf = (v: Classification): string => {
    let tail = tails.get(v);
    if (tail === undefined) {
      tail =
        `"category":${JSON.stringify(v.category)},"permanent":${v.permanent},"suppress":${v.suppress},` +
        `"rule":${JSON.stringify(v.rule)}}`;
      tails.set(v, tail);
    }
    return tail;
  };
  return (input) => {
    const reply = parseReply(input);
    if (reply === null) {
      return { json: `{"input":${JSON.stringify(input)},"error":${JSON.stringify(NOT_A_REPLY)}}`, ok: false };
    }
    const verdict = classifier.classify({ kind: 'reply', reply });
    const enhanced = reply.enhanced === null ? 'null' : JSON.stringify(reply.enhanced);
    return { json: `{"input":${JSON.stringify(input)},"code":${reply.code},"enhanced":${enhanced},${tailOf(verdict)}`, ok: true };
  };
}

/**
 * Classifies replies one per line from `input` and writes one JSON line each to `output`, in
 * chunks. Lines are streamed: when the output is full, reading pauses until it drains, so
 * memory stays bounded whatever the input size. Blank lines are skipped. Lines end at LF, CRLF
 * or a lone CR (as readline reads them); the input is split by hand because readline's
 * per-line event costs more than classifying the line.
 */
export function classifyReplyStream(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  classifier: Classifier,
): Promise<ClassifyRunResult> {
  const format = createReplyFormatter(classifier);
  return new Promise((resolve, reject) => {
    const result: ClassifyRunResult = { lines: 0, failures: 0 };
    const decoder = new StringDecoder('utf8');
    let out = Buffer.allocUnsafe(CHUNK_BYTES);
    let used = 0;
    let rest = '';
    let settled = false;

    const send = (chunk: Buffer | string) => {
      if (!output.write(chunk)) {
        input.pause();
        output.once('drain', () => {
          if (!settled) input.resume();
        });
      }
    };
    const flushChunk = () => {
      if (used === 0) return;
      send(out.subarray(0, used));
      out = Buffer.allocUnsafe(CHUNK_BYTES);
      used = 0;
    };
    const take = (line: string) => {
      if (isBlank(line)) return;
      result.lines++;
      const { json, ok } = format(line);
      if (!ok) result.failures++;
      // A UTF-16 unit takes at most three bytes in UTF-8; a line that could not fit an empty
      // chunk goes out as it is.
      const most = 3 * json.length + 1;
      if (used + most > CHUNK_BYTES) flushChunk();
      if (most > CHUNK_BYTES) {
        send(json + '\n');
        return;
      }
      used += out.write(json, used);
      out[used++] = 10;
    };
    const takeText = (text: string) => {
      let start = 0;
      // Lone CRs are rare: one search per chunk spares a search per line.
      const hasCr = text.includes('\r');
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        if (!hasCr) {
          take(text.slice(start, nl));
          start = nl + 1;
          continue;
        }
        const line = text.charCodeAt(nl - 1) === 13 && nl > start ? text.slice(start, nl - 1) : text.slice(start, nl);
        if (line.includes('\r')) for (const piece of line.split('\r')) take(piece);
        else take(line);
        start = nl + 1;
      }
      if (start === 0) {
        // No LF at all (CR-only line ends): the text must not pile up waiting for one. A CR
        // that ends the text may be half of a CRLF, so it waits.
        const cr = text.lastIndexOf('\r', text.length - 2);
        if (cr >= 0) {
          for (const piece of text.slice(0, cr).split('\r')) take(piece);
          return cr + 1;
        }
      }
      return start;
    };
    const onData = (data: Buffer | string) => {
      if (settled) return;
      const chunk = typeof data === 'string' ? data : decoder.write(data);
      let from = 0;
      if (rest !== '') {
        // The pending tail is completed with the chunk's first line, and the rest of the chunk
        // is searched as it is: `rest + chunk` would be a rope, and every indexOf on a rope goes
        // through the runtime (about a microsecond per line, a fifth of the command's time).
        const nl = chunk.indexOf('\n');
        if (nl < 0) {
          const text = rest + chunk;
          rest = text.slice(takeText(text));
          return;
        }
        takeText(rest + chunk.slice(0, nl + 1)); // ends at a line feed: taken whole
        rest = '';
        from = nl + 1;
      }
      const text = from === 0 ? chunk : chunk.slice(from);
      // The unterminated tail waits for the chunk that ends it.
      rest = text.slice(takeText(text));
    };
    const ignore = () => {};
    const detach = () => {
      input.removeListener('data', onData);
      input.removeListener('error', fail);
      input.removeListener('end', onEnd);
      output.removeListener('error', outputFailed);
    };
    function fail(err: unknown) {
      if (settled) return;
      settled = true;
      detach();
      reject(err);
    }
    function outputFailed(err: unknown) {
      output.on('error', ignore);
      fail(err);
    }
    // Done once the last chunk is accepted: a write error surfaces here, not after we return.
    function onEnd() {
      if (settled) return;
      const tail = rest + decoder.end();
      rest = '';
      const consumed = takeText(tail);
      const last = tail.slice(consumed);
      if (last.includes('\r')) for (const piece of last.split('\r')) take(piece);
      else take(last);
      const chunk = out.subarray(0, used);
      used = 0;
      output.write(chunk, (err?: Error | null) => {
        if (err) {
          outputFailed(err);
          return;
        }
        settled = true;
        detach();
        resolve(result);
      });
    }
    input.on('data', onData);
    input.once('error', fail);
    input.once('end', onEnd);
    output.once('error', outputFailed);
  });
}

/** Same as classifyReplyStream, for replies already in memory (the command's arguments). */
export async function classifyReplyList(
  replies: readonly string[],
  output: NodeJS.WritableStream,
  classifier: Classifier,
): Promise<ClassifyRunResult> {
  const format = createReplyFormatter(classifier);
  const result: ClassifyRunResult = { lines: 0, failures: 0 };
  let chunk = '';
  for (const reply of replies) {
    if (isBlank(reply)) continue;
    result.lines++;
    const { json, ok } = format(reply);
    if (!ok) result.failures++;
    chunk += json + '\n';
    if (chunk.length >= CHUNK_CHARS) {
      if (!output.write(chunk)) await once(output, 'drain');
      chunk = '';
    }
  }
  if (chunk !== '') output.write(chunk);
  return result;
}

/** A whole message from a file, or from stdin for '-'. */
async function readMessage(file: string, io: CliIo): Promise<Buffer> {
  if (file !== '-') {
    try {
      return await readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new FerryError('FERRY_ERR_USAGE', `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(err))}`, { phase: 'cli' });
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/** One JSON line per reported recipient. */
export function formatMessageVerdict(v: BounceMessageVerdict): string {
  if (v.kind === 'complaint') return JSON.stringify({ kind: 'complaint', feedbackType: v.feedbackType, recipients: v.recipients }) + '\n';
  return v.recipients
    .map((r) =>
      JSON.stringify({
        kind: v.kind,
        recipient: r.recipient,
        action: r.action,
        status: r.status,
        remoteMta: r.remoteMta,
        code: r.reply.code,
        enhanced: r.reply.enhanced,
        category: r.classification.category,
        permanent: r.classification.permanent,
        suppress: r.classification.suppress,
        rule: r.classification.rule,
        reply: r.reply.text,
      }) + '\n',
    )
    .join('');
}

/** `ferry bounces ...`: inspect how Ferry reads remote replies. */
export function registerBouncesCommands(program: Command, io: CliIo): void {
  const bounces = program.command('bounces').description('inspect bounce classification');
  bounces
    .command('classify')
    .description(
      'classify SMTP replies (arguments, or one per line on stdin) and print one JSON object per line: ' +
        'input, code, enhanced, category, permanent, suppress, rule',
    )
    .argument('[reply...]', 'whole SMTP replies, each quoted as one argument')
    .option('--eml <file>', "read one bounce message (a file, or '-' for stdin) and classify each recipient it reports")
    .action(async (replies: string[], opts: { eml?: string }) => {
      const classifier = createClassifier();
      if (opts.eml !== undefined) {
        if (replies.length > 0) throw new FerryError('FERRY_ERR_USAGE', '--eml reads a message: give no reply arguments with it', { phase: 'cli' });
        // Loaded on use: mailparser costs every other ferry command a fifth of a second at start.
        const { classifyBounceMessage } = await import('../bounce/dsn-classify.js');
        const verdict = await classifyBounceMessage(await readMessage(opts.eml, io), classifier);
        if (verdict.kind !== 'complaint' && verdict.recipients.length === 0) {
          throw new FerryError('FERRY_ERR_USAGE', 'not a bounce: no delivery report and no failed recipient found in the message', { phase: 'cli' });
        }
        io.stdout.write(formatMessageVerdict(verdict));
        return;
      }
      const result =
        replies.length > 0
          ? await classifyReplyList(replies, io.stdout, classifier)
          : await classifyReplyStream(io.stdin, io.stdout, classifier);
      // The caller still sees every line's verdict; the exit code says some were not replies.
      if (result.failures > 0) process.exitCode = 1;
    });
}
