import { Eta } from 'eta';

/**
 * The console's pages as Eta templates (autoEscape on: `<%= %>` escapes, `<%~ %>` is used only
 * for the server-rendered SVG charts, which escape their own text). Kept as strings so tsc ships
 * them in dist/ with the code.
 */

const layout = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title><%= it.title %> · Ferry console</title><link rel="stylesheet" href="/console.css"><script src="/console.js" defer></script></head>
<body>
<header>
  <strong>Ferry</strong>
  <% if (it.me) { %>
  <nav>
    <a href="/" <%~ it.page === 'dashboard' ? 'aria-current="page"' : '' %>>Dashboard</a>
    <a href="/search" <%~ it.page === 'search' ? 'aria-current="page"' : '' %>>Search</a>
    <a href="/suppressions" <%~ it.page === 'suppressions' ? 'aria-current="page"' : '' %>>Suppressions</a>
    <a href="/queue" <%~ it.page === 'queue' ? 'aria-current="page"' : '' %>>Queue</a>
    <a href="/limits" <%~ it.page === 'limits' ? 'aria-current="page"' : '' %>>Limits</a>
  </nav>
  <form method="post" action="/logout" class="logout"><input type="hidden" name="_csrf" value="<%= it.csrf %>">
    <span><%= it.me.name %> (<%= it.me.role %>)</span> <button type="submit">Log out</button></form>
  <% } %>
</header>
<main>
<% if (it.flash) { %><p class="flash" role="status"><%= it.flash %></p><% } %>
<%~ it.body %>
</main>
</body></html>`;

const login = `<% layout('@layout') %>
<h1>Log in</h1>
<% if (it.error) { %><p class="error" role="alert"><%= it.error %></p><% } %>
<form method="post" action="/login<%= it.next ? '?next=' + encodeURIComponent(it.next) : '' %>" class="login">
  <input type="hidden" name="_csrf" value="<%= it.csrf %>">
  <label>Username <input name="username" autocomplete="username" required autofocus value="<%= it.username || '' %>"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Log in</button>
</form>`;

const statusCard = `<article class="message status-<%= it.h.words.label.toLowerCase() %>">
  <h3><span class="badge"><%= it.h.words.label %></span> to <%= it.h.address %></h3>
  <p><%= it.h.words.sentence %><% if (it.h.words.retryUntil) { %> Will retry until <time><%= it.fmt(it.h.words.retryUntil) %></time>.<% } %></p>
  <% if (it.h.cat) { %><p class="reason"><strong>Why:</strong> <%= it.h.cat.what %></p>
  <p class="next"><strong>What to do:</strong> <%= it.h.cat.next %></p><% } %>
  <% if (it.h.lastReply) { %><p class="reply"><strong>Their server said:</strong> <code><%= it.h.lastReply %></code><% if (it.h.mxHost) { %> (<%= it.h.mxHost %>)<% } %></p><% } %>
  <dl>
    <dt>Sent</dt><dd><time><%= it.fmt(it.h.acceptedAt) %></time> by <%= it.h.sender || '<>' %><% if (it.h.username) { %> (user <%= it.h.username %>)<% } %></dd>
    <% if (it.h.subject) { %><dt>Subject</dt><dd><%= it.h.subject %></dd><% } %>
    <dt>Queue id</dt><dd><a href="/search?q=<%= encodeURIComponent(it.h.messageId) %>"><%= it.h.messageId %></a></dd>
    <% if (it.h.messageIdHeader) { %><dt>Message-ID</dt><dd><%= it.h.messageIdHeader %></dd><% } %>
    <dt>Attempts</dt><dd><%= it.h.attempts %>, last change <time><%= it.fmt(it.h.updatedAt) %></time></dd>
  </dl>
  <% if (it.h.words.label === 'Deferred' || it.h.words.label === 'Queued') { %>
  <form method="post" action="/queue/retry" class="inline"><input type="hidden" name="_csrf" value="<%= it.csrf %>"><input type="hidden" name="message" value="<%= it.h.messageId %>"><input type="hidden" name="back" value="<%= it.back %>"><button type="submit">Retry now</button></form>
  <% } %>
