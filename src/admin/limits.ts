import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import type { LimitFields, LimitRow, LimitStateRow } from '../core/store-types.js';
import { DEFAULT_TARGET, LimitTable, parseTarget, type EffectiveLimits } from '../throttle/limits.js';
import { WindowSet } from '../throttle/window.js';
import type { CliContext } from './context.js';
import { isoTime, json, parsePositiveInt, table } from './format.js';

const FIELDS: { key: keyof LimitFields; option: string; flag: string; help: string }[] = [
  { key: 'perMinute', option: 'perMinute', flag: '--per-minute <n>', help: 'messages per minute' },
  { key: 'perHour', option: 'perHour', flag: '--per-hour <n>', help: 'messages per hour' },
  { key: 'perDay', option: 'perDay', flag: '--per-day <n>', help: 'messages per day' },
  { key: 'connections', option: 'connections', flag: '--connections <n>', help: 'connections open at once' },
  { key: 'perConnection', option: 'perConnection', flag: '--per-connection <n>', help: 'messages per connection' },
];

/** `ferry limits`: per-destination rate limits, read by a running relay within seconds. */
export function registerLimitsCommands(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('limits')
    .description('per-destination limits: a recipient domain, an MX host suffix (mx:google.com) or default');
  const repo = async () => (await ctx.store()).limits;
  const builtIn = () => ({ connections: ctx.config().limits.defaultConnections, perConnection: ctx.config().delivery.messagesPerConnection });

  cmd
    .command('list')
    .description('configured and effective limits, current usage and slow-downs')
    .option('--json', 'machine-readable output')
    .option('--limit <n>', 'at most this many budgets in the usage table', '50')
    .action(async (opts: { json?: boolean; limit: string }) => {
      const max = parsePositiveInt(opts.limit, '--limit');
      const r = await repo();
      const rules = await r.list();
      const limits = new LimitTable(rules, builtIn());
      const now = ctx.clock.now();
      const budgets = (await r.states()).map((s) => budgetView(s, limits, now));
      // Busiest first; a slowed budget always shows.
      budgets.sort((a, b) => Number(Boolean(b.slowDown)) - Number(Boolean(a.slowDown)) || b.used.day - a.used.day || a.bucket.localeCompare(b.bucket));
      const out = ctx.io.stdout;
      if (opts.json) {
        out.write(json({ limits: rules.map((row) => limitView(row, limits)), builtIn: builtIn(), budgets }));
        return;
      }
      if (rules.length === 0) out.write('no limits configured (set one with "ferry limits set TARGET --per-minute N")\n');
      else {
        out.write(
          table(
            ['target', 'per minute', 'per hour', 'per day', 'connections', 'per connection'],
            rules.map((row) => {
              const e = limits.forTarget(row.target);
              return [
                row.target,
                cell(row.perMinute, e.rates.minute),
                cell(row.perHour, e.rates.hour),
                cell(row.perDay, e.rates.day),
                cell(row.connections, e.connections),
                cell(row.perConnection, e.perConnection),
              ];
            }),
            ctx.io.columns,
          ),
        );
        out.write('(values in brackets are inherited from default or built in; - is no limit)\n');
      }
      if (budgets.length === 0) {
        out.write('no usage recorded yet\n');
        return;
      }
      const shown = budgets.slice(0, max);
      out.write('\nusage (as saved by the relay every few seconds)\n');
      out.write(
        table(
          ['budget', 'limit', 'effective per minute', 'last minute', 'last hour', 'last day', 'connections', 'slow-down'],
          shown.map((b) => [
            b.bucket,
            b.target,
            b.effectivePerMinute === null ? '-' : b.slowDown ? `${b.effectivePerMinute} (configured ${b.configured.perMinute ?? '-'})` : String(b.effectivePerMinute),
            `${b.used.minute}${of(b.configured.perMinute)}`,
            `${b.used.hour}${of(b.configured.perHour)}`,
            `${b.used.day}${of(b.configured.perDay)}`,
            `${b.connections}/${b.configured.connections}`,
            b.slowDown
              ? `${b.slowDown.perMinute}/min until ${isoTime(b.slowDown.until)}, then doubling to ${b.slowDown.restoreTo}/min; since ${isoTime(b.slowDown.since)}: ${truncate(b.slowDown.reason, 60)}`
              : '',
          ]),
          ctx.io.columns,
        ),
      );
      if (budgets.length > shown.length) out.write(`(${budgets.length - shown.length} more; --limit N or --json)\n`);
    });

  const set = cmd
    .command('set <target>')
    .description('create or change a limit; fields not given keep their value, "none" clears one');
  for (const f of FIELDS) set.option(f.flag, `${f.help} (a positive number, or none)`);
  set.action(async (raw: string, opts: Record<string, string | undefined>) => {
    const target = parseTarget(raw);
    const r = await repo();
    const existing = await r.get(target);
    const fields: LimitFields = {
      perMinute: existing?.perMinute ?? null,
      perHour: existing?.perHour ?? null,
      perDay: existing?.perDay ?? null,
      connections: existing?.connections ?? null,
      perConnection: existing?.perConnection ?? null,
    };
    let given = 0;
    for (const f of FIELDS) {
      const v = opts[f.option];
      if (v === undefined) continue;
      given++;
      fields[f.key] = v.trim().toLowerCase() === 'none' ? null : parsePositiveInt(v, `--${f.flag.split(' ')[0]!.slice(2)}`);
    }
    if (given === 0) throw new FerryError('FERRY_ERR_USAGE', 'limits set: give at least one of --per-minute, --per-hour, --per-day, --connections, --per-connection');
    await r.set(target, fields, ctx.clock.now());
    const e = new LimitTable(await r.list(), builtIn()).forTarget(target);
    ctx.io.stdout.write(`${existing ? 'changed' : 'added'} limit ${target}: ${describe(e)}\n(a running relay applies it within a few seconds)\n`);
  });

  cmd
    .command('remove <target>')
    .description('remove a limit (its destinations fall back to an MX rule or default)')
    .action(async (raw: string) => {
      const target = parseTarget(raw);
      if (!(await (await repo()).remove(target))) throw new FerryError('FERRY_ERR_NOT_FOUND', `no limit for ${target} (see "ferry limits list")`);
      ctx.io.stdout.write(`removed limit ${target}\n`);
    });
}

