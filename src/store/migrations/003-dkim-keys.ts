import type { Migration } from './types.js';

/**
 * DKIM key references. The private key itself stays in a PEM file (mode 0600) so the database
 * can be copied, inspected or backed up without leaking signing keys; the row remembers where it
 * is and the public half (the TXT p= value) so `ferry doctor` can compare it with DNS.
 */
export const migration003: Migration = {
  version: 3,
  name: 'dkim-keys',
  up: `
    CREATE TABLE dkim_keys (
      domain      TEXT NOT NULL,                 -- lower-case signing domain (d=)
      selector    TEXT NOT NULL,                 -- s=
      algorithm   TEXT NOT NULL CHECK (algorithm IN ('rsa','ed25519')),
      key_file    TEXT NOT NULL,                 -- path of the private key PEM
      public_key  TEXT NOT NULL,                 -- base64 p= value as published in DNS
      created_at  INTEGER NOT NULL,
      PRIMARY KEY (domain, selector)
    );
  `,
};
