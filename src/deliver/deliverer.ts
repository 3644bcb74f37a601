import type { Clock } from '../core/clock.js';
import type { TlsPolicyDescription, TlsResultSink } from '../core/tls.js';
import type { TlsInfo } from '../core/types.js';
import { connectSmtp, type ConnectionTls, type ConnectOptions, type ConnectResult, type SmtpClient } from './connection.js';
import { requireTlsVerdict } from './require-tls.js';
import type { Router } from './route.js';
import { createTlsPolicyEngine, levelOf, NO_POLICY, type PlannedHop, type TlsPlan, type TlsPolicyEngine } from './tls-policy/session-policy.js';
import type { DeliveryError, DeliveryTimeouts, Hop, HopTlsOutcome, HopTry, OutgoingMessage, RouteFailureReason, RouteResult, TransactionReport } from './types.js';

/**
 * Opens a session to a destination domain: route, the domain's TLS policy (DANE, MTA-STS, the
 * route's level), then each allowed hop in order and each of its addresses, moving on after a
 * connection failure, a TLS failure or a refusing greeting. Every attempt is recorded, so "all
 * MXs failed" always comes with what each one said, and every session's TLS outcome goes to the
 * TLS result sink (metrics, TLS-RPT).
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
  /** DANE and MTA-STS; absent: the route's own TLS level only */
  tlsPolicy?: TlsPolicyEngine;
  /** where each MX session's TLS outcome goes */
  tlsResults?: TlsResultSink;
  /** level may: after a failed STARTTLS, try the same host once in clear text (default true) */
  cleartextFallback?: boolean;
  /** opens one SMTP session: connectSmtp on this thread (default), or the delivery thread's (session-thread.ts) */
  connect?: (o: ConnectOptions) => Promise<ConnectResult>;
}

export interface DeliverySession {
  readonly domain: string;
  readonly hop: { host: string; ip: string; port: number; preference: number | null };
  /** the session's TLS: protocol null when in clear text; verified and policy always set */
  readonly tls: TlsInfo | null;
  /** false once the connection broke or was closed: open a new session */
  readonly usable: boolean;
  readonly messagesSent: number;
  /** SMTP extensions the server announced, upper case */
  readonly extensions: readonly string[];
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
  /** ignoreRecipientPolicy: see TlsPolicyEngine.plan (for messages allowed to bypass MTA-STS/DANE). */
  openSession(domain: string, signal?: AbortSignal, opts?: { ignoreRecipientPolicy?: boolean }): Promise<OpenSessionResult>;
}

const noPolicy = createTlsPolicyEngine({ mtaSts: null, dane: null, now: () => 0 });

