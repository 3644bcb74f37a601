import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { verifySignature, type WebhookBatch } from '../../src/workers/webhook-payload.js';

export interface ReceivedPost {
  headers: IncomingHttpHeaders;
  raw: string;
  /** The signature checked out against the raw body. */
  signed: boolean;
  /** The status this receiver answered. */
  status: number;
  batch: WebhookBatch;
}

export interface WebhookReceiver {
  url: string;
  posts: ReceivedPost[];
  /** Statuses to answer, in order; once used up, 200. */
  script: number[];
  /** Events of the posts answered 2xx, in arrival order. */
  acknowledged(): WebhookBatch['events'];
  close(): Promise<void>;
}

/** A webhook endpoint on 127.0.0.1 that verifies signatures; closed in teardown. */
export async function startWebhookReceiver(t: Test, secret: string, script: number[] = []): Promise<WebhookReceiver> {
  const posts: ReceivedPost[] = [];
  const state = { script };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const signed = verifySignature(secret, raw, req.headers['x-ferry-signature'] as string | undefined);
      const status = signed ? (state.script.shift() ?? 200) : 401;
      posts.push({ headers: req.headers, raw, signed, status, batch: JSON.parse(raw) as WebhookBatch });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const receiver: WebhookReceiver = {
    url: `http://127.0.0.1:${port}/hooks/ferry`,
    posts,
    get script() {
      return state.script;
    },
    set script(s: number[]) {
      state.script = s;
    },
    acknowledged: () => posts.filter((p) => p.status >= 200 && p.status < 300).flatMap((p) => p.batch.events),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  t.teardown(() => receiver.close());
  return receiver;
}
