// The singleton-worker sample's output: "<instance> start|tick <ms>" lines, appended by every
// instance to one file, and the runs of consecutive lines by one instance.
import { readFileSync } from 'node:fs';

export interface Line {
  id: string;
  what: 'start' | 'tick';
  ts: number;
}

export function readLines(file: string): Line[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^(\S+) (start|tick) (\d+)$/.exec(l);
      if (!m) throw new Error(`malformed line ${JSON.stringify(l)}`);
      return { id: m[1]!, what: m[2] as Line['what'], ts: Number(m[3]) };
    });
}

/** Consecutive runs of lines by one instance. */
export function segments(lines: Line[]): { id: string; lines: Line[] }[] {
  const out: { id: string; lines: Line[] }[] = [];
  for (const l of lines) {
    const last = out[out.length - 1];
    if (last?.id === l.id) last.lines.push(l);
    else out.push({ id: l.id, lines: [l] });
  }
  return out;
}
