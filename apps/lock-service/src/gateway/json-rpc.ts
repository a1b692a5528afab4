// JSON-RPC 2.0 over the LockApi, for HTTP bodies and WebSocket messages alike. json-rpc-2.0
// dispatches each request (method lookup, -32601, notifications answered by nothing); this file
// checks each request's envelope before it does (that library lets `null` entries of a batch
// throw, and answers a batch with a single response as a bare object), assembles batches, and
// maps failures: INVALID_ARGUMENT and undecodable params to -32602 naming the field, every other
// gRPC status to a server error (-32000) whose `data.code` is the status name. Every call is
// admitted by the AccessControl exactly as the same gRPC call would be.
import type { JsonValue } from '@bufbuild/protobuf';
import {
  createJSONRPCErrorResponse,
  JSONRPCErrorCode,
  JSONRPCErrorException,
  type JSONRPCRequest,
  type JSONRPCResponse,
  JSONRPCServer,
} from 'json-rpc-2.0';
import type { Logger } from 'pino';
import type { CallContext, LockApi } from '../domain/api.js';
import type { ClusterView } from '../domain/cluster-view.js';
import { Code, DomainError } from '../domain/errors.js';
import { onlyReadable } from '../grpc/access-gate.js';
import type { AccessControl, Admission, CallerFacts } from '../security/access-control.js';
import { jsonName, ParamsError, paramsToRequest, responseToJson } from './json-mapping.js';
import {
  STREAM_METHODS,
  type StreamMethod,
  UNARY_METHODS,
  type UnaryMethod,
  UNSUBSCRIBE,
  VIEW_METHOD,
  VIEW_NOTIFICATION,
} from './methods.js';
import type { ErrorObject, SocketSession } from './socket-session.js';

/** JSON-RPC's range for implementation-defined server errors starts here. */
export const SERVER_ERROR = -32000;

export interface RpcSession {
  /** Who calls, as the connection tells (address, Authorization header, verified certificate). */
  readonly caller: CallerFacts;
  /** Aborted when the client goes away (HTTP connection closed, socket closed). */
  readonly signal: AbortSignal;
  /** The WebSocket, for subscriptions; absent on POST /rpc. */
  readonly socket?: SocketSession;
}

export interface JsonRpcOptions {
  readonly api: LockApi;
  readonly access: AccessControl;
  readonly logger: Logger;
  /** The live view's source; without it `cluster.watch` is not offered. */
  readonly view?: ClusterView;
  /** Requests in one batch, at most. */
  readonly maxBatch: number;
  /** How often a `cluster.watch` subscription gets a new snapshot. */
  readonly viewIntervalMs: number;
}

type Json = Record<string, unknown>;

/** Why a parsed value is no JSON-RPC 2.0 request, or undefined when it is one. */
function invalidRequest(r: unknown): string | undefined {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'not an object';
  const o = r as Json;
  if (o['jsonrpc'] !== '2.0') return 'jsonrpc must be "2.0"';
  if (typeof o['method'] !== 'string') return 'method must be a string';
  const id = o['id'];
  if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number')
    return 'id must be a string, a number or null';
  const params = o['params'];
  if (params !== undefined && (typeof params !== 'object' || params === null))
    return 'params must be an object or an array';
  return undefined;
}

