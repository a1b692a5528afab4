// Reads V8 .cpuprofile files (node --cpu-prof) into "where did the time go": self time per
// function and per source file, which is the evidence the profile findings in BENCHMARKS.md cite.

export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  key: string;
  ms: number;
  /** Share of the busy time: everything but (idle). */
  pct: number;
}

type Frame = CpuProfile['nodes'][number]['callFrame'];

/** "src/domain/lessor.ts" from a file URL; node internals and packages keep a readable tail. */
export function shortUrl(url: string): string {
  if (!url) return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

export const byFunction = (f: Frame): string =>
  f.url
    ? `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`
    : f.functionName || '(anonymous)';

/** Packages by name, our code by file, V8's pseudo-frames as they are. */
export const byFile = (f: Frame): string => {
  if (!f.url) return f.functionName;
  const s = shortUrl(f.url);
  const pkg = /^(@[^/]+\/[^/]+|[^/]+)\//.exec(s);
  return (f.url.includes('node_modules/') && pkg?.[1]) || s;
};

const CATEGORIES: [string, RegExp][] = [
  ['gRPC + HTTP/2', /@grpc\/|node:internal\/http2|^(writeBuffer|writev|onStreamRead)$/],
  ['NestJS + rxjs', /@nestjs\/|\/rxjs\/|reflect-metadata/],
  ['protobuf', /protobufjs|@protobufjs|\$(encode|decode|toObject|fromObject)$/],
  ['Raft (libs/raft)', /libs\/raft\//],
  ['lock service (apps/lock-service)', /apps\/lock-service\//],
  ['SDK (libs/client)', /libs\/client\//],
  ['etcd3 client', /etcd3\/|cockatiel/],
  ['RocksDB', /rocksdb|leveldown|abstract-leveldown/],
  ['metrics (prom-client)', /prom-client/],
  ['logging (pino)', /pino|sonic-boom/],
  [
    'module loading',
    /node:internal\/modules|cjs-module-lexer|^(wrapSafe|compileSourceTextModule|internalModuleStat|openFileHandle|realpathSync|readFileUtf8|lstat|fstat|read)$/,
  ],
  ['crypto', /node:internal\/crypto|^randomFillSync$/],
];

/** Where a frame belongs: gRPC, Nest, Raft, storage, GC... for a one-screen summary. */
export const byCategory = (f: Frame): string => {
  if (!f.url && f.functionName.startsWith('(')) return f.functionName;
  const s = `${f.url ? shortUrl(f.url) : ''} ${f.functionName}`;
  for (const [name, re] of CATEGORIES)
    if (re.test(f.url ? shortUrl(f.url) : '') || re.test(f.functionName) || re.test(s)) return name;
  return f.url.startsWith('node:') || !f.url ? 'Node internals' : 'other';
};

/** Self time aggregated by key(frame), largest first; idle time is left out of the shares. */
export function selfTime(
  p: CpuProfile,
  key: (f: Frame) => string = byFunction,
  top = 15,
): SelfTime[] {
  const frameOf = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const totals = new Map<string, number>();
  const add = (f: Frame | undefined, us: number) => {
    if (!f) return;
    const k = key(f);
    totals.set(k, (totals.get(k) ?? 0) + us);
  };
  if (p.samples && p.timeDeltas && p.samples.length === p.timeDeltas.length) {
    // timeDeltas[i] is the time from sample i-1 to sample i: it belongs to sample i-1.
    for (const [i, sample] of p.samples.entries()) {
      add(frameOf.get(sample), p.timeDeltas[i + 1] ?? 0);
    }
  } else {
    const interval =
      (p.endTime - p.startTime) /
      Math.max(
        1,
        p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0),
      );
    for (const n of p.nodes) add(n.callFrame, (n.hitCount ?? 0) * interval);
  }
  const busy = [...totals].filter(([k]) => k !== '(idle)').reduce((a, [, v]) => a + v, 0) || 1;
  return [...totals]
    .filter(([k]) => k !== '(idle)')
    .map(([k, us]) => ({ key: k, ms: us / 1000, pct: (100 * us) / busy }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, top);
}

/** Busy share of the profile's wall time, 0..1: how much of a core the process used. */
export function busyShare(p: CpuProfile): number {
  const all = selfTime(p, (f) => (f.functionName === '(idle)' ? '(idle)' : 'busy'), 2);
  const busyMs = all.find((s) => s.key === 'busy')?.ms ?? 0;
  return busyMs / Math.max(1, (p.endTime - p.startTime) / 1000);
}
