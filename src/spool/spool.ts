import { createReadStream, readFileSync, statSync } from 'node:fs';
import { makeDirectory } from '../core/data-dir.js';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FerryError } from '../core/errors.js';
import { listFiles, removeFile } from './dir-files.js';
import type { StoredBodyRef } from '../core/store-types.js';

/**
 * Message bodies. Small bodies stay in memory and are committed inside the SQLite transaction
 * (one WAL fsync covers a whole batch); larger ones stream to a spool file that is fsync'd,
 * renamed into place and its directory fsync'd before the row referring to it is committed.
 * Memory per message is bounded by inlineMaxBytes whatever the message size.
 */
export interface StoredBody {
  size: number;
  /** The bytes, when the body is small enough to live in the database. */
  inline: Buffer | null;
  /** The spool file name (relative to the spool directory) otherwise. */
  file: string | null;
}

export interface BodyWriter {
  /** Resolves when the chunk may be followed by another (back-pressure). */
  write(chunk: Buffer): Promise<void>;
  /** Flushes and fsyncs; after this the body is durable on disk or held for the transaction. */
  finish(): Promise<StoredBody>;
  /** Drops whatever was written. Safe to call at any point, more than once. */
  abort(): Promise<void>;
}

export interface BodyRef {
  /** The message's queue id: the engine that keeps bodies as rows (PostgreSQL) reads them by it. */
  id?: string;
  /** The body's length as stored (size less the stored header block): a stream that ends short fails. */
  bodyBytes?: number;
  headers: Buffer;
  inline: Buffer | null;
  file: string | null;
  /** The body left in the store row (messages.head's bodyRef; `inline` is null then): read by whoever reads the body. */
  row?: StoredBodyRef | null;
}

/**
 * The body contract: how intake writes a message body and how delivery, signing and DSNs read
 * it back, whatever the store engine keeps it in. Two implementations: the SQLite engine's spool
 * files (createSpool, below: small bodies inline in the row, large ones a spool file) and the
 * PostgreSQL engine's chunk rows (spool/chunk-bodies.ts: a large body is staged in a local file
 * that queue.accept streams into chunks, then read back as a stream of chunks; never whole in
 * memory).
 */
export interface Spool {
  readonly dir: string;
  createWriter(id: string): BodyWriter;
  /**
   * The store committed the message whose body `stored` is (queue.accept resolved): what only
   * staged it for the commit can go now (PostgreSQL: the staging file). SQLite: nothing.
   */
  committed(stored: StoredBody): Promise<void>;
  /** A stream of the whole stored message: header block, then body. */
  open(ref: BodyRef): Readable;
  /** What a signer reads: plain data a signing thread can read itself, or a stream opened here. */
  signSource(ref: BodyRef): SignInput;
  /** The whole stored message for a RET=FULL DSN: null when larger than maxBytes or unreadable. */
  readFull(m: StoredMessageRef & { id?: string }, maxBytes: number): Promise<Buffer | null>;
  exists(file: string): boolean;
  remove(file: string): Promise<void>;
  /** Every file in the spool, for recovery: [name, size, mtimeMs]. */
  list(): { file: string; size: number; mtimeMs: number }[];
}

/** The input of Signer.sign (sign/signer.ts SignSource, or a function opening the message's stream). */
export type SignInput = { headers: Buffer; inline: Buffer | null; file: string | null; row?: StoredBodyRef | null } | (() => Readable);

export interface SpoolOptions {
  dir: string;
  inlineMaxBytes: number;
  /** Reads a body left in the store (BodyRef.row) on this thread, for open(); absent: such a ref is refused. */
  readRow?: (row: StoredBodyRef) => Buffer;
}

const TMP_SUFFIX = '.tmp';

