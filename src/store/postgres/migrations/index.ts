import type { PgMigration } from './types.js';
import { pgMigration001 } from './001-schema.js';
import { pgMigration002 } from './002-budgets.js';
import { pgMigration003 } from './003-fate-columns.js';
import { pgMigration004 } from './004-tls.js';

/** Every PostgreSQL migration (applied in version order). Add new files here. */
export const PG_MIGRATIONS: readonly PgMigration[] = [pgMigration001, pgMigration002, pgMigration003, pgMigration004];
export type { PgMigration };
