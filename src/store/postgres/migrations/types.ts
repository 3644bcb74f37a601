export interface PgMigration {
  version: number;
  name: string;
  /** SQL run once, inside a transaction, under the migration advisory lock. Never edit a released one: add a new one. */
  up: string;
}
