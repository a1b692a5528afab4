// The benchmark's pure helpers: percentiles, the Markdown tables, the SVG chart, the progress
// line and the CPU profile summary. Fast, no processes.
import { byCategory, byFile, type CpuProfile, selfTime, shortUrl } from './cpu-profile.js';
import { fmtClock, progressLine, renderBar } from './progress.js';
import {
  type BenchResults,
  END,
  fmtMs,
  markdownTable,
  renderSection,
  replaceSection,
  START,
} from './report.js';
import { LatencyRecorder, median, percentile, ratio, summarize } from './stats.js';
import { escapeXml, renderChart } from './svg-chart.js';
import { chartRows } from './write-results.js';

/**
 * A strict little XML well-formedness check (no DTDs, no CDATA): every tag closes in order,
 * attributes are quoted and unique, entities are known. Returns the elements with attributes.
 */
function parseXml(xml: string): { name: string; attrs: Record<string, string> }[] {
  const elements: { name: string; attrs: Record<string, string> }[] = [];
  const open: string[] = [];
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, '');
  const token = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  for (let m = token.exec(body); m !== null; m = token.exec(body)) {
    // When the tag alternative matched, name and attrText did too (attrText possibly empty).
    const [, closing, name = '', attrText = '', selfClosing, text, stray] = m;
    if (stray) throw new Error(`stray < at ${m.index}`);
    if (text !== undefined) {
      if (open.length === 0 && text.trim()) throw new Error('text outside the root element');
      for (const e of text.match(/&[^;\s]*;?/g) ?? [])
        if (!/^&(#\d+|#x[0-9a-f]+|lt|gt|amp|quot|apos);$/i.test(e)) throw new Error(`bad ${e}`);
      continue;
    }
    if (closing) {
      if (open.pop() !== name) throw new Error(`</${name}> closes the wrong element`);
      continue;
    }
    if (open.length === 0 && elements.length > 0) throw new Error('a second root element');
    const attrs: Record<string, string> = {};
    for (const [, key = '', value = ''] of attrText.matchAll(/([\w:.-]+)="([^"]*)"/g)) {
      if (key in attrs) throw new Error(`attribute ${key} twice`);
      attrs[key] = value;
    }
    elements.push({ name, attrs });
    if (!selfClosing) open.push(name);
  }
  if (open.length) throw new Error(`unclosed <${open.join('>, <')}>`);
  return elements;
}

const lat = (p50: number, p99: number) => ({ count: 10, p50, p90: p50, p99, max: p99 * 2 });

function sample(): BenchResults {
  return {
    info: {
      date: '2026-01-02',
      cpu: 'Test CPU',
      cores: 2,
      memGiB: 8,
      node: 'v20.0.0',
      etcd: '3.4.23',
      seconds: 5,
      warmup: 1,
      rounds: 2,
    },
    throughput: [
      {
        key: 'uncontended-16',
        label: 'uncontended, 16 workers',
        op: 'acquire+release',
        quorumlock: {
          opsPerSec: 3000,
          latency: lat(2, 8),
          errors: 0,
          serverCpuUsPerOp: 900,
          clientCpuUsPerOp: 1234.4,
          fsyncsPerOp: 0.125,
          proposalsPerOp: 2,
          snapshots: 1,
        },
        etcd: { opsPerSec: 1500, latency: lat(4, 16), errors: 3 },
        etcdV3lock: { opsPerSec: 2000, latency: lat(3, 12), errors: 0 },
      },
      {
        key: 'renewals',
        label: 'renewals <of> "10,000" & more',
        op: 'renewal',
        quorumlock: { opsPerSec: 20000, latency: lat(1, 3), errors: 0 },
        etcd: { opsPerSec: 40000, latency: lat(0.5, 1.5), errors: 0 },
      },
    ],
    failover: { quorumlock: [300, 500, 400], etcd: [1500, NaN, 2500] },
    recovery: { leases: 100_000, quorumlock: 2000, etcd: 500 },
    leases: {
      quorumlock: [
        {
          target: 1_000_000,
          reached: 400_000,
          seconds: 120,
          rssMiB: [900, 800, 800],
          idleCpuPct: [30, 2, 2],
        },
      ],
      etcd: [{ target: 1_000_000, reached: 1_000_000, seconds: 90, rssMiB: [500, 400, 400] }],
    },
  };
}

