import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { RECIPIENT_STATUSES } from '../core/types.js';
import { MORE_COUNT_CAP, type AttemptRow, type RecipientRow } from '../core/store-types.js';
import type { CliContext } from './context.js';
import { isoTime, json, moreLine, parsePositiveInt, parseSince, table, waitingUntil } from './format.js';

export function registerMessagesCommands(program: Command, ctx: CliContext): void {
  const messages = program.command('messages').description('accepted messages and what became of each recipient');

  messages
    .command('list')
    .description('list messages, newest first')
    .option('--status <status>', `only messages with a recipient in this status (${RECIPIENT_STATUSES.join(', ')})`)
    .option('--since <when>', 'only messages accepted since (1h, 7d, or a date)')
    .option('--recipient <address>', 'only messages to this address')
    .option('--before <id>', 'only messages accepted before this one (the next page: the last id shown)')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'machine-readable output')
    .action(async (opts: { status?: string; since?: string; recipient?: string; before?: string; limit: string; json?: boolean }) => {
      if (opts.status && !(RECIPIENT_STATUSES as readonly string[]).includes(opts.status)) {
        throw new FerryError('FERRY_ERR_USAGE', `--status ${JSON.stringify(opts.status)}: expected one of ${RECIPIENT_STATUSES.join(', ')}`);
      }
      const filter = {
        status: opts.status,
        since: opts.since ? parseSince(opts.since, '--since', ctx.clock.now()) : undefined,
        recipient: opts.recipient,
        limit: parsePositiveInt(opts.limit, '--limit'),
      };
      const store = await ctx.store();
      let before: { createdAt: number; id: string } | undefined;
      if (opts.before !== undefined) {
        const anchor = await store.messages.getSummary(opts.before);
        if (!anchor) throw new FerryError('FERRY_ERR_USAGE', `--before ${JSON.stringify(opts.before)}: no message with that id`);
        before = { createdAt: anchor.createdAt, id: anchor.id };
      }
      const page = await store.messages.list({ ...filter, before });
      const last = page[page.length - 1];
      const more = last && page.length === filter.limit ? await store.messages.count({ ...filter, before: { createdAt: last.createdAt, id: last.id } }, MORE_COUNT_CAP) : 0;
      const note = more > 0 && last ? moreLine(more, last.id, MORE_COUNT_CAP) : '';
      const rows = [];
      for (const m of page) {
        const recipients = await store.recipients.forMessage(m.id);
        // A complaint makes a delivered recipient's state "spam" (its status stays delivered).
        const statusOf = (r: (typeof recipients)[number]) => (r.complainedAt === null ? r.status : 'spam');
        const counts: Record<string, number> = {};
        for (const r of recipients) counts[statusOf(r)] = (counts[statusOf(r)] ?? 0) + 1;
        rows.push({ ...m, recipients: recipients.map((r) => ({ address: r.address, status: statusOf(r) })), counts });
      }
      if (opts.json) {
        ctx.io.stdout.write(json(rows.map((m) => ({
          id: m.id, createdAt: isoTime(m.createdAt), sender: m.sender, user: m.username, size: m.size,
          subject: m.subject, messageIdHeader: m.messageIdHeader, recipients: m.recipients,
        }))));
        if (note) ctx.io.stderr.write(note);
        return;
      }
      if (rows.length === 0) {
        ctx.io.stdout.write('no messages match\n');
        return;
      }
      ctx.io.stdout.write(
        table(
          ['id', 'accepted', 'sender', 'recipients', 'status', 'size'],
          rows.map((m) => [
            m.id,
            isoTime(m.createdAt),
            m.sender || '<>',
            m.recipients.length === 1 ? m.recipients[0]!.address : `${m.recipients.length} recipients`,
            Object.entries(m.counts).map(([s, n]) => (m.recipients.length === 1 ? s : `${s} ${n}`)).join(', '),
            m.size,
          ]),
          ctx.io.columns,
        ),
      );
      ctx.io.stdout.write(note);
    });

  messages
    .command('show <id>')
    .description('one message: its recipients, their statuses and history')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      const store = await ctx.store();
      const m = await store.messages.getSummary(id);
      if (!m) throw new FerryError('FERRY_ERR_NOT_FOUND', `no message with id ${id}`);
      const recipients = await store.recipients.forMessage(id);
      const events = await store.events.forMessage(id);
      const attempts = await store.attempts.forMessage(id);
      const headers = (await store.messages.get(id))?.headers ?? null;
      if (opts.json) {
        ctx.io.stdout.write(json({ message: { ...m, createdAt: isoTime(m.createdAt) }, recipients, attempts, events }));
        return;
      }
      const out = ctx.io.stdout;
      const now = ctx.clock.now();
      out.write(`message ${m.id}\n`);
      out.write(`  accepted   ${isoTime(m.createdAt)} from ${m.clientIp ?? '?'}${m.username ? ` (user ${m.username})` : ''}${m.tls ? ` over ${m.tls}` : ''}\n`);
      out.write(`  sender     ${m.sender || '<>'}\n`);
      if (m.requireTls) out.write('  requiretls yes: only over TLS to an MX validated by MTA-STS or DANE that offers REQUIRETLS, else bounced 5.7.30 (RFC 8689)\n');
      if (m.headerFrom) out.write(`  from       ${m.headerFrom}\n`);
      if (m.subject) out.write(`  subject    ${m.subject}\n`);
      if (m.messageIdHeader) out.write(`  message-id ${m.messageIdHeader}\n`);
      out.write(`  size       ${m.size} bytes${m.spoolFile ? ' (spool file)' : ''}${m.eightBit ? ', 8-bit' : ''}\n`);
      out.write(`  dkim       ${describeDkim(m.signedAt, headers, m.headerFrom ?? m.sender, attempts.length > 0)}\n\n`);
      out.write(
        table(
          ['recipient', 'status', 'attempts', 'next attempt', 'last reply', 'category'],
          recipients.map((r) => [
            r.address,
            r.complainedAt === null ? statusCell(r, now) : `spam (${r.status}, complaint ${isoTime(r.complainedAt)})`,
            r.attempts,
            isoTime(r.nextAttemptAt),
            r.lastReply,
            // A category says why mail did not go (older rows may still carry one from a deferral).
            r.complainedAt !== null ? 'complaint' : r.status === 'delivered' ? '' : r.category,
          ]),
          ctx.io.columns,
        ),
      );
      if (attempts.length > 0) {
        const addressOf = new Map(recipients.map((r) => [r.id, r.address]));
        // Narrow enough for a terminal: the recipient column only when there are several, TLS
        // under the host, the category under the result.
        const several = recipients.length > 1;
        out.write('\nattempts\n');
        out.write(
          table(
            ['time', ...(several ? ['recipient'] : []), 'mx and tls', 'reply or error', 'result', 'hosts tried'],
            attempts.map((a) => [
              isoTime(a.at),
              ...(several ? [addressOf.get(a.recipientId) ?? String(a.recipientId)] : []),
              a.mxHost
                ? `${a.mxHost} [${a.ip ?? '?'}]${a.port ? `:${a.port}` : ''}\n${a.tlsProtocol ? `${a.tlsProtocol}${a.tlsCipher ? ` ${a.tlsCipher}` : ''}` : 'no TLS'}${tlsOutcome(a)}`
                : '',
              replyCell(a),
              a.category ? `${a.result}\n(${a.category})` : a.result,
              describeHops(a),
            ]),
            ctx.io.columns,
          ),
        );
      }
      out.write('\nhistory\n');
      out.write(
        table(
          ['time', 'recipient', 'event', 'detail'],
          events.map((e) => [isoTime(e.at), e.recipient, e.type, e.detail ? describeDetail(e.detail) : '']),
          ctx.io.columns,
        ),
      );
    });
}

