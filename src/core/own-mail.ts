import type { AcceptedMessage } from './store-types.js';

/** What a message the relay writes itself carries of its own; the rest is fixed (see ownMessage). */
export interface OwnMail {
  id: string;
  createdAt: number;
  headers: Buffer;
  body: Buffer;
  headerFrom: string | null;
  messageIdHeader: string;
  subject: string | null;
  eightBit: boolean;
  smtputf8: boolean;
  kind: 'dsn' | 'tlsrpt';
  requireTls?: boolean;
}

/**
 * The stored row of a message Ferry writes itself (a DSN, a TLS report): a null envelope
 * sender (a report that cannot be delivered makes no bounce, and no loop), no client, no user,
 * the body inline.
 */
export function ownMessage(m: OwnMail): AcceptedMessage['message'] {
  return {
    id: m.id,
    createdAt: m.createdAt,
    sender: '',
    username: null,
    clientIp: null,
    helo: null,
    tls: null,
    size: m.headers.length + m.body.length,
    headers: m.headers,
    body: m.body,
    spoolFile: null,
    headerFrom: m.headerFrom,
    messageIdHeader: m.messageIdHeader,
    subject: m.subject,
    eightBit: m.eightBit,
    smtputf8: m.smtputf8,
    kind: m.kind,
    ...(m.requireTls !== undefined ? { requireTls: m.requireTls } : {}),
  };
}
