import type { Test } from 'tap';
import { createServer, type Server } from 'node:https';
import { gunzipSync } from 'node:zlib';
import selfsigned from 'selfsigned';
import type { TlsResultType, TlsSessionResult } from '../../src/core/tls.js';
import type { TlsRptReportJson } from '../../src/tlsrpt/report.js';

/** Test material for TLS-RPT: session results, an HTTPS report receiver with its own certificate. */

export function session(over: Partial<TlsSessionResult> & { at: number; policyDomain: string; result?: TlsResultType }): TlsSessionResult {
  return {
    policyApplied: 'sts-enforce',
    policy: { type: 'sts', strings: ['version: STSv1', 'mode: enforce', 'mx: *.example.test', 'max_age: 86400'], mxHosts: ['*.example.test'] },
    result: 'success',
    mxHost: 'mx1.example.test',
    receivingIp: '127.0.0.2',
    receivingMxHelo: 'mx1.example.test',
    detail: null,
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    verified: true,
    requireTlsOffered: false,
    ...over,
  };
}

let cert: { key: string; cert: string } | null = null;
/** A self-signed certificate for rua.example.test (trusted by passing it as the CA). */
export function ruaCert(): { key: string; cert: string } {
  if (!cert) {
    const pems = selfsigned.generate([{ name: 'commonName', value: 'rua.example.test' }], {
      days: 30,
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'rua.example.test' }] },
      ],
    });
    cert = { key: pems.private, cert: pems.cert };
  }
  return cert;
}

export interface ReceivedPost {
  path: string;
  contentType: string | undefined;
  body: Buffer;
}

export interface ReportReceiver {
  port: number;
  posts: ReceivedPost[];
  /** the status to answer with (per request, in order; the last one repeats) */
  statuses: number[];
}

/** An HTTPS server on 127.0.0.1 that records each POSTed report. */
export async function startReportReceiver(t: Test, statuses: number[] = [200]): Promise<ReportReceiver> {
  const { key, cert: crt } = ruaCert();
  const state: ReportReceiver = { port: 0, posts: [], statuses };
  let n = 0;
  const server: Server = createServer({ key, cert: crt }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.posts.push({ path: req.url ?? '', contentType: req.headers['content-type'], body: Buffer.concat(chunks) });
      const status = state.statuses[Math.min(n++, state.statuses.length - 1)]!;
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.port = (server.address() as { port: number }).port;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return state;
}

export function parseReport(gz: Buffer): TlsRptReportJson {
  return JSON.parse(gunzipSync(gz).toString('utf8')) as TlsRptReportJson;
}

/** Checks the RFC 8460 §4 shape: every required field with its JSON type. */
export function rfc8460Problems(r: unknown): string[] {
  const out: string[] = [];
  const o = r as Record<string, unknown>;
  const str = (v: unknown, name: string) => typeof v === 'string' || out.push(`${name} is not a string`);
  str(o['organization-name'], 'organization-name');
  str(o['contact-info'], 'contact-info');
  str(o['report-id'], 'report-id');
  const range = o['date-range'] as Record<string, unknown> | undefined;
  if (!range) out.push('no date-range');
  else {
    for (const k of ['start-datetime', 'end-datetime']) {
      if (typeof range[k] !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(range[k] as string)) out.push(`${k} is not an RFC 3339 UTC date-time`);
    }
  }
  if (!Array.isArray(o.policies)) out.push('policies is not an array');
  for (const p of (o.policies as Record<string, unknown>[]) ?? []) {
    const policy = p.policy as Record<string, unknown> | undefined;
    if (!policy || !['sts', 'tlsa', 'no-policy-found'].includes(policy['policy-type'] as string)) out.push('bad policy-type');
    if (policy && typeof policy['policy-domain'] !== 'string') out.push('no policy-domain');
    const s = p.summary as Record<string, unknown> | undefined;
    if (!s || !Number.isInteger(s['total-successful-session-count']) || !Number.isInteger(s['total-failure-session-count'])) out.push('bad summary');
    for (const f of (p['failure-details'] as Record<string, unknown>[] | undefined) ?? []) {
      if (typeof f['result-type'] !== 'string') out.push('failure without result-type');
      if (!Number.isInteger(f['failed-session-count'])) out.push('failure without failed-session-count');
    }
  }
  return out;
}
