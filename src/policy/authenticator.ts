import type { UsersStore } from '../core/store.js';
import type { Authenticator } from '../core/policy.js';
import { DUMMY_HASH, verifyPassword } from './passwords.js';

export type PasswordVerifier = (password: string, stored: string) => Promise<boolean>;

/**
 * Checks SMTP AUTH credentials against the store's users (read on every AUTH: CLI changes apply
 * at once). `verify` is the password check (scrypt); tests pass a counting wrapper around it.
 */
export function createAuthenticator(users: Pick<UsersStore, 'get'>, verify: PasswordVerifier = verifyPassword): Authenticator {
  return {
    async verify(name, password) {
      const user = await users.get(name);
      // Verify against a dummy hash for unknown users so the reply time does not reveal them.
      const ok = await verify(password, user?.passwordHash ?? DUMMY_HASH);
      return ok && user ? { name: user.name, fromDomains: user.fromDomains, oneClickUnsubscribe: user.oneClickUnsubscribe } : null;
    },
  };
}
