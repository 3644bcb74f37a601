import type { Migration } from './types.js';

/** RFC 8689: the client gave REQUIRETLS on MAIL FROM; the message goes out only under its rules. */
export const migration019: Migration = {
  version: 19,
  name: 'require-tls',
  up: `
    ALTER TABLE messages ADD COLUMN require_tls INTEGER NOT NULL DEFAULT 0;
  `,
};
