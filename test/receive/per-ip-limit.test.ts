import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { startRelay } from '../helpers/relay.js';

// One client address may hold at most smtp.maxClientsPerIp sessions: a single host cannot take
// every slot of maxClients, and other hosts are still served.

async function greeting(port: number, localAddress: string): Promise<{ socket: net.Socket; line: string }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => undefined);
  const [data] = (await once(socket, 'data')) as [Buffer];
  return { socket, line: data.toString('latin1').split('\r\n')[0]! };
}

t.test('sessions per client address are capped; other addresses are unaffected', async (t) => {
  const relay = await startRelay(t, { smtp: { maxClientsPerIp: 2 } });
  const a = await greeting(relay.smtpPort, '127.0.0.1');
  const b = await greeting(relay.smtpPort, '127.0.0.1');
  t.match(a.line, /^220 /);
  t.match(b.line, /^220 /);
  const c = await greeting(relay.smtpPort, '127.0.0.1');
  t.match(c.line, /^421 4\.7\.0 Too many connections from your address/, 'the third session from one address is refused');
  const other = await greeting(relay.smtpPort, '127.0.0.5');
  t.match(other.line, /^220 /, 'another address is still served');

  a.socket.end('QUIT\r\n');
  await once(a.socket, 'close');
  // The relay frees the slot when it sees the close.
  let again = await greeting(relay.smtpPort, '127.0.0.1');
  const deadline = Date.now() + 60_000;
  while (!again.line.startsWith('220') && Date.now() < deadline) {
    again.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    again = await greeting(relay.smtpPort, '127.0.0.1');
  }
  t.match(again.line, /^220 /, 'a freed slot can be used again');
  for (const s of [b, c, other, again]) s.socket.destroy();
});
