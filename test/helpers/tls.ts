import selfsigned from 'selfsigned';

/**
 * A self-signed certificate for loopback test servers. Key generation is slow (RSA), so it is
 * made once per process and shared.
 */
let cached: { key: string; cert: string } | undefined;

export function testCert(): { key: string; cert: string } {
  if (!cached) {
    const pems = selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
      days: 30,
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: false },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    });
    cached = { key: pems.private, cert: pems.cert };
  }
  return cached;
}
