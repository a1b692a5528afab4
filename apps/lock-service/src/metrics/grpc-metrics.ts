// gRPC server metrics with the names and labels of the gRPC ecosystem's exporters
// (go-grpc-prometheus, grpc-ecosystem/go-grpc-middleware), without our prefix, so that stock
// gRPC dashboards and alerts work on them as they are. Measured by
// a grpc-js server interceptor, so the code is the status the client really got, whether it came
// from a controller, the exception filter, grpc-js itself (deadline) or the client (cancel).
import {
  type GrpcObject,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  ServerInterceptingCall,
  type ServerMethodDefinition,
  type ServiceClientConstructor,
  status,
} from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { loadApiPackage } from '../grpc/proto.js';
import { LATENCY_BUCKETS } from './prom.js';

const P = 'grpc_server_';

/** Go's spelling of each code, the one go-grpc-prometheus dashboards and alerts expect. */
const CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? String(code);
}

interface MethodLabels {
  grpc_type: string;
  grpc_service: string;
  grpc_method: string;
}

type MethodShape = Pick<ServerMethodDefinition<unknown, unknown>, 'path'> & {
  requestStream: boolean;
  responseStream: boolean;
};

function labelsOf(m: MethodShape): MethodLabels {
  const [, service = '', method = ''] = m.path.split('/');
  const grpc_type =
    m.requestStream && m.responseStream
      ? 'bidi_stream'
      : m.requestStream
        ? 'client_stream'
        : m.responseStream
          ? 'server_stream'
          : 'unary';
  return { grpc_type, grpc_service: service, grpc_method: method };
}

function deadlinePassed(call: ServerInterceptingCallInterface): boolean {
  const d = call.getDeadline();
  const at = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(at) && Date.now() >= at;
}

export class GrpcServerMetrics {
  private readonly started: Counter<keyof MethodLabels>;
  private readonly handled: Counter<keyof MethodLabels | 'grpc_code'>;
  private readonly seconds: Histogram<keyof MethodLabels>;
  private readonly received: Counter<keyof MethodLabels>;
  private readonly sent: Counter<keyof MethodLabels>;
  private readonly streams: Gauge<'grpc_service' | 'grpc_method'>;
  /** Label objects per method path, built once: calls then allocate no label sets. */
  private readonly byPath = new Map<string, MethodLabels>();

  constructor(register: Registry) {
    const labelNames = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
    this.started = new Counter({
      name: `${P}started_total`,
      help: 'RPCs started on the server.',
      labelNames,
      registers: [register],
    });
    this.handled = new Counter({
      name: `${P}handled_total`,
      help: 'RPCs completed on the server, whatever their status code.',
      labelNames: [...labelNames, 'grpc_code'],
      registers: [register],
    });
    this.seconds = new Histogram({
      name: `${P}handling_seconds`,
      help: 'Time from the start of an RPC to its status (a stream: its lifetime).',
      labelNames,
      buckets: LATENCY_BUCKETS,
      registers: [register],
    });
    this.received = new Counter({
      name: `${P}msg_received_total`,
      help: 'Messages received from clients (a unary call: one).',
      labelNames,
      registers: [register],
    });
    this.sent = new Counter({
      name: `${P}msg_sent_total`,
      help: 'Messages sent to clients (a unary call that succeeds: one).',
      labelNames,
      registers: [register],
    });
    this.streams = new Gauge({
      name: `${P}streams_open`,
      help: 'Streaming RPCs (Watch, Observe, KeepAlive, health Watch) currently open.',
      labelNames: ['grpc_service', 'grpc_method'],
      registers: [register],
    });
    this.initialize(loadApiPackage());
  }

  /** Series for every API method from the start, so rate() and absent() see them at zero. */
  private initialize(v1: GrpcObject): void {
    for (const ctor of Object.values(v1)) {
      const service = (ctor as ServiceClientConstructor).service;
      if (typeof ctor !== 'function' || service === undefined) continue;
      for (const m of Object.values(service)) {
        const labels = this.labels(m);
        this.started.inc(labels, 0);
        this.handled.inc({ ...labels, grpc_code: 'OK' }, 0);
        this.seconds.zero(labels);
        this.received.inc(labels, 0);
        this.sent.inc(labels, 0);
        if (labels.grpc_type !== 'unary')
          this.streams.set(
            { grpc_service: labels.grpc_service, grpc_method: labels.grpc_method },
            0,
          );
      }
    }
  }

  private labels(m: MethodShape): MethodLabels {
    let labels = this.byPath.get(m.path);
    if (labels === undefined) {
      labels = labelsOf(m);
      this.byPath.set(m.path, labels);
    }
    return labels;
  }

  /** For the grpc-js Server's `interceptors` option. */
  readonly interceptor: ServerInterceptor = (method, call) => {
    const labels = this.labels(method);
    const streaming = labels.grpc_type !== 'unary';
    const stream = { grpc_service: labels.grpc_service, grpc_method: labels.grpc_method };
    const begun = performance.now();
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      this.handled.inc({ ...labels, grpc_code: grpcCodeName(code) });
      this.seconds.observe(labels, (performance.now() - begun) / 1000);
      if (streaming) this.streams.dec(stream);
    };
    this.started.inc(labels);
    if (streaming) this.streams.inc(stream);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            this.received.inc(labels);
            nextMessage(message);
          },
          // Also fires when the stream closes after a status; `done` makes that a no-op.
          onCancel: () =>
            finish(deadlinePassed(call) ? status.DEADLINE_EXCEEDED : status.CANCELLED),
        }),
      sendMessage: (message, next) => {
        this.sent.inc(labels);
        next(message);
      },
      sendStatus: (s, next) => {
        finish(s.code);
        next(s);
      },
    });
  };
}
