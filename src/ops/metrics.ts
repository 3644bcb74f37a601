import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { QueueDepth } from '../core/store-types.js';

/**
 * What a scrape reads from the running relay (cheap: indexed counts and in-memory counters). The
 * queue figures come from the store (asynchronous): prom-client awaits a gauge's collect().
 */
export interface MetricsSources {
  clock: Clock;
  version: string;
  queueDepth: () => QueueDepth | Promise<QueueDepth>;
  /** accept time of the oldest recipient still queued or deferred; null: none */
  oldestQueuedAt: () => number | null | Promise<number | null>;
  activeSessions: () => number;
  outboundConnections: () => number;
  disk: () => { freeBytes: number | null; low: boolean };
  /**
   * Destination labels: the this-many destinations with the most attempts get their own; every
   * other domain is counted as "_other" (bounded cardinality; customers' recipient domains are
   * not disclosed one by one). Default 20.
   */
  maxDestinations?: number;
}

/** One recipient's result of one delivery attempt, as the metrics see it. */
export interface AttemptResult {
  domain: string;
  status: 'delivered' | 'deferred' | 'bounced' | 'expired';
  category: string | null;
  /** when the message was accepted (for the accept → delivery histogram) */
  acceptedAt: number;
}

export type RefusalPhase = 'mail' | 'rcpt' | 'data';

export interface FerryMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** A message was committed; dropped recipients count as final here. */
  messageAccepted(recipients: readonly { status: string; category: string | null }[]): void;
  /** A MAIL FROM, RCPT TO or DATA was refused (reason: a short stable label). */
  refused(phase: RefusalPhase, reason: string): void;
  /** The outcome of one attempt for each of its recipients. */
  attempted(results: readonly AttemptResult[]): void;
  reloaded(ok: boolean): void;
  /** One outbound MX session's TLS: the policy that governed it and its RFC 8460 result (issue 15). */
  tlsSession(policy: string, result: string): void;
  /** The delivery thread failed (crashed, exited, stalled, message_error) and was replaced. */
  deliveryThreadFailed(reason: string): void;
  /** The throttle reports how many destinations it is holding back right now; null: none known. */
  setThrottledDestinationsProvider(fn: (() => number) | null): void;
  /** The exposition text. */
  render(): Promise<string>;
}

const FINAL = new Set(['delivered', 'bounced', 'expired', 'dropped']);

/**
 * Ferry's Prometheus metrics in their own Registry (never prom-client's global one, so several
 * relays in one process — tests — do not share counters). Counters follow events in this
 * process; queue gauges are read from the database at scrape time.
 */
export function createMetrics(src: MetricsSources): FerryMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const destinations = createDestinationTally(src.maxDestinations ?? 20);
  let throttled: (() => number) | null = null;

  new Gauge({ name: 'ferry_info', help: 'Ferry build information (always 1)', labelNames: ['version'], registers: [registry] }).set({ version: src.version }, 1);
  const accepted = new Counter({ name: 'ferry_messages_accepted_total', help: 'Messages accepted (committed, 250 sent)', registers: [registry] });
  const refused = new Counter({
    name: 'ferry_messages_refused_total',
    help: 'MAIL FROM, RCPT TO and DATA refused, by phase (mail, rcpt, data) and reason',
    labelNames: ['phase', 'reason'],
    registers: [registry],
  });
  const recipients = new Counter({
    name: 'ferry_recipients_final_total',
    help: 'Recipients that reached a final status (delivered, bounced, expired, dropped), by bounce category',
    labelNames: ['status', 'category'],
    registers: [registry],
  });
  new Counter({
    name: 'ferry_delivery_attempts_total',
    help: 'Delivery attempts per recipient, by destination (the busiest domains; the rest as _other) and result',
    labelNames: ['destination', 'result'],
    registers: [registry],
    collect() {
      // Ranks are taken at scrape time: a domain entering or leaving the top moves its count
      // between its own series and _other (sum over destination stays monotonic).
      this.reset();
      for (const [destination, result, n] of destinations.series()) this.inc({ destination, result }, n);
    },
  });
  const latency = new Histogram({
    name: 'ferry_delivery_latency_seconds',
    help: 'Time from accepting a message to delivering it, per recipient',
    buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 72 * 3600],
    registers: [registry],
  });
  const tlsSessions = new Counter({
    name: 'ferry_tls_sessions_total',
    help: 'Outbound MX sessions by TLS policy (none, sts-testing, sts-enforce, dane) and RFC 8460 result (success or the failure type)',
    labelNames: ['policy', 'result'],
    registers: [registry],
  });
  const reloads = new Counter({ name: 'ferry_config_reloads_total', help: 'Configuration reloads, by result', labelNames: ['result'], registers: [registry] });
  const threadFailures = new Counter({
    name: 'ferry_delivery_thread_failures_total',
    help: 'Delivery thread failures (each followed by a new thread), by reason (crashed, exited, stalled, message_error)',
    labelNames: ['reason'],
    registers: [registry],
  });

  new Gauge({
    name: 'ferry_queue_recipients',
    help: 'Recipients waiting for delivery, by status (read from the database at scrape time)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const d = await src.queueDepth();
      this.set({ status: 'queued' }, d.queued);
      this.set({ status: 'deferred' }, d.deferred);
    },
  });
  new Gauge({
    name: 'ferry_queue_oldest_age_seconds',
    help: 'Age of the oldest recipient still queued or deferred (0: the queue is empty)',
    registers: [registry],
    async collect() {
      const at = await src.oldestQueuedAt();
      this.set(at === null ? 0 : Math.max(0, (src.clock.now() - at) / 1000));
    },
  });
  new Gauge({
    name: 'ferry_smtp_sessions_active',
    help: 'Inbound SMTP sessions open now',
    registers: [registry],
    collect() {
      this.set(src.activeSessions());
    },
  });
  new Gauge({
    name: 'ferry_outbound_connections_active',
    help: 'Outbound delivery connections open now',
    registers: [registry],
    collect() {
      this.set(src.outboundConnections());
    },
  });
  new Gauge({
    name: 'ferry_throttled_destinations',
    help: 'Destinations the throttle is holding back now',
    registers: [registry],
    collect() {
      this.set(throttled ? throttled() : 0);
    },
  });
  new Gauge({
    name: 'ferry_disk_free_bytes',
    help: 'Free space on the data directory disk at the last check',
    registers: [registry],
    collect() {
      const d = src.disk();
      if (d.freeBytes !== null) this.set(d.freeBytes);
    },
  });
  new Gauge({
    name: 'ferry_disk_low',
    help: '1 while free space is below the disk threshold (new mail gets 452 4.3.1)',
    registers: [registry],
    collect() {
      this.set(src.disk().low ? 1 : 0);
    },
  });

  return {
    registry,
    contentType: registry.contentType,
    messageAccepted(rcpts) {
      accepted.inc();
      for (const r of rcpts) {
        if (FINAL.has(r.status)) recipients.inc({ status: r.status, category: r.category ?? 'none' });
      }
    },
    refused(phase, reason) {
      refused.inc({ phase, reason });
    },
    attempted(results) {
      const now = src.clock.now();
      for (const r of results) {
        destinations.add(r.domain, r.status);
        if (r.status === 'deferred') continue;
        recipients.inc({ status: r.status, category: r.category ?? 'none' });
        if (r.status === 'delivered') latency.observe(Math.max(0, (now - r.acceptedAt) / 1000));
      }
    },
    reloaded(ok) {
      reloads.inc({ result: ok ? 'ok' : 'error' });
    },
    tlsSession(policy, result) {
      tlsSessions.inc({ policy, result });
    },
    deliveryThreadFailed(reason) {
      threadFailures.inc({ reason });
    },
    setThrottledDestinationsProvider(fn) {
      throttled = fn;
    },
    render() {
      return registry.metrics();
    },
  };
}

