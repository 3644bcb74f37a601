import type { Command } from 'commander';
import type { CliContext } from './context.js';
import { isoTime, json, parsePositiveInt, parseSince, table } from './format.js';

/**
 * `ferry stats [--since 24h] [--json]`: how mail has fared. Recipients of the messages accepted
 * in the window by their status now, the delivery rate, the commonest bounce categories, the
 * destinations that defer and bounce most, the oldest mail still waiting, the suppression list.
 */
export function registerStatsCommand(program: Command, ctx: CliContext): void {
  program
    .command('stats')
    .description('delivery statistics: statuses, delivery rate, bounce categories, problem destinations, queue, suppressions')
    .option('--since <when>', 'the window: a duration back from now (1h, 24h, 7d) or a date', '24h')
    .option('--top <n>', 'rows in the category and destination tables', '10')
    .option('--json', 'machine-readable output')
    .action(async (opts: { since: string; top: string; json?: boolean }) => {
      const now = ctx.clock.now();
      const since = parseSince(opts.since, '--since', now);
      const top = Math.min(100, parsePositiveInt(opts.top, '--top'));
      const repo = (await ctx.store()).stats;
      const { messages, byStatus } = await repo.recipientsSince(since);
      const oldest = await repo.oldestQueued();
      const delivered = byStatus.delivered ?? 0;
      const spam = byStatus.spam ?? 0;
      const finished = delivered + spam + (byStatus.bounced ?? 0) + (byStatus.expired ?? 0);
      const report = {
        since: isoTime(since),
        until: isoTime(now),
        messages,
        recipients: {
          queued: byStatus.queued ?? 0,
          deferred: byStatus.deferred ?? 0,
          delivered,
          bounced: byStatus.bounced ?? 0,
          expired: byStatus.expired ?? 0,
          dropped: byStatus.dropped ?? 0,
          /** delivered, then reported as spam by the recipient's provider (not counted in delivered) */
          spam,
        },
        /** delivered (spam included: it was delivered) / (delivered + spam + bounced + expired); null: nothing finished yet */
        deliveryRate: finished > 0 ? (delivered + spam) / finished : null,
        attempts: await repo.attemptsSince(since),
        topBounceCategories: await repo.topCategories(since, top),
        problemDestinations: await repo.failingDestinations(since, top),
        queue: await repo.queueDepth(),
        oldestQueued: oldest ? { ...oldest, createdAt: isoTime(oldest.createdAt), ageSeconds: Math.round((now - oldest.createdAt) / 1000) } : null,
        suppressions: await repo.suppressions(since),
      };
      if (opts.json) {
        ctx.io.stdout.write(json(report));
        return;
      }
      const out = ctx.io.stdout;
      out.write(`Since ${report.since} (${opts.since}): ${messages} message${messages === 1 ? '' : 's'} accepted\n\n`);
      out.write('Recipients of those messages, by status now\n');
      out.write(table(['status', 'recipients'], Object.entries(report.recipients).map(([s, n]) => [s, n]), ctx.io.columns));
      out.write(
        `delivery rate: ${report.deliveryRate === null ? 'n/a (nothing finished yet)' : `${(report.deliveryRate * 100).toFixed(1)}%`}` +
          ` (delivered incl. spam / delivered + spam + bounced + expired)\n`,
      );
      const a = report.attempts;
      out.write(`attempts in the window: ${['delivered', 'deferred', 'bounced', 'expired'].map((k) => `${k} ${a[k] ?? 0}`).join(', ')}\n\n`);
      out.write('Top bounce categories (bounced, expired, dropped)\n');
      out.write(report.topBounceCategories.length ? table(['category', 'recipients'], report.topBounceCategories.map((c) => [c.category, c.count]), ctx.io.columns) : '  none\n');
      out.write('\nDestinations with the most deferrals and bounces\n');
      out.write(
        report.problemDestinations.length
          ? table(['destination', 'deferred', 'bounced'], report.problemDestinations.map((d) => [d.domain, d.deferred, d.bounced]), ctx.io.columns)
          : '  none\n',
      );
      out.write(`\nQueue now: ${report.queue.queued} queued, ${report.queue.deferred} deferred\n`);
      const o = report.oldestQueued;
      if (o) {
        out.write(
          `oldest waiting: ${o.messageId} to ${o.recipient} (${o.status}), accepted ${o.createdAt}, ${formatAge(o.ageSeconds)} ago, ` +
            `${o.attempts} attempt${o.attempts === 1 ? '' : 's'}${o.lastReply ? `; last reply: ${o.lastReply}` : ''}\n`,
        );
      }
      const s = report.suppressions;
      out.write(s ? `Suppression list: ${s.total} entr${s.total === 1 ? 'y' : 'ies'} (+${s.added} since ${report.since})\n` : 'Suppression list: not set up in this database\n');
    });
}

/** 3725 → "1h 2m"; 90000 → "1d 1h". */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}
