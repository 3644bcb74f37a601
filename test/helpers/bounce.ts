import { livenessBound } from './liveness.js';
import type { Test } from 'tap';
import nodemailer from 'nodemailer';
import { simpleParser, type ParsedMail } from 'mailparser';
import { startMx, type TestMx, type MxOptions } from './mx-server.js';

/** Polls until `fn` returns a truthy value, or fails after timeoutMs. */
export async function waitFor<T>(fn: () => T | undefined | null | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + livenessBound(timeoutMs);
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A test MX on a loopback address, closed in teardown. */
export async function mx(t: Test, options: MxOptions = {}): Promise<TestMx> {
  const server = await startMx({ tls: false, ...options });
  t.teardown(() => server.close());
  return server;
}

/** Submits one message to Ferry over SMTP (relay from loopback, no AUTH). Returns the server's reply. */
export async function submit(
  port: number,
  mail: { from: string; to: string | string[]; subject?: string; text?: string; messageId?: string; envelopeFrom?: string },
): Promise<string> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, connectionTimeout: 5000 });
  try {
    const info = await transport.sendMail({
      from: mail.from,
      to: mail.to,
      subject: mail.subject ?? 'test',
      text: mail.text ?? 'hello',
      messageId: mail.messageId,
      envelope: { from: mail.envelopeFrom ?? mail.from, to: mail.to },
    });
    return info.response;
  } finally {
    transport.close();
  }
}

/** Parses raw bytes with mailparser, keeping message/delivery-status as an attachment. */
export function parse(raw: Buffer | string): Promise<ParsedMail> {
  return simpleParser(raw, { keepDeliveryStatus: true });
}

/** RFC 3464 per-recipient fields of a message/delivery-status body, keys lower-cased. */
export function dsnFields(text: string): { message: Record<string, string>; recipients: Record<string, string>[] } {
  const blocks = text.replace(/\r\n/g, '\n').replace(/\n[ \t]+/g, ' ').split(/\n\s*\n/).filter((b) => b.trim());
  const toRecord = (b: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const line of b.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return out;
  };
  const [first, ...rest] = blocks;
  return { message: toRecord(first ?? ''), recipients: rest.map(toRecord) };
}

/**
 * Sends raw message bytes over SMTP (any envelope, a null sender allowed) and returns every
 * reply: [MAIL, RCPT..., DATA, final] — stops at the first refused RCPT set (no DATA then).
 */
export async function sendRaw(port: number, from: string, to: string[], raw: string | Buffer): Promise<string[]> {
  const { rawSession } = await import('./raw-smtp.js');
  const c = await rawSession(port);
  try {
    const replies: string[] = [await c.command(`MAIL FROM:<${from}>`)];
    let accepted = 0;
    for (const r of to) {
      const reply = await c.command(`RCPT TO:<${r}>`);
      replies.push(reply);
      if (reply.startsWith('250')) accepted++;
    }
    if (accepted === 0) return replies;
    replies.push(await c.command('DATA'));
    const text = Buffer.isBuffer(raw) ? raw.toString('latin1') : raw;
    const stuffed = text.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    await c.write(`${stuffed}${stuffed.endsWith('\r\n') ? '' : '\r\n'}.\r\n`);
    replies.push(await c.reply(10_000));
    await c.command('QUIT').catch(() => '');
    return replies;
  } finally {
    c.close();
  }
}
