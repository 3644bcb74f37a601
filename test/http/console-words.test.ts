import t from 'tap';
import { barChart, escapeXml } from '../../src/http/console/charts.js';
import { plainCategory, plainStatus, plainSuppression } from '../../src/http/console/words.js';
import { fmtTime } from '../../src/http/console/plugin.js';
import { BOUNCE_CATEGORIES } from '../../src/core/types.js';

t.test('each status in plain words', async (t) => {
  const base = { complainedAt: null, createdAt: Date.UTC(2026, 0, 1), category: null };
  const table: [string, number | null, string, RegExp][] = [
    ['delivered', null, 'Delivered', /accepted the message/],
    ['delivered', 1, 'Spam', /reported it as spam/],
    ['bounced', null, 'Bounced', /refused the message for good/],
    ['dropped', null, 'Dropped', /suppression list/],
    ['deferred', null, 'Deferred', /try again later/],
    ['queued', null, 'Queued', /Waiting/],
    ['expired', null, 'Expired', /gave up/],
    ['weird', null, 'Queued', /weird/],
  ];
  for (const [status, complainedAt, label, sentence] of table) {
    const w = plainStatus({ ...base, status, complainedAt }, 72);
    t.equal(w.label, label, status);
    t.match(w.sentence, sentence);
  }
  t.equal(plainStatus({ ...base, status: 'deferred' }, 72).retryUntil, Date.UTC(2026, 0, 4), 'retries until acceptance + maxAgeHours');
  t.equal(plainStatus({ ...base, status: 'bounced' }, 72).retryUntil, null);
});

t.test('every category has words and a next step', async (t) => {
  for (const c of [...BOUNCE_CATEGORIES, 'manual', 'complaint']) {
    const w = plainCategory(c)!;
    t.ok(w.what.length > 10 && w.next.length > 10, c);
  }
  t.match(plainCategory('mailbox_full')!.next, /free some space/);
  t.match(plainCategory('user_unknown')!.next, /spelling/);
  t.match(plainCategory('blocked')!.next, /IT to allow/);
  t.equal(plainCategory(null), null);
  t.same(plainCategory('unheard_of'), plainCategory('other'));
  t.match(plainSuppression('user_unknown').next, /remove the address/);
  t.match(plainSuppression('complaint').next, /Do not remove/);
});

t.test('charts: text, patterns and titles, everything escaped', async (t) => {
  const svg = barChart({ name: 'Bounced <x>', pattern: 'dots', values: [0, 3, 1] }, { labels: ['a&b', '01:00', '02:00'], caption: 'c"d' });
  t.match(svg, /aria-label="Bounced &lt;x&gt;: 4 in total, at most 3 \(c&quot;d\)"/);
  t.match(svg, />total 4 · max 3</);
  t.match(svg, /fill="url\(#p-dots\)"/);
  t.match(svg, /<title>01:00: 3 bounced &lt;x&gt;<\/title>/);
  t.match(svg, />a&amp;b</);
  t.equal((svg.match(/<rect /g) ?? []).length, 3);
  const empty = barChart({ name: 'None', pattern: 'solid', values: [] }, { labels: [], caption: '' });
  t.match(empty, /0 in total, at most 0/);
  t.equal(escapeXml(`<&>"'`), '&lt;&amp;&gt;&quot;&#39;');
  t.equal(fmtTime(Date.UTC(2026, 11, 6, 19, 54, 30)), '2026-12-06 19:54 UTC');
  t.equal(fmtTime(null), '');
});
