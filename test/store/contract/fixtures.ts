import type { AcceptedMessage } from '../../../src/core/store-types.js';

let seq = 0;
/** A small accepted message (inline body) with the given recipients, all queued. */
export function message(over: { id?: string; at?: number; recipients?: string[]; dropped?: string[]; user?: string | null } = {}): AcceptedMessage {
  const id = over.id ?? `C${process.pid}X${String(++seq).padStart(6, '0')}`;
  const at = over.at ?? 1_760_000_000_000;
  const headers = Buffer.from(`Received: test\r\nSubject: ${id}\r\n\r\n`);
  const body = Buffer.from('body\r\n');
  return {
    message: {
      id, createdAt: at, sender: 'app@example.com', username: over.user ?? null, clientIp: '127.0.0.1', helo: 'client.test', tls: null,
      size: headers.length + body.length, headers, body, spoolFile: null, headerFrom: 'app@example.com', messageIdHeader: null,
      subject: id, eightBit: false, smtputf8: false, kind: 'submission',
    },
    recipients: [
      ...(over.recipients ?? ['a@example.net']).map((address) => ({ address, domain: address.split('@')[1]!, status: 'queued' as const, reason: null, category: null })),
      ...(over.dropped ?? []).map((address) => ({ address, domain: address.split('@')[1]!, status: 'dropped' as const, reason: 'suppressed', category: 'user_unknown' })),
    ],
  };
}
