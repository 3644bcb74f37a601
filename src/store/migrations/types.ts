export interface Migration {
  version: number;
  name: string;
  /** SQL run once, inside a transaction. Never edit a released migration: add a new one. */
  up: string;
}
