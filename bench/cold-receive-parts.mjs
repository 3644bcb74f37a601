#!/usr/bin/env node
// CPU per message of the receive parts warm13 changed, in a FRESH process (cold code, as on a
// relay that has just started): the seven one-line replies of a blocking send written through
// smtp-server's send (the adapter's one-line writer, or the library's own), the session id of
// the connection (_handleProxy), and the header facts of a message from the same From each time
// (readHeaderFacts). The socket is a stub that counts bytes (both must write the same number).
// No network, no store: the difference between two builds is the code, not the machine's mood.
// Run each side in its own process, alternated, several times:
//
//   npm run build && for i in 1 2 3; do node bench/cold-receive-parts.mjs --dist /path/to/before-dist --library; node bench/cold-receive-parts.mjs; done
//   --messages N (default 300)  --library: undo the adapter's reply writer and session ids (the library's own)
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({ options: { dist: { type: 'string', default: join(root, 'dist') }, messages: { type: 'string', default: '300' }, library: { type: 'boolean', default: false } } });
const N = Number(opts.messages);
const { SMTPConnection } = await import('smtp-server/lib/smtp-connection');
const { SMTPServer } = await import('smtp-server');
const patch = await import(join(opts.dist, 'receive/smtp-server-patch.js'));
const { readHeaderFacts } = await import(join(opts.dist, 'receive/headers.js'));
const library = { send: SMTPConnection.prototype.send, handleProxy: SMTPServer.prototype._handleProxy };
patch.installSmtpServerPatches();
if (opts.library) {
  SMTPConnection.prototype.send = library.send;
  SMTPServer.prototype._handleProxy = library.handleProxy;
}
const server = new SMTPServer({ logger: false });
let bytes = 0;
const conn = Object.create(SMTPConnection.prototype);
Object.assign(conn, { _server: server, session: {}, _upgrading: false, _socket: { destroyed: false, readyState: 'open', write: (s) => (bytes += s.length) } });
const block = (i) => Buffer.from(`From: bench@source.test\r\nTo: r${i}@dest.test\r\nSubject: latency\r\nMessage-ID: <${i}@bench.test>\r\n`, 'latin1');
const t0 = process.cpuUsage();
for (let i = 0; i < N; i++) {
  server._handleProxy({ remoteAddress: '127.0.0.1' }, () => undefined);
  conn.send(220, 'ferry.bench.test ESMTP Ferry', false);
  conn.send(250, ['ferry.bench.test Nice to meet you', 'PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES'], 'EHLO');
  conn.send(250, 'Accepted', 'MAIL');
  conn.send(250, 'Accepted', 'RCPT');
  conn.send(354, 'End data with <CR><LF>.<CR><LF>');
  readHeaderFacts(block(i));
  conn.send(250, '2.0.0 Ok: queued as 0123456789abcdef');
  conn.send(221, 'Bye');
}
const u = process.cpuUsage(t0);
console.log(`${opts.library ? 'library writer, ' : ''}${opts.dist}: ${N} messages, ${((u.user + u.system) / N).toFixed(1)} µs CPU per message (${bytes} bytes written); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
