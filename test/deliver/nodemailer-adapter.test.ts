import t from 'tap';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream';
import { clientInternals, installFastDotStuffing, NODEMAILER_VERSION, nodemailerShapeProblems, nodemailerTransform } from '../../src/deliver/nodemailer-adapter.js';
import { startMx } from '../helpers/mx-server.js';

const root = new URL('../../', import.meta.url).pathname;

// The adapter reads nodemailer's private client state and replaces its dot-stuffing transform.
// If the library changes, this must fail here, loudly, rather than Ferry silently sending
// 8-bit mail to a server that never offered 8BITMIME, or sending unstuffed dots.
t.test('nodemailer still has the shape the adapter reads and patches, at the exact pinned version', async (t) => {
  t.same(nodemailerShapeProblems(), [], 'no shape problems');
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { dependencies: Record<string, string> };
  t.equal(pkg.dependencies.nodemailer, NODEMAILER_VERSION, 'package.json pins exactly the version the adapter was written for');
  installFastDotStuffing();
  installFastDotStuffing();
  t.not((DataStream.prototype as unknown as { _transform: unknown })._transform, nodemailerTransform, 'the transform is replaced, once');
});

function connect(port: number): Promise<SMTPConnection> {
  const conn = new SMTPConnection({ host: '127.0.0.2', port, ignoreTLS: true, name: 'adapter.test' });
  return new Promise((resolve, reject) => {
    conn.once('error', reject);
    conn.connect(() => resolve(conn));
  });
}

t.test('on a live session the reads give what the server announced; the patched stream stuffs dots', async (t) => {
  installFastDotStuffing();
  const mx = await startMx({ host: '127.0.0.2', tls: false, size: 54321, script: { rcpt: (a) => (a.startsWith('no@') ? { code: 550, message: '5.1.1 no such user' } : null) } });
  t.teardown(() => mx.close());
  const conn = await connect(mx.port);
  t.teardown(() => conn.close());
  const inner = clientInternals(conn);
  t.ok(inner.socket() instanceof Socket, 'the socket');
  t.ok(inner.extensions().includes('8BITMIME'), `extensions: ${inner.extensions().join(' ')}`);
  t.ok(inner.extensions().includes('SIZE'));
  t.equal(inner.maxAllowedSize(), 54321, 'the SIZE limit');
  const body = '.leading dot\r\n..two\r\nmiddle\n.bare LF then dot\r\n';
  const info = await new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) =>
    conn.send({ from: 'a@src.test', to: ['ok@dest.test', 'no@dest.test'] }, Readable.from([Buffer.from(`Subject: x\r\n\r\n${body}`)]), (err, info) => (err ? reject(err) : resolve(info))),
  );
  t.same(info.accepted, ['ok@dest.test']);
  const refused = inner.rejectedErrors() ?? [];
  t.same(refused.map((e) => [e.recipient, e.responseCode]), [['no@dest.test', 550]], 'the refused recipient, with its reply');
  await mx.waitForMessages(1);
  t.equal(mx.messages[0]!.raw.toString('latin1'), `Subject: x\r\n\r\n${body.replace(/\r?\n/g, '\r\n')}`, 'dots arrive intact (stuffed on the way, unstuffed by the server)');
});
