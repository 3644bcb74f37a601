import type { Command } from 'commander';
import { createWriteStream, mkdirSync, renameSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Clock } from '../core/clock.js';
import { FerryError, errorMessage } from '../core/errors.js';
import { splitHostPort } from '../config/load.js';
import type { CliContext } from './context.js';

/**
 * `ferry dev-sink`: a local SMTP server for development that accepts every message and writes
 * it to DIR as a .eml file, printing one line per message. Point the relay's route at it
 * (`routes: { "*": 127.0.0.1:2526 }`) to watch mail go all the way through without sending
 * anything to the internet. Not for production: no authentication, no limits beyond the size.
 */

export interface SinkMessage {
  file: string;
  from: string;
  to: string[];
  size: number;
  /** what the sink answered to the final dot */
  reply: string;
}

export interface DevSinkOptions {
  listen: string;
  dir: string;
  clock: Clock;
  maxBytes: number;
  onMessage: (m: SinkMessage) => void;
  onError: (err: unknown) => void;
}

export interface DevSink {
  /** Binds; resolves with the bound address ("127.0.0.1:2526"). */
  start(): Promise<string>;
  close(): Promise<void>;
}

export function createDevSink(o: DevSinkOptions): DevSink {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  let seq = 0;
  const server = new SMTPServer({
    name: 'ferry-dev-sink',
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    disabledCommands: ['AUTH'],
    size: o.maxBytes,
    closeTimeout: 1000,
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void) {
      const stamp = new Date(o.clock.now()).toISOString().replace(/[:.]/g, '-');
      const name = `${stamp}-${String(++seq).padStart(4, '0')}.eml`;
      const file = join(o.dir, name);
      const tmp = `${file}.tmp`;
      pipeline(stream, createWriteStream(tmp, { mode: 0o600 }))
        .then(() => {
          if (stream.sizeExceeded) {
            const err = Object.assign(new Error(`5.3.4 Message too big for the dev sink (more than ${o.maxBytes} bytes)`), { responseCode: 552 });
            return cb(err);
          }
          renameSync(tmp, file);
          const reply = `2.0.0 Ok: saved as ${name}`;
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          o.onMessage({ file, from, to: session.envelope.rcptTo.map((r) => r.address), size: stream.byteLength, reply: `250 ${reply}` });
          cb(null, reply);
        })
        .catch((err: unknown) => {
          o.onError(err);
          cb(Object.assign(new Error(`4.3.0 The dev sink could not save the message: ${errorMessage(err)}`), { responseCode: 451 }));
        });
    },
  });
  return {
    start() {
      const { host, port } = splitHostPort(o.listen);
      return new Promise((resolveStart, reject) => {
        // Until it listens, an error is the answer to start(); after that, the log's.
        const onError = (err: Error): void => reject(new FerryError('FERRY_ERR_CONFIG', `cannot listen on ${o.listen}: ${err.message}`, { cause: err }));
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          server.on('error', (err) => o.onError(err));
          const a = server.server.address();
          resolveStart(typeof a === 'object' && a ? `${a.address}:${a.port}` : o.listen);
        });
      });
    },
    close() {
      return new Promise((r) => server.close(() => r()));
    },
  };
}

export function registerDevSinkCommand(program: Command, ctx: CliContext): void {
  program
    .command('dev-sink')
    .description('development only: an SMTP server that accepts every message and saves it as a .eml file (route the relay to it)')
    .option('--listen <host:port>', 'where to listen', '127.0.0.1:2526')
    .option('--dir <dir>', 'where to write the messages', './data/sink')
    .option('--max-bytes <n>', 'largest message accepted', String(50 * 1024 * 1024))
    .action(async (opts: { listen: string; dir: string; maxBytes: string }) => {
      if (!/^[^\s]*:\d{1,5}$/.test(opts.listen)) throw new FerryError('FERRY_ERR_USAGE', `--listen ${JSON.stringify(opts.listen)}: expected host:port, e.g. 127.0.0.1:2526`);
      const maxBytes = Number(opts.maxBytes);
      if (!Number.isInteger(maxBytes) || maxBytes <= 0) throw new FerryError('FERRY_ERR_USAGE', `--max-bytes ${JSON.stringify(opts.maxBytes)}: expected a positive whole number`);
      const dir = resolve(opts.dir);
      const out = ctx.io.stdout;
      const sink = createDevSink({
        listen: opts.listen,
        dir,
        clock: ctx.clock,
        maxBytes,
        onMessage: (m) => {
          const rel = relative(process.cwd(), m.file);
          out.write(`${new Date(ctx.clock.now()).toISOString()}  ${m.from || '<>'} -> ${m.to.join(', ')}  ${m.size} bytes  ${rel.startsWith('..') ? m.file : rel}\n`);
        },
        onError: (err) => ctx.io.stderr.write(`ferry dev-sink: ${errorMessage(err)}\n`),
      });
      const address = await sink.start();
      out.write(`dev sink listening on ${address}, writing messages to ${dir} (Ctrl-C to stop)\n`);
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          done();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await sink.close();
    });
}
