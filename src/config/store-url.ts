/**
 * The store URL (store.url, FERRY_STORE_URL): what the schema accepts as one, and how one is
 * shown in logs and error lines without its password.
 */

/** store.url: a postgres:// or postgresql:// URL with a host and a database. */
export function isPostgresUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.hostname !== '' && u.pathname.length > 1;
  } catch {
    return false;
  }
}

/** A store URL fit for logs and error lines: the password replaced (also when the URL is malformed). */
export function redactStoreUrl(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    const u = new URL(value);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return value.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}
