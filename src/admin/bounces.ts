import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { Classification, Classifier } from '../core/types.js';
import { createClassifier } from '../classify/classifier.js';
import { parseReply } from '../classify/parse-reply.js';
import type { CliIo } from './io.js';

/** Output is gathered into chunks of about this size: one write per line would dominate. */
const CHUNK_CHARS = 64 * 1024;

const NOT_A_REPLY = 'not an SMTP reply: expected a 3-digit reply code at the start';

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
 * memory stays bounded whatever the input size. Blank lines are skipped.
 */
export function classifyReplyStream(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  classifier: Classifier,
): Promise<ClassifyRunResult> {
  const format = createReplyFormatter(classifier);
  return new Promise((resolve, reject) => {
    const result: ClassifyRunResult = { lines: 0, failures: 0 };
    let parts: string[] = [];
    let size = 0;
    let paused = false;
    const lines = createInterface({ input, crlfDelay: Infinity, terminal: false });
    const flush = (): boolean => {
      if (parts.length === 0) return true;
      const chunk = parts.join('');
      parts = [];
      size = 0;
      return output.write(chunk);
    };
    lines.on('line', (line: string) => {
      if (line.trim() === '') return;
      result.lines++;
      const { json, ok } = format(line);
      if (!ok) result.failures++;
      parts.push(json, '\n');
      size += json.length + 1;
      if (size >= CHUNK_CHARS && !flush() && !paused) {
        paused = true;
        lines.pause();
        output.once('drain', () => {
          paused = false;
          lines.resume();
        });
      }
    });
    // A closed pipe (`| head`) or a read error ends the run; nothing is left waiting.
    const fail = (err: unknown) => {
      cleanup();
      lines.close();
      reject(err);
    };
    const cleanup = () => {
      input.removeListener('error', fail);
      // A failed output emits its error on a later tick: stay subscribed then.
      const state = output as { destroyed?: boolean; errored?: unknown };
      if (state.destroyed !== true && (state.errored ?? null) === null) output.removeListener('error', fail);
    };
    // readline re-emits input errors on itself; both are heard so neither goes uncaught.
    lines.once('error', fail);
    input.once('error', fail);
    output.once('error', fail);
    // Done once the last chunk is accepted: a write error surfaces here, not after we return.
    lines.once('close', () => {
      const chunk = parts.join('');
      parts = [];
      output.write(chunk, (err?: Error | null) => {
        cleanup();
        if (err) reject(err);
        else resolve(result);
      });
    });
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
    if (reply.trim() === '') continue;
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
    .action(async (replies: string[]) => {
      const classifier = createClassifier();
      const result =
        replies.length > 0
          ? await classifyReplyList(replies, io.stdout, classifier)
          : await classifyReplyStream(io.stdin, io.stdout, classifier);
      // The caller still sees every line's verdict; the exit code says some were not replies.
      if (result.failures > 0) process.exitCode = 1;
    });
}
