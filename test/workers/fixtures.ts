import type { DeliverySession } from '../../src/deliver/deliverer.js';
import type { OutgoingMessage, TransactionReport } from '../../src/deliver/types.js';

/**
 * A delivery session double implementing the real interface (the scheduler and lease tests): it
 * records each message in `sent`, waits for `before()` when given (a transfer the test holds),
 * then accepts every recipient with `250 2.0.0 <text>`.
 */
export function acceptingSession(domain: string, o: { t0: number; sent: OutgoingMessage[]; text?: string; before?: () => Promise<void> }): DeliverySession {
  const text = o.text ?? 'ok';
  return {
    domain,
    hop: { host: `mx.${domain}`, ip: '127.0.0.2', port: 25, preference: 10 },
    tls: null,
    usable: true,
    messagesSent: 0,
    extensions: [],
    tlsResult: {
      at: o.t0, policyDomain: domain, policyApplied: 'none', policy: { type: 'no-policy-found', strings: [], mxHosts: [] }, result: 'starttls-not-supported',
      mxHost: `mx.${domain}`, receivingIp: '127.0.0.2', receivingMxHelo: null, detail: null, protocol: null, cipher: null, verified: false, requireTlsOffered: false,
    },
    async send(m): Promise<TransactionReport> {
      o.sent.push(m);
      if (o.before) await o.before();
      return {
        messageId: m.id,
        hop: { host: `mx.${domain}`, ip: '127.0.0.2', port: 25, tls: null },
        recipients: m.to.map((address) => ({ address, ok: true as const, reply: { code: 250, enhanced: '2.0.0', text: `250 2.0.0 ${text}` } })),
        sessionUsable: true,
        startedAt: o.t0,
        durationMs: 1,
      };
    },
    close: async () => undefined,
  } as DeliverySession;
}
