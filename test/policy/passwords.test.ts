import t from 'tap';
import { DUMMY_HASH, generatePassword, hashPassword, verifyPassword } from '../../src/policy/passwords.js';

t.test('scrypt hashes verify only the right password', async (t) => {
  const hash = await hashPassword('correct horse battery');
  t.match(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.notMatch(hash, /correct horse/);
  t.equal(await verifyPassword('correct horse battery', hash), true);
  t.equal(await verifyPassword('correct horse batterY', hash), false);
  t.equal(await verifyPassword('', hash), false);
  t.not(await hashPassword('correct horse battery'), hash, 'salted: the same password hashes differently');
});

t.test('malformed stored hashes and the dummy hash never verify', async (t) => {
  for (const stored of ['', 'plain', 'bcrypt$x$y$z$a$b', 'scrypt$1$2$3']) t.equal(await verifyPassword('x', stored), false, stored || '(empty)');
  t.equal(await verifyPassword('', DUMMY_HASH), false);
  t.equal(await verifyPassword('anything', DUMMY_HASH), false);
});

t.test('generated passwords are long and distinct', async (t) => {
  const a = generatePassword();
  t.match(a, /^[A-Za-z0-9_-]{24}$/);
  t.not(generatePassword(), a);
});
