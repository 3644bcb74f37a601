import type { Clock } from '../core/clock.js';
import { smtpError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { MessageCheck } from '../receive/intake.js';
import { rewriteFromHeader, type DmarcGuard } from './dmarc-guard.js';

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
    const verdict = await Promise.race([guard.check(headers.fromAddress, headers.fromName), timeout]).finally(() => timer?.cancel());
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
