import { existsSync, readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { FerryError } from '../core/errors.js';
import { configSchema, type Config, type RouteConfig } from './schema.js';
import { redactStoreUrl } from './store-url.js';

/** The environment variables Ferry reads; nothing else in Ferry reads process.env. */
export interface FerryEnv {
  FERRY_CONFIG?: string | undefined;
  FERRY_DATA_DIR?: string | undefined;
  FERRY_SMTP_LISTEN?: string | undefined;
  FERRY_HTTP_LISTEN?: string | undefined;
  /** store.url: the PostgreSQL engine's database (issue 14). */
  FERRY_STORE_URL?: string | undefined;
  /**
   * dns.servers, comma-separated host:port (a container's resolver, say, without editing the
   * file). Tests set it so that a relay in a child process never asks the machine's resolver.
   */
  FERRY_DNS_SERVERS?: string | undefined;
  /**
   * Where the default configuration file is looked for when neither --config nor FERRY_CONFIG
   * names one (default /etc/ferry/ferry.yaml; empty: none). Tests point it elsewhere.
   */
  FERRY_DEFAULT_CONFIG?: string | undefined;
}

/** Read when present and nothing else names a file: the systemd unit's configuration, so admin commands find the service's data. */
export const DEFAULT_CONFIG_FILE = '/etc/ferry/ferry.yaml';

export interface LoadOptions {
  /** --config FILE; wins over FERRY_CONFIG. */
  file?: string | undefined;
  env: FerryEnv;
  cwd: string;
}

/** Which file to read: --config, else FERRY_CONFIG, else the default file when it exists; undefined: built-in defaults. */
export function configFileFor(options: LoadOptions): string | undefined {
  const named = options.file ?? options.env.FERRY_CONFIG;
  if (named) return named;
  const fallback = options.env.FERRY_DEFAULT_CONFIG ?? DEFAULT_CONFIG_FILE;
  return fallback && existsSync(fallback) ? fallback : undefined;
}

/** Read, override from the environment, validate and freeze. Throws FERRY_ERR_CONFIG* with one line per problem. */
export function loadConfig(options: LoadOptions): Config {
  const file = configFileFor(options);
  let raw: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(resolve(options.cwd, file), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? 'unreadable');
      throw new FerryError('FERRY_ERR_CONFIG_FILE', `config file ${file}: cannot read it: ${why}`, { cause: err });
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new FerryError('FERRY_ERR_CONFIG_FILE', `config file ${file}: not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new FerryError('FERRY_ERR_CONFIG_FILE', `config file ${file}: expected a mapping of keys at the top level`);
    }
  }
  return buildConfig(applyEnv(raw as Record<string, unknown>, options.env), options.cwd, file);
}

function applyEnv(raw: Record<string, unknown>, env: FerryEnv): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const section = (key: string): Record<string, unknown> => {
    const v = out[key];
    const copy = typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {};
    out[key] = copy;
    return copy;
  };
  if (env.FERRY_DATA_DIR) out.dataDir = env.FERRY_DATA_DIR;
  if (env.FERRY_SMTP_LISTEN) section('smtp').listen = env.FERRY_SMTP_LISTEN;
  if (env.FERRY_HTTP_LISTEN) section('http').listen = env.FERRY_HTTP_LISTEN;
  if (env.FERRY_STORE_URL) section('store').url = env.FERRY_STORE_URL;
  if (env.FERRY_DNS_SERVERS) section('dns').servers = env.FERRY_DNS_SERVERS.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return out;
}

/** Validate an already-parsed object (also used by tests and reload). */
export function buildConfig(raw: unknown, cwd: string, source = 'config'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    // One line per bad key: a value can fail several checks, the first says enough.
    const seen = new Set<string>();
    const first = result.error.issues.filter((issue) => {
      const key = issue.path.join('.');
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const lines = first.map((issue) => describeIssue(issue, raw));
    // Several bad keys still make one line (an admin command's error is one line on stderr).
    throw new FerryError('FERRY_ERR_CONFIG', `${source}: ${lines.join('; ')}`);
  }
  const parsed = result.data;
  const routes: Record<string, RouteConfig> = {};
  for (const [domain, route] of Object.entries(parsed.routes)) {
    routes[domain.toLowerCase()] =
      typeof route === 'string' ? { host: route, auth: null, requireTls: false, implicitTls: false } : route;
  }
  const config = {
    ...parsed,
    hostname: parsed.hostname ?? osHostname(),
    dataDir: resolve(cwd, parsed.dataDir),
    routes,
  };
  return deepFreeze(config) as Config;
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const where = path.length ? `${path.join('.')}.` : '';
    return `unknown key ${issue.keys.map((k) => `"${where}${k}"`).join(', ')}: not a setting Ferry knows (see config/ferry.example.yaml)`;
  }
  const key = path.join('.') || '(top level)';
  const value = key === 'store.url' ? redactStoreUrl(valueAt(raw, issue.path as PropertyKey[])) : valueAt(raw, issue.path as PropertyKey[]);
  return `${key} = ${JSON.stringify(value) ?? 'undefined'}: ${issue.message}`;
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = raw;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/** Split "host:port" / "[v6]:port". */
export function splitHostPort(value: string): { host: string; port: number } {
  const idx = value.lastIndexOf(':');
  let host = value.slice(0, idx);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(value.slice(idx + 1)) };
}
