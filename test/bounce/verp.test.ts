import t from 'tap';
import { createVerp, verpOf } from '../../src/bounce/verp.js';
import { buildConfig } from '../../src/config/load.js';

const verp = createVerp({ domain: 'Bounce.Ferry.Test', secret: 'verp-secret-0123456789', localPart: 'bounces' });

t.test('round trip: queue id and recipient id, lower case, under 64 characters', async (t) => {
  const a = verp.address('0MIGK3XQ0A1B2C3D4E5F6', 12345);
  t.match(a, /^bounces\+0migk3xq0a1b2c3d4e5f6-9ix-[a-z2-7]{16}@bounce\.ferry\.test$/);
  t.ok(a.slice(0, a.indexOf('@')).length <= 64);
  t.same(verp.parse(a), { queueId: '0MIGK3XQ0A1B2C3D4E5F6', recipientId: 12345 });
  t.same(verp.parse(a.toUpperCase()), { queueId: '0MIGK3XQ0A1B2C3D4E5F6', recipientId: 12345 }, 'case does not matter');
  const many = verp.address('0MIGK3XQ0A1B2C3D4E5F6', null);
  t.match(many, /-0-/);
  t.same(verp.parse(many), { queueId: '0MIGK3XQ0A1B2C3D4E5F6', recipientId: null });
});

t.test('forged, altered or foreign tokens', async (t) => {
  const a = verp.address('0MIGK3XQ0A1B2C3D4E5F6', 7);
  t.equal(verp.parse(a.replace('-7-', '-8-')), 'forged', 'another recipient id with the same MAC');
  t.equal(verp.parse(a.replace('0migk3xq', '0migk3xr')), 'forged', 'another queue id');
  const other = createVerp({ domain: 'bounce.ferry.test', secret: 'another-secret-000000', localPart: 'bounces' });
  t.equal(verp.parse(other.address('0MIGK3XQ0A1B2C3D4E5F6', 7)), 'forged', 'signed with another key');
  t.equal(verp.parse('bounces+garbage@bounce.ferry.test'), 'forged');
  t.equal(verp.parse('postmaster@bounce.ferry.test'), null, 'no token');
  t.equal(verp.parse(a.replace('bounce.ferry.test', 'elsewhere.test')), null, 'another domain');
  t.ok(verp.isBounceDomain('x@BOUNCE.ferry.test'));
  t.notOk(verp.isBounceDomain('x@ferry.test'));
});

t.test('findIn picks VERP addresses out of returned headers', async (t) => {
  const a = verp.address('ABC', 3);
  t.same(verp.findIn(`Return-Path: <${a}>\r\nX-Other: bounces+nothing@bounce.ferry.test\r\n`), [a]);
});

t.test('as configured: off by default; a bounce-domain listener without VERP stops the start', async (t) => {
  const base = { dataDir: '/tmp/ferry-verp-test', hostname: 'ferry.test' };
  t.equal(verpOf(buildConfig(base, '/')), null);
  const on = verpOf(buildConfig({ ...base, verp: { enabled: true, domain: 'bounce.ferry.test', secret: 'verp-secret-0123456789' } }, '/'));
  t.equal(on?.domain, 'bounce.ferry.test');
  t.throws(() => verpOf(buildConfig({ ...base, bounceListener: { listen: '127.0.0.1:0' } }, '/')), { code: 'FERRY_ERR_CONFIG', message: /^bounceListener\.listen needs verp\.enabled/ });
});
