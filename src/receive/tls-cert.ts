import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import selfsigned from 'selfsigned';
import { FerryError } from '../core/errors.js';

export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  selfSigned: boolean;
}

/**
 * The listener's certificate: the configured PEM files, or a self-signed one generated on first
 * start and kept in the data directory (so clients that pin it keep working across restarts).
 */
export function loadTlsMaterial(opts: { certFile: string | null; keyFile: string | null; dataDir: string; hostname: string }): TlsMaterial {
  if (opts.certFile || opts.keyFile) {
    if (!opts.certFile || !opts.keyFile) {
      throw new FerryError('FERRY_ERR_CONFIG', 'smtp.tls: certFile and keyFile must be set together');
    }
    try {
      return { cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile), selfSigned: false };
    } catch (err) {
      throw new FerryError('FERRY_ERR_CONFIG', `smtp.tls: cannot read ${(err as NodeJS.ErrnoException).path ?? 'file'}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
  }
  const dir = join(opts.dataDir, 'tls');
  const certPath = join(dir, 'selfsigned.crt');
  const keyPath = join(dir, 'selfsigned.key');
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { cert: readFileSync(certPath), key: readFileSync(keyPath), selfSigned: true };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pems = selfsigned.generate([{ name: 'commonName', value: opts.hostname }], {
    days: 3650,
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: opts.hostname }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  writeFileSync(keyPath, pems.private, { mode: 0o600 });
  writeFileSync(certPath, pems.cert, { mode: 0o644 });
  return { cert: Buffer.from(pems.cert), key: Buffer.from(pems.private), selfSigned: true };
}
