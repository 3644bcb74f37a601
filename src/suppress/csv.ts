import { parse } from 'csv-parse';
import type { Readable } from 'node:stream';
import type { Clock } from '../core/clock.js';
import { FerryError } from '../core/errors.js';
import type { SuppressionsStore } from '../core/store.js';
import type { NewSuppression, SuppressionRow } from '../core/store-types.js';
import { isSuppressionCategory, suppressionKey } from './normalize.js';

/** Columns an import file may have; `address` is required, the rest optional, in any order. */
export const IMPORT_COLUMNS = ['address', 'reason', 'category', 'expires', 'user'] as const;
type Column = (typeof IMPORT_COLUMNS)[number];

/** Rows per write: one short transaction each, so the store's writer is never held for long. */
export const IMPORT_BATCH = 1000;
const DURATION = /^(\d+(?:\.\d+)?)\s*([smhdw])$/;
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export interface ImportResult {
  imported: number;
  skipped: number;
}

/** What the last write of an import is told: the totals, and why it stopped when it stopped early. */
export interface ImportTotals extends ImportResult {
  stopped?: string;
}

export interface ImportOptions {
  /**
   * Writes one batch of rows (at most IMPORT_BATCH, in file order), committed before the next is
   * read: the Store's audited.importSuppressions. `totals` is given on the last call only (its
   * rows may be empty): when the file was read to its end, or when the import stopped early
   * after rows were imported.
   */
  apply: (rows: NewSuppression[], totals: ImportTotals | null) => Promise<unknown>;
  input: Readable;
  clock: Clock;
  /** A row that was skipped: its line number in the file and why. */
  onBadRow?: (line: number, problem: string) => void;
  /** Called as the file is read, with the bytes read so far. */
  onProgress?: (bytes: number) => void;
  /** Rows per write (default IMPORT_BATCH). */
  batchSize?: number;
}

/**
 * Imports a CSV file with a header line naming its columns (`address[,reason,category,expires,user]`),
 * or a plain list of addresses, one per line (recognised by a first line that is an address).
 * Rows are parsed as a stream and written in batches (the reading waits for each write), so a
 * file of any size takes bounded memory and the store is free between batches. A row that cannot
 * be used is reported and skipped; a file without a usable header is refused (FERRY_ERR_NOT_FOUND:
 * no header line found) and changes nothing. When the import stops early (the file cannot be read
 * further, or a write fails), the rows before are kept, and the error names the line it stopped
 * at and how many rows were imported.
 */
