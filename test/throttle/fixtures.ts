import { livenessBound } from '../helpers/liveness.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { Test } from 'tap';
import type { Ferry } from '../../src/main.js';
import { openDatabase } from '../../src/store/db.js';
import { createLimitsRepo, type LimitFields } from '../../src/store/limits-repo.js';
import type { LimitStateRow } from '../../src/core/store-types.js';
import type { StartedRelay } from '../helpers/relay.js';
import { createLogger } from '../../src/core/logger.js';
import type { DnsResolver } from '../../src/core/resolver.js';
import { createThrottle, type Throttle, type ThrottleDeps, type ThrottleParams } from '../../src/throttle/throttle.js';

/** A data directory with limits already in its database (as `ferry limits set` would leave them). */
export function dataDirWithLimits(t: Test, limits: Record<string, Partial<LimitFields>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-limits-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  const repo = createLimitsRepo(db);
  for (const [target, f] of Object.entries(limits)) {
    repo.set(target, { perMinute: null, perHour: null, perDay: null, connections: null, perConnection: null, ...f }, Date.now());
  }
  db.close();
  return dir;
}

/** Sends `to.length` messages, one recipient each, over a pooled SMTP connection; all accepted. */
export async function sendEach(relay: StartedRelay, to: string[], parallel = 1): Promise<void> {
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: parallel,
    maxMessages: Infinity,
    host: '127.0.0.1',
    port: relay.smtpPort,
    secure: false,
    ignoreTLS: true,
  });
  try {
    await Promise.all(
      to.map((rcpt, i) =>
        transport.sendMail({
          envelope: { from: 'sender@ferry.test', to: [rcpt] },
          raw: `From: sender@ferry.test\r\nTo: ${rcpt}\r\nSubject: n${i}\r\nMessage-ID: <m${i}-${rcpt}@ferry.test>\r\n\r\nbody ${i}\r\n`,
        }),
      ),
    );
  } finally {
    transport.close();
  }
}

/** Real-time polling until `cond` holds. */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + livenessBound(timeoutMs);
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Recipients by status. */
export function statusCounts(ferry: Ferry): Record<string, number> {
  const rows = ferry.db.prepare('SELECT status, COUNT(*) AS n FROM recipients GROUP BY status').all() as { status: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/**
 * Waits until the relay is idle: no connection open, nothing claimed, and nothing due at the
 * (manual) clock's now. Advance an injected clock only then, or in-flight SMTP timeouts fire.
 */
export async function settled(ferry: Ferry, now: number): Promise<void> {
  const dueNow = () =>
    (ferry.db.prepare("SELECT COUNT(*) AS n FROM recipients WHERE status IN ('queued','deferred') AND next_attempt_at <= ?").get(now) as { n: number }).n;
  let quiet = 0;
  await until(() => {
    const s = ferry.scheduler.stats;
    quiet = s.connections === 0 && s.inFlight === 0 && dueNow() === 0 ? quiet + 1 : 0;
    return quiet >= 5;
  }, 'the relay to settle');
}

/**
 * The budget row of `bucket` once the throttle's save of it shows `expected` (the save goes
 * through the store's writer thread, so it lands shortly after the timer that made it fires).
 * Times out, naming what it waited for, when the saved row never shows it.
 */
export async function savedBudget(ferry: Ferry, bucket: string, expected: (row: LimitStateRow) => boolean, what: string): Promise<LimitStateRow> {
  let row: LimitStateRow | undefined;
  await until(() => {
    row = createLimitsRepo(ferry.db).states().find((s) => s.bucket === bucket && expected(s));
    return row !== undefined;
  }, `the saved budget of ${bucket} to show ${what}`);
  return row!;
}

// --- the throttle built directly (the gate tests) ---
/** The throttle's timings in the gate tests (a manual clock moves them); `over` changes some. */
export function throttleParams(over: Partial<ThrottleParams> = {}): ThrottleParams {
  return {
    reloadIntervalMs: 2_000,
    persistIntervalMs: 5_000,
    mxCacheTtlMs: 3_600_000,
    mxFailureTtlMs: 60_000,
    slowDown: { cooldownMs: 600_000, restoreStepMs: 300_000, minHalvingIntervalMs: 60_000 },
    ...over,
  };
}

const refuse = () => Promise.reject(new Error('no DNS in this test'));

/** A resolver that answers nothing (the gate tests have no mx: rules). */
export const noDns: DnsResolver = { resolveMx: refuse, resolve4: refuse, resolve6: refuse, resolveTxt: refuse, reverse: refuse };

/** A throttle as a node builds it: by default no DNS, a silent logger, 10 connections and 100 messages per connection, throttleParams(). */
export function testThrottle(deps: Pick<ThrottleDeps, 'limits' | 'clock'> & Partial<ThrottleDeps>): Throttle {
  return createThrottle({
    resolver: noDns,
    logger: createLogger('silent'),
    defaults: { connections: 10, perConnection: 100 },
    params: throttleParams(),
    ...deps,
  });
}
