import t from 'tap';
import { createOneClick, MAX_TOKEN_CHARS, oneClickOf } from '../../src/suppress/one-click.js';
import { buildConfig } from '../../src/config/load.js';
import { takeUnsubscribeRequest } from '../../src/receive/unsubscribe-header.js';

const SECRET = 'one-click-secret-0123456789';
const claim = { queueId: 'MQ1ABC', user: 'shop', recipient: 'alice@example.net' };

t.test('a token names its message, user and recipient, and only this relay can make one', async (t) => {
  const oc = createOneClick({ secret: SECRET, baseUrl: 'https://mail.example.com/', mailto: 'unsubscribe@bounce.example.com' });
  const token = oc.token(claim);
  t.match(token, /^u1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
  t.same(oc.verify(token), claim);
  t.same(oc.verify(oc.token({ ...claim, user: null })), { ...claim, user: null }, 'no user: a global scope');

  const [, payload, mac] = token.split('.') as [string, string, string];
  const other = Buffer.from(JSON.stringify([claim.queueId, claim.user, 'bob@example.net'])).toString('base64url');
  t.equal(oc.verify(`u1.${other}.${mac}`), null, "another recipient with alice's MAC: refused");
  const otherUser = Buffer.from(JSON.stringify([claim.queueId, 'other', claim.recipient])).toString('base64url');
  t.equal(oc.verify(`u1.${otherUser}.${mac}`), null, 'another scope: refused');
  const flipped = `${mac.slice(0, -2)}${mac.endsWith('AA') ? 'AB' : 'AA'}`;
  t.equal(oc.verify(`u1.${payload}.${flipped}`), null, 'an altered MAC: refused');
  t.equal(oc.verify(`u2.${payload}.${mac}`), null, 'unknown version');
  t.equal(oc.verify(`u1.${payload}`), null, 'truncated');
  t.equal(oc.verify(''), null);
  t.equal(oc.verify(`u1.${'A'.repeat(MAX_TOKEN_CHARS)}.${mac}`), null, 'too long');
  t.equal(createOneClick({ secret: 'another-secret-0123456789', baseUrl: 'https://x', mailto: null }).verify(token), null, 'another secret: refused');
  // A MAC over a payload that is not the expected JSON shape is still refused.
  const { createHmac } = await import('node:crypto');
  const forge = (p: string) => `u1.${p}.${createHmac('sha256', SECRET).update(`unsub1:${p}`).digest().subarray(0, 16).toString('base64url')}`;
  t.equal(oc.verify(forge(Buffer.from('[1,2]').toString('base64url'))), null, 'wrong shape');
  t.equal(oc.verify(forge(Buffer.from('not json').toString('base64url'))), null, 'not JSON');
  t.equal(oc.verify(forge(Buffer.from('["q",5,"a@b"]').toString('base64url'))), null, 'wrong types');

  const headers = oc.headers(claim);
  t.match(headers, /^List-Unsubscribe: <https:\/\/mail\.example\.com\/unsubscribe\?t=u1\.[^>]+>,\r\n <mailto:unsubscribe@bounce\.example\.com\?subject=unsubscribe%20u1\.[^>]+>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n$/);
  t.equal(oc.url('TOK'), 'https://mail.example.com/unsubscribe?t=TOK', 'no double slash');
  t.notMatch(createOneClick({ secret: SECRET, baseUrl: 'https://x', mailto: null }).headers(claim), /mailto/, 'no mailto without a bounce domain');
});

t.test('X-Ferry-Unsubscribe is taken out of the header block, folded or not, whatever its value', async (t) => {
  const block = Buffer.from('From: a@b\r\nX-Ferry-Unsubscribe: One-Click\r\nSubject: hi\r\n\r\n');
  const out = takeUnsubscribeRequest(block);
  t.equal(out.requested, true);
  t.equal(out.headers.toString(), 'From: a@b\r\nSubject: hi\r\n\r\n');

  const folded = takeUnsubscribeRequest(Buffer.from('From: a@b\r\nx-ferry-unsubscribe:\r\n one-click\r\nSubject: hi\r\n\r\n'));
  t.equal(folded.requested, true);
  t.equal(folded.headers.toString(), 'From: a@b\r\nSubject: hi\r\n\r\n');

  const other = takeUnsubscribeRequest(Buffer.from('X-Ferry-Unsubscribe: no\r\nFrom: a@b\r\n\r\n'));
  t.equal(other.requested, false, 'another value does not ask');
  t.equal(other.headers.toString(), 'From: a@b\r\n\r\n', 'but is removed all the same');

  const none = Buffer.from('From: a@b\r\nSubject: x-ferry-unsubscribe\r\n\r\n');
  t.same(takeUnsubscribeRequest(none), { headers: none, requested: false }, 'the name in a value is not the header');
});

t.test('as configured: off without baseUrl and secret; a mailto: address only with the bounce-domain listener', async (t) => {
  const base = { dataDir: '/tmp/ferry-one-click-test', hostname: 'ferry.test' };
  t.same(oneClickOf(buildConfig(base, '/')), { oneClick: null, mailto: null });
  const https = { unsubscribe: { baseUrl: 'https://mail.example.com', secret: 's'.repeat(16) } };
  const httpsOnly = oneClickOf(buildConfig({ ...base, ...https }, '/'));
  t.ok(httpsOnly.oneClick);
  t.equal(httpsOnly.mailto, null, 'no bounce listener: no mailto');
  const verp = { verp: { enabled: true, domain: 'Bounces.Example.com', secret: 'v'.repeat(16) }, bounceListener: { listen: '127.0.0.1:0' } };
  const both = oneClickOf(buildConfig({ ...base, ...https, ...verp }, '/'));
  t.equal(both.mailto, 'unsubscribe@bounces.example.com');
  t.match(both.oneClick!.headers({ queueId: 'Q1', user: null, recipient: 'a@example.net' }), /mailto:unsubscribe@bounces\.example\.com/);
});
