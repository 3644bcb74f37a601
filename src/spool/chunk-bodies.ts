import { isAbsolute, join } from 'node:path';
import { Readable } from 'node:stream';
import { makeDirectory } from '../core/data-dir.js';
import { FerryError } from '../core/errors.js';
import { listFiles, removeFile } from './dir-files.js';
import { SpoolWriter, type BodyRef, type BodyWriter, type Spool, type StoredBody } from './spool.js';

export interface ChunkBodiesOptions {
  /** This node's staging directory (dataDir/spool-staging): large bodies wait here for their commit. */
  dir: string;
  /** Bodies up to this size stay in memory until the commit (one statement); larger ones are staged. */
  inlineMaxBytes: number;
  /** The body of a committed message as a stream of its chunk rows (PostgreSQL messages.openBody). */
  openBody: (id: string) => Readable;
}

/**
 * The body contract (spool.ts, Spool) for the PostgreSQL engine, whose bodies are chunk rows that
 * every node reads. Intake: a small body stays in memory and goes into the accept statement; a
 * large one is written to a staging file in this node's data directory (no fsync: the commit is
 * what makes it durable), queue.accept streams that file into chunks inside the transaction, and
 * the file goes once the commit is answered (committed()). Reading: the header block, then the
 * body as the engine streams it, a few chunks at a time: a 10 MB body is never one buffer. A
 * staging file left by a crash was never answered 250, or was already copied: start-up removes
 * every one (sweep()).
 */
export function createChunkBodies(options: ChunkBodiesOptions): Spool & { sweep(): Promise<number> } {
  const dir = options.dir;
  makeDirectory(dir);
  const pathOf = (file: string) => (isAbsolute(file) ? file : join(dir, file));

  /** The stored message: header block, then the body's chunks; fails if the body ends short of bodyBytes. */
  function open(ref: BodyRef): Readable {
    if (ref.inline || ref.id === undefined) return Readable.from([ref.inline ? Buffer.concat([ref.headers, ref.inline]) : ref.headers]);
    const id = ref.id;
    const expected = ref.bodyBytes;
    return Readable.from(
      (async function* () {
        yield ref.headers;
        let n = 0;
        for await (const chunk of options.openBody(id)) {
          n += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (expected !== undefined && n !== expected) {
          throw new FerryError('FERRY_ERR_SPOOL', `message ${id}: its stored body has ${n} of ${expected} bytes`);
        }
      })(),
      { objectMode: false },
    );
  }

  const bodies = {
    dir,
    createWriter(id: string): BodyWriter {
      const writer = new SpoolWriter(dir, id, options.inlineMaxBytes, async () => undefined, false);
      return {
        write: (chunk) => writer.write(chunk),
        abort: () => writer.abort(),
        // The store reads the staged file by its path (queue.accept streams it into chunks).
        finish: async (): Promise<StoredBody> => {
          const stored = await writer.finish();
          return stored.file ? { ...stored, file: join(dir, stored.file) } : stored;
        },
      };
    },
    async committed(stored: StoredBody): Promise<void> {
      if (stored.file) await bodies.remove(stored.file);
    },
    open,
    signSource(ref: BodyRef) {
      return ref.inline || ref.id === undefined ? { headers: ref.headers, inline: ref.inline, file: null } : () => open(ref);
    },
    async readFull(m: { id?: string; size: number; headers: Buffer; body: Buffer | null }, maxBytes: number): Promise<Buffer | null> {
      if (m.size > maxBytes) return null;
      if (m.body || m.id === undefined) return Buffer.concat([m.headers, m.body ?? Buffer.alloc(0)]);
      const parts: Buffer[] = [];
      try {
        for await (const c of open({ id: m.id, headers: m.headers, inline: null, file: null, bodyBytes: m.size - m.headers.length })) parts.push(c as Buffer);
      } catch {
        return null;
      }
      return Buffer.concat(parts);
    },
    /** No row refers to a file on this engine. */
    exists(_file: string): boolean {
      return false;
    },
    remove: (file: string): Promise<void> => removeFile(pathOf(file)),
    list: () => listFiles(dir),
    /** Start-up: every staging file is a leftover of a crash (never answered 250, or already in the database). */
    async sweep(): Promise<number> {
      const files = bodies.list();
      for (const f of files) await bodies.remove(f.file);
      return files.length;
    },
  };
  return bodies;
}
