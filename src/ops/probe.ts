import { request } from 'node:http';
import { splitHostPort } from '../config/load.js';

export interface ProbeResponse {
  status: number;
  body: string;
}

/** The address to connect to for a listen address: a wildcard listener is reached on loopback. */
export function connectAddress(listen: string): { host: string; port: number } {
  const { host, port } = splitHostPort(listen);
  if (host === '0.0.0.0' || host === '') return { host: '127.0.0.1', port };
  if (host === '::') return { host: '::1', port };
  return { host, port };
}

/** GET http://listen/path with a deadline; rejects on connection errors and timeouts. */
export function httpGet(listen: string, path: string, timeoutMs = 2000): Promise<ProbeResponse> {
  const { host, port } = connectAddress(listen);
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: 'GET', signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample in Prometheus text ("name{labels} value"); 0 when absent. */
export function sampleValue(text: string, name: string, labels = ''): number {
  const prefix = labels ? `${name}{${labels}} ` : `${name} `;
  for (const line of text.split('\n')) {
    if (line.startsWith(prefix)) return Number(line.slice(prefix.length));
  }
  return 0;
}