</article>`;

const suppressionBox = `<section class="suppressed" aria-label="Suppression list">
  <h2>On the suppression list</h2>
  <% it.entries.forEach(function (e) { %>
  <div class="entry">
    <p><strong><%= e.address %></strong><% if (e.scope) { %> (only for SMTP user <%= e.scope %>)<% } %>: <%= e.words.what %></p>
    <p>Reason: <code><%= e.reason %></code> · added <time><%= it.fmt(e.createdAt) %></time> (<%= e.source %>) · <%= e.hits %> messages dropped since<% if (e.expiresAt) { %> · expires <time><%= it.fmt(e.expiresAt) %></time><% } %></p>
    <p class="next"><strong>What to do:</strong> <%= e.words.next %></p>
    <form method="post" action="/suppressions/remove" data-confirm="Remove <%= e.address %> from the suppression list? Mail to it will be sent again.">
      <input type="hidden" name="_csrf" value="<%= it.csrf %>"><input type="hidden" name="id" value="<%= e.id %>"><input type="hidden" name="back" value="<%= it.back %>">
      <button type="submit" class="danger">Remove from suppression list</button>
    </form>
  </div>
  <% }) %>
</section>`;

const search = `<% layout('@layout') %>
<h1>Search</h1>
<form method="get" action="/search" class="search" role="search">
  <label>Recipient address, sender address, queue id or Message-ID <input name="q" value="<%= it.q %>" size="50" autofocus></label>
  <button type="submit">Search</button>
</form>
<% if (it.q) { %>
  <% if (it.entries.length) { %><%~ include('@suppressionBox', it) %><% } %>
  <% if (it.asRecipient.length) { %>
  <h2>Messages to <%= it.q %></h2>
  <% it.asRecipient.forEach(function (h) { %><%~ include('@statusCard', { h: h, fmt: it.fmt, csrf: it.csrf, back: it.back }) %><% }) %>
  <% } %>
  <% if (it.asSender.length) { %>
  <h2>Messages from <%= it.q %></h2>
  <% it.asSender.forEach(function (h) { %><%~ include('@statusCard', { h: h, fmt: it.fmt, csrf: it.csrf, back: it.back }) %><% }) %>
  <% } %>
  <% if (it.asMessage.length) { %>
  <h2>Message <%= it.q %></h2>
  <% it.asMessage.forEach(function (h) { %><%~ include('@statusCard', { h: h, fmt: it.fmt, csrf: it.csrf, back: it.back }) %><% }) %>
  <% } %>
  <% if (!it.entries.length && !it.asRecipient.length && !it.asSender.length && !it.asMessage.length) { %>
  <p>Nothing found for <strong><%= it.q %></strong>. Check the spelling; an address must be complete (name@example.com).</p>
  <% } %>
<% } %>`;

const suppressions = `<% layout('@layout') %>
<h1>Suppression list</h1>
<p>Mail to these addresses (or whole domains, written @domain) is not sent: it is dropped and the sender is told.</p>
<form method="get" action="/suppressions" role="search">
  <label>Address (or its start), or a domain <input name="q" value="<%= it.q %>" size="40"></label>
  <button type="submit">Search</button>
  <a href="/suppressions/export.csv">Export all (CSV)</a>
</form>
<table>
  <thead><tr><th>Address</th><th>Category</th><th>Reason</th><th>Source</th><th>Added</th><th>Expires</th><th>Hits</th><th>SMTP user</th><th></th></tr></thead>
  <tbody>
  <% it.rows.forEach(function (r) { %>
  <tr>
    <td><a href="/search?q=<%= encodeURIComponent(r.address) %>"><%= r.address %></a></td>
    <td><%= r.category %></td><td><%= r.reason %></td><td><%= r.source %></td>
    <td><time><%= it.fmt(r.createdAt) %></time></td><td><%= r.expiresAt ? it.fmt(r.expiresAt) : 'never' %></td><td><%= r.hits %></td><td><%= r.scope || 'all' %></td>
    <td><form method="post" action="/suppressions/remove" data-confirm="Remove <%= r.address %> from the suppression list? Mail to it will be sent again.">
      <input type="hidden" name="_csrf" value="<%= it.csrf %>"><input type="hidden" name="id" value="<%= r.id %>"><input type="hidden" name="back" value="<%= it.back %>">
      <button type="submit" class="danger" aria-label="Remove <%= r.address %>">Remove</button></form></td>
  </tr>
  <% }) %>
  <% if (!it.rows.length) { %><tr><td colspan="9">No entries<%= it.q ? ' match' : '' %>.</td></tr><% } %>
  </tbody>
