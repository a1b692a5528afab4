// The chart of BENCHMARKS.md: per workload, throughput and p99 latency of both systems as
// horizontal bars. Hand-written SVG, no chart library. Each pair of bars is scaled to its larger
// value and labelled with the numbers, because the rows differ by orders of magnitude (renewals
// against a single worker) and one shared axis would flatten most of them to nothing.
import { fmtInt, fmtMs, type Side } from './report.js';

export interface ChartRow {
  label: string;
  values: Partial<Record<Side, { opsPerSec: number; p99Ms: number }>>;
}

const COLORS: Record<Side, string> = { quorumlock: '#2563eb', etcd: '#ea8a0c' };
const SIDES: Side[] = ['quorumlock', 'etcd'];
const ROW = 46;
const TOP = 78;
const BAR = 15;
const LEN = 240;
const PANELS = [
  { metric: 'ops', x: 215, title: 'throughput, ops/s (longer is better)' },
  { metric: 'p99', x: 590, title: 'p99 latency, ms (shorter is better)' },
] as const;

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const text = (x: number, y: number, s: string, extra = '') =>
  `<text x="${x}" y="${y}"${extra}>${escapeXml(s)}</text>`;

export function renderChart(rows: ChartRow[], subtitle: string): string {
  const width = 940;
  const height = TOP + rows.length * ROW + 16;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    text(
      12,
      22,
      'Quorum Lock and etcd, 3 members each on one machine',
      ' font-size="15" font-weight="bold"',
    ),
    text(12, 40, subtitle, ' fill="#555555"'),
  ];
  SIDES.forEach((side, i) => {
    const x = 12 + i * 110;
    out.push(`<rect x="${x}" y="50" width="12" height="12" fill="${COLORS[side]}"/>`);
    out.push(text(x + 17, 60, side));
  });
  for (const p of PANELS) out.push(text(p.x, TOP - 6, p.title, ' font-weight="bold"'));
  rows.forEach((row, r) => {
    const y = TOP + r * ROW;
    if (r % 2 === 0)
      out.push(`<rect x="0" y="${y}" width="${width}" height="${ROW}" fill="#f4f6f8"/>`);
    out.push(text(12, y + ROW / 2 + 4, row.label));
    for (const p of PANELS) {
      const value = (s: Side) => {
        const v = row.values[s];
        return v ? (p.metric === 'ops' ? v.opsPerSec : v.p99Ms) : NaN;
      };
      const top = Math.max(...SIDES.map(value).filter(Number.isFinite), 0);
      SIDES.forEach((side, i) => {
        const v = value(side);
        if (!Number.isFinite(v)) return;
        const by = y + 7 + i * (BAR + 2);
        const len = top > 0 ? Math.max(1, (v / top) * LEN) : 1;
        const label = p.metric === 'ops' ? fmtInt(v) : `${fmtMs(v)} ms`;
        out.push(
          `<rect class="bar" data-system="${side}" data-metric="${p.metric}" data-workload="${escapeXml(row.label)}" data-value="${+v.toFixed(3)}" x="${p.x}" y="${by}" width="${len.toFixed(1)}" height="${BAR}" fill="${COLORS[side]}"/>`,
        );
        out.push(text(+(p.x + len + 5).toFixed(1), by + BAR - 3, label, ' fill="#222222"'));
      });
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
