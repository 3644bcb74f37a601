// Web console benchmark: seeds a store with 1,000,000 suppressions and 1,000,000 recipients
// (one message each, over 30 days and 2,000 destination domains, 1% still deferred), starts the
// real relay with its HTTP endpoint, logs in and times every page: median and max server time
// over RUNS requests each (loopback round trip; the client side is a few hundred microseconds).
// Run after `npm run build`: node bench/console.mjs [SUPPRESSIONS=1000000] [RECIPIENTS=1000000] [RUNS=15]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildConfig } from '../dist/config/load.js';
import { createFerry } from '../dist/main.js';
import { openDatabase } from '../dist/store/db.js';
import { createAdminsRepo } from '../dist/store/admins-repo.js';
import { hashPassword } from '../dist/policy/passwords.js';

const SUPPRESSIONS = Number(process.argv[2] ?? 1_000_000);
const RECIPIENTS = Number(process.argv[3] ?? 1_000_000);
const RUNS = Number(process.argv[4] ?? 15);
const DOMAINS = 2000;
const DAY = 86_400_000;
// REUSE_DB=<dir kept by KEEP_DB=1>: time the pages again without seeding again.
const dir = process.env.REUSE_DB ?? mkdtempSync(join(tmpdir(), 'ferry-bench-console-'));
const now = Date.now();

function seed() {
  const db = openDatabase({ file: join(dir, 'ferry.db') });
  const t0 = performance.now();
  // Generated in SQL (recursive CTEs): a JS loop would take longer than the pages it measures.
  db.exec(`
    WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ${SUPPRESSIONS - 1})
    INSERT INTO suppressions (address, domain, category, reason, source, scope, created_at, expires_at, hits)
    SELECT printf('s%07d@dom%d.test', i, i % ${DOMAINS}), printf('dom%d.test', i % ${DOMAINS}),
      CASE i % 4 WHEN 0 THEN 'user_unknown' WHEN 1 THEN 'domain_invalid' WHEN 2 THEN 'mailbox_disabled' ELSE 'manual' END,
      printf('550 5.1.1 <s%07d>: Recipient address rejected: User unknown', i), CASE i % 4 WHEN 3 THEN 'manual' ELSE 'bounce' END, '',
      ${now} - (${SUPPRESSIONS} - i) * 2000, NULL, i % 7 FROM c;
  `);
  const t1 = performance.now();
  db.exec(`
    WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ${RECIPIENTS - 1})
    INSERT INTO messages (id, created_at, sender, username, size, headers, body, header_from, message_id_hdr, subject)
    SELECT printf('BENCH%08d', i), ${now} - (${RECIPIENTS} - i) * (30 * ${DAY} / ${RECIPIENTS}), printf('app%d@sender%d.test', i % 50, i % 20), NULL, 1200,
      X'0D0A', X'0D0A', printf('app%d@sender%d.test', i % 50, i % 20), printf('<m%08d@sender.test>', i), printf('Invoice %d', i) FROM c;
    WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ${RECIPIENTS - 1})
    INSERT INTO recipients (message_id, address, domain, status, attempts, next_attempt_at, created_at, updated_at, last_code, last_enhanced, last_reply, category, mx_host)
    SELECT printf('BENCH%08d', i), printf('user%d@dom%d.test', i % 300000, (i % 300000) % ${DOMAINS}), printf('dom%d.test', (i % 300000) % ${DOMAINS}),
      CASE WHEN i % 100 = 99 THEN 'deferred' WHEN i % 10 = 7 THEN 'bounced' WHEN i % 10 = 8 THEN 'dropped' WHEN i % 10 = 9 THEN 'expired' ELSE 'delivered' END,
      1, CASE WHEN i % 100 = 99 THEN ${now + DAY} END,
      ${now} - (${RECIPIENTS} - i) * (30 * ${DAY} / ${RECIPIENTS}), ${now} - (${RECIPIENTS} - i) * (30 * ${DAY} / ${RECIPIENTS}) + 5000,
      CASE WHEN i % 100 = 99 THEN 451 WHEN i % 10 = 7 THEN 550 ELSE 250 END, CASE WHEN i % 10 = 7 THEN '5.1.1' END,
      CASE WHEN i % 100 = 99 THEN '451 4.7.1 Greylisted' WHEN i % 10 = 7 THEN '550 5.1.1 User unknown' ELSE '250 2.0.0 OK' END,
      CASE WHEN i % 10 = 7 THEN 'user_unknown' WHEN i % 10 = 8 THEN 'user_unknown' WHEN i % 10 = 9 THEN 'mailbox_full' END, 'mx.dom.test' FROM c;
  `);
  const t2 = performance.now();
  // One event per recipient (its latest): the migration's triggers fill the hourly rollups.
  db.exec(`INSERT INTO events (at, message_id, recipient_id, recipient, type, status, category)
           SELECT updated_at, message_id, id, address, status, status, category FROM recipients`);
  const t3 = performance.now();
  db.exec('ANALYZE');
  db.close();
  console.log(`seeded ${SUPPRESSIONS.toLocaleString('en')} suppressions in ${((t1 - t0) / 1000).toFixed(1)} s, ${RECIPIENTS.toLocaleString('en')} messages+recipients in ${((t2 - t1) / 1000).toFixed(1)} s, events and rollups in ${((t3 - t2) / 1000).toFixed(1)} s`);
}

