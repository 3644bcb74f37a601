import type { Clock } from '../core/clock.js';
import type { TlsResultSink, TlsSessionResult } from '../core/tls.js';
import type { TlsInfo } from '../core/types.js';
import { connectSmtp, type SmtpClient } from './connection.js';
import { requireTlsVerdict } from './require-tls.js';
import type { Router } from './route.js';
import type { DeliveryError, DeliveryTimeouts, Hop, HopTry, OutgoingMessage, RouteFailureReason, TransactionReport } from './types.js';

/**
 * Opens a session to a destination domain: route, then each hop in order and each of its
 * addresses, moving on after a connection failure, a TLS failure or a refusing greeting. Every
 * attempt is recorded, so "all MXs failed" always comes with what each one said.
 */

export interface DeliverLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface DelivererOptions {
  router: Router;
  /** EHLO name */
  hostname: string;
  timeouts: DeliveryTimeouts;
  clock: Clock;
  logger?: DeliverLogger;
  /** Told each MX session's TLS result (TLS-RPT counts); must not block. */
  tlsResults?: TlsResultSink;
}

export interface DeliverySession {
  readonly domain: string;
  readonly hop: { host: string; ip: string; port: number; preference: number | null };
  readonly tls: TlsInfo | null;
  /** false once the connection broke or was closed: open a new session */
  readonly usable: boolean;
  readonly messagesSent: number;
  /** SMTP extensions the server announced, upper case */
  readonly extensions: readonly string[];
  /** what the session's TLS came to (REQUIRETLS decisions read it) */
  readonly tlsResult: TlsSessionResult;
  /** one transaction carrying all of this destination's recipients of the message */
  send(message: OutgoingMessage): Promise<TransactionReport>;
  close(): Promise<void>;
}

export type OpenSessionResult =
  | { ok: true; session: DeliverySession; tries: HopTry[] }
  | {
      ok: false;
      /** true only when DNS says the domain takes no mail (NXDOMAIN, null MX, no address) */
      permanent: boolean;
      reason: RouteFailureReason | 'all_hops_failed' | 'aborted';
      tries: HopTry[];
      error: DeliveryError;
    };

export interface Deliverer {
  openSession(domain: string, signal?: AbortSignal): Promise<OpenSessionResult>;
}

