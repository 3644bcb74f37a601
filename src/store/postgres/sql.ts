import type pg from 'pg';

/** A pool or one of its clients (inside a transaction). */
export interface Queryable {
  query: pg.Pool['query'];
}

export async function rows<T>(db: Queryable, text: string, params: unknown[] = []): Promise<T[]> {
  return (await db.query(text, params)).rows as T[];
}

export async function one<T>(db: Queryable, text: string, params: unknown[] = []): Promise<T | undefined> {
  return (await db.query(text, params)).rows[0] as T | undefined;
}

export async function changes(db: Queryable, text: string, params: unknown[] = []): Promise<number> {
  return (await db.query(text, params)).rowCount ?? 0;
}

/** Builds "$1, $2, …" placeholders while collecting parameters. */
export class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/** LIKE pattern for a substring, with \ % _ escaped (ESCAPE '\'). */
export function likeContains(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * PostgreSQL text cannot hold NUL (a parameter holding one fails the statement), so no stored
 * value contains one: a lookup by such a string finds nothing.
 */
export function hasNul(...s: (string | null | undefined)[]): boolean {
  return s.some((x) => x != null && x.includes('\u0000'));
}