/**
 * A short, stable label for an SMTP refusal, read from its reply (enhanced code first). Labels
 * stay few so the metric's cardinality stays bounded.
 */
export function refusalReason(phase: RefusalPhase, err: { responseCode?: number | undefined; message: string }): string {
  const enhanced = /^([245]\.\d{1,3}\.\d{1,3})\b/.exec(err.message)?.[1] ?? '';
  const text = err.message.toLowerCase();
  if (enhanced === '4.3.2') return 'shutting_down';
  if (enhanced === '4.3.1') return 'disk_full';
  if (err.responseCode === 530) return 'auth_required';
  if (enhanced === '5.1.7' || enhanced === '5.1.3' || enhanced === '5.6.7') return 'bad_address';
  if (enhanced === '4.5.3') return 'too_many_recipients';
  if (enhanced === '5.3.4') return text.includes('header') ? 'header_too_large' : 'too_large';
  if (text.includes('suppression list')) return 'suppressed';
  if (text.includes('quota exceeded')) return 'quota';
  if (text.includes('dmarc')) return 'dmarc';
  if (enhanced.startsWith('4.3.') || enhanced === '4.7.0') return 'local_error';
  if (phase === 'mail' && enhanced === '5.7.1') return 'sender_not_allowed';
  if (phase === 'data' && enhanced === '5.7.1') return 'from_not_allowed';
  if (phase === 'rcpt') return 'recipient_policy';
  return 'other';
}

/**
 * Attempts per destination and result, kept for the busiest domains only: the table holds at
 * most `4 × top + 1000` domains; when full, the less busy half is folded into _other. A domain
 * folded early may later earn its own entry again, counted from then on.
 */
function createDestinationTally(top: number) {
  const limit = 4 * top + 1000;
  const byDomain = new Map<string, { total: number; results: Map<string, number> }>();
  const other = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string, n: number) => m.set(k, (m.get(k) ?? 0) + n);
  const ranked = () => [...byDomain.entries()].sort((a, b) => b[1].total - a[1].total);

  return {
    add(domain: string, result: string): void {
      let d = byDomain.get(domain);
      if (!d) {
        if (byDomain.size >= limit) {
          for (const [name, folded] of ranked().slice(Math.floor(limit / 2))) {
            for (const [res, n] of folded.results) bump(other, res, n);
            byDomain.delete(name);
          }
        }
        d = { total: 0, results: new Map() };
        byDomain.set(domain, d);
      }
      d.total++;
      bump(d.results, result, 1);
    },
    /** [destination, result, count]: the top domains, then _other. */
    series(): [string, string, number][] {
      const out: [string, string, number][] = [];
      const rest = new Map(other);
      ranked().forEach(([domain, d], i) => {
        for (const [res, n] of d.results) {
          if (i < top) out.push([domain, res, n]);
          else bump(rest, res, n);
        }
      });
      for (const [res, n] of rest) out.push(['_other', res, n]);
      return out;
    },
  };
}