describe('stats', () => {
  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarizes unsorted samples', () => {
    const s = summarize([5, 1, 4, 2, 3]);
    expect(s).toEqual({ count: 5, p50: 3, p90: 5, p99: 5, max: 5 });
  });

  it('bounds a recorder’s memory but keeps the exact maximum and a uniform sample', () => {
    const r = new LatencyRecorder(1000);
    for (let i = 1; i <= 10_000; i++) r.add(i);
    const s = r.summary();
    expect(r.total).toBe(10_000);
    expect(s.max).toBe(10_000);
    expect(s.count).toBeLessThanOrEqual(1000);
    expect(Math.abs(s.p50 - 5000)).toBeLessThan(200);
    const other = new LatencyRecorder();
    other.add(20_000);
    r.merge(other);
    expect(r.summary().max).toBe(20_000);
    expect(r.total).toBe(10_001);
  });

  it('divides ours by theirs, NaN without a divisor', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeNaN();
    expect(ratio(NaN, 2)).toBeNaN();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});

describe('report', () => {
  it('formats a Markdown table with aligned columns and escaped pipes', () => {
    const t = markdownTable(['a', 'b'], [['x|y', '1']], [false, true]);
    expect(t.split('\n')).toEqual(['| a | b |', '|:---|---:|', '| x\\|y | 1 |']);
  });

  it('renders every row, ratio and measurement of a run', () => {
    const s = renderSection(sample(), 'docs/bench-chart.svg');
    expect(s.startsWith(START)).toBe(true);
    expect(s.endsWith(END)).toBe(true);
    expect(s).toContain(
      // Ratios against the better of etcd's two paths: v3lock's throughput and p99 here.
      '| uncontended, 16 workers | quorumlock | 3,000 | 2.00 | 2.00 | 8.00 | 16.0 | 0 | 1.50x | 0.67x |',
    );
    expect(s).toContain('| uncontended, 16 workers | quorumlock | 900 | 1,234 | 0.13 | 2.00 | 1 |');
    expect(s).toContain('|  | etcd (etcd3 client) | – | – | – | – | – |');
    expect(s).toContain('|  | etcd (etcd3 client) | 1,500 | 4.00 | 4.00 | 16.0 | 32.0 | 3 |  |  |');
    expect(s).toContain('|  | etcd (v3lock) | 2,000 | 3.00 | 3.00 | 12.0 | 24.0 | 0 |  |  |');
    expect(s).toContain('| failover: median of 3 kills | 400 ms | 2500 ms | 0.16x |');
    // A kill with no acquire within the bound is the worst case, not a missing value.
    expect(s).toContain('| failover: max | 500 ms | none within the bound | – |');
    expect(s).toContain(
      '| recovery: restart with 100,000 leases until serving | 2000 ms | 500 ms | 4.00x |',
    );
    expect(s).toContain(
      '| 1,000,000 | quorumlock | 400,000 (bound hit) | 120 s | 900 / 800 / 800 | 30 / 2 / 2 | 1.92x |',
    );
    expect(s).toContain(
      '![throughput and p99 latency per workload, quorumlock and etcd](docs/bench-chart.svg)',
    );
    expect(fmtMs(0.123)).toBe('0.12');
    expect(fmtMs(NaN)).toBe('–');
  });

  it("charts quorumlock against the better of etcd's paths on each row", () => {
    const rows = chartRows(sample());
    expect(rows[0]!.values).toEqual({
      quorumlock: { opsPerSec: 3000, p99Ms: 8 },
      etcd: { opsPerSec: 2000, p99Ms: 12 },
    });
    expect(rows[1]!.values['etcd']).toEqual({ opsPerSec: 40000, p99Ms: 1.5 });
  });

  it('replaces only its own section and keeps the Raft one', () => {
    const raft = '<!-- raft-bench:start -->\nraft table\n<!-- raft-bench:end -->';
    const first = replaceSection(
      `# Benchmarks\n\n${raft}\n`,
      `${START}\none\n${END}`,
      '## Against etcd',
    );
    expect(first).toBe(`# Benchmarks\n\n${raft}\n\n## Against etcd\n\n${START}\none\n${END}\n`);
    const second = replaceSection(
      `${first}\nnotes after\n`,
      `${START}\ntwo\n${END}`,
      '## Against etcd',
    );
    expect(second).toContain(raft);
    expect(second).toContain(`${START}\ntwo\n${END}\n\nnotes after`);
    expect(second).not.toContain('one');
  });
});

