import type { Db } from './db.js';
import type { UserRow } from '../core/store-types.js';
export type { UserRow } from '../core/store-types.js';

interface RawUser {
  name: string;
  password_hash: string;
  from_domains: string;
  created_at: number;
  updated_at: number;
  one_click_unsubscribe?: number;
}

function fromRaw(r: RawUser): UserRow {
  return {
    name: r.name,
    passwordHash: r.password_hash,
    fromDomains: JSON.parse(r.from_domains) as string[],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    oneClickUnsubscribe: r.one_click_unsubscribe === 1,
  };
}

/** The only code that knows the SQL of the `users` table. */
export function createUsersRepo(db: Db) {
  const byName = db.prepare('SELECT * FROM users WHERE name = ?');
  const all = db.prepare('SELECT * FROM users ORDER BY name');
  const insert = db.prepare(
    'INSERT INTO users (name, password_hash, from_domains, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
  );
  const setPassword = db.prepare('UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?');
  const setDomains = db.prepare('UPDATE users SET from_domains = ?, updated_at = ? WHERE name = ?');
  const remove = db.prepare('DELETE FROM users WHERE name = ?');
  const setUnsubscribe = db.prepare('UPDATE users SET one_click_unsubscribe = ?, updated_at = ? WHERE name = ?');

  return {
    get(name: string): UserRow | undefined {
      const r = byName.get(name) as RawUser | undefined;
      return r && fromRaw(r);
    },
    list(): UserRow[] {
      return (all.all() as RawUser[]).map(fromRaw);
    },
    /** false when the name is taken. */
    add(name: string, passwordHash: string, fromDomains: string[], at: number): boolean {
      if (byName.get(name)) return false;
      insert.run(name, passwordHash, JSON.stringify(fromDomains), at, at);
      return true;
    },
    setPassword(name: string, passwordHash: string, at: number): boolean {
      return setPassword.run(passwordHash, at, name).changes === 1;
    },
    setFromDomains(name: string, fromDomains: string[], at: number): boolean {
      return setDomains.run(JSON.stringify(fromDomains), at, name).changes === 1;
    },
    setOneClickUnsubscribe(name: string, on: boolean, at: number): boolean {
      return setUnsubscribe.run(on ? 1 : 0, at, name).changes === 1;
    },
    remove(name: string): boolean {
      return remove.run(name).changes === 1;
    },
  };
}

export type UsersRepo = ReturnType<typeof createUsersRepo>;
