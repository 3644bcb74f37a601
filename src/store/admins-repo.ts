import type { Db } from './db.js';
import type { AdminRole, AdminRow } from '../core/store-types.js';
export type { AdminRole, AdminRow } from '../core/store-types.js';
export { ADMIN_ROLES } from '../core/store-types.js';

interface RawAdmin {
  name: string;
  password_hash: string;
  role: AdminRole;
  created_at: number;
  updated_at: number;
}

const fromRaw = (r: RawAdmin): AdminRow => ({ name: r.name, passwordHash: r.password_hash, role: r.role, createdAt: r.created_at, updatedAt: r.updated_at });

/** The only code that knows the SQL of the `admins` table (console accounts, migration 012). */
export function createAdminsRepo(db: Db) {
  const byName = db.prepare('SELECT * FROM admins WHERE name = ?');
  const all = db.prepare('SELECT * FROM admins ORDER BY name');
  const insert = db.prepare('INSERT INTO admins (name, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING');
  const setPassword = db.prepare('UPDATE admins SET password_hash = ?, updated_at = ? WHERE name = ?');
  const remove = db.prepare('DELETE FROM admins WHERE name = ?');
  return {
    get(name: string): AdminRow | undefined {
      const r = byName.get(name) as RawAdmin | undefined;
      return r && fromRaw(r);
    },
    list(): AdminRow[] {
      return (all.all() as RawAdmin[]).map(fromRaw);
    },
    /** false when the name is taken. */
    add(name: string, passwordHash: string, role: AdminRole, at: number): boolean {
      return insert.run(name, passwordHash, role, at, at).changes === 1;
    },
    setPassword(name: string, passwordHash: string, at: number): boolean {
      return setPassword.run(passwordHash, at, name).changes === 1;
    },
    remove(name: string): boolean {
      return remove.run(name).changes === 1;
    },
  };
}

export type AdminsRepo = ReturnType<typeof createAdminsRepo>;