export async function importSuppressions(opts: ImportOptions): Promise<ImportResult> {
  const { clock } = opts;
  const now = clock.now();
  const size = opts.batchSize ?? IMPORT_BATCH;
  const bad = opts.onBadRow ?? (() => undefined);
  const parser = parse({
    bom: true,
    trim: true,
    skip_empty_lines: true,
    relax_column_count: true,
    skip_records_with_error: true,
    info: true,
  });
  let skipped = 0;
  // The parser reports unreadable rows as it meets them, before the header has been checked:
  // hold those reports until it has, so a file that is not a suppression CSV at all gets one
  // line about its header, not a screenful about its rows.
  let heldReports: [number, string][] | null = [];
  const report = (line: number, why: string): void => {
    if (heldReports) heldReports.push([line, why]);
    else bad(line, why);
  };
  parser.on('skip', (err: Error & { lines?: number }) => {
    skipped++;
    // csv-parse quotes the offending field whole; a binary file's can be kilobytes.
    const message = err.message.length > 160 ? `${err.message.slice(0, 160)}…` : err.message;
    report(err.lines ?? 0, `unreadable CSV: ${message}`);
  });
  let bytes = 0;
  if (opts.onProgress) {
    const report = opts.onProgress;
    opts.input.on('data', (chunk: Buffer | string) => {
      bytes += chunk.length;
      report(bytes);
    });
  }
  opts.input.on('error', (err) => parser.destroy(err));
  opts.input.pipe(parser);

  let columns: Partial<Record<Column, number>> | null = null;
  let width = 0;
  let batch: NewSuppression[] = [];
  let imported = 0;
  /** The last line read (what an early stop names). */
  let line = 0;
  /** A write failed: nothing more is written. */
  let writeError: Error | null = null;
  let inflight: Promise<void> = Promise.resolve();

  const handle = (item: { record: string[]; info: { lines: number } }): void => {
    const { record, info } = item;
    line = info.lines;
    if (!columns) {
      // A plain list, one address per line: the first line is an address, not a header.
      const plain = record.length === 1 && !(IMPORT_COLUMNS as readonly string[]).includes(record[0]!.toLowerCase()) && suppressionKey(record[0]!) !== null;
      columns = plain ? { address: 0 } : readHeader(record, info.lines);
      width = plain ? 1 : record.length;
      for (const [l, why] of heldReports ?? []) bad(l, why);
      heldReports = null;
      if (!plain) return;
    }
    if (record.length > width) {
      skipped++;
      bad(info.lines, `${record.length} fields, the header has ${width}`);
      return;
    }
    const row = readRow(record, columns, now);
    if (typeof row === 'string') {
      skipped++;
      bad(info.lines, row);
      return;
    }
    batch.push(row);
    if (batch.length >= size) write();
  };

  // The reading waits for each write: the parser stays paused until the batch is committed.
  const write = (): void => {
    const rows = batch;
    batch = [];
    parser.pause();
    inflight = opts.apply(rows, null).then(
      () => {
        imported += rows.length;
        parser.resume();
      },
      (err: unknown) => {
        writeError = err instanceof Error ? err : new Error(String(err));
        parser.destroy(writeError);
      },
    );
  };

  try {
    // 'data' events rather than for-await: a promise per record costs seconds at a million rows.
    await new Promise<void>((resolve, reject) => {
      parser.on('data', (item: { record: string[]; info: { lines: number } }) => {
        try {
          handle(item);
        } catch (err) {
          parser.destroy(err as Error);
        }
      });
      parser.once('error', reject);
      parser.once('end', resolve);
    });
    await inflight;
    if (writeError) throw writeError;
    if (!columns) throw new FerryError('FERRY_ERR_NOT_FOUND', 'no header line: the first line must name the columns (address[,reason,category,expires,user])');
    const last = batch;
    batch = [];
    try {
      await opts.apply(last, { imported: imported + last.length, skipped });
    } catch (err) {
      writeError = err as Error;
      throw err;
    }
    imported += last.length;
    return { imported, skipped };
  } catch (err) {
    opts.input.unpipe(parser);
    opts.input.destroy();
    await inflight;
    const why = (err as Error).message;
    const at = `line ${line}`;
    // Rows read before the stop are kept: what was parsed goes in with the totals (unless the
    // store itself failed), so nothing before the line named is lost.
    if (!writeError && columns && imported + batch.length > 0) {
      const last = batch;
      batch = [];
      try {
        await opts.apply(last, { imported: imported + last.length, skipped, stopped: `${at}: ${why}` });
        imported += last.length;
      } catch (again) {
        throw new FerryError('FERRY_ERR_STORE', `import stopped at ${at}: ${why}; ${rowsWere(imported)} imported before it; the last ${last.length} read could not be written: ${(again as Error).message}`, { cause: again });
      }
    }
    if (err instanceof FerryError && imported === 0) throw err;
    const code = err instanceof FerryError ? err.code : 'FERRY_ERR_STORE';
    const kept = imported === 0 ? 'nothing imported' : `${rowsWere(imported)} imported before it, nothing after`;
    throw new FerryError(code, `import stopped at ${at}: ${why}; ${kept}`, { cause: err });
  }
}

const rowsWere = (n: number): string => `${n} row${n === 1 ? ' was' : 's were'}`;

