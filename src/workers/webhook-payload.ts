import { createHmac, timingSafeEqual } from 'node:crypto';
import type { EventRow } from '../store/events-repo.js';

/**
 * Pure: what a webhook receiver gets. One POST carries a batch of events in event-id order:
 *
 *   { "sent_at": "2026-11-27T12:00:00.000Z",
 *     "events": [ { "id": 42, "event": "bounced", "queue_id": "...", "message_id": "<...>",
 *                   "recipient": "a@b", "status": "bounced", "category": "user_unknown",
 *                   "reply": "550 5.1.1 ...", "timestamp": "...", "detail": { ... } } ] }
 *
 * Signature: `X-Ferry-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`. The body carries
 * `sent_at`, and `X-Ferry-Timestamp` repeats it in Unix seconds, so a receiver can refuse old
 * replays with a signature that also covers the time. `id` is the event's id: receivers dedupe
 * on it (delivery is at least once).
 */
export interface WebhookEvent {
  id: number;
  event: string;
  queue_id: string;
  message_id: string | null;
  recipient: string | null;
  status: string | null;
  category: string | null;
  reply: string | null;
  timestamp: string;
  /** RFC 3461 ENVID the sending app gave at MAIL FROM (its own id for the send); null: none. */
  envid: string | null;
  detail: Record<string, unknown> | null;
}

export interface WebhookBatch {
  sent_at: string;
  events: WebhookEvent[];
}

export const SIGNATURE_HEADER = 'x-ferry-signature';
export const TIMESTAMP_HEADER = 'x-ferry-timestamp';

export function toWebhookEvent(e: EventRow, messageIdHeader: string | null, envid: string | null = null): WebhookEvent {
  const d = e.detail ?? {};
  const reply = typeof d.reply === 'string' ? d.reply : typeof d.reason === 'string' ? d.reason : null;
  return {
    id: e.id,
    event: e.type,
    queue_id: e.messageId,
    message_id: messageIdHeader,
    recipient: e.recipient,
    status: e.status,
    category: e.category,
    reply,
    timestamp: new Date(e.at).toISOString(),
    envid,
    detail: e.detail,
  };
}

export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Constant-time check of an X-Ferry-Signature header against the raw body. */
export function verifySignature(secret: string, body: string | Buffer, header: string | null | undefined): boolean {
  if (!header) return false;
  const want = Buffer.from(signBody(secret, body));
  const got = Buffer.from(header.trim());
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The raw body and headers of one POST. */
export function buildRequest(events: WebhookEvent[], secret: string, now: number, userAgent: string): { body: string; headers: Record<string, string> } {
  const batch: WebhookBatch = { sent_at: new Date(now).toISOString(), events };
  const body = JSON.stringify(batch);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': userAgent,
      [SIGNATURE_HEADER]: signBody(secret, body),
      [TIMESTAMP_HEADER]: String(Math.floor(now / 1000)),
    },
  };
}
