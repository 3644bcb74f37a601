import { connect, type Socket } from 'node:net';
import { createReplyQueue } from './reply-queue.js';

/**
 * A byte-level SMTP client for faults that a real client library will not produce (pipelined
 * writes, smuggling sequences, TCP segments split at chosen points). Replies are parsed as
 * complete (possibly multi-line) SMTP replies.
 */
export interface RawClient {
  socket: Socket;
  /** Writes bytes as they are. */
  write(data: string | Buffer): Promise<void>;
  /** The next complete reply (multi-line joined by \n), within timeoutMs. */
  reply(timeoutMs?: number): Promise<string>;
  /** Sends a line (CRLF appended) and returns the next reply. */
  command(line: string): Promise<string>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  close(): void;
}

export async function rawConnect(port: number, host = '127.0.0.1'): Promise<RawClient> {
  const socket = connect({ port, host });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffer = '';
  const replies = createReplyQueue();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  socket.on('end', () => replies.end());
  socket.on('data', (d: Buffer) => {
    buffer += d.toString('latin1');
    let lines: string[] = [];
    for (;;) {
      const i = buffer.indexOf('\r\n');
      if (i === -1) break;
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      lines.push(line);
      if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
        replies.push(lines.join('\n'));
        lines = [];
      }
    }
    if (lines.length) buffer = `${lines.join('\r\n')}\r\n${buffer}`;
  });
  const client: RawClient = {
    socket,
    closed,
    write(data) {
      return new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
    },
    reply: (timeoutMs) => replies.next(timeoutMs),
    async command(line) {
      await client.write(`${line}\r\n`);
      return client.reply();
    },
    close() {
      socket.destroy();
    },
  };
  return client;
}

/** Connects, reads the greeting and says EHLO; returns the client ready for MAIL FROM. */
export async function rawSession(port: number): Promise<RawClient> {
  const c = await rawConnect(port);
  const greeting = await c.reply();
  if (!greeting.startsWith('220')) throw new Error(`unexpected greeting ${greeting}`);
  const ehlo = await c.command('EHLO client.test');
  if (!ehlo.startsWith('250')) throw new Error(`unexpected EHLO reply ${ehlo}`);
  return c;
}
