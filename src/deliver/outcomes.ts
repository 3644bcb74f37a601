import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { SmtpReply } from '../core/types.js';
import { parseReply } from './reply.js';
import type { DeliveryError, OutgoingMessage, RecipientOutcome } from './types.js';

/**
 * Turns one transaction into one outcome per recipient: first the local refusals (content the
 * server cannot take unchanged), then what the server said to each recipient, or how the
 * connection failed. Pure, so connection.ts stays about sockets.
 */

export interface SendFailure {
  error: DeliveryError;
  /** the reply that ended the transaction, if the server gave one */
  reply?: SmtpReply;
  /** nodemailer's command ('MAIL FROM', 'RCPT TO', 'DATA', 'CONN') and code ('EENVELOPE', ...) */
  command?: string;
  code?: string;
  /** recipients refused at RCPT, each with its own reply */
  rejected?: { address: string; reply?: SmtpReply }[];
  /** the DATA command was accepted and the body started to flow */
  dataStarted: boolean;
  /** the connection broke (timeout, reset, 421): nothing more can be sent on it */
  network: boolean;
}

export interface ServerFacts {
  extensions: readonly string[];
  /** SIZE limit, 0 when none was announced */
  maxSize: number;
  host: string;
}

const NON_ASCII = /[^\x00-\x7f]/;

export function transactionOutcomes(
  message: OutgoingMessage,
  server: ServerFacts,
): { send: string[]; finish(result: null | { info: SMTPConnection.SentMessageInfo } | SendFailure): RecipientOutcome[] } {
  const local = new Map<string, RecipientOutcome>();
  const refuse = (addresses: string[], localReason: 'eight_bit' | 'smtputf8' | 'size', text: string): void => {
    for (const address of addresses) {
      if (local.has(address)) continue;
      local.set(address, { address, ok: false, phase: 'message', permanentLocal: true, localReason, error: { kind: 'local', message: text } });
    }
  };
  const has = (ext: string): boolean => server.extensions.includes(ext);

  // never send content the server would have to corrupt: refuse it here, permanently
  if (message.eightBit && !has('8BITMIME')) {
    refuse(message.to, 'eight_bit', `the message has 8-bit content and ${server.host} does not support 8BITMIME; not sent`);
  }
  if (!has('SMTPUTF8')) {
    if (NON_ASCII.test(message.from)) {
      refuse(message.to, 'smtputf8', `the sender address needs SMTPUTF8 and ${server.host} does not support it; not sent`);
    } else {
      const intl = message.to.filter((a) => NON_ASCII.test(a));
      refuse(intl, 'smtputf8', `the recipient address needs SMTPUTF8 and ${server.host} does not support it; not sent`);
    }
  }
  if (server.maxSize > 0 && message.size > server.maxSize) {
    refuse(message.to, 'size', `the message is ${message.size} bytes and ${server.host} accepts at most ${server.maxSize} (SIZE); not sent`);
  }
  const send = message.to.filter((a) => !local.has(a));

  const finish = (result: null | { info: SMTPConnection.SentMessageInfo } | SendFailure): RecipientOutcome[] => {
    const own = new Map<string, RecipientOutcome>(local);
    if (result && 'info' in result) {
      const { info } = result;
      const final = parseReply(info.response) ?? { code: 250, enhanced: null, text: info.response };
      const rejected = new Map((info.rejectedErrors ?? []).map((e) => [(e as { recipient?: string }).recipient ?? '', e.response]));
      for (const address of send) {
        if (info.rejected.includes(address)) {
          const raw = rejected.get(address);
          own.set(address, { address, ok: false, phase: 'rcpt', reply: raw ? parseReply(raw) ?? undefined : undefined });
        } else own.set(address, { address, ok: true, reply: final });
      }
    } else if (result) {
      const refused = new Map((result.rejected ?? []).map((r) => [r.address, r.reply]));
      for (const address of send) {
        if (refused.has(address)) {
          // its own RCPT refusal is the fact that matters, whatever happened after
          own.set(address, { address, ok: false, phase: 'rcpt', reply: refused.get(address) });
          continue;
        }
        own.set(address, { address, ok: false, phase: failurePhase(result), reply: result.reply, error: result.error });
      }
    }
    return message.to.map((address) => own.get(address)!);
  };
  return { send, finish };
}

function failurePhase(f: SendFailure): 'mail' | 'rcpt' | 'data' | 'message' {
  if (!f.network) {
    if (f.command === 'MAIL FROM') return 'mail';
    if (f.command === 'RCPT TO') return 'rcpt';
    if (f.code === 'EMESSAGE') return 'message';
    return 'data';
  }
  // a broken connection: where did it break?
  if (f.dataStarted) return 'data';
  // before DATA: 'rcpt' once some RCPT was answered, else the transaction never got going
  return (f.rejected ?? []).length > 0 ? 'rcpt' : 'mail';
}
