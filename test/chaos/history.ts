// The record of one chaos run. Every time is performance.now() of the test runner, the one
// process that runs the clients, the fenced store, the proxies and the fault schedule, so that
// times taken by different clients can be compared.

/** ok: the answer is known; fail: it certainly did not happen; unknown: it may have. */
export type Outcome = 'ok' | 'fail' | 'unknown';

/**
 * acquire covers Campaign too, release covers Resign, describe covers Leader. A `lost` op is the
 * client's own decision that its lease is (or may be) gone; `definite` when the server said so.
 */
export type OpKind = 'acquire' | 'renew' | 'release' | 'describe' | 'lost';

export interface Op {
  id: number;
  client: string;
  kind: OpKind;
  /** The mutex: `lock:<name>` or `election:<name>`. */
  key: string;
  /** When the request was sent (the first attempt, if the client retried). */
  invoke: number;
  /** When the answer arrived; null if it never did. */
  complete: number | null;
  outcome: Outcome;
  /** Unique per acquire/campaign, so any report naming a holder identifies the grant. */
  owner?: string;
  ttlMs?: number;
  waitMs?: number;
  /** acquire: the kind of hold asked for (absent: an EXCLUSIVE mutex with no lock-delay). */
  shared?: boolean;
  limit?: number;
  lockDelayMs?: number;
  lease?: string;
  /** acquire: granted, or not (held by `holder`; '' when the answer does not say by whom). */
  granted?: boolean;
  token?: number;
  holder?: string;
  /** release: true when the server said it released the lease. */
  released?: boolean;
  /** describe: whether the mutex was held, by `holder` with `token`. */
  held?: boolean;
  /** describe of a lock: every holder in grant order (`holder` and `token` are the oldest). */
  holders?: SeenHolder[];
  definite?: boolean;
  note?: string;
  error?: string;
}

export interface SeenHolder {
  owner: string;
  token: number;
  shared: boolean;
}

export interface StoreWrite {
  at: number;
  key: string;
  token: number;
  client: string;
  accepted: boolean;
  /** Decided before the writer was paused (SIGSTOP) and sent after it resumed. */
  late?: boolean;
}

/** A message of a Watch or Observe stream, or a gap (the stream broke and was re-opened). */
export interface StreamEvent {
  at: number;
  /** One id per stream; `raw` streams are single gRPC calls, `sdk` ones may span several. */
  stream: string;
  key: string;
  kind: 'acquired' | 'released' | 'expired' | 'leader' | 'no-leader' | 'gap';
  owner: string;
  token: number;
}

export interface FaultRecord {
  id: number;
  kind: string;
  targets: string[];
  detail: string;
  start: number;
  end: number;
  /** When every running node agreed on a leader again after the fault healed; null: never. */
  recovered: number | null;
}

/** One SIGSTOP of a client process holding a lock, and what its late write met. */
export interface ClientPause {
  key: string;
  token: number | null;
  paused: number | null;
  resumed: number | null;
  /** The token the probe client got (and wrote) while the paused client slept. */
  probeToken: number | null;
  lateWrite: { at: number; accepted: boolean } | null;
  /**
   * How much longer the paused client's SDK let it act on the lock when it was granted (0: not
   * at all, so no late write comes); the harness pauses only a client that believes it holds.
   */
  validForMs?: number;
}

/** A node's Raft role or leader changed, as polled from its Status (for reading a history). */
export interface RoleChange {
  at: number;
  node: string;
  term: number;
  role: string;
  leader: string;
}

/**
 * Something the harness itself saw go wrong, outside the recorded operations: a workload loop
 * that threw (a bug in the workload, since every expected error is caught and recorded), or a
 * cluster with no agreed leader after the final heal. Each fails the run.
 */
export interface HarnessFailure {
  at: number;
  property: 'workload-error' | 'recovery';
  message: string;
}

export interface RunMeta {
  seed: number;
  nodes: number;
  clients: number;
  durationMs: number;
  electionTimeoutMaxMs: number;
  checkpointIntervalMs: number;
  startedAt: string;
  replay: string;
}

export interface History {
  meta: RunMeta;
  ops: Op[];
  writes: StoreWrite[];
  streams: StreamEvent[];
  faults: FaultRecord[];
  pauses: ClientPause[];
  roles: RoleChange[];
  /** Absent in histories saved before it was recorded. */
  harness?: HarnessFailure[];
}

type OpFields = Omit<Op, 'id' | 'invoke' | 'complete' | 'outcome'>;

export class Recorder {
  readonly ops: Op[] = [];
  readonly writes: StoreWrite[] = [];
  readonly streams: StreamEvent[] = [];
  readonly faults: FaultRecord[] = [];
  readonly pauses: ClientPause[] = [];
  readonly roles: RoleChange[] = [];
  readonly harness: HarnessFailure[] = [];
  private nextId = 1;

  now(): number {
    return performance.now();
  }

  /** Records the invocation; the op stays unknown until end() is called. */
  begin(fields: OpFields, at = this.now()): Op {
    const op: Op = { id: this.nextId++, ...fields, invoke: at, complete: null, outcome: 'unknown' };
    this.ops.push(op);
    return op;
  }

  end(op: Op, outcome: Outcome, fields: Partial<Op> = {}, at = this.now()): void {
    Object.assign(op, fields);
    op.outcome = outcome;
    op.complete = at;
  }

  /** An op learned after the fact (a renewal the SDK made, a loss it detected). */
  instant(fields: OpFields, invoke: number, complete = this.now()): Op {
    const op = this.begin(fields, invoke);
    this.end(op, 'ok', {}, complete);
    return op;
  }

  stream(e: StreamEvent): void {
    this.streams.push(e);
  }

  fail(property: HarnessFailure['property'], message: string): void {
    this.harness.push({ at: this.now(), property, message });
  }

  history(meta: RunMeta): History {
    return {
      meta,
      ops: this.ops,
      writes: this.writes,
      streams: this.streams,
      faults: this.faults,
      pauses: this.pauses,
      roles: this.roles,
      harness: this.harness,
    };
  }
}

/** The fenced resource: accepts a write only with a token at least the last one it accepted. */
export class FencedStore {
  private readonly last = new Map<string, number>();

  constructor(private readonly rec: Recorder) {}

  write(key: string, token: number, client: string, late = false): boolean {
    const accepted = token >= (this.last.get(key) ?? 0);
    if (accepted) this.last.set(key, token);
    this.rec.writes.push({ at: this.rec.now(), key, token, client, accepted, late });
    return accepted;
  }
}
