import type { UserRow } from '../users-repo.js';
import type { AdminRole, AdminRow } from '../admins-repo.js';
import { changes, one, rows } from './sql.js';
import type { PgPool } from './pool.js';

const userFromRaw = (r: Record<string, unknown>): UserRow => ({
  name: r.name as string,
  passwordHash: r.password_hash as string,
  fromDomains: JSON.parse(r.from_domains as string) as string[],
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
  oneClickUnsubscribe: r.one_click_unsubscribe as boolean,
});

/** SMTP users (src/store/users-repo.ts): every node authenticates against the same rows. */
export function createPgUsers(pool: PgPool) {
  return {
    async get(name: string): Promise<UserRow | undefined> {
      const r = await one<Record<string, unknown>>(pool, 'SELECT * FROM users WHERE name = $1', [name]);
      return r && userFromRaw(r);
    },
    async list(): Promise<UserRow[]> {
      return (await rows<Record<string, unknown>>(pool, 'SELECT * FROM users ORDER BY name')).map(userFromRaw);
    },
    async add(name: string, passwordHash: string, fromDomains: string[], at: number): Promise<boolean> {
      const n = await changes(
        pool,
        'INSERT INTO users (name, password_hash, from_domains, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING',
        [name, passwordHash, JSON.stringify(fromDomains), at],
      );
      return n === 1;
    },
    async setPassword(name: string, passwordHash: string, at: number): Promise<boolean> {
      return (await changes(pool, 'UPDATE users SET password_hash = $1, updated_at = $2 WHERE name = $3', [passwordHash, at, name])) === 1;
    },
    async setFromDomains(name: string, fromDomains: string[], at: number): Promise<boolean> {
      return (await changes(pool, 'UPDATE users SET from_domains = $1, updated_at = $2 WHERE name = $3', [JSON.stringify(fromDomains), at, name])) === 1;
    },
    async setOneClickUnsubscribe(name: string, on: boolean, at: number): Promise<boolean> {
      return (await changes(pool, 'UPDATE users SET one_click_unsubscribe = $1, updated_at = $2 WHERE name = $3', [on, at, name])) === 1;
    },
    async remove(name: string): Promise<boolean> {
      return (await changes(pool, 'DELETE FROM users WHERE name = $1', [name])) === 1;
    },
  };
}

const adminFromRaw = (r: Record<string, unknown>): AdminRow => ({
  name: r.name as string,
  passwordHash: r.password_hash as string,
  role: r.role as AdminRole,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

/** Console accounts (src/store/admins-repo.ts). */
export function createPgAdmins(pool: PgPool) {
  return {
    async get(name: string): Promise<AdminRow | undefined> {
      const r = await one<Record<string, unknown>>(pool, 'SELECT * FROM admins WHERE name = $1', [name]);
      return r && adminFromRaw(r);
    },
    async list(): Promise<AdminRow[]> {
      return (await rows<Record<string, unknown>>(pool, 'SELECT * FROM admins ORDER BY name')).map(adminFromRaw);
    },
    async add(name: string, passwordHash: string, role: AdminRole, at: number): Promise<boolean> {
      return (
        (await changes(pool, 'INSERT INTO admins (name, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING', [
          name,
          passwordHash,
          role,
          at,
        ])) === 1
      );
    },
    async setPassword(name: string, passwordHash: string, at: number): Promise<boolean> {
      return (await changes(pool, 'UPDATE admins SET password_hash = $1, updated_at = $2 WHERE name = $3', [passwordHash, at, name])) === 1;
    },
    async remove(name: string): Promise<boolean> {
      return (await changes(pool, 'DELETE FROM admins WHERE name = $1', [name])) === 1;
    },
  };
}