/** The id to answer an invalid request with: its own when that is a valid id, else null. */
function idOf(r: unknown): string | number | null {
  const id = (r as Json | null)?.['id'];
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

export class JsonRpcEndpoint {
  private readonly server = new JSONRPCServer<RpcSession>({
    // Failed calls are answered; the client has what it needs.
    errorListener: () => undefined,
  });

  constructor(private readonly o: JsonRpcOptions) {
    this.server.mapErrorToJSONRPCErrorResponse = (id, e) => {
      const { code, message, data } = this.toError(e);
      return createJSONRPCErrorResponse(id, code, message, data);
    };
    for (const [name, m] of Object.entries(UNARY_METHODS))
      this.server.addMethod(name, (params, s) => this.unary(m, params, s));
    for (const [name, m] of Object.entries(STREAM_METHODS))
      this.server.addMethod(name, (params, s) => this.subscribe(name, m, params, s));
    this.server.addMethod(UNSUBSCRIBE, (params, s) => this.unsubscribe(params, s));
    if (o.view) this.server.addMethod(VIEW_METHOD, (params, s) => this.watchView(params, s));
  }

  /** The answer to one HTTP body or WebSocket message: JSON text, or undefined for none. */
  async handle(text: string, session: RpcSession): Promise<string | undefined> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      const why = (e as Error).message;
      return JSON.stringify(
        createJSONRPCErrorResponse(null, JSONRPCErrorCode.ParseError, `Parse error: ${why}`),
      );
    }
    if (!Array.isArray(parsed)) {
      const answer = await this.one(parsed, session);
      return answer === null ? undefined : JSON.stringify(answer);
    }
    const invalid = (why: string) =>
      JSON.stringify(
        createJSONRPCErrorResponse(
          null,
          JSONRPCErrorCode.InvalidRequest,
          `Invalid Request: ${why}`,
        ),
      );
    if (parsed.length === 0) return invalid('an empty batch');
    if (parsed.length > this.o.maxBatch)
      return invalid(`a batch of ${parsed.length} requests; at most ${this.o.maxBatch}`);
    const answers = await Promise.all(parsed.map((r) => this.one(r, session)));
    const sent = answers.filter((a) => a !== null);
    return sent.length === 0 ? undefined : JSON.stringify(sent);
  }

  private async one(r: unknown, session: RpcSession): Promise<JSONRPCResponse | null> {
    const why = invalidRequest(r);
    if (why !== undefined)
      return createJSONRPCErrorResponse(
        idOf(r),
        JSONRPCErrorCode.InvalidRequest,
        `Invalid Request: ${why}`,
      );
    return this.server.receive(r as JSONRPCRequest, session);
  }

  /** Decodes the params, admits the call as its gRPC twin, and runs it. */
  private admit(
    rpc: UnaryMethod['rpc'],
    type: string,
    params: unknown,
    session: RpcSession,
  ): { req: Json; a: Admission } {
    const req = paramsToRequest(type, params);
    const ctx: CallContext = { signal: session.signal, forwarded: false };
    return { req, a: this.o.access.admit(rpc, req, ctx, session.caller) };
  }

  private async unary(m: UnaryMethod, params: unknown, session: RpcSession): Promise<JsonValue> {
    const { req, a } = this.admit(m.rpc, m.request, params, session);
    try {
      return responseToJson(m.response, await m.call(this.o.api, req as never, a.ctx));
    } catch (e) {
      this.o.access.failed(a, session.caller, e);
      throw e;
    }
  }

  private socketOf(method: string, session: RpcSession): SocketSession {
    const socket = session.socket;
    if (socket === undefined)
      throw new JSONRPCErrorException(
        `Method not found: ${method} is a subscription, offered on the WebSocket (GET /ws) only`,
        JSONRPCErrorCode.MethodNotFound,
      );
    if (!socket.hasRoom)
      throw new DomainError(Code.RESOURCE_EXHAUSTED, 'too many subscriptions on this WebSocket');
    return socket;
  }

  private subscribe(name: string, m: StreamMethod, params: unknown, session: RpcSession): string {
    const socket = this.socketOf(name, session);
    const { req, a } = this.admit(m.rpc, m.request, params, session);
    // Opened here, so that a refusal (no leader, no stream slot) answers this call.
    const items = m.open(this.o.api, req as never, a.ctx);
    const readable = onlyReadable(items, (item) => a.readable(m.nameOf(req, item as Json)));
    return socket.subscribe(
      m.notification,
      () => mapItems(readable, (item) => responseToJson(m.item, item)),
      (e) => this.toError(e),
    );
  }

  /** The live view: a snapshot now, then every viewIntervalMs, of what the caller may read. */
  private watchView(params: unknown, session: RpcSession): string {
    const socket = this.socketOf(VIEW_METHOD, session);
    if (params !== undefined && (Array.isArray(params) || Object.keys(params as Json).length > 0))
      throw new ParamsError('cluster.watch takes no params');
    // Admitted as a Watch of every name: the names it shows are filtered the same way.
    const { a } = this.admit('LockService/Watch', 'WatchRequest', {}, session);
    const view = this.o.view!;
    const every = this.o.viewIntervalMs;
    return socket.subscribe(
      VIEW_NOTIFICATION,
      (signal) => snapshots(signal, every, () => view.snapshot(a.readable)),
      (e) => this.toError(e),
    );
  }

  private unsubscribe(params: unknown, session: RpcSession): boolean {
    const socket = this.socketOf(UNSUBSCRIBE, session);
    const id = (params as Json | undefined)?.['id'];
    if (typeof id !== 'string')
      throw new ParamsError('id: must be a subscription id (a string)', 'id');
    return socket.unsubscribe(id);
  }

  /** Any failure as a JSON-RPC error object. */
  toError(e: unknown): ErrorObject {
    if (e instanceof ParamsError) return invalidParams(e.message, e.field);
    if (e instanceof DomainError) {
      if (e.code === Code.INVALID_ARGUMENT) {
        // The LockApi names fields as the proto does (ttl_ms): the client wrote ttlMs.
        const m = /^([a-z][a-z0-9_]*): (.*)$/s.exec(e.message);
        return m
          ? invalidParams(`${jsonName(m[1]!)}: ${m[2]}`, jsonName(m[1]!))
          : invalidParams(e.message);
      }
      return { code: SERVER_ERROR, message: e.message, data: { code: Code[e.code] } };
    }
    if (e instanceof JSONRPCErrorException)
      return {
        code: e.code,
        message: e.message,
        ...(e.data === undefined ? {} : { data: e.data as JsonValue }),
      };
    this.o.logger.error({ err: e }, 'unexpected error in a JSON-RPC call');
    return {
      code: JSONRPCErrorCode.InternalError,
      message: 'Internal error',
      data: { code: 'INTERNAL' },
    };
  }
}

function invalidParams(message: string, field?: string): ErrorObject {
  return {
    code: JSONRPCErrorCode.InvalidParams,
    message: `Invalid params: ${message}`,
    data: { code: 'INVALID_ARGUMENT', ...(field === undefined ? {} : { field }) },
  };
}

function mapItems<T>(
  source: AsyncIterable<T>,
  map: (item: T) => JsonValue,
): AsyncIterable<JsonValue> {
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      return {
        next: async () => {
          const n = await it.next();
          return n.done ? { done: true, value: undefined } : { done: false, value: map(n.value) };
        },
        return: async () => {
          await it.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/** take() now and then every `ms`, until `signal` aborts. */
async function* snapshots(
  signal: AbortSignal,
  ms: number,
  take: () => Promise<unknown>,
): AsyncGenerator<JsonValue> {
  while (!signal.aborted) {
    yield (await take()) as JsonValue;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