export function createDeliverer(options: DelivererOptions): Deliverer {
  const { router, clock, timeouts, logger } = options;
  const engine = options.tlsPolicy ?? noPolicy;
  const fallback = options.cleartextFallback ?? true;
  const connect = options.connect ?? connectSmtp;

  const report = (route: Extract<RouteResult, { ok: true }>, plan: TlsPlan, description: TlsPolicyDescription, tr: HopTry, client?: SmtpClient): void => {
    // Reports are about the recipient domain's own hosts (MX or A/AAAA fallback), not a smarthost.
    if (!options.tlsResults || !tr.tls || route.source === 'static') return;
    const domain = route.domain;
    const t = tr.tls;
    options.tlsResults.record({
      at: tr.startedAt,
      policyDomain: domain,
      policyApplied: t.policy,
      policy: description,
      // Without a policy nothing judges the certificate: a session that went on over TLS is a
      // success for TLS-RPT (RFC 8460 §4.3); the attempt keeps the certificate verdict for operators.
      // Failing open after a policy problem is that problem (sts-policy-fetch-error, -invalid) whatever TLS did.
      result: t.policy === 'none' && client && t.protocol && !plan.stsProblem ? 'success' : t.result,
      mxHost: tr.host,
      receivingIp: tr.ip,
      receivingMxHelo: tr.host,
      detail: t.detail,
      protocol: t.protocol,
      cipher: t.cipher,
      verified: t.verified,
      requireTlsOffered: client ? client.extensions.includes('REQUIRETLS') : false,
    });
  };

  const tryHop = async (planned: PlannedHop, ip: string, plan: TlsPlan, signal: AbortSignal | undefined, cleartext = false): Promise<{ tr: HopTry; client?: SmtpClient }> => {
    const { hop } = planned;
    const startedAt = clock.now();
    const tls = cleartext ? { ...hop.tls, cleartext: true } : hop.tls;
    const res = await connect({ host: hop.host, ip, port: hop.port, hostname: options.hostname, tls, auth: hop.auth, timeouts, clock, signal });
    const base = { host: hop.host, ip, port: hop.port, preference: hop.preference, startedAt, durationMs: clock.now() - startedAt };
    const outcome = (c: ConnectionTls | null): HopTlsOutcome | undefined => {
      if (!c) return undefined;
      const o: HopTlsOutcome = { policy: hop.tls.policy ?? 'none', ...c };
      // failing open after a policy problem: that problem is what the session reports (no policy judged the
      // certificate); under testing, an MX enforce would have refused is reported when TLS itself went well
      const reported = o.policy === 'none' && plan.stsProblem ? plan.stsProblem : o.result === 'success' ? planned.reportOnly : null;
      if (reported) {
        o.result = reported.result;
        o.detail = reported.detail;
      }
      if (cleartext) o.cleartextFallback = true;
      return o;
    };
    if (res.ok) {
      const tr: HopTry = { ...base, result: 'connected' };
      const o = outcome(res.tls);
      if (o) tr.tls = o;
      return { tr, client: res.client };
    }
    const tr: HopTry = { ...base, result: res.result, error: res.error };
    if (res.reply) tr.reply = res.reply;
    const o = outcome(res.tls);
    if (o) tr.tls = o;
    return { tr };
  };

  const attempt = async (
    route: Extract<RouteResult, { ok: true }>,
    plan: TlsPlan,
    tries: HopTry[],
    signal: AbortSignal | undefined,
  ): Promise<OpenSessionResult | null> => {
    for (const r of plan.refused) {
      tries.push(r.tr);
      report(route, plan, r.description, r.tr);
      logger?.warn({ domain: route.domain, host: r.tr.host, error: r.tr.error }, 'mail server not tried: TLS policy');
    }
    for (const planned of plan.hops) {
      const { hop } = planned;
      for (const ip of hop.addresses) {
        if (signal?.aborted) return { ok: false, permanent: false, reason: 'aborted', tries, error: { kind: 'local', message: 'aborted' } };
        let { tr, client } = await tryHop(planned, ip, plan, signal);
        tries.push(tr);
        report(route, plan, planned.description, tr, client);
        if (!client && tr.result === 'tls_failed' && fallback && levelOf(hop) === 'may' && !hop.tls.implicit) {
          // Postfix "may": a broken STARTTLS must not defer forever when nothing demands TLS
          logger?.warn({ domain: route.domain, host: hop.host, ip, error: tr.error }, 'STARTTLS failed: retrying this host once in clear text');
          ({ tr, client } = await tryHop(planned, ip, plan, signal, true));
          tries.push(tr);
          report(route, plan, planned.description, tr, client);
        }
        if (client) {
          logger?.info({ domain: route.domain, host: hop.host, ip, tls: client.tls, policy: hop.tls.policy, tlsResult: tr.tls?.result }, 'delivery session open');
          return { ok: true, session: wrap(route.domain, hop, client, tr.tls), tries };
        }
        logger?.warn({ domain: route.domain, host: hop.host, ip, result: tr.result, error: tr.error, reply: tr.reply }, 'mail server attempt failed');
      }
    }
    return null;
  };

  const openSession = async (domain: string, signal?: AbortSignal, opts: { ignoreRecipientPolicy?: boolean } = {}): Promise<OpenSessionResult> => {
    const route = await router.resolve(domain);
    if (!route.ok) {
      return { ok: false, permanent: route.permanent, reason: route.reason, tries: route.tries, error: { kind: 'dns', message: route.message } };
    }
    const tries: HopTry[] = [...route.tries];
    const ignoreRecipientPolicy = opts.ignoreRecipientPolicy === true;
    let plan = await engine.plan(route, { ignoreRecipientPolicy });
    let opened = await attempt(route, plan, tries, signal);
    if (!opened && !ignoreRecipientPolicy && plan.stsEnforced && !plan.stsFetched && !signal?.aborted) {
      // RFC 8461 §5.1: before treating the failure as final, check for a newer policy
      const before = plan.stsText;
      plan = await engine.plan(route, { refresh: true });
      // the same policy again would only repeat the same failures
      if (plan.stsFetched && plan.stsText !== before) opened = await attempt(route, plan, tries, signal);
    }
    if (opened) return opened;
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

  const wrap = (domain: string, hop: Hop, client: SmtpClient, outcome: HopTlsOutcome | undefined): DeliverySession => {
    let sent = 0;
    // one transaction at a time on a connection; a second caller waits its turn
    let queue: Promise<unknown> = Promise.resolve();
    const tls: TlsInfo | null = outcome
      ? {
          protocol: outcome.protocol,
          cipher: outcome.cipher,
          verified: outcome.verified,
          policy: outcome.policy,
          result: outcome.result,
          ...(outcome.cleartextFallback ? { cleartextFallback: true } : {}),
        }
      : client.tls;
    return {
      domain,
      hop: { host: hop.host, ip: client.ip, port: hop.port, preference: hop.preference },
      tls,
      get usable() {
        return client.usable;
      },
      get messagesSent() {
        return sent;
      },
      get extensions() {
        return client.extensions;
      },
      send(message) {
        const verdict = requireTlsVerdict(
          { requireTls: message.requireTls ?? false, tlsRequiredNo: message.tlsRequiredNo ?? false },
          {
            mxHost: hop.host,
            protocol: tls?.protocol ?? null,
            verified: tls?.verified ?? false,
            policyApplied: tls?.policy ?? 'none',
            requireTlsOffered: Boolean(tls?.protocol) && client.extensions.includes('REQUIRETLS'),
          },
        );
        if (!verdict.send) return Promise.resolve(refusedForRequireTls(message, client, tls, clock.now(), verdict.reason));
        const run = queue.then(async () => {
          const report = await client.send(message);
          sent++;
          return { ...report, hop: { ...report.hop, tls } };
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
function refusedForRequireTls(message: OutgoingMessage, client: SmtpClient, tls: TlsInfo | null, now: number, reason: string): TransactionReport {
  return {
    messageId: message.id,
    hop: { host: client.host, ip: client.ip, port: client.port, tls },
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

export { NO_POLICY };
