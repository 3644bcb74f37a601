import type { Migration } from './types.js';
import { migration001 } from './001-queue.js';

/** Every migration, in any order (sorted by version when applied). Add new files here. */
export const MIGRATIONS: readonly Migration[] = [migration001];
