// Everything one server process observes about itself: the Prometheus registry served at
// /metrics, the gRPC interceptor, the metered LockApi, and the Raft context of every log line.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerInterceptor } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { RaftNode } from '../../../../libs/raft/src/index.js';
import type { LockApi } from '../domain/api.js';
import type { ApplyResult } from '../domain/commands.js';
import type { LockNode } from '../domain/lock-node.js';
import type { MetricsRegistry } from '../http/metrics.js';
import type { Action } from '../security/auth-config.js';
import { AuthMetrics } from './auth-metrics.js';
import { EventLoopLag } from './event-loop.js';
import { GrpcServerMetrics } from './grpc-metrics.js';
import { LockCallMetrics, registerLockStateMetrics } from './lock-metrics.js';
import { PREFIX } from './prom.js';
import { registerRaftMetrics } from './raft-metrics.js';

/** What log lines carry before the Raft node has loaded its state. */
const STARTING = { term: 0, role: 'starting' } as const;

export class Telemetry implements MetricsRegistry {
  /** One registry per server, not prom-client's global: tests run several servers per process. */
  readonly registry = new Registry();
  private readonly grpc: GrpcServerMetrics;
  private readonly calls: LockCallMetrics;
  private readonly auth: AuthMetrics;
  private raft: RaftNode<ApplyResult> | undefined;
  private readonly lag: EventLoopLag;

  constructor() {
    // Includes event-loop lag (quorumlock_nodejs_eventloop_lag_seconds and its percentiles).
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    new Gauge({
      name: `${PREFIX}build_info`,
      help: 'Always 1; the labels tell the server and Node.js versions.',
      labelNames: ['version', 'node_version'],
      registers: [this.registry],
    }).set({ version: packageVersion(), node_version: process.version }, 1);
    this.grpc = new GrpcServerMetrics(this.registry);
    this.calls = new LockCallMetrics(this.registry);
    this.auth = new AuthMetrics(this.registry);
    this.lag = new EventLoopLag(this.registry);
    this.lag.start();
  }

  /** Stops what samples the process (the event-loop lag timer). */
  close(): void {
    this.lag.stop();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get grpcInterceptor(): ServerInterceptor {
    return this.grpc.interceptor;
  }

  /** Called once the node has started: its Raft and lock state metrics, its log context. */
  attach(node: LockNode, logger: Logger): void {
    if (this.raft !== undefined) throw new Error('telemetry is already attached to a node');
    this.raft = node.raft;
    registerRaftMetrics(this.registry, node.raft, logger);
    registerLockStateMetrics(this.registry, node.state, node.bus);
  }

  /** A call refused by authentication or authorization. */
  authDenied(action: Action): void {
    this.auth.onDenied(action);
  }

  /** The LockApi the gRPC layer calls, measured. */
  wrapApi(api: LockApi): LockApi {
    return this.calls.wrap(api);
  }

  /**
   * A child of logger whose every line (its children's too) carries this node's current term
   * and role; fields the call itself logs take precedence.
   */
  withRaftContext(logger: Logger): Logger {
    return logger.child(
      {},
      { formatters: { log: (fields) => ({ ...this.raftContext(), ...fields }) } },
    );
  }

  private raftContext(): { term: number; role: string } {
    if (this.raft === undefined) return STARTING;
    const s = this.raft.status();
    return { term: s.term, role: s.role };
  }
}

/** Walks up from this module because it runs both from source (jest) and from dist/. */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'quorumlock') return pkg.version ?? 'unknown';
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}
