import type { Migration } from './types.js';

/**
 * Why a waiting recipient is not being tried: set when the scheduler hands a claimed recipient
 * back to wait for its destination's rate budget ("rate limited"), cleared at the next claim.
 * Written by the same UPDATE that hands the row back, so it costs nothing extra.
 */
export const migration014: Migration = {
  version: 14,
  name: 'wait-reason',
  up: `
    ALTER TABLE recipients ADD COLUMN wait_reason TEXT;
  `,
};
