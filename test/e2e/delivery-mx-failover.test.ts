import t from 'tap';
import { createInProcessSqliteStore } from '../../src/store/sqlite/engine.js';
import { PassThrough } from 'node:stream';
import type { CliContext } from '../../src/admin/context.js';
import { registerMessagesCommands } from '../../src/admin/messages.js';
import { makeProgram } from '../sign/fixtures/helpers.js';
import { attempts, isStatus, send, setupDelivery, waitFor } from './fixtures/delivery.js';

t.test('first MX down, second up: delivered through the second, both tries recorded and shown', async (t) => {
  const { mx2, ferry, relay, port } = await setupDelivery(t, { mx: null, mx2: { tls: false } });
  const id = await send(relay, { to: ['erin@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('delivered', 'deferred', 'bounced'));
  t.equal(r!.status, 'delivered');
  t.equal(r!.mxHost, 'mx2.example.test');
  t.equal(r!.remoteIp, '127.0.0.3');
  t.equal(mx2!.messages.length, 1);

  const [a] = attempts(ferry, id);
  t.match(a!.hops, [
    { host: 'mx1.example.test', ip: '127.0.0.2', port, preference: 10, result: 'connect_failed', error: { kind: 'connect' } },
    { host: 'mx2.example.test', ip: '127.0.0.3', port, preference: 20, result: 'connected' },
  ]);

  // `ferry messages show` lists the attempt with every host tried
  let out = '';
  const stdout = new PassThrough().on('data', (c: Buffer) => (out += c.toString()));
  const ctx: CliContext = {
    // wide: the assertions below read one table row per line
    io: { stdout, stderr: new PassThrough(), stdin: new PassThrough(), isTTY: false, columns: 1000 },
    clock: { now: () => Date.now(), setTimer: () => ({ cancel: () => undefined }) },
    config: () => ferry.config,
    db: () => ferry.db,
    store: async () => createInProcessSqliteStore(ferry.db),
  };
  const program = makeProgram();
  registerMessagesCommands(program, ctx);
  await program.parseAsync(['messages', 'show', id], { from: 'user' });
  t.match(out, /attempts\n/);
  t.match(out, /│\s*mx2\.example\.test \[127\.0\.0\.3\]:\d+\s*│\s*250 OK: message queued\s*│\s*delivered\s*│/);
  t.match(out, /│\s*no TLS\s*│/);
  t.match(out, /mx1\.example\.test \[127\.0\.0\.2\]:\d+ connect_failed \(.*ECONNREFUSED/);
  t.match(out, /mx2\.example\.test \[127\.0\.0\.3\]:\d+ connected/);

  const before = out.length;
  const program2 = makeProgram();
  registerMessagesCommands(program2, ctx);
  await program2.parseAsync(['messages', 'show', id, '--json'], { from: 'user' });
  const doc = JSON.parse(out.slice(before));
  t.equal(doc.attempts.length, 1);
  t.equal(doc.attempts[0].hops.length, 2);
});

t.test('every MX down: deferred, and the reply names each host and what it said', async (t) => {
  const { ferry, relay } = await setupDelivery(t, { mx: null });
  const id = await send(relay, { to: ['erin@example.test'] });
  const [r] = await waitFor(ferry, id, isStatus('deferred', 'bounced', 'delivered'));
  t.equal(r!.status, 'deferred');
  t.match(r!.lastReply, /mx1\.example\.test\[127\.0\.0\.2\]: connect_failed .*; mx2\.example\.test\[127\.0\.0\.3\]: connect_failed/);
  const [a] = attempts(ferry, id);
  t.equal(a!.phase, 'connect');
  t.equal(a!.hops!.length, 2);
});