describe('svg chart', () => {
  const rows = [
    {
      label: 'uncontended <16>',
      values: { quorumlock: { opsPerSec: 3000, p99Ms: 8 }, etcd: { opsPerSec: 1500, p99Ms: 16 } },
    },
    { label: 'renewals & co', values: { quorumlock: { opsPerSec: 20000, p99Ms: 3 } } },
  ];

  it('is well-formed XML with one bar per system, workload and metric', () => {
    const svg = renderChart(rows, 'a "subtitle" & more');
    const elements = parseXml(svg);
    expect(elements[0]?.name).toBe('svg');
    expect(elements[0]?.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    const bars = elements.filter((e) => e.attrs.class === 'bar');
    expect(bars).toHaveLength(6);
    const bar = (w: string, s: string, m: string) =>
      bars.find(
        (b) =>
          b.attrs['data-workload'] === escapeXml(w) &&
          b.attrs['data-system'] === s &&
          b.attrs['data-metric'] === m,
      )!;
    // Each pair is scaled to its larger value: the longer bar is the full length.
    const ql = Number(bar('uncontended <16>', 'quorumlock', 'ops').attrs.width);
    const etcd = Number(bar('uncontended <16>', 'etcd', 'ops').attrs.width);
    expect(ql).toBeCloseTo(2 * etcd, 0);
    expect(Number(bar('uncontended <16>', 'etcd', 'p99').attrs.width)).toBe(ql);
    expect(bar('renewals & co', 'quorumlock', 'ops').attrs['data-value']).toBe('20000');
  });

  it('rejects what is not well-formed, so the check above means something', () => {
    expect(() => parseXml('<svg><g></svg></g>')).toThrow();
    expect(() => parseXml('<svg a="1" a="2"/>')).toThrow();
    expect(() => parseXml('<svg>a & b</svg>')).toThrow();
    expect(() => parseXml(`<svg>${escapeXml('a & <b>')}</svg>`)).not.toThrow();
  });
});

describe('progress', () => {
  it('draws a bar and a line that fits the terminal', () => {
    expect(renderBar(0.5, 10)).toBe('█████░░░░░');
    expect(renderBar(2, 4)).toBe('████');
    expect(renderBar(NaN, 4)).toBe('░░░░');
    expect(fmtClock(125)).toBe('2:05');
    const line = progressLine(0.42, 65, 'uncontended-16: etcd, round 2 of 2', 60);
    expect(line).toContain(' 42% 1:05 ');
    expect(line.length).toBeLessThanOrEqual(60);
    expect(line.endsWith('…')).toBe(true);
  });
});

describe('cpu profile', () => {
  const profile: CpuProfile = {
    startTime: 0,
    endTime: 10_000,
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
      { id: 2, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
      {
        id: 3,
        callFrame: {
          functionName: 'apply',
          url: 'file:///r/dist/apps/lock-service/src/domain/state-machine.js',
          lineNumber: 9,
        },
      },
      {
        id: 4,
        callFrame: {
          functionName: 'encode',
          url: 'file:///r/node_modules/protobufjs/src/w.js',
          lineNumber: 0,
        },
      },
    ],
    samples: [3, 3, 4, 2, 3],
    timeDeltas: [0, 1000, 1000, 1000, 5000],
  };

  it('adds up self time per function and per package, leaving idle out of the shares', () => {
    const top = selfTime(profile);
    expect(top[0]).toEqual({
      key: 'apply apps/lock-service/src/domain/state-machine.js:10',
      ms: 2,
      pct: (100 * 2) / 3,
    });
    expect(top.find((t) => t.key.startsWith('encode'))?.ms).toBe(1);
    expect(top.some((t) => t.key === '(idle)')).toBe(false);
    expect(selfTime(profile, byFile).map((t) => t.key)).toEqual([
      'apps/lock-service/src/domain/state-machine.js',
      'protobufjs',
    ]);
    expect(selfTime(profile, byCategory).map((t) => t.key)).toEqual([
      'lock service (apps/lock-service)',
      'protobuf',
    ]);
    expect(shortUrl('file:///r/node_modules/@grpc/grpc-js/build/a.js')).toBe(
      '@grpc/grpc-js/build/a.js',
    );
  });
});
