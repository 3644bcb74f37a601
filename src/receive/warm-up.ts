import net from 'node:net';
import { splitHostPort } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Spool } from '../spool/spool.js';
import type { AcceptedMessage } from '../core/store-types.js';
import type { FateResult } from '../core/fate.js';

/**
 * Start-up warm-up of the receive path.
 *
 * V8 runs a function interpreted or baseline-compiled (Sparkplug) until it has run long enough
 * to be optimised (TurboFan); the per-message code of a relay (smtp-server's command path, Node's
 * socket and stream code, the listener's handlers, intake) reaches that only after a few thousand
 * messages. Until then one message over a new connection costs the SMTP thread 2–4 times its warm
 * CPU and its client 2× the latency (bench/RESULTS.md, single13): every operator pays that after
 * each start, and a relay that sends a few messages a minute pays it for hours.
 *
 * So before the listener is bound, a twin listener built by the same factory (same handlers, same
 * library code, same policies) is bound on 127.0.0.1:0 and this client runs `sessions` ordinary
 * sessions against it, one at a time: greeting, EHLO, MAIL, RCPT, DATA with a few kilobytes of
 * mail, QUIT. The twin's intake is real except for its store, which keeps nothing: nothing is
 * queued, delivered, counted in metrics or logged, and the twin has no message checks (no DNS).
 * The RCPT policies are the real ones (a suppression lookup of an address under `.invalid`: a read).
 *
 * It runs before the real listener is bound rather than beside it: measured, a warm-up running
 * while the first clients are served made them slower, not faster (they share one thread). The
 * price is a later start: about a second on a quiet 2-core machine for 1,000 sessions, at most
 * WARM_UP_MAX_MS (smtp.warmUpSessions: 0 turns it off).
 */
/** The warm-up ends after this long even if sessions remain (a slow or busy machine). */
export const WARM_UP_MAX_MS = 5_000;

export interface WarmUpClientOptions {
  /** host:port of the twin listener */
  address: string;
  sessions: number;
  /** No new session starts after this long. */
  maxMs: number;
  hostname: string;
  signal: AbortSignal;
  clock: Clock;
  /** Per-session bound: a session that does not finish in this long ends the warm-up. */
  sessionTimeoutMs: number;
}

/** A store for the twin's intake: accepts every message and keeps none (a spool file, if any, is removed). */
export function discardingStore(spool: Pick<Spool, 'remove'>) {
  return {
    queue: {
      async accept(messages: AcceptedMessage[]): Promise<FateResult[]> {
        for (const m of messages) if (m.message.spoolFile) await spool.remove(m.message.spoolFile);
        return [];
      },
    },
  };
}

/** The message each warm-up session sends: headers and ~4 KB of text, like common application mail. */
export function warmUpMessage(n: number, hostname: string): string {
  const line = `${'Warm-up text of an ordinary message, seventy-six characters per line.'.padEnd(76, '.')}\r\n`;
  return [
    `From: Ferry warm-up <warm-up@${WARM_UP_DOMAIN}>`,
    `To: <r${n}@${WARM_UP_DOMAIN}>`,
    `Subject: warm-up ${n}`,
    `Message-ID: <warm-up.${n}@${hostname}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    line.repeat(52),
  ].join('\r\n');
}

/** Every address the warm-up uses is under a reserved name (RFC 2606): it can reach no one. */
export const WARM_UP_DOMAIN = 'warm-up.invalid';

/**
 * Runs the sessions one after another; resolves with how many completed. Stops early (without
 * throwing) when the signal aborts, a reply is not 2xx/3xx (e.g. loopback is not a relay
 * network here), or a session takes longer than sessionTimeoutMs.
 */
export async function runWarmUpClient(o: WarmUpClientOptions, logger: Logger): Promise<number> {
  const { host, port } = splitHostPort(o.address);
  let done = 0;
  const until = o.clock.now() + o.maxMs;
  for (let n = 0; n < o.sessions && !o.signal.aborted && o.clock.now() < until; n++) {
    const outcome = await session(host, port, n, o);
    if (outcome !== null) {
      logger.debug({ sessions: done, reason: outcome }, 'receive warm-up stopped early');
      break;
    }
    done++;
  }
  return done;
}

/** One session; null when it ended with 221, else why it did not. */
function session(host: string, port: number, n: number, o: WarmUpClientOptions): Promise<string | null> {
  const script = [`EHLO warm-up.${o.hostname}`, `MAIL FROM:<warm-up@${WARM_UP_DOMAIN}>`, `RCPT TO:<r${n % 16}@${WARM_UP_DOMAIN}>`, 'DATA', `${warmUpMessage(n, o.hostname)}.`, 'QUIT'];
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    let step = -1;
    let buf = '';
    let settled = false;
    const finish = (why: string | null) => {
      if (settled) return;
      settled = true;
      timer.cancel();
      o.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(why);
    };
    const onAbort = () => finish('stopping');
    o.signal.addEventListener('abort', onAbort);
    const timer = o.clock.setTimer(o.sessionTimeoutMs, () => finish('session timed out'));
    socket.on('error', (err) => finish(err.message));
    socket.on('close', () => finish('connection closed'));
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (line[3] === '-') continue;
        if (line[0] !== '2' && line[0] !== '3') return finish(`refused: ${line.slice(0, 80)}`);
        step++;
        if (step === script.length) return finish(null);
        socket.write(`${script[step]}\r\n`);
      }
    });
  });
}
