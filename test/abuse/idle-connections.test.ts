import t from 'tap';
import net from 'node:net';
import { ATTACKER_IP, reportProbe, rssMb, serverSockets, sleep, startAbuseRelay, startProbe } from './fixtures/harness.js';

// 2,000 connections opened from one address and held silent (the 5,000 run in
// bench/abuse-idle.mjs). maxClients (500) turns the rest away with 421; idleTimeoutMs (2 s)
// closes the silent ones. The well-behaved client retries a refusal after 100 ms, as an MTA
// would: its latency shows what the attack costs it.
t.test('2,000 idle connections: bounded by maxClients and idleTimeoutMs, memory bounded', async (t) => {
  const maxClients = 500;
  const idleTimeoutMs = 2000;
  const relay = await startAbuseRelay(t, { maxClients, idleTimeoutMs });
  const rssBefore = rssMb();
  const probe = startProbe(relay.smtpPort, { retryForMs: 15_000 });
  const n = 2000;
  const sockets: net.Socket[] = [];
  let greeted = 0;
  let refused = 0;
  let closedByServer = 0;
  let open = 0;
  let maxOpenGreeted = 0;
  const states = new Map<net.Socket, string>();
  const started = Date.now();
  await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<void>((resolve) => {
        const s = net.connect({ port: relay.smtpPort, host: '127.0.0.1', localAddress: ATTACKER_IP });
        sockets.push(s);
        let first = true;
        states.set(s, 'connecting');
        s.on('error', () => undefined);
        s.on('data', (d: Buffer) => {
          if (!first) return;
          first = false;
          const text = d.toString('latin1');
          states.set(s, text.slice(0, 3));
          if (text.startsWith('220')) {
            greeted++;
            open++;
            maxOpenGreeted = Math.max(maxOpenGreeted, open);
          } else if (text.startsWith('421')) refused++;
        });
        s.on('close', () => {
          closedByServer++;
          if (states.get(s) === '220') open--;
          states.set(s, `closed after ${states.get(s)}`);
        });
        s.once('connect', () => states.set(s, 'connected'));
        s.once('connect', () => resolve());
        s.once('error', () => resolve());
      }),
    ),
  );
  await sleep(500);
  let peak = rssMb();
  t.comment(`opened ${n} connections in ${Date.now() - started} ms`);
  // Wait past the idle timeout: every silent session is closed by the server.
  // Server side (the kernel's table for the relay's port): never more than maxClients
  // sessions plus those being turned away, and none left once the idle timeout has passed.
  let maxServer = 0;
  const deadline = Date.now() + idleTimeoutMs + 20_000; // generous: CI machines are busy
  let server = serverSockets(relay.smtpPort, ATTACKER_IP);
  while (Date.now() < deadline) {
    server = serverSockets(relay.smtpPort, ATTACKER_IP);
    maxServer = Math.max(maxServer, server.established);
    peak = Math.max(peak, rssMb());
    if (closedByServer === n || (server.established === 0 && server.synRecv === 0 && Date.now() - started > idleTimeoutMs * 2)) break;
    await sleep(200);
  }
  // The server has closed everything; let the client side see the last of those closes.
  const unanswered = () => [...states.values()].filter((v) => v === 'connected' || v === 'connecting').length;
  const settle = Date.now() + 5000;
  while (Date.now() < settle && closedByServer + unanswered() < n) await sleep(100);
  const tally = new Map<string, number>();
  for (const v of states.values()) tally.set(v, (tally.get(v) ?? 0) + 1);
  const neverAnswered = [...states.values()].filter((v) => v === 'connected' || v === 'connecting').length;
  t.comment(`${greeted} greeted, ${refused} refused with 421, ${neverAnswered} never answered; end states: ${JSON.stringify(Object.fromEntries(tally))}`);
  t.ok(maxOpenGreeted <= maxClients, `at most maxClients sessions open at once (${maxOpenGreeted})`);
  t.comment(`server side: at most ${maxServer} established sockets from the attacker on the relay port; at the end ${JSON.stringify(server)}`);
  t.equal(server.established, 0, `the relay holds no connection ${Date.now() - started} ms after the flood began`);
  // What the client still believes is connected never reached the relay: the kernel dropped
  // the handshake's last ACK because the listen backlog was full (no socket on the server side).
  t.equal(closedByServer + neverAnswered, n, `every connection was either closed by the relay (${closedByServer}) or never accepted by the kernel (${neverAnswered})`);
  const stats = await probe.stop();
  reportProbe(t, `${n} idle connections`, stats);
  t.comment(`rss ${rssBefore.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB (test process: relay + 2,000 client sockets)`);
  t.ok(peak - rssBefore < 150, `memory bounded: +${(peak - rssBefore).toFixed(0)} MB`);
  for (const s of sockets) s.destroy();
});
