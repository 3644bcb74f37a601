/**
 * Pure: server-side SVG bar charts. Readable without colour: each series is its own small chart
 * with its name written above it, each bar carries a pattern as well as a shade, the largest value
 * and the time range are written as text, and every bar has a <title> with its exact value.
 */

export interface Series {
  name: string;
  /** a pattern id from PATTERN_DEFS */
  pattern: 'solid' | 'hatch' | 'dots' | 'cross' | 'vertical' | 'grid';
  values: number[];
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The patterns, once per page (referenced by id from each chart). */
export const PATTERN_DEFS = `<svg width="0" height="0" aria-hidden="true" style="position:absolute"><defs>
<pattern id="p-solid" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="4" height="4" fill="#2b6"/></pattern>
<pattern id="p-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fd8"/><line x1="0" y1="0" x2="0" y2="6" stroke="#960" stroke-width="3"/></pattern>
<pattern id="p-dots" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#fbb"/><circle cx="3" cy="3" r="1.8" fill="#a00"/></pattern>
<pattern id="p-cross" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#ccc"/><path d="M0 0L6 6M6 0L0 6" stroke="#333" stroke-width="1.2"/></pattern>
<pattern id="p-vertical" width="5" height="5" patternUnits="userSpaceOnUse"><rect width="5" height="5" fill="#ddf"/><line x1="2" y1="0" x2="2" y2="5" stroke="#33a" stroke-width="2"/></pattern>
<pattern id="p-grid" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#f9c"/><path d="M0 3H6M3 0V6" stroke="#804" stroke-width="1.2"/></pattern>
</defs></svg>`;

export interface ChartOptions {
  /** one label per value (e.g. "14:00", "Nov 3") */
  labels: string[];
  /** written under the chart: "last 24 hours, per hour" */
  caption: string;
  width?: number;
  height?: number;
}

export function barChart(series: Series, o: ChartOptions): string {
  const width = o.width ?? 360;
  const height = o.height ?? 110;
  const top = 22;
  const bottom = 18;
  const left = 4;
  const plotH = height - top - bottom;
  const n = Math.max(1, series.values.length);
  const slot = (width - left * 2) / n;
  const max = Math.max(0, ...series.values);
  const total = series.values.reduce((a, b) => a + b, 0);
  const bars = series.values
    .map((v, i) => {
      const h = max === 0 ? 0 : Math.max(v > 0 ? 1 : 0, Math.round((v / max) * plotH));
      const x = left + i * slot + 1;
      const y = top + plotH - h;
      return `<rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(1, slot - 2).toFixed(1)}" height="${h}" fill="url(#p-${series.pattern})" stroke="#000" stroke-width="${h > 0 ? 0.5 : 0}"><title>${escapeXml(o.labels[i] ?? '')}: ${v} ${escapeXml(series.name.toLowerCase())}</title></rect>`;
    })
    .join('');
  const first = escapeXml(o.labels[0] ?? '');
  const last = escapeXml(o.labels[o.labels.length - 1] ?? '');
  const name = escapeXml(series.name);
  return (
    `<svg class="chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" aria-label="${name}: ${total} in total, at most ${max} (${escapeXml(o.caption)})">` +
    `<text x="${left}" y="14" font-size="12" font-weight="bold">${name}</text>` +
    `<text x="${width - left}" y="14" font-size="11" text-anchor="end">total ${total} · max ${max}</text>` +
    `<line x1="${left}" y1="${top + plotH + 0.5}" x2="${width - left}" y2="${top + plotH + 0.5}" stroke="#000"/>` +
    bars +
    `<text x="${left}" y="${height - 4}" font-size="10">${first}</text>` +
    `<text x="${width - left}" y="${height - 4}" font-size="10" text-anchor="end">${last}</text>` +
    `</svg>`
  );
}
