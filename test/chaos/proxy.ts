// Fault-injecting TCP proxies, one per directed Raft link. A node's Raft transport dials its
// peers and each direction has its own connection (a receiver answers on its own outbound
// stream), so the proxy for link X->Y carries exactly what X sends to Y: cutting it is a one-way
// partition, cutting both X->Y and Y->X a two-way one.
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * pass: forward (after delayMs). drop: reset connections and refuse new ones, as a closed port
 * or a crashed router would. blackhole: accept and swallow bytes silently, so the sender only
 * learns from its own timeouts.
 */
export type LinkMode = 'pass' | 'drop' | 'blackhole';

/** One direction of a connection, delayed in order: chunks leave in the order they came. */
class DelayedPipe {
  private readonly queue: { at: number; chunk: Buffer }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dest: Socket,
    private readonly delayMs: () => number,
  ) {}

  push(chunk: Buffer): void {
    const delay = this.delayMs();
    if (delay <= 0 && this.queue.length === 0) {
      this.dest.write(chunk);
      return;
    }
    const last = this.queue.at(-1)?.at ?? 0;
    this.queue.push({ at: Math.max(last, performance.now() + delay), chunk });
    this.schedule();
  }

  private schedule(): void {
    const first = this.queue[0];
    if (this.timer || first === undefined) return;
    const wait = Math.max(0, first.at - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = performance.now();
      while ((this.queue[0]?.at ?? Infinity) <= now) {
        const { chunk } = this.queue.shift()!;
        if (!this.dest.destroyed) this.dest.write(chunk);
      }
      this.schedule();
    }, wait);
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

interface Conn {
  client: Socket;
  upstream: Socket | null;
  pipes: DelayedPipe[];
  /** Bytes were swallowed: the stream is corrupt and must not carry anything after a heal. */
  tainted: boolean;
}

export class LinkProxy {
  private mode: LinkMode = 'pass';
  private delayMs = 0;
  /** Bytes a blackhole took in and never passed on. */
  swallowed = 0;
  private readonly conns = new Set<Conn>();
  private readonly server: Server;
  port = 0;

  constructor(
    readonly from: string,
    readonly to: string,
    private readonly targetPort: number,
  ) {
    this.server = createServer((s) => this.accept(s));
  }

  async start(): Promise<void> {
    await new Promise<void>((ok, fail) => {
      this.server.once('error', fail);
      this.server.listen(0, '127.0.0.1', () => ok());
    });
    this.port = (this.server.address() as { port: number }).port;
  }

  get state(): { mode: LinkMode; delayMs: number } {
    return { mode: this.mode, delayMs: this.delayMs };
  }

  set(mode: LinkMode, delayMs = this.delayMs): void {
    this.delayMs = delayMs;
    if (mode === this.mode) return;
    this.mode = mode;
    for (const c of [...this.conns]) {
      if (mode === 'drop' || (mode === 'pass' && c.tainted)) this.close(c);
      else if (mode === 'blackhole') c.tainted = true;
    }
  }

  private accept(client: Socket): void {
    if (this.mode === 'drop') {
      client.destroy();
      return;
    }
    const c: Conn = { client, upstream: null, pipes: [], tainted: this.mode === 'blackhole' };
    this.conns.add(c);
    client.setNoDelay(true);
    client.on('error', () => this.close(c));
    client.on('close', () => this.close(c));
    if (c.tainted) {
      // The sender's keepalive will give up.
      client.on('data', (b: Buffer) => (this.swallowed += b.length));
      return;
    }
    const upstream = connect(this.targetPort, '127.0.0.1');
    c.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on('error', () => this.close(c));
    upstream.on('close', () => this.close(c));
    const toUpstream = new DelayedPipe(upstream, () => this.delayMs);
    const toClient = new DelayedPipe(client, () => this.delayMs);
    c.pipes.push(toUpstream, toClient);
    client.on('data', (b: Buffer) => this.forward(c, toUpstream, b));
    upstream.on('data', (b: Buffer) => this.forward(c, toClient, b));
  }

  private forward(c: Conn, pipe: DelayedPipe, chunk: Buffer): void {
    if (this.mode === 'blackhole' || c.tainted) {
      c.tainted = true;
      this.swallowed += chunk.length;
      return;
    }
    pipe.push(chunk);
  }

  private close(c: Conn): void {
    if (!this.conns.delete(c)) return;
    for (const p of c.pipes) p.clear();
    c.client.destroy();
    c.upstream?.destroy();
  }

  async stop(): Promise<void> {
    for (const c of [...this.conns]) this.close(c);
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}

/** Every directed link of a cluster, by `from>to`. */
export class ProxyMesh {
  private readonly links = new Map<string, LinkProxy>();

  async add(from: string, to: string, targetPort: number): Promise<LinkProxy> {
    const link = new LinkProxy(from, to, targetPort);
    await link.start();
    this.links.set(`${from}>${to}`, link);
    return link;
  }

  link(from: string, to: string): LinkProxy {
    const l = this.links.get(`${from}>${to}`);
    if (!l) throw new Error(`no link ${from}>${to}`);
    return l;
  }

  /** Cuts every link from a node of `from` to a node of `to` (one direction only). */
  cut(from: readonly string[], to: readonly string[], mode: Exclude<LinkMode, 'pass'>): void {
    for (const a of from) for (const b of to) if (a !== b) this.link(a, b).set(mode);
  }

  /** Delays every link into and out of a node. */
  delay(node: string, ms: number): void {
    for (const l of this.links.values()) if (l.from === node || l.to === node) l.set('pass', ms);
  }

  heal(): void {
    for (const l of this.links.values()) l.set('pass', 0);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => l.stop()));
    this.links.clear();
  }
}
