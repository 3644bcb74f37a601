/**
 * Complete SMTP replies as a raw test client parses them, and the wait for the next one. The
 * clients (test/helpers/raw-smtp.ts, test/abuse/fixtures/harness.ts) keep their own parsing
 * and share this.
 */
import { livenessBound } from './liveness.js';

export interface ReplyQueue {
  push(reply: string): void;
  /** The connection ended: a waiting reader fails instead of timing out. */
  end(): void;
  readonly ended: boolean;
  /** The next complete reply, within timeoutMs. */
  next(timeoutMs?: number): Promise<string>;
}

export function createReplyQueue(): ReplyQueue {
  const replies: string[] = [];
  let ended = false;
  let wake: (() => void) | null = null;
  return {
    push(reply) {
      replies.push(reply);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    get ended() {
      return ended;
    },
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + livenessBound(timeoutMs);
      while (replies.length === 0) {
        if (ended) throw new Error('connection closed while waiting for a reply');
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('timed out waiting for a reply');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
      return replies.shift()!;
    },
  };
}
