import type { Readable } from 'node:stream';
import type { Clock } from '../core/clock.js';
import { FerryError, smtpError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { IntakeSession, MessageCheck } from '../core/message-check.js';
import type { Spool } from '../spool/spool.js';
import type { Store } from '../core/store.js';
import type { AcceptedMessage } from '../core/store-types.js';
import { Canonicalizer } from './canonicalize.js';
import { readHeaderFacts } from './headers.js';
import type { RaisePriorityResult } from './smtp-thread-priority.js';
import { takeUnsubscribeRequest } from './unsubscribe-header.js';

export interface IntakeDeps {
  spool: Spool;
  /** Where accepted messages are committed: accept() resolves only once the message is durable (then 250). */
  store: { queue: Pick<Store['queue'], 'accept'> };
  clock: Clock;
  newId: () => string;
  hostname: string;
  maxHeaderBytes: number;
  maxMessageSizeBytes: number;
  checks: readonly MessageCheck[];
  logger: Logger;
  /** Called after a message is durable, so the scheduler can look at once. */
  onAccepted?: (ids: string[]) => void;
  /**
   * Raises the priority of the thread the sessions run on (smtp-thread-priority.ts), called once
   * here: the relay builds its intake after its writer and delivery threads are started, and a
   * thread inherits its creator's priority. Absent or null: leave it (the relay passes one when
   * smtp.threadNice asks for it).
   */
  raisePriority?: (() => RaisePriorityResult) | null;
}

export interface IntakeResult {
  id: string;
  size: number;
}

export function createIntake(deps: IntakeDeps) {
  const raise = deps.raisePriority ?? null;
  if (raise) {
    const r = raise();
    if (r.ok) deps.logger.info({ tid: r.tid, niceness: r.niceness }, 'intake: the SMTP thread runs at a raised priority');
    else deps.logger.warn({ reason: r.reason }, 'intake: the SMTP thread runs at the normal priority (smtp.threadNice asks for a raise, which needs CAP_SYS_NICE or an RLIMIT_NICE that allows it, e.g. systemd LimitNICE=-10; smtp.threadNice: 0 does not ask); under load its event loop waits for a CPU behind the other threads');
  }
  return {
    /**
     * Streams one message to the spool and commits it. Resolves only once the message and its
     * recipients are durable; rejects with an SMTP-replyable FerryError otherwise. Consumes the
     * whole stream in every case, so the SMTP session stays in sync.
     */
    async receive(session: IntakeSession, stream: Readable & { sizeExceeded?: boolean }): Promise<IntakeResult> {
      const id = deps.newId();
      const writer = deps.spool.createWriter(id);
      const canon = new Canonicalizer(deps.maxHeaderBytes);
      let bodySize = 0;
      let refused: FerryError | null = null;
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          if (refused) continue; // keep reading so the client gets its reply after the final dot
          const body = canon.push(chunk);
          if (canon.headerTooLarge) {
            refused = smtpError(552, '5.3.4 Message header too large', 'DATA');
            await writer.abort();
            continue;
          }
          bodySize += body.length;
          if (bodySize > deps.maxMessageSizeBytes || stream.sizeExceeded) {
            refused = smtpError(552, `5.3.4 Message too big for system (limit ${deps.maxMessageSizeBytes} bytes)`, 'DATA');
            await writer.abort();
            continue;
          }
          if (body.length) await writer.write(body);
        }
        if (refused) throw refused;
        if (stream.sizeExceeded) throw smtpError(552, `5.3.4 Message too big for system (limit ${deps.maxMessageSizeBytes} bytes)`, 'DATA');

        const { headers: headerBlock, bodyTail } = canon.finish();
        if (tooManyLines(headerBlock)) throw smtpError(552, `5.3.4 Message header has more than ${MAX_HEADER_LINES} lines`, 'DATA');
        if (bodyTail.length) await writer.write(bodyTail);
        // X-Ferry-Unsubscribe is an instruction to Ferry, not content: it never leaves (nor gets signed).
        const unsubscribe = takeUnsubscribeRequest(headerBlock);
        const facts = readHeaderFacts(unsubscribe.headers);
        let finalHeaders = unsubscribe.headers;
        for (const check of deps.checks) {
          const replaced = await check({ session, headers: facts, headerBlock: finalHeaders });
          if (replaced) finalHeaders = replaced;
        }
        const now = deps.clock.now();
        const headers = Buffer.concat([receivedHeader(deps.hostname, session, id, now), finalHeaders]);
        const stored = await writer.finish();
        const accepted: AcceptedMessage = {
          message: {
            id,
            createdAt: now,
            sender: session.sender,
            username: session.username,
            clientIp: session.clientIp,
            helo: session.helo,
            tls: session.tls,
            size: headers.length + stored.size,
            headers,
            body: stored.inline,
            spoolFile: stored.file,
            headerFrom: facts.fromAddress,
            messageIdHeader: facts.messageId,
            subject: facts.subject,
            eightBit: canon.eightBit,
            smtputf8: session.smtputf8,
            kind: 'submission',
            dsnRet: session.dsnRet ?? null,
            dsnEnvid: session.dsnEnvid ?? null,
            listUnsubscribe: unsubscribe.requested || (session.oneClickUnsubscribe ?? false),
            requireTls: session.requireTls ?? false,
          },
          recipients: session.recipients.map((r) => ({ ...r })),
        };
        try {
          await deps.store.queue.accept([accepted]);
        } catch (err) {
          if (stored.file) await deps.spool.remove(stored.file).catch(() => undefined);
          throw new FerryError('FERRY_ERR_STORE', '4.3.0 Could not queue the message, try again later', {
            responseCode: 451,
            phase: 'commit',
            cause: err,
          });
        }
        // What only staged the body for the commit goes (PostgreSQL: the staging file); a failure
        // here costs disk space until the next start, never the message.
        await deps.spool.committed(stored).catch((err: unknown) => deps.logger.warn({ queueId: id, err }, 'intake: could not remove the staged body after the commit (removed at the next start)'));
        deps.onAccepted?.([id]);
        return { id, size: accepted.message.size };
      } catch (err) {
        await writer.abort().catch(() => undefined);
        if (err instanceof FerryError && err.responseCode) throw err;
        deps.logger.error({ session: session.sessionId, err }, 'intake failed');
        throw new FerryError('FERRY_ERR_SPOOL', '4.3.0 Local error while queueing the message, try again later', {
          responseCode: 451,
          phase: 'DATA',
          cause: err,
        });
      }
    },
  };
}

