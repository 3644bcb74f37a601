import type { Clock } from '../core/clock.js';
import { smtpError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { MessageCheck } from '../core/message-check.js';
import { rewriteFromHeader, type DmarcGuard, type DmarcVerdict } from './dmarc-guard.js';

/** From domains looked up per message (a From with more is unusual; each costs a DNS query). */
const MAX_FROM_DOMAINS = 5;

/**
 * The DMARC guard as an end-of-DATA check. Its lookup is bounded: a slow or failing DNS lets
 * the message through (logged), because a relay that stops mail when DNS hiccups is worse than
 * one that occasionally sends a message the receiver may quarantine.
 */
export function createDmarcCheck(guard: DmarcGuard, opts: { clock: Clock; timeoutMs: number; logger: Logger }): MessageCheck {
  return async ({ session, headers, headerBlock }) => {
    if (!headers.fromAddress) return;
    let timer: { cancel(): void } | null = null;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = opts.clock.setTimer(opts.timeoutMs, () => resolve('timeout'));
    });
    // Every From mailbox, not only the first: a receiver may apply DMARC to any of them.
    const seen = new Set<string>();
    const mailboxes = headers.from.mailboxes.filter((m) => {
      const domain = m.address.slice(m.address.lastIndexOf('@') + 1).toLowerCase();
      if (!m.address || seen.has(domain)) return false;
      seen.add(domain);
      return true;
    });
    const all = (async (): Promise<DmarcVerdict> => {
      for (const m of mailboxes.slice(0, MAX_FROM_DOMAINS)) {
        const v = await guard.check(m.address, m.name);
        if (v.action !== 'accept') return v;
      }
      return { action: 'accept' };
    })();
    const verdict = await Promise.race([all, timeout]).finally(() => timer?.cancel());
    if (verdict === 'timeout') {
      opts.logger.warn({ session: session.sessionId, from: headers.fromAddress }, 'DMARC lookup timed out: message accepted unchanged');
      return;
    }
    if (verdict.action === 'reject') throw smtpError(verdict.code, verdict.text, 'DATA');
    if (verdict.action === 'rewrite') {
      opts.logger.info({ session: session.sessionId, from: headers.fromAddress, newFrom: verdict.from }, 'DMARC guard rewrote From');
      return rewriteFromHeader(headerBlock, verdict.from, verdict.replyTo);
    }
  };
}
