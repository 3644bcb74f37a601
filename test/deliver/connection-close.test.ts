import t, { type Test } from 'tap';
import net from 'node:net';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { connectSmtp, type ConnectOptions, type ConnectResult } from '../../src/deliver/connection.js';
import { createSessionThread } from '../../src/deliver/session-thread.js';

// A connection counts against its destination's caps until its socket has closed: the caller
// (the destination worker, then the scheduler's gate) releases its slot when close() — or a
// failed connect — returns, so neither may return while the socket is still open. nodemailer
// reports the end of a session on the 221 to QUIT, before the FIN is even written; under a
// starved delivery thread the next connection to the destination opened first (issue 13).

const timeouts = { connectTimeoutMs: 10_000, greetingTimeoutMs: 10_000, commandTimeoutMs: 10_000, dataTimeoutMs: 10_000 };

/**
 * A loopback SMTP server that keeps its side of each connection open after the client has
 * closed its own (allowHalfOpen): the socket is not closed until the test lets it go. `ehlo`:
 * the extensions it announces (no STARTTLS: a client that requires TLS gives up).
 */
async function lingeringServer(t: Test) {
  const clientFin: { sock: net.Socket; at: number }[] = [];
  const waiters: (() => void)[] = [];
  let events = 0;
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('error', () => undefined);
    sock.write('220 mx.test ESMTP\r\n');
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const verb = buf.slice(0, 4).toUpperCase();
        buf = buf.slice(i + 2);
        if (verb === 'EHLO') sock.write('250-mx.test\r\n250 PIPELINING\r\n');
        else if (verb === 'QUIT') sock.write('221 2.0.0 Bye\r\n');
        else sock.write('502 5.5.2 Command not recognized\r\n');
      }
    });
    // the client's FIN: it has closed its side; ours stays open until released
    sock.on('end', () => {
      clientFin.push({ sock, at: ++events });
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** resolves with the order number of the client's FIN (the first one not yet taken) */
    nextFin: async (): Promise<{ sock: net.Socket; at: number }> => {
      while (clientFin.length === 0) await new Promise<void>((r) => waiters.push(r));
      return clientFin.shift()!;
    },
    /** an order number for an event the test records itself */
    tick: () => ++events,
  };
}

function options(port: number, over: Partial<ConnectOptions> = {}): ConnectOptions {
  return { host: 'mx.test', ip: '127.0.0.1', port, hostname: 'ferry.test', tls: { required: false, implicit: false }, auth: null, timeouts, clock: new ManualClock(), ...over };
}

/** Runs `op` and checks it returns only after the server has let the connection go. */
async function returnsAfterTheSocketClosed<T>(t: Test, srv: Awaited<ReturnType<typeof lingeringServer>>, op: () => Promise<T>): Promise<T> {
  let returnedAt: number | null = null;
  const running = op().then((v) => {
    returnedAt = srv.tick();
    return v;
  });
  const fin = await srv.nextFin();
  // a few turns of the event loop: whatever was going to settle without the server's FIN has
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  t.equal(returnedAt, null, 'the client has sent its FIN, but its socket is not closed: not returned yet');
  const releasedAt = srv.tick();
  fin.sock.end();
  const v = await running;
  t.ok(returnedAt !== null && returnedAt > releasedAt, 'returned once the socket had closed');
  return v;
}

t.test('close() returns once the socket has closed, not at the 221 to QUIT', async (t) => {
  const srv = await lingeringServer(t);
  const res = await connectSmtp(options(srv.port));
  if (!res.ok) throw new Error(`connect failed: ${JSON.stringify(res)}`);
  await returnsAfterTheSocketClosed(t, srv, () => res.client.close());
  t.equal(res.client.usable, false);
  await res.client.close();
  t.pass('a second close() returns at once (the socket is already closed)');
});

t.test('a server that never closes its side: the socket is destroyed at the bound, and close() returns', async (t) => {
  const srv = await lingeringServer(t);
  const clock = new ManualClock();
  const res = await connectSmtp(options(srv.port, { clock }));
  if (!res.ok) throw new Error(`connect failed: ${JSON.stringify(res)}`);
  let returned = false;
  const closing = res.client.close().then(() => (returned = true));
  const fin = await srv.nextFin();
  clock.advance(timeouts.commandTimeoutMs + 999);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  t.equal(returned, false, 'not before the bound');
  clock.advance(1);
  await closing;
  t.ok(fin.sock.readableEnded, 'the server saw the client go');
  fin.sock.destroy();
});

t.test('a connect that fails after the greeting returns once its socket has closed', async (t) => {
  const srv = await lingeringServer(t);
  // TLS required, and the server offers no STARTTLS: nothing is sent, the connection is ended
  const res: ConnectResult = await returnsAfterTheSocketClosed(t, srv, () => connectSmtp(options(srv.port, { tls: { required: true, implicit: false, level: 'verify' } })));
  t.match(res, { ok: false, result: 'tls_failed' });
});

t.test('over the delivery thread: close() returns once the thread has seen its socket close', async (t) => {
  const srv = await lingeringServer(t);
  const thread = createSessionThread({ logger: silentLogger() });
  t.teardown(() => thread.close());
  await thread.ready();
  const res = await thread.connect(options(srv.port));
  if (!res.ok) throw new Error(`connect failed: ${JSON.stringify(res)}`);
  await returnsAfterTheSocketClosed(t, srv, () => res.client.close());
  const failed = await returnsAfterTheSocketClosed(t, srv, () => thread.connect(options(srv.port, { tls: { required: true, implicit: false, level: 'verify' } })));
  t.match(failed, { ok: false, result: 'tls_failed' }, 'a failed connect too');
});
