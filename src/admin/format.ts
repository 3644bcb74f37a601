import Table from 'cli-table3';
import { FerryError } from '../core/errors.js';

/** Tables fit this many columns when the output is not a terminal (a pipe, a file, a ticket). */
export const DEFAULT_TABLE_WIDTH = 120;
/** A cell is clipped here; the full text is in the command's --json output. */
const MAX_CELL_CHARS = 600;
const MIN_COLUMN = 8;

/**
 * A plain table for people (no colours: output is often piped into less or a ticket), at most
 * `width` columns wide: columns that fit keep their natural width, the others share what is
 * left and wrap (a remote reply can be a thousand characters).
 */
export function table(head: string[], rows: (string | number | null | undefined)[][], width: number = DEFAULT_TABLE_WIDTH): string {
  const cells = rows.map((r) => r.map((c) => clipCell(c === null || c === undefined ? '' : String(c))));
  const widths = fitWidths(head, cells, width);
  const t = new Table({ head, style: { head: [], border: [] }, wordWrap: true, ...(widths ? { colWidths: widths } : {}) });
  for (const r of cells) t.push(widths ? r.map((c, i) => breakLongWords(c, widths[i]! - 2)) : r);
  return `${t.toString()}\n`;
}

function clipCell(s: string): string {
  return s.length <= MAX_CELL_CHARS ? s : `${s.slice(0, MAX_CELL_CHARS - 1)}… (--json for the full text)`;
}

function longestLine(s: string): number {
  let max = 0;
  for (const line of s.split('\n')) max = Math.max(max, line.length);
  return max;
}

function natural0(head: string[], rows: string[][]): number {
  return head.reduce((sum, h, i) => sum + Math.max(longestLine(h), ...rows.map((r) => longestLine(r[i] ?? ''))) + 2, 0);
}

function longestWord(s: string): number {
  return Math.max(0, ...s.split(/\s/).map((w) => w.length));
}

/** Column widths (padding included) that fit `width`, or null when the natural ones already do. */
export function fitWidths(head: string[], rows: string[][], width: number): number[] | null {
  const budget = width - (head.length + 1);
  if (natural0(head, rows) <= budget) return null;
  // Too wide: a heading may wrap at its spaces ("next / attempt"), so it asks only for its longest word.
  const natural = head.map((h, i) => Math.max(longestWord(h), ...rows.map((r) => longestLine(r[i] ?? ''))) + 2);
  if (natural.reduce((a, b) => a + b, 0) <= budget) return natural;
  // Narrowest first: each column takes its natural width or an even share of what remains.
  const widths = natural.slice();
  let remaining = budget;
  const order = natural.map((n, i) => [n, i] as const).sort((a, b) => a[0] - b[0]);
  order.forEach(([n, i], k) => {
    const share = Math.floor(remaining / (order.length - k));
    widths[i] = Math.min(n, Math.max(MIN_COLUMN, share));
    remaining -= widths[i]!;
  });
  return widths;
}

/** cli-table3 cuts a word longer than its column with "…": split such words (ids, addresses) instead. */
function breakLongWords(s: string, max: number): string {
  if (max < 1 || longestLine(s) <= max) return s;
  return s.replace(/\S+/g, (word) => {
    if (word.length <= max) return word;
    const parts: string[] = [];
    for (let i = 0; i < word.length; i += max) parts.push(word.slice(i, i + max));
    return parts.join('\n');
  });
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "90s", "15m", "1h", "30d", "2w" → milliseconds. */
export function parseDuration(value: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(value.trim());
  if (!m) throw new FerryError('FERRY_ERR_USAGE', `${option} ${JSON.stringify(value)}: expected a duration such as 30m, 1h, 7d`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

/** A point in time: a duration back from now ("1h"), or an ISO date ("2026-11-01", "2026-11-01T10:00Z"). */
export function parseSince(value: string, option: string, now: number): number {
  if (/^\d+(?:\.\d+)?\s*[smhdw]$/.test(value.trim())) return now - parseDuration(value, option);
  // Only dates that start with a year: Date.parse would also take "5" (May 2001) or "June 1".
  const t = /^\d{4}-\d{2}-\d{2}/.test(value.trim()) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t)) throw new FerryError('FERRY_ERR_USAGE', `${option} ${JSON.stringify(value)}: expected a duration (1h, 7d) or a date (2026-11-01)`);
  return t;
}

export function parsePositiveInt(value: string, option: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new FerryError('FERRY_ERR_USAGE', `${option} ${JSON.stringify(value)}: expected a positive whole number`);
  return Number(value);
}

export function isoTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "250 more; use --limit or --before ID" under a page that did not show everything. */
export function moreLine(more: number, lastId: number | string, cap: number): string {
  return `${more > cap ? `${cap}+` : more} more; use --limit or --before ${lastId}\n`;
}

/** "rate limited until 12:03:00 UTC" (the date too when it is not today). */
export function waitingUntil(reason: string, until: number, now: number): string {
  const at = isoTime(until);
  const sameDay = at.slice(0, 10) === isoTime(now).slice(0, 10);
  return `${reason} until ${sameDay ? `${at.slice(11, 19)} UTC` : at}`;
}

/** Writes JSON for scripts: one document, newline-terminated. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
