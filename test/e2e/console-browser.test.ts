import t from 'tap';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { mx, parse, submit, waitFor } from '../helpers/bounce.js';
import { addAdmin, screenshotDir } from '../helpers/console.js';
import { startRelay } from '../helpers/relay.js';

// The console in a real browser (Debian's chromium driven by playwright-core), through the real
// relay: support finds why mail to a customer bounced, removes the suppression and sees the next
// message delivered; an admin imports a CSV and purges a destination (its sender gets a DSN).
// Screenshots of each page go to tmp/screenshots for a person to look at.

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function launch(): Promise<Browser | string> {
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  } catch (err) {
    return `chromium cannot start (${CHROMIUM}): ${(err as Error).message.split('\n')[0]}`;
  }
}

t.test('support and admin in a real browser', async (t) => {
  const browser = await launch();
  if (typeof browser === 'string') {
    t.skip(browser);
    return;
  }
  t.teardown(() => browser.close());
  const shots = screenshotDir();

  let bobFixed = false;
  const server = await mx(t, {
    host: '127.0.0.2',
    script: {
      rcpt: (address) => {
        if (address === 'bob@dest.test' && !bobFixed) return { code: 550, message: '5.1.1 <bob@dest.test>: Recipient address rejected: User unknown in virtual mailbox table' };
        if (address.endsWith('@slow.test')) return { code: 451, message: '4.7.1 Greylisted, please try again later' };
        return null;
      },
    },
  });
  const relay = await startRelay(t, { http: { listen: '127.0.0.1:0' }, dmarc: { mode: 'off' }, routes: { '*': `127.0.0.2:${server.port}` } });
  const http = relay.ferry.addresses!.http!;
  const base = `http://${http}`;
  const db = relay.ferry.db;
  await addAdmin(db, 'sam', 'support-password', 'support');
  await addAdmin(db, 'ada', 'admin-password', 'admin');

  const statusOf = (id: string, address: string) => relay.ferry.queue.recipients.forMessage(id).find((r) => r.address === address)?.status;
  const idOf = (reply: string) => /queued as (\S+)/.exec(reply)![1]!;
  let slowId = '';

  // A message to a mistyped mailbox bounces and puts the address on the suppression list.
  const first = idOf(await submit(relay.smtpPort, { from: 'app@sender.test', to: 'bob@dest.test', subject: 'Your invoice' }));
  await waitFor(() => statusOf(first, 'bob@dest.test') === 'bounced', 15_000, 'bob bounced');

  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('dialog', (d) => void d.accept());

  async function login(p: Page, name: string, password: string) {
    await p.goto(`${base}/`);
    t.match(p.url(), /\/login\?next=/, 'an anonymous visitor is sent to the login page');
    await p.fill('input[name=username]', name);
    await p.fill('input[name=password]', password);
    await Promise.all([p.waitForURL(`${base}/`), p.click('button[type=submit]')]);
  }

  await t.test('support: search, read the reason, remove the suppression, next message delivered', async (t) => {
    await page.goto(`${base}/login`);
    await page.screenshot({ path: join(shots, 'login.png'), fullPage: true });
    await login(page, 'sam', 'support-password');
    t.match(await page.textContent('header'), /sam \(support\)/);
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });

    await page.goto(`${base}/search`);
    await page.fill('input[name=q]', 'bob@dest.test');
    await Promise.all([page.waitForURL(/\/search\?q=/), page.press('input[name=q]', 'Enter')]);
    const card = page.locator('article.message').first();
    t.equal((await card.locator('.badge').textContent())?.trim(), 'Bounced');
    const text = (await card.textContent()) ?? '';
    t.match(text, /The address does not exist\./, 'the category in plain words');
    t.match(text, /Check the spelling/, 'what to do next');
    t.match(text, /User unknown in virtual mailbox table/, 'the remote reply');
    t.match((await page.textContent('section.suppressed')) ?? '', /On the suppression list/);
    await page.screenshot({ path: join(shots, 'search-bounced.png'), fullPage: true });

    await Promise.all([page.waitForURL(/\/search\?q=/), page.click('section.suppressed button.danger')]);
    t.match(await page.textContent('.flash'), /Removed bob@dest\.test from the suppression list/);
    t.equal(await page.locator('section.suppressed').count(), 0, 'no longer on the list');

    bobFixed = true;
    const second = idOf(await submit(relay.smtpPort, { from: 'app@sender.test', to: 'bob@dest.test', subject: 'Your invoice (again)' }));
    await waitFor(() => statusOf(second, 'bob@dest.test') === 'delivered', 15_000, 'bob delivered');
    await page.reload();
    t.equal((await page.locator('article.message .badge').first().textContent())?.trim(), 'Delivered', 'the newest message to bob is delivered');
    await page.screenshot({ path: join(shots, 'search-delivered.png'), fullPage: true });
  });

  await t.test('support may not purge, and a POST without a CSRF token is refused', async (t) => {
    const slow = idOf(await submit(relay.smtpPort, { from: 'app@sender.test', to: 'carol@slow.test', subject: 'Greylisted' }));
    slowId = slow;
    await waitFor(() => statusOf(slow, 'carol@slow.test') === 'deferred', 15_000, 'carol deferred');
    await page.goto(`${base}/queue`);
    t.match(await page.textContent('table'), /slow\.test/);
    t.equal(await page.locator('button', { hasText: 'Purge' }).count(), 0, 'no purge button for support');
    await page.screenshot({ path: join(shots, 'queue-support.png'), fullPage: true });

    const token = await page.inputValue('input[name=_csrf]');
    const purge = await page.evaluate(async ([token]) => {
      const r = await fetch('/queue/purge', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${encodeURIComponent(token!)}&domain=slow.test` });
      return { status: r.status, text: await r.text() };
    }, [token]);
    t.equal(purge.status, 403, 'support cannot purge');
    t.match(purge.text, /needs the admin role/);
    t.equal(statusOf(slow, 'carol@slow.test'), 'deferred', 'nothing purged');

    const noCsrf = await page.evaluate(async () => {
      const r = await fetch('/queue/retry', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'domain=slow.test' });
      return { status: r.status, text: await r.text() };
    });
    t.equal(noCsrf.status, 403, 'a POST without a CSRF token is refused');
    t.match(noCsrf.text, /CSRF/);

    await Promise.all([page.waitForURL(/\/login/), page.click('header button[type=submit]')]);
  });

  await t.test('admin: import a CSV, purge a destination (its sender is told)', async (t) => {
    await login(page, 'ada', 'admin-password');
    await page.goto(`${base}/suppressions`);
    const csv = 'address,reason,category\nann@example.com,asked us to stop,manual\n@spam-trap.test,trap domain,manual\nnot an address,x,manual\nzed@example.com,nope,no_such_category\n';
    await page.setInputFiles('input[name=file]', { name: 'list.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await Promise.all([page.waitForSelector('#import-summary'), page.click('#import-form button[type=submit]')]);
    t.match(await page.textContent('#import-summary'), /2 entries imported, 2 rows skipped/);
    const problems = (await page.textContent('table.problems')) ?? '';
    t.match(problems, /4/, 'the bad row is named by its line');
    t.match(problems, /5/);
    await page.screenshot({ path: join(shots, 'import-result.png'), fullPage: true });
    await page.goto(`${base}/suppressions`);
    t.match(await page.textContent('table'), /ann@example\.com/);
    await page.screenshot({ path: join(shots, 'suppressions.png'), fullPage: true });

    await page.goto(`${base}/queue`);
    await page.screenshot({ path: join(shots, 'queue-admin.png'), fullPage: true });
    const before = server.messages.length;
    await Promise.all([page.waitForURL(`${base}/queue`), page.click('button[aria-label="Purge slow.test"]')]);
    t.match(await page.textContent('.flash'), /1 recipient purged/);
    t.notMatch(await page.textContent('table'), /slow\.test/, 'nothing waits for slow.test any more');
    await waitFor(() => server.messages.slice(before).find((m) => m.envelope.from === '' && m.envelope.to.includes('app@sender.test')), 15_000, 'the DSN to the sender');
    const dsn = server.messages.slice(before).find((m) => m.envelope.from === '')!;
    t.match((await parse(dsn.raw)).text?.replace(/\s+/g, ' '), /administrator removed your message from the delivery queue/);
    t.equal(statusOf(slowId, 'carol@slow.test'), 'expired');

    await page.goto(`${base}/limits`);
    await page.screenshot({ path: join(shots, 'limits.png'), fullPage: true });
    await page.goto(`${base}/`);
    t.match(await page.getAttribute('svg.chart >> nth=0', 'aria-label'), /^Delivered: [1-9]\d* in total/);
    t.match(await page.getAttribute('svg.chart >> nth=2', 'aria-label'), /^Bounced or expired: 2 in total/, 'bob bounced, carol purged');
    await page.screenshot({ path: join(shots, 'dashboard-admin.png'), fullPage: true });
  });
});