/** Whether (and how) the message was DKIM-signed, read from its stored header block. */
function describeDkim(signedAt: number | null, headers: Buffer | null, from: string, attempted: boolean): string {
  if (signedAt !== null && headers) {
    const signatures = unfoldedHeaders(headers)
      .filter((h) => h.toLowerCase().startsWith('dkim-signature:'))
      .map((h) => {
        const tags = new Map(h.slice(h.indexOf(':') + 1).split(';').map((t) => [t.split('=')[0]!.trim(), t.slice(t.indexOf('=') + 1).replace(/\s/g, '')] as const));
        return `d=${tags.get('d') ?? '?'} s=${tags.get('s') ?? '?'}${tags.get('a') ? ` (${tags.get('a')})` : ''}`;
      });
    if (signatures.length) return `signed ${signatures.join(', ')} at ${isoTime(signedAt)}`;
  }
  const domain = from.split('@').pop()?.toLowerCase() ?? '';
  if (!attempted) return 'not signed yet (signing happens before the first delivery attempt)';
  return `not signed (no key for ${domain || 'the From domain'}: ferry dkim keygen ${domain || 'DOMAIN'})`;
}

/** Header lines with their continuation lines joined. */
function unfoldedHeaders(block: Buffer): string[] {
  const out: string[] = [];
  for (const line of block.toString('latin1').split('\r\n')) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && out.length) out[out.length - 1] += line;
    else if (line) out.push(line);
  }
  return out;
}

