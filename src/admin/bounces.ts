import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { Classifier } from '../core/types.js';
import { createClassifier } from '../classify/classifier.js';
import { parseReply } from '../classify/parse-reply.js';
import type { CliIo } from './io.js';

/** Output is gathered into chunks of about this size: one write per line would dominate. */
const CHUNK_CHARS = 64 * 1024;

export interface ClassifyRunResult {
  /** Non-blank lines read. */
  lines: number;
  /** Lines that were not SMTP replies. */
  failures: number;
}

/** One JSON line for one reply; `ok` is false when the input was not an SMTP reply. */
export function formatClassification(input: string, classifier: Classifier): { json: string; ok: boolean } {
  const reply = parseReply(input);
  if (reply === null) {
    return {
      json: JSON.stringify({ input, error: 'not an SMTP reply: expected a 3-digit reply code at the start' }),
      ok: false,
    };
  }
  const verdict = classifier.classify({ kind: 'reply', reply });
  return {
    json: JSON.stringify({
      input,
      code: reply.code,
      enhanced: reply.enhanced,
      category: verdict.category,
      permanent: verdict.permanent,
      suppress: verdict.suppress,
      rule: verdict.rule,
    }),
    ok: true,
  };
}

/** Buffers output lines and writes them in chunks, waiting for 'drain' when the sink is full. */
function createChunkedWriter(output: NodeJS.WritableStream) {
  let parts: string[] = [];
  let size = 0;
  async function flush(): Promise<void> {
    if (parts.length === 0) return;
    const chunk = parts.join('');
    parts = [];
    size = 0;
    if (!output.write(chunk)) await once(output, 'drain');
  }
  return {
    async push(line: string): Promise<void> {
      parts.push(line, '\n');
      size += line.length + 1;
      if (size >= CHUNK_CHARS) await flush();
    },
    flush,
  };
}

/**
 * Classifies replies one per line from `input` and writes one JSON line each to `output`.
 * Lines are streamed (readline pauses the source when it runs ahead), so memory stays bounded
 * whatever the input size. Blank lines are skipped.
 */
export async function classifyReplyStream(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  classifier: Classifier,
): Promise<ClassifyRunResult> {
  const writer = createChunkedWriter(output);
  const lines = createInterface({ input, crlfDelay: Infinity, terminal: false });
  const result: ClassifyRunResult = { lines: 0, failures: 0 };
  for await (const line of lines) {
    if (line.trim() === '') continue;
    result.lines++;
    const { json, ok } = formatClassification(line, classifier);
    if (!ok) result.failures++;
    await writer.push(json);
  }
  await writer.flush();
  return result;
}

/** Same as classifyReplyStream, for replies already in memory (the command's arguments). */
export async function classifyReplyList(
  replies: readonly string[],
  output: NodeJS.WritableStream,
  classifier: Classifier,
): Promise<ClassifyRunResult> {
  const writer = createChunkedWriter(output);
  const result: ClassifyRunResult = { lines: 0, failures: 0 };
  for (const reply of replies) {
    if (reply.trim() === '') continue;
    result.lines++;
    const { json, ok } = formatClassification(reply, classifier);
    if (!ok) result.failures++;
    await writer.push(json);
  }
  await writer.flush();
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