class Client {
  jar = new Map();
  csrf = '';
  constructor(base) {
    this.base = base;
  }
  async req(path, form) {
    const headers = { cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams({ _csrf: this.csrf, ...form }).toString();
    }
    const t0 = performance.now();
    const r = await fetch(this.base + path, { method: form ? 'POST' : 'GET', headers, body, redirect: 'manual' });
    const text = await r.text();
    const ms = performance.now() - t0;
    for (const c of r.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      this.jar.set(kv.slice(0, i), kv.slice(i + 1));
    }
    const m = /name="_csrf" value="([^"]+)"/.exec(text);
    if (m) this.csrf = m[1];
    return { status: r.status, ms, text };
  }
}

try {
  if (!process.env.REUSE_DB) seed();
  const config = buildConfig(
    { dataDir: dir, hostname: 'bench.test', log: { level: 'warn' }, dns: { servers: ['127.0.0.1:9'], timeoutMs: 200, tries: 1 }, http: { listen: '127.0.0.1:0' }, smtp: { listen: '127.0.0.1:0' }, dmarc: { mode: 'off' } },
    dir,
  );
  const ferry = createFerry(config);
  const { http } = await ferry.start();
  createAdminsRepo(ferry.db).remove('bench');
  createAdminsRepo(ferry.db).add('bench', await hashPassword('bench-password'), 'admin', Date.now());
  const c = new Client(`http://${http}`);
  await c.req('/login');
  const login = await c.req('/login', { username: 'bench', password: 'bench-password' });
  if (login.status !== 303) throw new Error(`login failed: ${login.status}`);

  // A cursor deep into the list: page 1, then follow "next" 20 times.
  let deep = '/suppressions';
  for (let i = 0; i < 20; i++) {
    const r = await c.req(deep);
    deep = /<a rel="next" href="([^"]+)"/.exec(r.text)[1].replace(/&amp;/g, '&');
  }
  const pages = [
    ['dashboard (all destinations)', '/'],
    ['dashboard (one destination)', '/?domain=dom17.test'],
    ['search: recipient (4 messages)', '/search?q=user4242%40dom242.test'],
    ['search: sender (20 newest messages)', '/search?q=app7%40sender7.test'],
    ['search: Message-ID', '/search?q=%3Cm00500000%40sender.test%3E'],
    ['search: queue id', '/search?q=BENCH00777777'],
    ['suppressions: newest', '/suppressions'],
    ['suppressions: page 21 (keyset)', deep],
    ['suppressions: address prefix', '/suppressions?q=s00123'.replace('s00123', 's0012345%40')],
    ['suppressions: a domain', '/suppressions?q=%40dom99.test'],
    ['queue by destination (10,000 deferred)', '/queue'],
    ['queue: one destination', '/queue?domain=dom99.test'],
    ['limits', '/limits'],
  ];
  const rows = [];
  for (const [name, path] of pages) {
    const times = [];
    let status = 0;
    for (let i = 0; i < RUNS; i++) {
      const r = await c.req(path);
      status = r.status;
      times.push(r.ms);
    }
    times.sort((a, b) => a - b);
    rows.push([name, status, times[Math.floor(times.length / 2)], times[times.length - 1]]);
  }
  // A removal (POST) on the full list, each on a different entry.
  const removals = [];
  for (let i = 0; i < RUNS; i++) {
    await c.req('/suppressions');
    const r = await c.req('/suppressions/remove', { id: String(1000 + i) });
    removals.push(r.ms);
  }
  removals.sort((a, b) => a - b);
  rows.push(['remove a suppression (POST, redirect)', 303, removals[Math.floor(removals.length / 2)], removals[removals.length - 1]]);
  console.log(`\n| page | status | median ms | max ms |\n| --- | --- | --- | --- |`);
  for (const [name, status, med, max] of rows) console.log(`| ${name} | ${status} | ${med.toFixed(1)} | ${max.toFixed(1)} |`);
  const worst = Math.max(...rows.map((r) => r[3]));
  console.log(`\nslowest request of all: ${worst.toFixed(1)} ms (target: every page under 200 ms)`);
  await ferry.stop();
} finally {
  if (process.env.KEEP_DB || process.env.REUSE_DB) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
