// Stream, health and assertion helpers for the end-to-end tests of the public API. Every stream
// and client opened here has a close() that the test must call (in a finally block).
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import type {
  AcquireResponse,
  CampaignResponse,
  DescribeResponse,
  LeaderResponse,
  LockEvent,
  RenewRequest,
  RenewResponse,
} from '../../apps/lock-service/src/domain/api.js';
import { LockEventType } from '../../apps/lock-service/src/domain/api.js';
import type { ApiClient } from './grpc-clients.js';

export { LockEventType as EventType } from '../../apps/lock-service/src/domain/api.js';
export type { AcquireResponse, CampaignResponse, DescribeResponse, LeaderResponse, LockEvent };

type AnyStream = grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>;

/**
 * The messages of one server or bidi stream, read in order with a bounded wait each. close()
 * cancels the call (or half-closes a bidi stream first) and waits until grpc-js reports it ended.
 */
export class StreamReader<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | null = null;
  /** The status the stream ended with, once it ended (OK, CANCELLED or an error). */
  status: grpc.StatusObject | undefined;
  private readonly ended: Promise<grpc.StatusObject>;

  constructor(readonly call: AnyStream) {
    call.on('data', (m: T) => {
      this.items.push(m);
      this.poke();
    });
    // An error always comes with a status too; listening keeps it from being thrown.
    call.on('error', () => undefined);
    this.ended = new Promise((resolve) =>
      call.on('status', (s: grpc.StatusObject) => {
        this.status = s;
        this.poke();
        resolve(s);
      }),
    );
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Messages received and not read yet. */
  get buffered(): readonly T[] {
    return this.items;
  }

  /** The next message; fails if none arrives within timeoutMs or the stream ends first. */
  async next(timeoutMs = 5_000): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.items.length > 0) return this.items.shift()!;
      if (this.status)
        throw new Error(
          `stream ended (${this.status.code} ${this.status.details}) before a message`,
        );
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no stream message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Reads and drops messages until one matches; returns it. */
  async until(pred: (m: T) => boolean, timeoutMs = 5_000): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = await this.next(Math.max(1, deadline - performance.now()));
      if (pred(m)) return m;
    }
  }

  /** The status the stream ends with, waiting at most timeoutMs. */
  async end(timeoutMs = 5_000): Promise<grpc.StatusObject> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(
        () => reject(new Error(`stream did not end within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.ended, timeout]);
    } finally {
      clearTimeout(t);
    }
  }

  async close(): Promise<void> {
    if (!this.status) {
      if ('end' in this.call) this.call.end();
      this.call.cancel();
    }
    await this.end();
  }
}

/** A server stream on `client`, with `api`'s metadata (its token, if it has one). */
function serverStream<T>(
  api: ApiClient,
  client: grpc.Client,
  method: string,
  req: object,
): StreamReader<T> {
  type Open = (r: object, md: grpc.Metadata) => AnyStream;
  const fn = (client as unknown as Partial<Record<string, Open>>)[method];
  if (fn === undefined) throw new Error(`the client has no method ${method}`);
  return new StreamReader<T>(fn.call(client, req, api.metadata()));
}

/** LockService.Watch on the node `api` talks to. */
export function openWatch(api: ApiClient, prefix: string): StreamReader<LockEvent> {
  return serverStream<LockEvent>(api, api.lock, 'Watch', { prefix });
}

/** ElectionService.Observe on the node `api` talks to. */
export function openObserve(api: ApiClient, election: string): StreamReader<LeaderResponse> {
  return serverStream<LeaderResponse>(api, api.election, 'Observe', { election });
}

/** LockService.KeepAlive: write renewals with renew(), read the answers from the reader. */
export class KeepAlive extends StreamReader<RenewResponse> {
  constructor(api: ApiClient) {
    super(
      (
        api.lock as unknown as Record<
          'KeepAlive',
          (md: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>
        >
      ).KeepAlive.call(api.lock, api.metadata()),
    );
  }

  renew(leaseId: string): void {
    const req: RenewRequest = { lease_id: leaseId };
    (this.call as grpc.ClientDuplexStream<unknown, unknown>).write(req);
  }
}

/**
 * A Watch is registered on the server some time after the client starts it, and Watch sends
 * nothing first. Acquires and releases marker locks under the prefix until the watcher sees one,
 * then drops everything read so far: later events on the watcher are complete and in order.
 */
export async function syncWatch(
  w: StreamReader<LockEvent>,
  api: ApiClient,
  prefix: string,
): Promise<void> {
  for (let i = 0; ; i++) {
    const name = `${prefix}~sync-${i}`;
    const g = await api.call<AcquireResponse>(api.lock, 'Acquire', { name, owner: 'sync' });
    await api.call(api.lock, 'Release', { lease_id: g.lease_id, name: '' });
    try {
      // until() drops every event up to the marker's release.
      await w.until((e) => e.name === name && e.type === LockEventType.RELEASED, 500);
      return;
    } catch (e) {
      if (i >= 20) throw e;
    }
  }
}

/** A grpc.health.v1.Health client with the grpc-health-check package's definition. */
export class HealthClient {
  private readonly client: grpc.Client;

  constructor(address: string) {
    // grpc-health-check's definition is proto-loader's type; grpc-js's is structurally the same.
    const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
    this.client = new Health(address, grpc.credentials.createInsecure());
  }

  check(service = '', timeoutMs = 5_000): Promise<{ status: string }> {
    return new Promise((resolve, reject) => {
      (
        this.client as unknown as Record<
          'Check',
          (
            r: object,
            o: grpc.CallOptions,
            cb: (e: grpc.ServiceError | null, r: { status: string }) => void,
          ) => void
        >
      ).Check.call(this.client, { service }, { deadline: Date.now() + timeoutMs }, (e, r) =>
        e ? reject(e) : resolve(r),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The gRPC error a call failed with; fails the test if it succeeded. */
export async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    const r = await p;
    throw new Error(`expected the call to fail, it answered ${JSON.stringify(r)}`);
  } catch (e) {
    if ((e as grpc.ServiceError).code === undefined) throw e;
    return e as grpc.ServiceError;
  }
}

/** Asserts that p fails with `code` and, when given, that the error's details mention `text`. */
export async function expectCode(
  p: Promise<unknown>,
  code: grpc.status,
  text?: string | RegExp,
): Promise<grpc.ServiceError> {
  const e = await failure(p);
  expect({ code: grpc.status[e.code], details: e.details }).toMatchObject({
    code: grpc.status[code],
  });
  if (text !== undefined) expect(e.details).toMatch(text);
  return e;
}
