// The progress bar on stderr: overall completion by the planned seconds of each phase, the phase
// and what it is doing. On a terminal it redraws one line; elsewhere (CI, a file) it prints one
// line per phase instead of a stream of carriage returns.

export function renderBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `${'█'.repeat(full)}${'░'.repeat(width - full)}`;
}

export function fmtClock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function progressLine(
  fraction: number,
  elapsedS: number,
  label: string,
  columns: number,
): string {
  const pct = `${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`.padStart(4);
  const head = `${pct} ${fmtClock(elapsedS)} `;
  const bar = renderBar(fraction, 24);
  const room = Math.max(0, columns - head.length - bar.length - 2);
  return `${bar} ${head}${label.length > room ? `${label.slice(0, Math.max(0, room - 1))}…` : label}`;
}

export class Progress {
  private readonly planned = new Map<string, number>();
  private readonly total: number;
  private doneS = 0;
  private current = '';
  private phaseStart = 0;
  private detail = '';
  private readonly started = performance.now();
  private timer?: NodeJS.Timeout;
  private readonly tty: boolean;

  /** phases: planned seconds of each, in order; they weigh the bar. */
  constructor(
    phases: [string, number][],
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    for (const [k, s] of phases) this.planned.set(k, s);
    this.total = phases.reduce((a, [, s]) => a + s, 0) || 1;
    this.tty = !!out.isTTY;
    if (this.tty) this.timer = setInterval(() => this.draw(), 250).unref();
  }

  phase(key: string, detail = ''): void {
    if (this.current) this.doneS += this.planned.get(this.current) ?? 0;
    this.current = key;
    this.phaseStart = performance.now();
    this.detail = detail;
    if (!this.tty) this.out.write(`[${fmtClock(this.elapsed())}] ${key} ${detail}\n`);
    this.draw();
  }

  note(detail: string): void {
    this.detail = detail;
  }

  /** Prints a line above the bar. */
  log(line: string): void {
    this.clear();
    this.out.write(`${line}\n`);
    this.draw();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  clear(): void {
    if (this.tty) this.out.write('\r\x1b[2K');
  }

  private elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }

  private draw(): void {
    if (!this.tty || !this.timer) return;
    const plan = this.planned.get(this.current) ?? 0;
    const inPhase = Math.min(plan, (performance.now() - this.phaseStart) / 1000);
    const label = `${this.current}${this.detail ? `: ${this.detail}` : ''}`;
    const line = progressLine(
      (this.doneS + inPhase) / this.total,
      this.elapsed(),
      label,
      this.out.columns || 100,
    );
    this.out.write(`\r\x1b[2K${line}`);
  }
}
