// Reading a node's /metrics in tests: the Prometheus text format parsed into samples and names.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  /** Every series name a query may use: declared metrics, histogram and summary parts too. */
  readonly names: ReadonlySet<string>;
  readonly types: ReadonlyMap<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const names = new Set<string>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name = '', type = ''] = line.split(' ');
      types.set(name, type);
      names.add(name);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
      continue;
    }
    const [, name, labelText = '', value] = SAMPLE.exec(line) ?? [];
    if (line.startsWith('#') || name === undefined) continue;
    const labels: Record<string, string> = {};
    for (const [, k = '', v = ''] of labelText.matchAll(LABEL)) labels[k] = v;
    samples.push({ name, labels, value: Number(value) });
    names.add(name);
  }
  return { samples, names, types };
}

export async function scrape(metricsAddress: string): Promise<Exposition> {
  const res = await fetch(`http://${metricsAddress}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics on ${metricsAddress}: ${res.status}`);
  return parseExposition(await res.text());
}

/** The sum of the samples of `name` whose labels include `labels`; 0 when there are none. */
export function valueOf(
  e: Exposition,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  let sum = 0;
  for (const s of e.samples)
    if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      sum += s.value;
  return sum;
}

export function seriesOf(e: Exposition, name: string): Sample[] {
  return e.samples.filter((s) => s.name === name);
}