export type Intake = ReturnType<typeof createIntake>;

/**
 * Header lines a message may have. The header block is parsed at intake (checks) and again to
 * sign it; a megabyte of 6-byte fields is 170,000 of them and ~100 ms of parsing. 20,000 lines
 * keeps that to a few milliseconds and is far above real mail (tens of lines; a long Received
 * chain is a few hundred).
 */
export const MAX_HEADER_LINES = 20_000;

function tooManyLines(block: Buffer): boolean {
  let lines = 0;
  for (let at = block.indexOf(0x0a); at !== -1; at = block.indexOf(0x0a, at + 1)) if (++lines > MAX_HEADER_LINES) return true;
  return false;
}

/** RFC 5321 §4.4 trace header; one recipient is named only when there is exactly one. */
export function receivedHeader(hostname: string, s: IntakeSession, id: string, now: number): Buffer {
  // HELO text is the client's to choose: keep only printable ASCII so it cannot shape the header.
  const clean = (v: string | null) => (v ?? 'unknown').replace(/[^\x21-\x7e]/g, '?').slice(0, 255);
  const from = `${clean(s.helo)} (${clean(s.clientHostname)} [${clean(s.clientIp)}])`;
  const forClause = s.recipients.length === 1 ? `\r\n\tfor <${s.recipients[0]!.address}>` : '';
  const date = receivedDate(now);
  const tls = s.tls ? ` (${s.tls})` : '';
  return Buffer.from(`Received: from ${from}\r\n\tby ${hostname} (Ferry) with ${s.protocol}${tls} id ${id}${forClause};\r\n\t${date}\r\n`);
}

/** The Received header's date (RFC 5322, second resolution), made once per second rather than per message. */
let dateSecond = NaN;
let dateText = '';
function receivedDate(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateText = new Date(second * 1000).toUTCString().replace('GMT', '+0000');
    dateSecond = second;
  }
  return dateText;
}