export function createDeliverer(options: DelivererOptions): Deliverer {
  const { router, clock, timeouts, logger } = options;

  const tryHop = async (hop: Hop, ip: string, signal: AbortSignal | undefined): Promise<{ tr: HopTry; client?: SmtpClient }> => {
    const startedAt = clock.now();
    const res = await connectSmtp({ host: hop.host, ip, port: hop.port, hostname: options.hostname, tls: hop.tls, auth: hop.auth, timeouts, clock, signal });
    const base = { host: hop.host, ip, port: hop.port, preference: hop.preference, startedAt, durationMs: clock.now() - startedAt };
    if (res.ok) return { tr: { ...base, result: 'connected' }, client: res.client };
    const tr: HopTry = { ...base, result: res.result, error: res.error };
    if (res.reply) tr.reply = res.reply;
    return { tr };
  };

  const openSession = async (domain: string, signal?: AbortSignal): Promise<OpenSessionResult> => {
    const route = await router.resolve(domain);
    if (!route.ok) {
      return { ok: false, permanent: route.permanent, reason: route.reason, tries: route.tries, error: { kind: 'dns', message: route.message } };
    }
    const tries: HopTry[] = [...route.tries];
    for (const hop of route.hops) {
      for (const ip of hop.addresses) {
        if (signal?.aborted) {
          return { ok: false, permanent: false, reason: 'aborted', tries, error: { kind: 'local', message: 'aborted' } };
        }
        const { tr, client } = await tryHop(hop, ip, signal);
        tries.push(tr);
        // Until MTA-STS/DANE land (tls-sts), every session is opportunistic: no-policy-found.
        const tlsResult = client || tr.result === 'tls_failed' ? sessionTlsResult(route.domain, hop, tr, client) : null;
        // Reports are about the recipient domain's own hosts (MX or A/AAAA fallback), not a smarthost.
        if (tlsResult && route.source !== 'static') options.tlsResults?.record(tlsResult);
        if (client) {
          logger?.info({ domain, host: hop.host, ip, tls: client.tls }, 'delivery session open');
          return { ok: true, session: wrap(route.domain, hop, client, tlsResult!), tries };
        }
        logger?.warn({ domain, host: hop.host, ip, result: tr.result, error: tr.error, reply: tr.reply }, 'mail server attempt failed');
      }
    }
    const last = [...tries].reverse().find((t) => t.error)?.error;
    const summary = tries.map((t) => `${t.host}[${t.ip ?? '-'}]: ${t.result}${t.reply ? ` (${t.reply.text})` : t.error ? ` (${t.error.message})` : ''}`).join('; ');
    return {
      ok: false,
      permanent: false,
      reason: 'all_hops_failed',
      tries,
      error: { kind: last?.kind ?? 'connect', message: `no mail server of ${route.domain} took a session: ${summary}` },
    };
  };

  const sessionTlsResult = (domain: string, hop: Hop, tr: HopTry, client: SmtpClient | undefined): TlsSessionResult => ({
    at: clock.now(),
    policyDomain: domain,
    policyApplied: 'none',
    policy: { type: 'no-policy-found', strings: [], mxHosts: [] },
    // A failed handshake is nodemailer's ETLS (connection.ts names the code first); the other
    // tls_failed is a host that offered no STARTTLS where TLS is required.
    result: client ? (client.tls ? 'success' : 'starttls-not-supported') : tr.error?.message.startsWith('ETLS') ? 'validation-failure' : 'starttls-not-supported',
    mxHost: hop.host,
    receivingIp: tr.ip,
    receivingMxHelo: null,
    detail: client ? null : (tr.error?.message ?? null),
    protocol: client?.tls?.protocol ?? null,
    cipher: client?.tls?.cipher ?? null,
    verified: client?.verified ?? false,
    requireTlsOffered: Boolean(client?.tls && client.extensions.includes('REQUIRETLS')),
  });

  const wrap = (domain: string, hop: Hop, client: SmtpClient, tlsResult: TlsSessionResult): DeliverySession => {
    let sent = 0;
    // one transaction at a time on a connection; a second caller waits its turn
    let queue: Promise<unknown> = Promise.resolve();
    return {
      domain,
      hop: { host: hop.host, ip: client.ip, port: hop.port, preference: hop.preference },
      tls: client.tls,
      get usable() {
        return client.usable;
      },
      get messagesSent() {
        return sent;
      },
      get extensions() {
        return client.extensions;
      },
      tlsResult,
      send(message) {
        const verdict = requireTlsVerdict({ requireTls: message.requireTls ?? false, tlsRequiredNo: message.tlsRequiredNo ?? false }, tlsResult);
        if (!verdict.send) return Promise.resolve(refusedForRequireTls(message, client, clock.now(), verdict.reason));
        const run = queue.then(async () => {
          const report = await client.send(message);
          sent++;
          return report;
        });
        queue = run.catch(() => undefined);
        return run;
      },
      close: () => client.close(),
    };
  };

  return { openSession };
}

/** RFC 8689: nothing was sent; every recipient ends with 5.7.30 (permanent, a DSN). */
function refusedForRequireTls(message: OutgoingMessage, client: SmtpClient, now: number, reason: string): TransactionReport {
  return {
    messageId: message.id,
    hop: { host: client.host, ip: client.ip, port: client.port, tls: client.tls },
    recipients: message.to.map((address) => ({
      address,
      ok: false,
      phase: 'mail',
      permanentLocal: true,
      localReason: 'requiretls',
      error: { kind: 'tls', message: reason },
    })),
    sessionUsable: client.usable,
    startedAt: now,
    durationMs: 0,
  };
}
