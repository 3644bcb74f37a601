import type { HourCounts } from '../../core/console-store.js';
import { barChart, type Series } from './charts.js';

/**
 * The dashboard's traffic: the hourly rollup (core/console-store.ts HourCounts) of the last 24
 * hours, per hour, and of the last 30 days, per day ending at the current hour, as one bar chart
 * per series. Hours the rollup has no row for count as zero.
 */

export const HOUR_MS = 3_600_000;

/** `hourly(fromHour, toHour)`: the rollup's rows of hours fromHour <= hour < toHour (hours since the epoch). */
export async function trafficCharts(hourly: (fromHour: number, toHour: number) => Promise<HourCounts[]>, nowHour: number): Promise<{ hourCharts: string[]; dayCharts: string[] }> {
  const hourRows = fill(await hourly(nowHour - 23, nowHour + 1), nowHour - 23, 24);
  const monthRows = fill(await hourly(nowHour - 24 * 30 + 1, nowHour + 1), nowHour - 24 * 30 + 1, 24 * 30);
  const days: HourCounts[] = [];
  for (let d = 0; d < 30; d++) days.push(sum(monthRows.slice(d * 24, d * 24 + 24), monthRows[d * 24]!.hour));
  const hourLabels = hourRows.map((r) => `${new Date(r.hour * HOUR_MS).toISOString().slice(11, 13)}:00`);
  const dayLabels = days.map((r) => new Date(r.hour * HOUR_MS).toISOString().slice(5, 10));
  const charts = (rows: HourCounts[], labels: string[], caption: string) => series(rows).map((s) => barChart(s, { labels, caption }));
  return {
    hourCharts: charts(hourRows, hourLabels, 'last 24 hours, per hour (UTC)'),
    dayCharts: charts(days, dayLabels, 'last 30 days, per day (UTC, days ending at the current hour)'),
  };
}

function fill(rows: HourCounts[], fromHour: number, n: number): HourCounts[] {
  const byHour = new Map(rows.map((r) => [r.hour, r]));
  const out: HourCounts[] = [];
  for (let h = fromHour; h < fromHour + n; h++) out.push(byHour.get(h) ?? { hour: h, delivered: 0, deferred: 0, bounced: 0, dropped: 0, expired: 0, complained: 0 });
  return out;
}

function sum(rows: HourCounts[], hour: number): HourCounts {
  const s: HourCounts = { hour, delivered: 0, deferred: 0, bounced: 0, dropped: 0, expired: 0, complained: 0 };
  for (const r of rows) {
    s.delivered += r.delivered;
    s.deferred += r.deferred;
    s.bounced += r.bounced;
    s.dropped += r.dropped;
    s.expired += r.expired;
    s.complained += r.complained;
  }
  return s;
}

function series(rows: HourCounts[]): Series[] {
  return [
    { name: 'Delivered', pattern: 'solid', values: rows.map((r) => r.delivered) },
    { name: 'Deferred', pattern: 'hatch', values: rows.map((r) => r.deferred) },
    { name: 'Bounced or expired', pattern: 'dots', values: rows.map((r) => r.bounced + r.expired) },
    { name: 'Dropped', pattern: 'cross', values: rows.map((r) => r.dropped) },
    { name: 'Complained (spam)', pattern: 'grid', values: rows.map((r) => r.complained) },
  ];
}
