import type { PgMigration } from './types.js';
import { pgMigration001 } from './001-schema.js';
import { pgMigration002 } from './002-budgets.js';
import { pgMigration003 } from './003-fate-columns.js';
import { pgMigration004 } from './004-tls.js';
import { pgMigration005 } from './005-console.js';
import { pgMigration006 } from './006-events-order.js';

/** Every PostgreSQL migration (applied in version order). Add new files here. */
export const PG_MIGRATIONS: readonly PgMigration[] = [pgMigration001, pgMigration002, pgMigration003, pgMigration004, pgMigration005, pgMigration006];
export type { PgMigration };