</table>
<% if (it.next) { %><p><a rel="next" href="/suppressions?q=<%= encodeURIComponent(it.q) %>&amp;after=<%= it.next %>">Next page</a></p><% } %>
<% if (it.isAdmin) { %>
<section class="admin-only">
<h2>Add</h2>
<form method="post" action="/suppressions/add">
  <input type="hidden" name="_csrf" value="<%= it.csrf %>">
  <label>Address or @domain <input name="address" required></label>
  <label>Category <select name="category"><% it.categories.forEach(function (c) { %><option<%~ c === 'manual' ? ' selected' : '' %>><%= c %></option><% }) %></select></label>
  <label>Reason <input name="reason" value="added by an admin"></label>
  <label>Expires in days (empty: never) <input name="expiresDays" inputmode="numeric" size="4"></label>
  <button type="submit">Add</button>
</form>
<h2>Import a CSV file</h2>
<p>A header line naming the columns: <code>address[,reason,category,expires,user]</code> (the export's format).</p>
<form method="post" action="/suppressions/import?_csrf=<%= encodeURIComponent(it.csrf) %>" enctype="multipart/form-data" id="import-form">
  <input type="file" name="file" accept=".csv,text/csv" required>
  <button type="submit">Import</button>
  <progress id="import-progress" max="100" value="0" hidden></progress> <span id="import-status" role="status"></span>
</form>
<h2>Clear</h2>
<form method="post" action="/suppressions/clear" data-confirm="Remove every entry of this domain or category? This cannot be undone.">
  <input type="hidden" name="_csrf" value="<%= it.csrf %>">
  <label>Domain <input name="domain"></label>
  <label>Category <select name="category"><option value="">any</option><% it.categories.forEach(function (c) { %><option><%= c %></option><% }) %></select></label>
  <button type="submit" class="danger">Clear</button>
</form>
</section>
<% } %>`;

const importResult = `<% layout('@layout') %>
<h1>Import finished</h1>
<p id="import-summary"><strong><%= it.r.imported %></strong> entries imported, <strong><%= it.r.skipped %></strong> rows skipped.</p>
<% if (it.r.problems.length) { %>
<h2>Rows skipped</h2>
<table class="problems"><thead><tr><th>Line</th><th>Problem</th></tr></thead><tbody>
<% it.r.problems.forEach(function (p) { %><tr><td><%= p.line %></td><td><%= p.problem %></td></tr><% }) %>
</tbody></table>
<% if (it.r.skipped > it.r.problems.length) { %><p>(the first <%= it.r.problems.length %> are listed)</p><% } %>
<% } %>
<p><a href="/suppressions">Back to the suppression list</a></p>`;

const queue = `<% layout('@layout') %>
<h1>Queue</h1>
<% if (!it.domain) { %>
<p>Mail waiting for delivery, by destination.</p>
<table>
  <thead><tr><th>Destination</th><th>Queued</th><th>Deferred</th><th>Being sent</th><th>Oldest</th><th>Next attempt</th><th>Last reply</th><th></th></tr></thead>
  <tbody>
  <% it.rows.forEach(function (d) { %>
  <tr>
    <td><a href="/queue?domain=<%= encodeURIComponent(d.domain) %>"><%= d.domain %></a></td><td><%= d.queued %></td><td><%= d.deferred %></td><td><%= d.inFlight %></td>
    <td><time><%= it.fmt(d.oldestCreatedAt) %></time></td><td><%= d.nextAttemptAt ? it.fmt(d.nextAttemptAt) : '' %></td>
    <td><% if (d.lastReply) { %><code><%= d.lastReply %></code><% } %></td>
    <td class="actions">
      <form method="post" action="/queue/retry"><input type="hidden" name="_csrf" value="<%= it.csrf %>"><input type="hidden" name="domain" value="<%= d.domain %>"><button type="submit">Retry now</button></form>
      <% if (it.isAdmin) { %><form method="post" action="/queue/purge" data-confirm="Purge every waiting message to <%= d.domain %>? The senders are told it was not delivered. This cannot be undone."><input type="hidden" name="_csrf" value="<%= it.csrf %>"><input type="hidden" name="domain" value="<%= d.domain %>"><button type="submit" class="danger" aria-label="Purge <%= d.domain %>">Purge</button></form><% } %>
    </td>
  </tr>
  <% }) %>
  <% if (!it.rows.length) { %><tr><td colspan="8">Nothing is waiting: the queue is empty.</td></tr><% } %>
  </tbody>
</table>
<% if (it.more) { %><p>(<%= it.more %> more destinations with fewer waiting)</p><% } %>
<% } else { %>
<p><a href="/queue">All destinations</a></p>
<h2>Waiting for <%= it.domain %></h2>
<table>
  <thead><tr><th>Recipient</th><th>Status</th><th>Accepted</th><th>Attempts</th><th>Next attempt</th><th>Last reply</th><th></th></tr></thead>
  <tbody>
  <% it.pending.forEach(function (h) { %>
  <tr>
    <td><a href="/search?q=<%= encodeURIComponent(h.address) %>"><%= h.address %></a></td><td><%= h.status %></td><td><time><%= it.fmt(h.acceptedAt) %></time></td><td><%= h.attempts %></td>
    <td><%= h.nextAttemptAt ? it.fmt(h.nextAttemptAt) : '' %></td><td><% if (h.lastReply) { %><code><%= h.lastReply %></code><% } %></td>
    <td class="actions">
      <form method="post" action="/queue/retry"><input type="hidden" name="_csrf" value="<%= it.csrf %>"><input type="hidden" name="message" value="<%= h.messageId %>"><input type="hidden" name="back" value="<%= it.back %>"><button type="submit">Retry now</button></form>
      <% if (it.isAdmin) { %><form method="post" action="/queue/purge" data-confirm="Purge this message? Its sender is told it was not delivered."><input type="hidden" name="_csrf" value="<%= it.csrf %>"><input type="hidden" name="message" value="<%= h.messageId %>"><input type="hidden" name="back" value="<%= it.back %>"><button type="submit" class="danger">Purge</button></form><% } %>
    </td>
  </tr>
  <% }) %>
  <% if (!it.pending.length) { %><tr><td colspan="7">Nothing waiting for <%= it.domain %>.</td></tr><% } %>
  </tbody>
</table>
<% } %>`;

const dashboard = `<% layout('@layout') %>
<%~ it.patternDefs %>
<h1>Dashboard<% if (it.domain !== '*') { %>: <%= it.domain %><% } %></h1>
<form method="get" action="/" class="inline">
  <label>Destination domain (empty: all) <input name="domain" value="<%= it.domain === '*' ? '' : it.domain %>"></label> <button type="submit">Show</button>
</form>
<h2>Last 24 hours, per hour</h2>
<div class="charts"><% it.hourCharts.forEach(function (c) { %><%~ c %><% }) %></div>
<h2>Last 30 days, per day</h2>
<div class="charts"><% it.dayCharts.forEach(function (c) { %><%~ c %><% }) %></div>
<div class="columns">
<section>
<h2>Destinations, last 24 hours</h2>
<table><thead><tr><th>Domain</th><th>Delivered</th><th>Deferred</th><th>Bounced</th><th>Dropped</th><th>Expired</th><th>Spam</th></tr></thead><tbody>
<% it.domains.forEach(function (d) { %><tr><td><a href="/?domain=<%= encodeURIComponent(d.domain) %>"><%= d.domain %></a></td><td><%= d.delivered %></td><td><%= d.deferred %></td><td><%= d.bounced %></td><td><%= d.dropped %></td><td><%= d.expired %></td><td><%= d.complained %></td></tr><% }) %>
<% if (!it.domains.length) { %><tr><td colspan="7">No mail in the last 24 hours.</td></tr><% } %>
</tbody></table>
</section>
<section>
<h2>Top bounce categories, last 24 hours</h2>
<table><thead><tr><th>Category</th><th>What it means</th><th>Recipients</th></tr></thead><tbody>
<% it.categories.forEach(function (c) { %><tr><td><%= c.category %></td><td><%= c.what %></td><td><%= c.n %></td></tr><% }) %>
<% if (!it.categories.length) { %><tr><td colspan="3">None.</td></tr><% } %>
</tbody></table>
<h2>Destinations slowed down or held back</h2>
<p><%= it.heldBack %> destination budget<%= it.heldBack === 1 ? ' is' : 's are' %> at its rate limit right now.</p>
<table><thead><tr><th>Budget</th><th>Now per minute</th><th>Back to</th><th>Since</th><th>Why</th></tr></thead><tbody>
<% it.slowed.forEach(function (s) { %><tr><td><%= s.bucket %></td><td><%= s.perMinute %></td><td><%= s.restoreTo ?? '' %></td><td><%= s.since ? it.fmt(s.since) : '' %></td><td><%= s.reason || '' %></td></tr><% }) %>
<% if (!it.slowed.length) { %><tr><td colspan="5">No destination is slowed down.</td></tr><% } %>
</tbody></table>
</section>
</div>`;

const limits = `<% layout('@layout') %>
<h1>Limits</h1>
<p>Per destination: a recipient domain, an MX host suffix (mx:google.com) or default. Empty fields inherit from default, then from the built-in values.</p>
<table>
  <thead><tr><th>Target</th><th>Per minute</th><th>Per hour</th><th>Per day</th><th>Connections</th><th>Per connection</th><th>Changed</th><% if (it.isAdmin) { %><th></th><% } %></tr></thead>
  <tbody>
  <% it.rules.forEach(function (r) { %>
  <tr>
    <% if (it.isAdmin) { %>
    <td><%= r.target %></td>
    <% ['perMinute','perHour','perDay','connections','perConnection'].forEach(function (k) { %><td><input form="limit-<%= r.target %>" name="<%= k %>" value="<%= r[k] ?? '' %>" size="6" inputmode="numeric" aria-label="<%= k %> for <%= r.target %>"></td><% }) %>
    <td><time><%= it.fmt(r.updatedAt) %></time></td>
    <td class="actions"><form id="limit-<%= r.target %>" method="post" action="/limits"><input type="hidden" name="_csrf" value="<%= it.csrf %>"><input type="hidden" name="target" value="<%= r.target %>"><button type="submit">Save</button></form>
      <form method="post" action="/limits/remove" data-confirm="Remove the limit for <%= r.target %>?"><input type="hidden" name="_csrf" value="<%= it.csrf %>"><input type="hidden" name="target" value="<%= r.target %>"><button type="submit" class="danger">Remove</button></form></td>
    <% } else { %>
    <td><%= r.target %></td><td><%= r.perMinute ?? '' %></td><td><%= r.perHour ?? '' %></td><td><%= r.perDay ?? '' %></td><td><%= r.connections ?? '' %></td><td><%= r.perConnection ?? '' %></td><td><time><%= it.fmt(r.updatedAt) %></time></td>
    <% } %>
  </tr>
  <% }) %>
  <% if (!it.rules.length) { %><tr><td colspan="8">No limits set: built-in values apply.</td></tr><% } %>
  </tbody>
</table>
<% if (it.isAdmin) { %>
<h2>Add or change a limit</h2>
<form method="post" action="/limits">
  <input type="hidden" name="_csrf" value="<%= it.csrf %>">
  <label>Target <input name="target" required placeholder="gmail.com"></label>
  <label>Per minute <input name="perMinute" size="6" inputmode="numeric"></label>
  <label>Per hour <input name="perHour" size="6" inputmode="numeric"></label>
  <label>Per day <input name="perDay" size="6" inputmode="numeric"></label>
  <label>Connections <input name="connections" size="6" inputmode="numeric"></label>
  <label>Per connection <input name="perConnection" size="6" inputmode="numeric"></label>
  <button type="submit">Save</button>
</form>
<% } %>
<h2>Slowed down now</h2>
<table><thead><tr><th>Budget</th><th>Now per minute</th><th>Until</th><th>Why</th></tr></thead><tbody>
<% it.slowed.forEach(function (s) { %><tr><td><%= s.bucket %></td><td><%= s.perMinute %></td><td><%= s.until ? it.fmt(s.until) : '' %></td><td><%= s.reason || '' %></td></tr><% }) %>
<% if (!it.slowed.length) { %><tr><td colspan="4">None.</td></tr><% } %>
</tbody></table>`;

const error = `<% layout('@layout') %>
<h1><%= it.heading %></h1>
<p class="error" role="alert"><%= it.message %></p>
<p><a href="/">Back to the dashboard</a></p>`;

export const CONSOLE_CSS = `body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#111;background:#fafafa}
header{display:flex;gap:1.5em;align-items:center;padding:.6em 1em;background:#123;color:#fff;flex-wrap:wrap}
header a{color:#fff;margin-right:1em}header a[aria-current]{font-weight:bold;text-decoration:underline}
header .logout{margin-left:auto}main{padding:1em 1.5em;max-width:1300px}
table{border-collapse:collapse;margin:.5em 0 1.5em;background:#fff}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
code{background:#eee;padding:0 .2em;word-break:break-word}.flash{background:#e7f5e7;border:1px solid #6a6;padding:.5em}
.error{background:#fde;border:1px solid #c66;padding:.5em}.message{background:#fff;border:1px solid #bbb;border-left-width:8px;padding:.2em 1em;margin:.8em 0}
.badge{display:inline-block;border:2px solid #000;padding:0 .4em;font-weight:bold;background:#fff}
.status-delivered{border-left-color:#2b6}.status-spam{border-left-color:#a0a;border-left-style:double}.status-bounced{border-left-color:#c00;border-left-style:dashed}
.status-dropped{border-left-color:#555;border-left-style:dotted}.status-deferred,.status-queued{border-left-color:#e90}.status-expired{border-left-color:#800}
.suppressed{background:#fff8e0;border:2px solid #c90;padding:.3em 1em}.danger{background:#fee;border:1px solid #c33}
form.inline,td.actions form{display:inline}label{margin-right:1em}dl{display:grid;grid-template-columns:max-content auto;gap:0 1em}dt{font-weight:bold}dd{margin:0}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{background:#fff;border:1px solid #ccc}.columns{display:flex;gap:2em;flex-wrap:wrap}`;

/** Confirmation before destructive forms, and upload progress for the CSV import (the page works without it). */
export const CONSOLE_JS = `document.addEventListener('submit', function (ev) {
  var f = ev.target;
  if (f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) { ev.preventDefault(); return; }
  if (f.id === 'import-form' && window.XMLHttpRequest && window.FormData) {
    ev.preventDefault();
    var bar = document.getElementById('import-progress'), status = document.getElementById('import-status');
    var xhr = new XMLHttpRequest();
    bar.hidden = false;
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) { bar.value = Math.round(e.loaded * 100 / e.total); status.textContent = 'uploading ' + bar.value + '%'; } };
    xhr.upload.onload = function () { status.textContent = 'uploaded; importing…'; };
    xhr.onload = function () { document.open(); document.write(xhr.responseText); document.close(); };
    xhr.onerror = function () { status.textContent = 'upload failed'; };
    xhr.open('POST', f.action);
    xhr.send(new FormData(f));
  }
});`;

export function createViews(): Eta {
  const eta = new Eta({ autoEscape: true, autoTrim: false, cache: true, useWith: false });
  const templates: Record<string, string> = { layout, login, statusCard, suppressionBox, search, suppressions, importResult, queue, dashboard, limits, error };
  for (const [name, text] of Object.entries(templates)) eta.loadTemplate(`@${name}`, text);
  return eta;
}