export function createSpool(options: SpoolOptions): Spool {
  const dir = options.dir;
  makeDirectory(dir);

  async function fsyncDir(): Promise<void> {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  return {
    dir,
    createWriter(id) {
      return new SpoolWriter(dir, id, options.inlineMaxBytes, fsyncDir);
    },
    async committed() {
      // The spool file is the body for as long as the message lives: nothing to drop.
    },
    signSource(ref) {
      return { headers: ref.headers, inline: ref.inline, file: ref.file ? join(dir, ref.file) : null, row: ref.row ?? null };
    },
    async readFull(m, maxBytes) {
      return createFullMessageReader({ dir }, maxBytes)(m);
    },
    open(ref) {
      // A body left in the store is read here, unless its bytes are at hand already (the signing thread handed them back).
      if (ref.file === null && ref.row && !(ref.inline && ref.inline.length === ref.row.bytes)) {
        const row = ref.row;
        const read = options.readRow;
        return Readable.from(
          (function* () {
            if (!read) throw new FerryError('FERRY_ERR_SPOOL', `message ${row.id}: its body is in the store and this spool cannot read it`);
            yield ref.headers;
            yield read(row);
          })(),
          { objectMode: false },
        );
      }
      if (ref.file === null) return Readable.from([ref.inline ? Buffer.concat([ref.headers, ref.inline]) : ref.headers]);
      const file = join(dir, ref.file);
      return Readable.from(
        (async function* () {
          yield ref.headers;
          yield* createReadStream(file, { highWaterMark: 256 * 1024 });
        })(),
        { objectMode: false },
      );
    },
    exists(file) {
      try {
        return statSync(join(dir, file)).isFile();
      } catch {
        return false;
      }
    },
    remove: (file) => removeFile(join(dir, file)),
    list: () => listFiles(dir),
  };
}

export class SpoolWriter implements BodyWriter {
  private chunks: Buffer[] = [];
  private size = 0;
  private handle: FileHandle | null = null;
  private opening: Promise<FileHandle> | null = null;
  private aborted = false;
  private readonly tmpPath: string;
  private readonly finalName: string;

  constructor(
    private readonly dir: string,
    id: string,
    private readonly inlineMax: number,
    private readonly fsyncDir: () => Promise<void>,
    /** false: a staging file the store copies before it commits (no fsync, no rename to wait for). */
    private readonly durable = true,
  ) {
    this.finalName = `${id}.eml`;
    this.tmpPath = join(dir, `${id}.eml${TMP_SUFFIX}`);
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.aborted) return;
    this.size += chunk.length;
    if (!this.handle && !this.opening && this.size <= this.inlineMax) {
      this.chunks.push(chunk);
      return;
    }
    const handle = await this.ensureFile();
    if (this.chunks.length) {
      const pending = Buffer.concat(this.chunks);
      this.chunks = [];
      await writeAll(handle, pending);
    }
    await writeAll(handle, chunk);
  }

  private ensureFile(): Promise<FileHandle> {
    if (this.handle) return Promise.resolve(this.handle);
    this.opening ??= open(this.tmpPath, 'w', 0o600).then((h) => {
      this.handle = h;
      return h;
    });
    return this.opening;
  }

  async finish(): Promise<StoredBody> {
    if (this.aborted) throw new FerryError('FERRY_ERR_SPOOL', 'body writer already aborted');
    if (!this.handle && !this.opening) {
      const inline = Buffer.concat(this.chunks, this.size);
      this.chunks = [];
      return { size: this.size, inline, file: null };
    }
    const handle = await this.ensureFile();
    try {
      if (this.chunks.length) await writeAll(handle, Buffer.concat(this.chunks));
      this.chunks = [];
      if (this.durable) await handle.sync();
    } finally {
      await handle.close();
      this.handle = null;
    }
    await rename(this.tmpPath, join(this.dir, this.finalName));
    if (this.durable) await this.fsyncDir();
    return { size: this.size, inline: null, file: this.finalName };
  }

  async abort(): Promise<void> {
    if (this.aborted) return;
    this.aborted = true;
    this.chunks = [];
    const handle = this.handle ?? (this.opening ? await this.opening.catch(() => null) : null);
    if (handle) {
      await handle.close().catch(() => undefined);
      this.handle = null;
      // Not rmSync: this runs on the SMTP thread, and freeing a file's blocks can wait for the disk
      // (a file system mounted with `discard` issues it synchronously).
      await rm(this.tmpPath, { force: true });
    }
  }
}

async function writeAll(handle: FileHandle, buf: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buf.length) {
    const { bytesWritten } = await handle.write(buf, offset, buf.length - offset);
    offset += bytesWritten;
  }
}

/** Temp files left by a crash mid-write: never committed, safe to delete. */
export function isTempSpoolFile(name: string): boolean {
  return name.endsWith(TMP_SUFFIX);
}

/** A stored message as its row holds it: where the body lives and how large the whole is. */
export interface StoredMessageRef {
  size: number;
  headers: Buffer;
  body: Buffer | null;
  spoolFile: string | null;
}

/**
 * Reads a whole stored message into memory, for a DSN that returns it (RET=FULL): null when it
 * is larger than maxBytes (the DSN then returns the headers alone) or its spool file is gone.
 */
export function createFullMessageReader(spool: Pick<Spool, 'dir'>, maxBytes: number): (m: StoredMessageRef) => Buffer | null {
  return (m) => {
    if (m.size > maxBytes) return null;
    if (!m.spoolFile) return Buffer.concat([m.headers, m.body ?? Buffer.alloc(0)]);
    try {
      return Buffer.concat([m.headers, readFileSync(join(spool.dir, m.spoolFile))]);
    } catch {
      return null;
    }
  };
}
