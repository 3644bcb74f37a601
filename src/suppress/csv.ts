import { parse } from 'csv-parse';
import type { Readable } from 'node:stream';
import type { Clock } from '../core/clock.js';
import { FerryError } from '../core/errors.js';
import type { NewSuppression, SuppressionRow, SuppressionsRepo } from '../store/suppressions-repo.js';
import { isSuppressionCategory, suppressionKey } from './normalize.js';

/** Columns an import file may have; `address` is required, the rest optional, in any order. */
export const IMPORT_COLUMNS = ['address', 'reason', 'category', 'expires', 'user'] as const;
type Column = (typeof IMPORT_COLUMNS)[number];

const STAGE_BATCH = 10_000;
const DURATION = /^(\d+(?:\.\d+)?)\s*([smhdw])$/;
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export interface ImportOptions {
  repo: SuppressionsRepo;
  input: Readable;
  clock: Clock;
  /** A row that was skipped: its line number in the file and why. */
  onBadRow?: (line: number, problem: string) => void;
  /** Called as the file is read, with the bytes read so far. */
  onProgress?: (bytes: number) => void;
}

export interface ImportResult {
  imported: number;
  skipped: number;
}

/**
 * Imports a CSV file with a header line naming its columns (`address[,reason,category,expires,user]`),
 * or a plain list of addresses, one per line (recognised by a first line that is an address).
 * Rows are parsed as a stream and staged; nothing is visible until every row has been read, then all
 * of them are applied in one transaction. A row that cannot be used is reported and skipped; a file
 * without a usable header is refused (FERRY_ERR_NOT_FOUND: no header line found) and changes nothing.
 */
export async function importSuppressions(opts: ImportOptions): Promise<ImportResult> {
  const { repo, clock } = opts;
  const now = clock.now();
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
  const importer = repo.createImporter();
  let batch: NewSuppression[] = [];
  const handle = (item: { record: string[]; info: { lines: number } }): void => {
    const { record, info } = item;
    if (!columns) {
      // A plain list, one address per line: the first line is an address, not a header.
      const plain = record.length === 1 && !(IMPORT_COLUMNS as readonly string[]).includes(record[0]!.toLowerCase()) && suppressionKey(record[0]!) !== null;
      columns = plain ? { address: 0 } : readHeader(record, info.lines);
      width = plain ? 1 : record.length;
      for (const [line, why] of heldReports ?? []) bad(line, why);
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
    if (batch.length >= STAGE_BATCH) {
      importer.stage(batch);
      batch = [];
    }
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
    if (!columns) throw new FerryError('FERRY_ERR_NOT_FOUND', 'no header line: the first line must name the columns (address[,reason,category,expires,user])');
    importer.stage(batch);
    return { imported: importer.commit(), skipped };
  } catch (err) {
    importer.abort();
    opts.input.unpipe(parser);
    opts.input.destroy();
    if (err instanceof FerryError) throw err;
    throw new FerryError('FERRY_ERR_STORE', `import failed, nothing imported: ${(err as Error).message}`, { cause: err });
  }
}

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

/** Writes every entry to `out` (CSV, or one JSON array), honouring back-pressure. */
export async function exportSuppressions(repo: SuppressionsRepo, out: NodeJS.WritableStream, format: 'csv' | 'json'): Promise<number> {
  const write = async (s: string) => {
    if (!out.write(s)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  };
  let n = 0;
  let buf = format === 'csv' ? csvHeader() : '[';
  for (const r of repo.iterate()) {
    buf += format === 'csv' ? csvLine(r) : `${n === 0 ? '\n' : ',\n'}  ${JSON.stringify(jsonEntry(r))}`;
    n++;
    if (buf.length >= 64 * 1024) {
      await write(buf);
      buf = '';
    }
  }
  buf += format === 'csv' ? '' : n === 0 ? ']\n' : '\n]\n';
  if (buf) await write(buf);
  return n;
}
