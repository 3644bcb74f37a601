import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { hashPassword } from '../../src/policy/passwords.js';
import { createAdminsRepo, type AdminRole } from '../../src/store/admins-repo.js';
import type { Db } from '../../src/store/db.js';
import { REPO_ROOT } from './cli.js';

/** Where the browser tests leave their screenshots for a person to look at (git-ignored). */
export const SCREENSHOT_DIR = join(REPO_ROOT, 'tmp', 'screenshots');

export function screenshotDir(): string {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return SCREENSHOT_DIR;
}

/** Adds a console account straight into the relay's database (what `ferry admins add` does). */
export async function addAdmin(db: Db, name: string, password: string, role: AdminRole): Promise<void> {
  createAdminsRepo(db).add(name, await hashPassword(password), role, Date.now());
}

export interface ConsoleResponse {
  status: number;
  location: string | null;
  body: string;
  headers: Headers;
}

/**
 * A console client over real HTTP with a cookie jar, as a browser without JavaScript would be:
 * it reads the CSRF token from the last page it got and sends it with each form.
 */
export class ConsoleClient {
  jar = new Map<string, string>();
  csrf = '';
  constructor(readonly base: string) {}

  private cookie(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(path: string, init: { method?: string; form?: Record<string, string>; body?: BodyInit; headers?: Record<string, string>; withCsrf?: boolean } = {}): Promise<ConsoleResponse> {
    const headers: Record<string, string> = { cookie: this.cookie(), ...(init.headers ?? {}) };
    let body = init.body;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.withCsrf === false ? init.form : { _csrf: this.csrf, ...init.form }).toString();
    }
    const r = await fetch(this.base + path, { method: init.method ?? (init.form || init.body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const c of r.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const i = kv!.indexOf('=');
      const name = kv!.slice(0, i);
      const value = kv!.slice(i + 1);
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(c)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    const text = await r.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(text);
    if (token) this.csrf = token[1]!;
    return { status: r.status, location: r.headers.get('location'), body: text, headers: r.headers };
  }

  get(path: string): Promise<ConsoleResponse> {
    return this.request(path);
  }

  post(path: string, form: Record<string, string>, withCsrf = true): Promise<ConsoleResponse> {
    return this.request(path, { form, withCsrf });
  }

  async login(username: string, password: string): Promise<ConsoleResponse> {
    await this.get('/login');
    return this.post('/login', { username, password });
  }
}

export function consoleClient(t: Test, address: string): ConsoleClient {
  void t;
  return new ConsoleClient(`http://${address}`);
}
