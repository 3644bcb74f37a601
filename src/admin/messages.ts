import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { RECIPIENT_STATUSES } from '../core/types.js';
import { createAttemptsRepo, type AttemptRow } from '../store/attempts-repo.js';
import { createQueueStore } from '../store/queue-store.js';
import type { CliContext } from './context.js';
import { isoTime, json, parsePositiveInt, parseSince, table } from './format.js';

export function registerMessagesCommands(program: Command, ctx: CliContext): void {
  const messages = program.command('messages').description('accepted messages and what became of each recipient');

  messages
    .command('list')
    .description('list messages, newest first')
    .option('--status <status>', `only messages with a recipient in this status (${RECIPIENT_STATUSES.join(', ')})`)
    .option('--since <when>', 'only messages accepted since (1h, 7d, or a date)')
    .option('--recipient <address>', 'only messages to this address')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'machine-readable output')
    .action((opts: { status?: string; since?: string; recipient?: string; limit: string; json?: boolean }) => {
      if (opts.status && !(RECIPIENT_STATUSES as readonly string[]).includes(opts.status)) {
        throw new FerryError('FERRY_ERR_USAGE', `--status ${JSON.stringify(opts.status)}: expected one of ${RECIPIENT_STATUSES.join(', ')}`);
      }
      const filter = {
        status: opts.status,
        since: opts.since ? parseSince(opts.since, '--since', ctx.clock.now()) : undefined,
        recipient: opts.recipient,
        limit: parsePositiveInt(opts.limit, '--limit'),
      };
      const store = createQueueStore(ctx.db());
      const rows = store.messages.list(filter).map((m) => {
        const recipients = store.recipients.forMessage(m.id);
        // A complaint makes a delivered recipient's state "spam" (its status stays delivered).
        const statusOf = (r: (typeof recipients)[number]) => (r.complainedAt === null ? r.status : 'spam');
        const counts: Record<string, number> = {};
        for (const r of recipients) counts[statusOf(r)] = (counts[statusOf(r)] ?? 0) + 1;
        return { ...m, recipients: recipients.map((r) => ({ address: r.address, status: statusOf(r) })), counts };
      });
      if (opts.json) {
        ctx.io.stdout.write(json(rows.map((m) => ({
          id: m.id, createdAt: isoTime(m.createdAt), sender: m.sender, user: m.username, size: m.size,
          subject: m.subject, messageIdHeader: m.messageIdHeader, recipients: m.recipients,
        }))));
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
        ),
      );
    });

  messages
    .command('show <id>')
    .description('one message: its recipients, their statuses and history')
    .option('--json', 'machine-readable output')
    .action((id: string, opts: { json?: boolean }) => {
      const store = createQueueStore(ctx.db());
      const m = store.messages.getSummary(id);
      if (!m) throw new FerryError('FERRY_ERR_NOT_FOUND', `no message with id ${id}`);
      const recipients = store.recipients.forMessage(id);
      const events = store.events.forMessage(id);
      const attempts = createAttemptsRepo(ctx.db()).forMessage(id);
      if (opts.json) {
        ctx.io.stdout.write(json({ message: { ...m, createdAt: isoTime(m.createdAt) }, recipients, attempts, events }));
        return;
      }
      const out = ctx.io.stdout;
      out.write(`message ${m.id}\n`);
      out.write(`  accepted   ${isoTime(m.createdAt)} from ${m.clientIp ?? '?'}${m.username ? ` (user ${m.username})` : ''}${m.tls ? ` over ${m.tls}` : ''}\n`);
      out.write(`  sender     ${m.sender || '<>'}\n`);
      if (m.headerFrom) out.write(`  from       ${m.headerFrom}\n`);
      if (m.subject) out.write(`  subject    ${m.subject}\n`);
      if (m.messageIdHeader) out.write(`  message-id ${m.messageIdHeader}\n`);
      out.write(`  size       ${m.size} bytes${m.spoolFile ? ' (spool file)' : ''}${m.eightBit ? ', 8-bit' : ''}\n\n`);
      out.write(
        table(
          ['recipient', 'status', 'attempts', 'next attempt', 'last reply', 'category'],
          recipients.map((r) => [r.address, r.complainedAt === null ? r.status : `spam (${r.status}, complaint ${isoTime(r.complainedAt)})`, r.attempts, isoTime(r.nextAttemptAt), r.lastReply, r.complainedAt === null ? r.category : 'complaint']),
        ),
      );
      if (attempts.length > 0) {
        const addressOf = new Map(recipients.map((r) => [r.id, r.address]));
        out.write('\nattempts\n');
        out.write(
          table(
            ['time', 'recipient', 'mx', 'tls', 'reply or error', 'result', 'category', 'hosts tried'],
            attempts.map((a) => [
              isoTime(a.at),
              addressOf.get(a.recipientId) ?? String(a.recipientId),
              a.mxHost ? `${a.mxHost} [${a.ip ?? '?'}]${a.port ? `:${a.port}` : ''}` : '',
              a.tlsProtocol ? `${a.tlsProtocol}${a.tlsCipher ? ` ${a.tlsCipher}` : ''}` : a.mxHost ? 'none' : '',
              replyCell(a),
              a.result,
              a.category,
              describeHops(a),
            ]),
          ),
        );
      }
      out.write('\nhistory\n');
      out.write(
        table(
          ['time', 'recipient', 'event', 'detail'],
          events.map((e) => [isoTime(e.at), e.recipient, e.type, e.detail ? describeDetail(e.detail) : '']),
        ),
      );
    });
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

/** Every host tried to open the attempt's session, one per line: "host [ip]:port result (reply)". */
function describeHops(a: AttemptRow): string {
  if (!a.hops || a.hops.length === 0) return '';
  return a.hops
    .map((h) => {
      const hop = h as { host?: string; ip?: string | null; port?: number; result?: string; reply?: { text?: string }; error?: { message?: string } };
      const said = hop.reply?.text ?? hop.error?.message;
      return `${hop.host ?? '?'} [${hop.ip ?? '-'}]${hop.port ? `:${hop.port}` : ''} ${hop.result ?? ''}${said ? ` (${said})` : ''}`;
    })
    .join('\n');
}
