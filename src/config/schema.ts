import { z } from 'zod';
import { isIP } from 'node:net';
import { isPostgresUrl } from './store-url.js';

/**
 * The one configuration schema. Every object is strict (unknown keys are errors), every unit
 * is in the key's name, and every default is the value the embedded quick start runs with.
 */

/** "host:port", "[v6]:port"; port 0 means "any free port" (tests). */
export const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+):\d{1,5}$/, {
  message: 'expected host:port, e.g. 127.0.0.1:2525 or [::1]:2525',
}).refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, { message: 'port must be 0-65535' });

const cidr = z.string().refine(
  (v) => {
    const [ip, bits, extra] = v.split('/');
    if (extra !== undefined || ip === undefined) return false;
    const family = isIP(ip);
    if (family === 0) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return /^\d+$/.test(bits) && n >= 0 && n <= (family === 4 ? 32 : 128);
  },
  { message: 'expected an IP address or CIDR range, e.g. 127.0.0.0/8 or ::1/128' },
);

const domainName = z.string().regex(/^(\*|[A-Za-z0-9_](?:[A-Za-z0-9_\-.]*[A-Za-z0-9])?)$/, {
  message: 'expected a domain name or *',
});

const positiveInt = z.number().int().positive();

function isLoopbackHostPort(v: string): boolean {
  const host = v.slice(0, v.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}
const nonNegativeInt = z.number().int().nonnegative();

const routeObject = z.strictObject({
  /** The next hop for the domain: a smarthost or a fixed MX. */
  host: hostPort,
  auth: z.strictObject({ user: z.string().min(1), pass: z.string() }).nullable().default(null),
  /**
   * true: never send in clear text to this route, and only to a server whose certificate is valid
   * for the host name (a server without STARTTLS, or with a bad certificate, defers).
   * "encrypt-only": TLS required, any certificate accepted (the pre-0.2 meaning of true).
   */
  requireTls: z.union([z.boolean(), z.literal('encrypt-only')], { message: 'expected true, false or "encrypt-only"' }).default(false),
  /** true: connect with TLS from the first byte (port 465 style). */
  implicitTls: z.boolean().default(false),
});

/** sign.threads: what an operator may write there. */
const SIGN_THREADS = { message: 'expected "auto" or a whole number of threads from 0 (sign on the main thread) to 32' };

export const configSchema = z.strictObject({
  /** The name Ferry uses in its greeting, EHLO and Received headers. Default: the OS hostname. */
  hostname: z.string().min(1).optional(),
  /** Where the SQLite database, spool and generated TLS/DKIM keys live. */
  dataDir: z.string().min(1).default('./data'),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  smtp: z
    .strictObject({
      listen: hostPort.default('127.0.0.1:2525'),
      /** Second listener speaking TLS from the first byte (465 style); null: none. */
      tlsListen: hostPort.nullable().default(null),
      maxMessageSizeBytes: positiveInt.default(25 * 1024 * 1024),
      /** The header block of a message may not exceed this (abuse guard). */
      maxHeaderBytes: positiveInt.default(1024 * 1024),
      maxClients: positiveInt.default(1000),
      /** Sessions one client address may hold at once, so a single host cannot take every slot. */
      maxClientsPerIp: positiveInt.default(200),
      maxRecipients: positiveInt.default(1000),
      /** A session silent for this long is closed. */
      idleTimeoutMs: positiveInt.default(300_000),
      /** The whole DATA phase of one message must finish within this. */
      dataTimeoutMs: positiveInt.default(600_000),
      tls: z
        .strictObject({
          /** PEM files; both null: a self-signed certificate is generated into dataDir/tls. */
          certFile: z.string().nullable().default(null),
          keyFile: z.string().nullable().default(null),
        })
        .prefault({}),
      /** Clients in these networks may relay without AUTH. */
      relayNetworks: z.array(cidr).default(['127.0.0.0/8', '::1/128']),
      authFailures: z
        .strictObject({
          /** This many failed AUTH attempts from one client host (IPv4 address, IPv6 /64) within windowMs... */
          max: positiveInt.default(5),
          /** ...or from one IPv4 /24... */
          maxPerNetwork: positiveInt.default(20),
          /** ...or against one username, from anywhere... */
          maxPerUser: positiveInt.default(20),
          windowMs: positiveInt.default(60_000),
          /** ...refuse further AUTH there (454 4.7.0) for this long. Connections and relaying are never refused for it. */
          lockoutMs: positiveInt.default(300_000),
          /** Password checks one client host may have running at once (more: 454 4.7.0). */
          maxConcurrentPerClient: positiveInt.default(2),
        })
        .prefault({}),
      /** Clients here may AUTH without TLS; others are not offered AUTH before STARTTLS. Anything beyond loopback is warned about at start. */
      insecureAuthNetworks: z.array(cidr).default(['127.0.0.0/8', '::1/128']),
      /** Pause before the 220 greeting for relay-network clients (early-talker detection; they gain nothing from it). */
      greetingDelayMs: nonNegativeInt.default(0),
      /**
       * Linux nice value the SMTP thread raises itself to (-20 to 0; 0, the default: left alone),
       * above Ferry's writer, delivery and signing threads, so that when the cores are short the
       * event loop that answers sessions runs first. Needs CAP_SYS_NICE or an RLIMIT_NICE that
       * allows it (systemd LimitNICE=); refused, Ferry says so once and runs at the normal
       * priority. Not the default: on a busy machine -10 did not clearly lower the p99 event-loop
       * delay, and DKIM-signed mail cost more CPU per message (bench/RESULTS.md, "Connection
       * slots until the socket closes").
       */
      threadNice: z.number().int().min(-20).max(0).default(0),
      /** Clients outside relayNetworks (unauthenticated until AUTH succeeds). */
      untrusted: z
        .strictObject({
          /** Slots of maxClients that unauthenticated clients outside relayNetworks may never take (kept for relay networks and authenticated sessions). */
          reservedClients: nonNegativeInt.default(100),
          /** Unauthenticated sessions one IPv4 /24 or IPv6 /64 may hold at once. */
          maxPerNetwork: positiveInt.default(50),
          /** An unauthenticated session must authenticate within this long, or it is closed (421 4.4.2). */
          authTimeoutMs: positiveInt.default(30_000),
          /** Pause before their 220 greeting: a client that talks first is refused (421). */
          greetingDelayMs: nonNegativeInt.default(100),
        })
        .prefault({}),
      /** On shutdown, sessions in DATA get this long to finish. */
      shutdownGraceMs: positiveInt.default(30_000),
    })
    .prefault({}),
  spool: z
    .strictObject({
      /** Bodies up to this size are stored inside the SQLite transaction; larger ones as files. */
      inlineMaxBytes: nonNegativeInt.default(128 * 1024),
      /** At most this many messages share one commit (one fsync). */
      commitBatchMax: positiveInt.default(500),
    })
    .prefault({}),
  dns: z
    .strictObject({
      /** Resolver servers as host:port; empty: the system's. */
      servers: z.array(hostPort).default([]),
      timeoutMs: positiveInt.default(5_000),
      tries: positiveInt.default(2),
      /** A DNSSEC-validating resolver (e.g. a local unbound) for DANE; null: no DANE. Loopback only: its AD flag is trusted. */
      dnssec: z
        .strictObject({ server: hostPort.refine(isLoopbackHostPort, { message: 'must be a loopback address (127.0.0.0/8 or [::1]): only a local resolver\'s AD flag can be trusted' }) })
        .nullable()
        .default(null),
    })
    .prefault({}),
  delivery: z
    .strictObject({
      /** Outbound SMTP connections open at once, all destinations together. */
      concurrency: positiveInt.default(100),
      /** The port MX hosts are contacted on. */
      port: z.number().int().min(1).max(65535).default(25),
      /** Allow MX hosts that resolve to loopback/private/link-local addresses (tests, labs). */
      allowPrivateMx: z.boolean().default(false),
      connectTimeoutMs: positiveInt.default(30_000),
      greetingTimeoutMs: positiveInt.default(60_000),
      commandTimeoutMs: positiveInt.default(120_000),
      dataTimeoutMs: positiveInt.default(600_000),
      /** After this many messages a connection is closed and a new one opened. */
      messagesPerConnection: positiveInt.default(100),
      /** A connection with nothing more to send waits this long for another message to its destination before QUIT; 0: closes at once. */
      idleConnectionMs: nonNegativeInt.default(1000),
      /** The outbound SMTP sessions run on a delivery thread of their own (src/deliver/session-thread.ts); false: on the SMTP thread. */
      thread: z.boolean().default(true),
      /**
       * Intake over delivery: while clients are sending and the SMTP thread is short of CPU, delivery
       * starts take a bounded share of it (src/workers/intake-first.ts); false: delivery never yields.
       */
      yieldToIntake: z.boolean().default(true),
      /** A delivery thread with sessions open that leaves its heartbeat unanswered this long is replaced (its sessions' recipients deferred); 0: no heartbeat. */
      threadStallMs: nonNegativeInt.default(30_000),
      /** Minutes to wait after each failed attempt; the last one repeats. */
      retryScheduleMinutes: z.array(z.number().positive()).min(1).default([5, 10, 30, 60, 120, 240]),
      /** ± this fraction of each wait, so retries of many messages spread out. */
      retryJitter: z.number().min(0).max(1).default(0.1),
      /** A recipient still failing after this long expires. */
      maxAgeHours: z.number().positive().default(72),
      /** Domains that must be reached over TLS (no STARTTLS: deferred). */
      requireTlsDomains: z.array(domainName).default([]),
      /** A claimed recipient whose worker died is retried after this long. */
      leaseMs: positiveInt.default(15 * 60_000),
    })
    .prefault({}),
  /**
   * Outbound transport security (issue 15; src/deliver/tls-policy): MTA-STS, the TLS levels, the
   * opportunistic clear-text fallback. DANE is on when dns.dnssec names a validating resolver.
   */
  outboundTls: z
    .strictObject({
      mtaSts: z
        .strictObject({
          /** Fetch, cache and apply recipient domains' MTA-STS policies (RFC 8461) on MX delivery. */
          enabled: z.boolean().default(true),
          /** The HTTPS policy fetch must finish within this. */
          fetchTimeoutMs: positiveInt.default(10_000),
        })
        .prefault({}),
      /** DNSSEC (TLSA) queries to dns.dnssec.server must answer within this. */
      daneTimeoutMs: positiveInt.default(5_000),
      /** Domains that must be reached over TLS with any certificate (level encrypt-only); delivery.requireTlsDomains demands a valid one. */
      encryptOnlyDomains: z.array(domainName).default([]),
      /** Level may: when STARTTLS fails and no policy requires TLS, retry that host once in clear text (Postfix "may"). */
      cleartextFallback: z.boolean().default(true),
    })
    .prefault({}),
  /** Static routes by recipient domain ("*" for all others): "host:port" or an object. */
  routes: z.record(domainName, z.union([hostPort, routeObject])).default({}),
  dkim: z
    .strictObject({
      /** Mail from domains with no key of their own (nor a keyed parent) is signed as this domain; null: unsigned. */
      defaultDomain: domainName.nullable().default(null),
      /** Operator-managed PEM keys, in addition to those made by `ferry dkim keygen`. */
      keys: z
        .array(
          z.strictObject({
            domain: domainName,
            selector: z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/, { message: 'expected a DKIM selector (letters, digits, dots, dashes)' }),
            keyFile: z.string().min(1),
          }),
        )
        .default([]),
    })
    .prefault({}),
  // Both cores (issue 13, cores): where DKIM signing runs.
  sign: z
    .strictObject({
      /** Worker threads that hash bodies and make DKIM signatures: "auto" (one per core beyond the first, 1 to 4), or 0 (on the SMTP thread) to 32. Restart to change. */
      threads: z
        .union([z.literal('auto'), z.number().int(SIGN_THREADS).min(0, SIGN_THREADS).max(32, SIGN_THREADS)], SIGN_THREADS)
        .default('auto'),
    })
    .prefault({}),
  dmarc: z
    .strictObject({
      /** reject: 550 at end of DATA; rewrite: From becomes rewrite.address, original kept in Reply-To; off. */
      mode: z.enum(['reject', 'rewrite', 'off']).default('reject'),
      rewrite: z.strictObject({ address: z.email(), brand: z.string().min(1) }).nullable().default(null),
      /** A looked-up policy is cached for its record's TTL, and never longer than this. */
      cacheTtlMs: positiveInt.default(3_600_000),
      /** A DMARC lookup slower than this lets the message through (and is logged). */
      lookupTimeoutMs: positiveInt.default(3_000),
    })
    .prefault({})
    .refine((d) => d.mode !== 'rewrite' || d.rewrite !== null, {
      message: 'mode "rewrite" needs dmarc.rewrite.address and dmarc.rewrite.brand',
      path: ['mode'],
    }),
  bounces: z
    .strictObject({
      /** A mailbox that stays full this long (while retried) goes on the suppression list. */
      mailboxFullSuppressAfterHours: z.number().positive().default(72),
    })
    .prefault({}),
  /** Delivery status notifications (RFC 3464) to the envelope sender of failed mail. */
  dsn: z
    .strictObject({
      /** false: no DSNs at all (events and webhooks still report every failure). */
      enabled: z.boolean().default(true),
      /** Also tell the sender about recipients dropped at intake because they are suppressed. */
      onDropped: z.boolean().default(false),
      /** RFC 3461 NOTIFY=DELAY: one delay report once a recipient has been deferred this long. */
      delayAfterHours: z.number().positive().default(4),
      /** RFC 3461 RET=FULL: a failure report returns the whole message up to this size (larger: the headers only). */
      returnFullMaxBytes: nonNegativeInt.default(1024 * 1024),
    })
    .prefault({}),
  /**
   * VERP: the envelope sender of outgoing mail becomes LOCALPART+TOKEN@domain, where TOKEN names
   * the message (and the recipient, for single-recipient transactions) and carries an HMAC.
   */
  verp: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** The bounce domain: its MX must point at bounceListener. */
      domain: domainName.nullable().default(null),
      /** HMAC key for the tokens (at least 16 characters; keep it secret, keep it stable). */
      secret: z.string().min(16).nullable().default(null),
      localPart: z.string().regex(/^[A-Za-z0-9_-]{1,20}$/, { message: 'expected 1-20 letters, digits, - or _' }).default('bounces'),
    })
    .prefault({})
    .refine((v) => !v.enabled || (v.domain !== null && v.domain !== '*' && v.secret !== null), {
      message: 'verp.enabled needs verp.domain and verp.secret',
      path: ['enabled'],
    }),
  /** The listener for the bounce domain (asynchronous bounces and complaints); no AUTH, only that domain. */
  bounceListener: z
    .strictObject({
      /** host:port (port 25 in production); null: off. */
      listen: hostPort.nullable().default(null),
      /** Only the first bytes of a report are kept and parsed (the report parts come before the returned message); the rest is read and dropped. */
      parseMaxBytes: positiveInt.default(1024 * 1024),
      maxClients: positiveInt.default(100),
      idleTimeoutMs: positiveInt.default(60_000),
      /** Pause before the 220 greeting: a remote server that talks first is refused (421). */
      greetingDelayMs: nonNegativeInt.default(100),
    })
    .prefault({}),
  /** Signed JSON batches of events POSTed to each URL, from a durable cursor in SQLite. */
  webhooks: z
    .strictObject({
      urls: z.array(z.url({ protocol: /^https?$/ })).default([]),
      /** HMAC-SHA256 key for the X-Ferry-Signature header; required when urls are set. */
      secret: z.string().min(16).nullable().default(null),
      /** At most this many events per POST. */
      batchSize: positiveInt.max(10_000).default(100),
      /** A POST not answered within this is a failure (retried). */
      timeoutMs: positiveInt.default(10_000),
      /** Looking for new events at least this often (new events also wake the sender at once). */
      pollIntervalMs: positiveInt.default(1_000),
      /** Backoff after a failed POST: first wait, doubling up to the maximum. */
      retryInitialMs: positiveInt.default(1_000),
      retryMaxMs: positiveInt.default(300_000),
    })
    .prefault({})
    .refine((w) => w.urls.length === 0 || w.secret !== null, {
      message: 'webhooks.urls needs webhooks.secret (the HMAC key receivers verify with)',
      path: ['secret'],
    }),
  /**
   * One-click unsubscribe (RFC 8058) for mail whose user has it on or that carries
   * `X-Ferry-Unsubscribe: one-click`: Ferry adds List-Unsubscribe (an https link on baseUrl, and a
   * mailto: on the bounce domain when the bounce listener runs) and serves the endpoint.
   */
  unsubscribe: z
    .strictObject({
      /** Public https base URL where /unsubscribe is served (e.g. https://mail.example.com); null: off. */
      baseUrl: z.url({ protocol: /^https?$/ }).nullable().default(null),
      /** HMAC key for the per-recipient tokens (at least 16 characters; keep it secret and stable). */
      secret: z.string().min(16).nullable().default(null),
      /** Where Ferry serves the endpoint (put it behind baseUrl); null: not served here. */
      listen: hostPort.nullable().default(null),
      /** Local part of the mailto: address on the bounce domain. */
      mailtoLocalPart: z.string().regex(/^[A-Za-z0-9_-]{1,30}$/, { message: 'expected 1-30 letters, digits, - or _' }).default('unsubscribe'),
    })
    .prefault({})
    .refine((u) => u.baseUrl === null || u.secret !== null, { message: 'unsubscribe.baseUrl needs unsubscribe.secret', path: ['secret'] }),
  suppression: z
    .strictObject({
      /** drop: accept and record the recipient as dropped; reject: 550 at RCPT. */
      mode: z.enum(['drop', 'reject']).default('drop'),
    })
    .prefault({}),
  /**
   * Per-destination limits live in the database (`ferry limits set`); these are the relay's
   * built-in values and how the throttle runs.
   */
  limits: z
    .strictObject({
      /** Connections per destination when no limit (nor 'default') sets them. */
      defaultConnections: positiveInt.default(20),
      /** How often the relay looks for limits changed by the CLI. */
      reloadIntervalMs: positiveInt.default(2_000),
      /** How often budget usage and slow-down state are written to the database (and at stop). */
      persistIntervalMs: positiveInt.default(5_000),
      /** MX hosts of a domain (for mx: limits) are looked up again after this long. */
      mxCacheTtlMs: positiveInt.default(3_600_000),
      /** After a failed MX lookup the domain uses its own budget, and is looked up again after this. */
      mxFailureTtlMs: positiveInt.default(60_000),
      /** Adaptive slow-down when a destination answers "too fast" (category rate_limited). */
      slowDown: z
        .strictObject({
          /** The halved rate holds this long after the last rate-limit reply... */
          cooldownMs: positiveInt.default(600_000),
          /** ...then doubles every this long until back at the configured (or earlier) rate. */
          restoreStepMs: positiveInt.default(300_000),
          /** Replies within this long of a halving (one throttled connection, many messages) halve only once. */
          minHalvingIntervalMs: positiveInt.default(60_000),
        })
        .prefault({}),
    })
    .prefault({}),
  http: z
    .strictObject({
      /** Metrics (/metrics) and health (/healthz, /readyz) endpoint; loopback by default; null: off. */
      listen: hostPort.nullable().default('127.0.0.1:8025'),
      /** /metrics names this many destination domains (the busiest); the rest are counted as _other. */
      metricsTopDestinations: positiveInt.max(1000).default(20),
      /** The web console at / (accounts: `ferry admins add`); false: only the operator endpoints. */
      console: z.boolean().default(true),
      /** Believe X-Forwarded-For/-Proto: only when a reverse proxy on this host is the sole client. */
      trustProxy: z.boolean().default(false),
    })
    .prefault({}),
  disk: z
    .strictObject({
      /** Below this much free space on the data directory's disk, MAIL FROM gets 452 4.3.1. 0: no byte floor. */
      minFreeBytes: nonNegativeInt.default(256 * 1024 * 1024),
      /** ...or below this percentage of the disk free. 0: no percentage floor. */
      minFreePercent: z.number().min(0).max(100).default(0),
      /** How often free space is measured (and accepting resumes once it is back). */
      checkIntervalMs: positiveInt.default(10_000),
    })
    .prefault({}),
  /**
   * The store engine. Without `url`: embedded SQLite in dataDir (one node). With a postgres://
   * URL: the PostgreSQL engine, shared by every node that names the same database (issue 14).
   * FERRY_STORE_URL overrides `url`; the password is never logged (see redactStoreUrl, store-url.ts).
   */
  store: z
    .strictObject({
      url: z
        .string()
        .refine(isPostgresUrl, { message: 'expected postgres://user:password@host:port/database (or postgresql://)' })
        .nullable()
        .default(null),
      /** Connections this node opens to PostgreSQL (the pool); the server's max_connections is shared by every node. */
      poolSize: positiveInt.max(200).default(10),
      /** This node's name in leases, heartbeats and `ferry nodes`; default: hostname. Unique per node. */
      nodeName: z.string().min(1).max(200).optional(),
      /** How long a claimed recipient stays this node's; another node delivers it after that if this one dies. */
      leaseMs: positiveInt.min(5_000).default(120_000),
      /** How often the node writes its heartbeat row (and renews the webhook sender's lock). */
      heartbeatMs: positiveInt.min(100).default(5_000),
    })
    .prefault({}),
  /**
   * What is kept once mail is finished (src/ops/retention.ts). The suppression list is never
   * pruned by age (only by each entry's own expiry).
   */
  retention: z
    .strictObject({
      /** A finished message's record (recipients, attempts, events) is deleted this many days after its last change; 0: kept forever. */
      days: z.number().nonnegative().default(30),
      /** A body (spool file or inline) is deleted this long after its last recipient became final; 0: at once. */
      keepBodiesHours: z.number().nonnegative().default(0),
      /** How often the relay looks for bodies and records to delete (finished deliveries also start a look). */
      sweepIntervalMs: positiveInt.default(60_000),
      /** Messages handled per transaction; the worker yields to the event loop between batches. */
      batchSize: positiveInt.max(5_000).default(200),
    })
    .prefault({}),
  /**
   * TLS reporting (RFC 8460, src/tlsrpt): every outbound MX session's TLS result is counted per
   * policy domain, policy and UTC day (always, for `ferry tls report`); with `enabled`, each
   * day's aggregate report goes to the rua destinations the domain publishes at _smtp._tls.
   */
  tlsRpt: z
    .strictObject({
      /** Send the daily reports (counting happens either way). */
      enabled: z.boolean().default(false),
      /** RFC 8460 organization-name: who runs this relay. Required when enabled. */
      organization: z.string().min(1).nullable().default(null),
      /** RFC 8460 contact-info: an address or URL for questions about the reports. Required when enabled. */
      contact: z.string().min(1).nullable().default(null),
      /** From of report mail; null: tlsrpt-noreply@<hostname>. Reports go out with a null envelope sender. */
      from: z.email().nullable().default(null),
      /** Session counts are kept in memory and written in one transaction this often (and at stop); a crash loses at most this window. */
      flushIntervalMs: positiveInt.default(5_000),
      /** A day's reports go out this long after the UTC day ended. */
      sendDelayMinutes: nonNegativeInt.default(30),
      /** How often the relay looks for finished days to report. */
      checkIntervalMs: positiveInt.default(600_000),
      /** A day not reported within this many days (the relay was down, DNS failed) is not reported any more. */
      maxAgeDays: positiveInt.max(30).default(3),
      /** Counts and the record of sent reports are deleted after this many days. */
      keepDays: positiveInt.default(31),
      /** https rua: a POST not answered within this is a failure... */
      httpsTimeoutMs: positiveInt.default(30_000),
      /** ...tried this many times in all... */
      httpsAttempts: positiveInt.max(10).default(3),
      /** ...waiting this long after the first failure, doubling after each further one. */
      httpsRetryDelayMs: positiveInt.default(60_000),
    })
    .prefault({})
    .refine((r) => !r.enabled || (r.organization !== null && r.contact !== null), {
      message: 'tlsRpt.enabled needs tlsRpt.organization and tlsRpt.contact (RFC 8460 organization-name and contact-info)',
      path: ['enabled'],
    })
    .refine((r) => r.sendDelayMinutes * 60_000 > r.flushIntervalMs, {
      message: 'tlsRpt.sendDelayMinutes must be longer than tlsRpt.flushIntervalMs, so a day is stored whole before it is reported',
      path: ['sendDelayMinutes'],
    })
    .refine((r) => r.keepDays > r.maxAgeDays, { message: 'tlsRpt.keepDays must be more than tlsRpt.maxAgeDays', path: ['keepDays'] }),
});

export type ConfigInput = z.input<typeof configSchema>;
type Parsed = z.output<typeof configSchema>;
export type RouteConfig = z.output<typeof routeObject>;

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The validated, frozen configuration. `hostname` and `dataDir` are always resolved. */
export type Config = DeepReadonly<Omit<Parsed, 'hostname' | 'routes'> & { hostname: string; routes: Record<string, RouteConfig> }>;
export type SmtpConfig = Config['smtp'];
export type DeliveryConfig = Config['delivery'];
export type OutboundTlsConfig = Config['outboundTls'];
export type SpoolConfig = Config['spool'];
