import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { FerryError } from '../core/errors.js';

/**
 * DKIM key material: generate, store as PEM, load, and describe as a DNS TXT record.
 * Private keys live in files (0600 in a 0700 directory), never in the database.
 */
export type DkimAlgorithm = 'rsa' | 'ed25519';

/** A key ready to sign with. */
export interface DkimKey {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  privateKey: KeyObject;
}

/** Configured key files (config `dkim.keys`): existing PEMs the operator manages. */
export interface DkimKeyFileEntry {
  domain: string;
  selector: string;
  keyFile: string;
}

export interface GeneratedKey {
  algorithm: DkimAlgorithm;
  privateKeyPem: string;
  /** base64 p= value */
  publicKey: string;
}

// Checked label by label: one regex over the whole name would nest quantifiers (regex-safety test).
const SELECTOR_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const DOMAIN_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$/;
const isSelector = (s: string) => s.split('.').every((l) => SELECTOR_LABEL.test(l));
const isDomain = (d: string) => d.length >= 1 && d.length <= 253 && d.split('.').length >= 2 && d.split('.').every((l) => DOMAIN_LABEL.test(l));

/** Selectors and domains become path segments: validate so `../` can never reach the filesystem. */
export function assertDomain(domain: string): string {
  if (!isDomain(domain)) throw new FerryError('FERRY_ERR_USAGE', `"${domain}" is not a domain name (expected e.g. example.com)`);
  return domain.toLowerCase();
}

export function assertSelector(selector: string): string {
  if (selector.length > 63 || !isSelector(selector)) {
    throw new FerryError('FERRY_ERR_USAGE', `"${selector}" is not a valid DKIM selector (letters, digits, hyphens, dots)`);
  }
  return selector;
}

/**
 * Default selector `ferryYYYYMM` (UTC month of creation): unique per rotation without thought,
 * and it tells an admin reading DNS how old a key is. Rotate by generating next month's selector,
 * publishing it, then removing the old one.
 */
export function defaultSelector(clock: Clock): string {
  const d = new Date(clock.now());
  return `ferry${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export function generateDkimKey(algorithm: DkimAlgorithm, bits = 2048): GeneratedKey {
  if (algorithm === 'rsa') {
    if (!Number.isInteger(bits) || bits < 1024 || bits > 8192) {
      throw new FerryError('FERRY_ERR_USAGE', `--bits ${bits}: expected 1024-8192 (2048 recommended; receivers reject keys under 1024)`);
    }
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
    return { algorithm, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: publicKeyValue(privateKey) };
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  return { algorithm, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: publicKeyValue(privateKey) };
}

/** The p= value: RSA publishes the DER SubjectPublicKeyInfo; ed25519 the raw 32 bytes (RFC 8463). */
export function publicKeyValue(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ type: 'spki', format: 'der' });
  if (pub.asymmetricKeyType === 'ed25519') return der.subarray(der.length - 32).toString('base64');
  return der.toString('base64');
}

export function txtValue(algorithm: DkimAlgorithm, publicKey: string): string {
  return `v=DKIM1; k=${algorithm}; p=${publicKey}`;
}

/** DNS character-strings hold at most 255 bytes; a longer TXT value is published as several. */
export function splitTxt(value: string, max = 255): string[] {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += max) parts.push(value.slice(i, i + max));
  return parts.length ? parts : [''];
}

/** `"...." "...."` as zone files and most DNS consoles accept it. */
export function quoteTxt(value: string): string {
  return splitTxt(value)
    .map((p) => `"${p.replace(/["\\]/g, '\\$&')}"`)
    .join(' ');
}

export function keyFilePath(dataDir: string, domain: string, selector: string): string {
  return join(dataDir, 'dkim', assertDomain(domain), `${assertSelector(selector)}.pem`);
}

/** Writes a new private key; refuses to replace an existing file (a published selector's key). */
export function writePrivateKey(dataDir: string, domain: string, selector: string, pem: string): string {
  const dir = join(dataDir, 'dkim', assertDomain(domain));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700); // mkdir's mode is masked by umask and ignored for existing dirs
  const file = keyFilePath(dataDir, domain, selector);
  try {
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new FerryError('FERRY_ERR_EXISTS', `key file ${file} already exists: choose another --selector or remove the old key first`, { cause: err });
    }
    throw new FerryError('FERRY_ERR_DKIM', `cannot write key file ${file}: ${(err as Error).message}`, { cause: err });
  }
  chmodSync(file, 0o600);
  return file;
}

/** Reads a PEM private key and tells its algorithm (only RSA and ed25519 are DKIM algorithms). */
export function loadPrivateKey(file: string): { privateKey: KeyObject; algorithm: DkimAlgorithm } {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(file));
  } catch (err) {
    throw new FerryError('FERRY_ERR_DKIM', `cannot load DKIM key ${file}: ${(err as Error).message}`, { cause: err });
  }
  const type = privateKey.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ed25519') {
    throw new FerryError('FERRY_ERR_DKIM', `DKIM key ${file} is ${type ?? 'unknown'}: DKIM signs with rsa or ed25519`);
  }
  return { privateKey, algorithm: type };
}

/** Answers "which keys does domain X itself have" (exact match; the signer walks parents). */
export interface KeySource {
  keysFor(domain: string): Promise<readonly DkimKey[]>;
}

/**
 * A KeySource over key file entries. `entries(domain)` is asked on every lookup (so keys added
 * with `ferry dkim keygen` are used without a restart) and may return entries of any domain;
 * only exact matches are used. Loaded keys are cached per file. Wiring in main, e.g.:
 * `createKeySource(async (d) => [...config.dkim.keys, ...(await store.dkimKeys.byDomain(d))])`.
 */
export function createKeySource(entries: (domain: string) => readonly DkimKeyFileEntry[] | Promise<readonly DkimKeyFileEntry[]>): KeySource {
  const cache = new Map<string, { privateKey: KeyObject; algorithm: DkimAlgorithm }>();
  return {
    async keysFor(domain) {
      const d = domain.toLowerCase();
      const out: DkimKey[] = [];
      for (const e of await entries(d)) {
        if (e.domain.toLowerCase() !== d) continue;
        let loaded = cache.get(e.keyFile);
        if (!loaded) {
          loaded = loadPrivateKey(e.keyFile);
          cache.set(e.keyFile, loaded);
        }
        out.push({ domain: d, selector: e.selector, ...loaded });
      }
      return out;
    },
  };
}