function readHeader(record: string[], line: number): Partial<Record<Column, number>> {
  const columns: Partial<Record<Column, number>> = {};
  record.forEach((raw, i) => {
    const name = raw.toLowerCase();
    if (!(IMPORT_COLUMNS as readonly string[]).includes(name)) {
      throw new FerryError('FERRY_ERR_NOT_FOUND', `line ${line}: no valid header: unknown column ${JSON.stringify(raw)} (expected address[,reason,category,expires,user])`);
    }
    if (columns[name as Column] !== undefined) throw new FerryError('FERRY_ERR_NOT_FOUND', `line ${line}: no valid header: column ${name} appears twice`);
    columns[name as Column] = i;
  });
  if (columns.address === undefined) throw new FerryError('FERRY_ERR_NOT_FOUND', `line ${line}: no valid header: an "address" column is required`);
  return columns;
}

function readRow(record: string[], columns: Partial<Record<Column, number>>, now: number): NewSuppression | string {
  const field = (c: Column): string => (columns[c] === undefined ? '' : (record[columns[c]!] ?? ''));
  const rawAddress = field('address');
  if (rawAddress === '') return 'empty address';
  const key = suppressionKey(rawAddress);
  if (!key) return `not an email address or @domain: ${JSON.stringify(rawAddress)}`;
  const category = field('category') || 'manual';
  if (!isSuppressionCategory(category)) return `unknown category ${JSON.stringify(category)}`;
  const expires = parseExpires(field('expires'), now);
  if (expires === undefined) return `expires ${JSON.stringify(field('expires'))}: expected a date (2026-12-31) or a duration (30d)`;
  const user = field('user');
  if (user.length > 128) return 'user name longer than 128 characters';
  return { address: key.address, domain: key.domain, category, reason: field('reason'), source: 'import', scope: user || null, createdAt: now, expiresAt: expires };
}

/** '' → null (never); "30d" → now + 30 days; a date or time → that instant; else undefined. */
export function parseExpires(value: string, now: number): number | null | undefined {
  if (value === '') return null;
  const m = DURATION.exec(value);
  if (m) return now + Number(m[1]) * UNITS[m[2]!]!;
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function iso(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString();
}

export function csvHeader(): string {
  return `${IMPORT_COLUMNS.join(',')}\n`;
}

/** One entry as a CSV line that `importSuppressions` reads back. */
export function csvLine(r: SuppressionRow): string {
  return `${[r.address, r.reason, r.category, iso(r.expiresAt), r.scope ?? ''].map(csvField).join(',')}\n`;
}

export function jsonEntry(r: SuppressionRow): Record<string, unknown> {
  return {
    address: r.address,
    domain: r.domain,
    category: r.category,
    reason: r.reason,
    source: r.source,
    user: r.scope,
    createdAt: iso(r.createdAt),
    expiresAt: r.expiresAt === null ? null : iso(r.expiresAt),
    hits: r.hits,
    lastHitAt: r.lastHitAt === null ? null : iso(r.lastHitAt),
  };
}

/** Writes every entry to `out` (CSV, or one JSON array), oldest first, in pages of the store, honouring back-pressure. */
export async function exportSuppressions(store: Pick<SuppressionsStore, 'page'>, out: NodeJS.WritableStream, format: 'csv' | 'json'): Promise<number> {
  const write = async (s: string) => {
    if (!out.write(s)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  };
  let n = 0;
  let buf = format === 'csv' ? csvHeader() : '[';
  let after = 0;
  for (;;) {
    const page = await store.page(after, EXPORT_PAGE);
    if (page.length === 0) break;
    after = page[page.length - 1]!.id;
    for (const r of page) {
      buf += format === 'csv' ? csvLine(r) : `${n === 0 ? '\n' : ',\n'}  ${JSON.stringify(jsonEntry(r))}`;
      n++;
      if (buf.length >= 64 * 1024) {
        await write(buf);
        buf = '';
      }
    }
  }
  buf += format === 'csv' ? '' : n === 0 ? ']\n' : '\n]\n';
  if (buf) await write(buf);
  return n;
}

/** Entries per read of an export. */
const EXPORT_PAGE = 5000;
