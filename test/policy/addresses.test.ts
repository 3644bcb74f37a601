import t from 'tap';
import { domainAllowed, parseAddress } from '../../src/policy/addresses.js';

t.test('parseAddress accepts and normalizes', async (t) => {
  const ok: [string, string, string, boolean][] = [
    ['user@example.com', 'user@example.com', 'example.com', false],
    ['User.Name+tag@Example.COM', 'User.Name+tag@example.com', 'example.com', false],
    ['a@sub.example.co.uk', 'a@sub.example.co.uk', 'sub.example.co.uk', false],
    ['jörg@bücher.de', 'jörg@xn--bcher-kva.de', 'xn--bcher-kva.de', true],
    ['"quoted local"@example.com', '"quoted local"@example.com', 'example.com', false],
    ['x@[127.0.0.1]', 'x@[127.0.0.1]', '[127.0.0.1]', false],
  ];
  for (const [input, address, domain, utf8Local] of ok) {
    const p = parseAddress(input);
    t.same(p && { address: p.address, domain: p.domain, utf8Local: p.utf8Local }, { address, domain, utf8Local }, input);
  }
});

t.test('parseAddress refuses', async (t) => {
  for (const bad of ['', 'plain', '@example.com', 'a@', 'a..b@example.com', '.a@example.com', 'a.@example.com', 'a b@example.com', 'a@exa mple.com', 'a@-x.com', 'a@x-.com', `${'l'.repeat(65)}@example.com`, `a@${'d'.repeat(64)}.com`, 'a@b@c.com']) {
    t.equal(parseAddress(bad), null, JSON.stringify(bad));
  }
});

t.test('domainAllowed: the domain or a subdomain, and only on a label boundary', async (t) => {
  t.equal(domainAllowed('example.com', []), true, 'no restriction');
  t.equal(domainAllowed('example.com', ['example.com']), true);
  t.equal(domainAllowed('Mail.Example.com', ['example.com']), true, 'subdomain, any case');
  t.equal(domainAllowed('badexample.com', ['example.com']), false, 'not a suffix match');
  t.equal(domainAllowed('example.com.evil.net', ['example.com']), false);
  t.equal(domainAllowed('other.org', ['example.com', 'other.org']), true);
});
