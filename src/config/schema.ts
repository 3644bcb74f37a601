import { z } from 'zod';
import { isIP } from 'node:net';

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
const nonNegativeInt = z.number().int().nonnegative();

const routeObject = z.strictObject({
  /** The next hop for the domain: a smarthost or a fixed MX. */
  host: hostPort,
  auth: z.strictObject({ user: z.string().min(1), pass: z.string() }).nullable().default(null),
  /** true: never send in clear text to this route; a server without STARTTLS defers. */
  requireTls: z.boolean().default(false),
  /** true: connect with TLS from the first byte (port 465 style). */
  implicitTls: z.boolean().default(false),
});

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
          /** This many failed AUTH attempts from one IP within windowMs... */
          max: positiveInt.default(5),
          windowMs: positiveInt.default(60_000),
          /** ...refuse that IP (421) for this long. */
          lockoutMs: positiveInt.default(300_000),
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
  dmarc: z
    .strictObject({
      /** reject: 550 at end of DATA; rewrite: From becomes rewrite.address, original kept in Reply-To; off. */
      mode: z.enum(['reject', 'rewrite', 'off']).default('reject'),
      rewrite: z.strictObject({ address: z.email(), brand: z.string().min(1) }).nullable().default(null),
      /** node's resolver reports no TTL: a looked-up policy is reused this long. */
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
  suppression: z
    .strictObject({
      /** drop: accept and record the recipient as dropped; reject: 550 at RCPT. */
      mode: z.enum(['drop', 'reject']).default('drop'),
    })
    .prefault({}),
  http: z
    .strictObject({
      /** Metrics and health endpoint; null: off. */
      listen: hostPort.nullable().default(null),
    })
    .prefault({}),
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
export type SpoolConfig = Config['spool'];
