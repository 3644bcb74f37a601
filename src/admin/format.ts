import Table from 'cli-table3';
import { FerryError } from '../core/errors.js';

/** A plain table for people (no colours: output is often piped into less or a ticket). */
export function table(head: string[], rows: (string | number | null | undefined)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] }, wordWrap: true });
  for (const r of rows) t.push(r.map((c) => (c === null || c === undefined ? '' : String(c))));
  return `${t.toString()}\n`;
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
  const t = Date.parse(value);
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

/** Writes JSON for scripts: one document, newline-terminated. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