/** The status, and why a waiting recipient waits: "queued (rate limited until 12:03:00 UTC)". */
function statusCell(r: RecipientRow, now: number): string {
  if (r.status !== 'queued' && r.status !== 'deferred') return r.status;
  if (r.leaseUntil !== null && r.leaseUntil > now) return `${r.status} (in flight)`;
  if (r.waitReason && r.nextAttemptAt !== null && r.nextAttemptAt > now) return `${r.status} (${waitingUntil(r.waitReason, r.nextAttemptAt, now)})`;
  return r.status;
}

/** The attempt's reply (or error), and the recipient's own RCPT reply when that is another one. */
function replyCell(a: AttemptRow): string {
  const main = a.reply ?? (a.error ? `${a.errorKind ? `${a.errorKind}: ` : ''}${a.error}` : '');
  return a.rcptReply && a.rcptReply !== a.reply ? `${main}\n(RCPT: ${a.rcptReply})` : main;
}

function describeDetail(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('; ');
}

/** The attempt's TLS policy and verdict (issue 15): "policy sts-enforce, verified" and the RFC 8460 result when not a success. */
function tlsOutcome(a: AttemptRow): string {
  if (!a.tlsPolicy && (a.tlsVerified === null || a.tlsVerified === undefined)) return '';
  const verified = a.tlsVerified ? 'verified' : 'not verified';
  const result = a.tlsResult && a.tlsResult !== 'success' ? `, ${a.tlsResult}` : '';
  return `\npolicy ${a.tlsPolicy ?? 'none'}, ${verified}${result}`;
}

/** Every host tried to open the attempt's session, one per line: "host [ip]:port result (reply)". */
function describeHops(a: AttemptRow): string {
  if (!a.hops || a.hops.length === 0) return '';
  return a.hops
    .map((h) => {
      const hop = h as {
        host?: string;
        ip?: string | null;
        port?: number;
        result?: string;
        reply?: { text?: string };
        error?: { message?: string };
        tls?: { policy?: string; result?: string; cleartextFallback?: boolean };
      };
      const said = hop.reply?.text ?? hop.error?.message;
      const tls = hop.tls ? ` [tls ${hop.tls.policy ?? 'none'}: ${hop.tls.cleartextFallback ? 'clear-text fallback' : (hop.tls.result ?? '?')}]` : '';
      return `${hop.host ?? '?'} [${hop.ip ?? '-'}]${hop.port ? `:${hop.port}` : ''} ${hop.result ?? ''}${tls}${said ? ` (${said})` : ''}`;
    })
    .join('\n');
}