function cell(own: number | null, effective: number | null): string {
  if (own !== null) return String(own);
  return effective === null ? '-' : `(${effective})`;
}

function of(limit: number | null): string {
  return limit === null ? '' : `/${limit}`;
}

function describe(e: EffectiveLimits): string {
  const r = (n: number | null, unit: string) => (n === null ? `no limit per ${unit}` : `${n} per ${unit}`);
  return `${r(e.rates.minute, 'minute')}, ${r(e.rates.hour, 'hour')}, ${r(e.rates.day, 'day')}, ${e.connections} connections, ${e.perConnection} messages per connection`;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

function limitView(row: LimitRow, limits: LimitTable) {
  const e = limits.forTarget(row.target);
  return {
    target: row.target,
    configured: { perMinute: row.perMinute, perHour: row.perHour, perDay: row.perDay, connections: row.connections, perConnection: row.perConnection },
    effective: { perMinute: e.rates.minute, perHour: e.rates.hour, perDay: e.rates.day, connections: e.connections, perConnection: e.perConnection },
    updatedAt: isoTime(row.updatedAt),
  };
}

function budgetView(s: LimitStateRow, limits: LimitTable, now: number) {
  const e = limits.forTarget(s.target === DEFAULT_TARGET || !limits.rules.some((r) => r.target === s.target) ? DEFAULT_TARGET : s.target);
  const slowDown =
    s.slowPerMinute !== null
      ? { perMinute: s.slowPerMinute, restoreTo: s.slowRestoreTo, since: s.slowSince, until: s.slowUntil, nextStepAt: s.slowNextStepAt, reason: s.slowReason ?? '' }
      : null;
  const minute = e.rates.minute;
  return {
    bucket: s.bucket,
    target: s.target,
    configured: { perMinute: minute, perHour: e.rates.hour, perDay: e.rates.day, connections: e.connections, perConnection: e.perConnection },
    effectivePerMinute: slowDown ? Math.min(minute ?? Infinity, slowDown.perMinute) : minute,
    used: WindowSet.parse(s.windows, now).used(now),
    connections: s.connections,
    slowDown,
    savedAt: isoTime(s.updatedAt),
  };
}
