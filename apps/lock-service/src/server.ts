// Starts the server: the Nest application (gRPC API and HTTP probes) around one LockNode, pino
// logging, and a graceful shutdown on SIGTERM/SIGINT.
import 'reflect-metadata';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ServerCredentials, ServerInterceptor } from '@grpc/grpc-js';
import type { DynamicModule, INestApplication, LoggerService, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { pino, type Logger } from 'pino';
import { AppModule, CLUSTER_ID, LockNodeLifecycle } from './app.module.js';
import type { ClusterIdFile } from './cluster-id.js';
import { prepareDataDir } from './data-dir-startup.js';
import { CONFIG_OPTIONS, ConfigError, type ServerConfig, splitHostPort } from './config/config.js';
import type { ClusterView } from './domain/cluster-view.js';
import type { LockApi } from './domain/api.js';
import { DEFAULT_GATEWAY_LIMITS, Gateway, type GatewayLimits } from './gateway/gateway.js';
import { JsonRpcEndpoint } from './gateway/json-rpc.js';
import { QuorumLockGrpcServer } from './grpc/grpc-server.js';
import { ACCESS_CONTROL, CLUSTER_VIEW, LOCK_API } from './grpc/tokens.js';
import { GrpcHealth } from './grpc/health.js';
import { ServingState } from './grpc/serving.js';
import { Telemetry } from './metrics/telemetry.js';
import { type HttpsSettings, TransportSecurity } from './tls/transport-security.js';
import { AccessControl } from './security/access-control.js';
import { AuthConfigError } from './security/auth-config.js';
import { AuthConfigFile } from './security/auth-config-file.js';
import { ignoreRejection } from '../../../libs/common/src/ignore.js';

/** How long gRPC calls still running after the node stopped get before they are cut. */
const GRPC_GRACE_MS = 3_000;
/** A signal-driven shutdown that takes longer than this exits the process anyway. */
const SHUTDOWN_TIMEOUT_MS = 20_000;

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** A value from a parsed log line, as it reads in text. */
const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

const show = (v: unknown) =>
  typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);

/**
 * One pino JSON line as "12:00:01.234 INFO  [n1 leader t3] msg key=value". Errors logged at
 * error level or above get their stack on the following lines; below that only their message,
 * since peers coming and going log warnings with errors that are routine.
 */
export function formatPrettyLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const { time, level, msg, node, err, pid: _pid, hostname: _host, ...fields } = record;
  const when = new Date(time as string | number);
  const parts = [
    Number.isNaN(when.getTime()) ? '--:--:--.---' : when.toISOString().slice(11, 23),
    (LEVEL_NAMES[level as number] ?? String(level)).padEnd(5),
  ];
  const { role, term } = fields;
  if (node !== undefined && typeof role === 'string' && typeof term === 'number') {
    // The Raft context every server line carries reads best next to the node.
    parts.push(`[${text(node)} ${role} t${term}]`);
    delete fields['role'];
    delete fields['term'];
  } else if (node !== undefined) {
    parts.push(`[${text(node)}]`);
  }
  if (msg !== undefined) parts.push(text(msg));
  const error = err as { message?: unknown; stack?: unknown } | string | undefined;
  let stack = '';
  if (typeof error === 'object' && error !== null) {
    if ((level as number) >= 50 && typeof error.stack === 'string') {
      stack = `\n    ${error.stack.replace(/\n/g, '\n    ')}`;
    } else {
      fields['err'] = error.message ?? error;
    }
  } else if (error !== undefined) {
    fields['err'] = error;
  }
  for (const [key, value] of Object.entries(fields)) parts.push(`${key}=${show(value)}`);
  return `${parts.join(' ')}${stack}\n`;
}

export interface LogSettings {
  readonly logFormat: 'json' | 'pretty';
  readonly logLevel: string;
}

/**
 * Writes synchronously so that the last lines before process.exit are not lost. "pretty" is a
 * write function rather than pino-pretty, which would be a dependency and a worker thread.
 */
export function createLogger(
  settings: LogSettings,
  out: { write(chunk: string): unknown } = process.stdout,
): Logger {
  const options = { level: settings.logLevel, timestamp: pino.stdTimeFunctions.isoTime };
  if (settings.logFormat === 'pretty') {
    return pino(options, { write: (line: string) => out.write(formatPrettyLine(line)) });
  }
  if (out === process.stdout) return pino(options, pino.destination({ dest: 1, sync: true }));
  return pino(options, { write: (line: string) => out.write(line) });
}

/**
 * Nest's own messages go through pino. Its "log" level (module and route mapping at start-up)
 * is demoted to debug: noise for an operator at info.
 */
class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  private write(
    level: 'fatal' | 'error' | 'warn' | 'debug' | 'trace',
    message: unknown,
    rest: unknown[],
  ) {
    const last = rest.at(-1);
    const context = typeof last === 'string' ? last : undefined;
    if (message instanceof Error) {
      this.logger[level]({ context, err: message }, message.message);
    } else {
      const stack = level === 'error' && rest.length > 1 ? rest[0] : undefined;
      this.logger[level]({ context, stack }, typeof message === 'string' ? message : show(message));
    }
  }
}

export interface ApplicationOptions {
  /** gRPC listen address; port 0 picks a free port. */
  readonly clientAddress: string;
  /** HTTP listen address (gateway, live view, probes, metrics); port 0 picks a free port. */
  readonly httpAddress: string;
  readonly logger: Logger;
  readonly grpcGraceMs?: number;
  /**
   * HTTP/2 keepalive pings to clients: a call from a host that died (or hangs) ends within
   * interval + timeout instead of when TCP gives up, hours later; a waiting Acquire then leaves
   * its queue.
   */
  readonly grpcKeepalive?: { readonly intervalMs: number; readonly timeoutMs: number };
  /** Around every gRPC call (metrics). */
  readonly grpcInterceptors?: ServerInterceptor[];
  /** The gRPC API's credentials (TLS); default plaintext. */
  readonly grpcCredentials?: ServerCredentials;
  /** HTTPS instead of HTTP, and whether /metrics needs a verified client certificate. */
  readonly https?: { readonly options: HttpsSettings; readonly metricsNeedClientCert: boolean };
  /** The JSON-RPC gateway's bounds (tests make them small) and the live view's refresh. */
  readonly gateway?: Partial<GatewayLimits> & { readonly viewIntervalMs?: number };
}

/** Requests in one JSON-RPC batch, at most. */
const MAX_BATCH = 100;
/** How often the live view gets a new snapshot of the cluster. */
const VIEW_INTERVAL_MS = 500;

/** The gateway over the application's LockApi and AccessControl (and ClusterView, if any). */
function createGateway(app: INestApplication, options: ApplicationOptions): Gateway {
  let view: ClusterView | undefined;
  try {
    view = app.get<ClusterView>(CLUSTER_VIEW);
  } catch {
    view = undefined;
  }
  const rpc = new JsonRpcEndpoint({
    api: app.get<LockApi>(LOCK_API),
    access: app.get<AccessControl>(ACCESS_CONTROL),
    logger: options.logger.child({ component: 'gateway' }),
    ...(view ? { view } : {}),
    maxBatch: MAX_BATCH,
    viewIntervalMs: options.gateway?.viewIntervalMs ?? VIEW_INTERVAL_MS,
  });
  return new Gateway(rpc, { ...DEFAULT_GATEWAY_LIMITS, ...options.gateway });
}

export interface Application {
  readonly app: INestApplication;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Replaces the HTTPS certificate for new connections (certificate rotation). */
  setHttpsContext(options: HttpsSettings): void;
  /** Reports NOT_SERVING and refuses new gRPC calls; HTTP stays up for the probes. */
  drain(): void;
  /** Cuts gRPC calls still running after the grace period, then closes everything. */
  close(): Promise<void>;
}

/**
 * The Nest application for a root module that provides LOCK_API and LOGGER globally: serve()
 * passes AppModule, tests a module with a fake LockApi.
 */
export async function startApplication(
  rootModule: DynamicModule | Type,
  options: ApplicationOptions,
): Promise<Application> {
  const http = splitHostPort(options.httpAddress);
  if (http === undefined) throw new Error(`HTTP address "${options.httpAddress}" is not host:port`);
  let gateway: Gateway | undefined;
  const app = await NestFactory.create(rootModule, {
    logger: new NestPinoLogger(options.logger.child({ component: 'nest' })),
    // Nest's default answers a failed start-up with process.abort(): a core dump, no message.
    abortOnError: false,
    // Keep-alive connections of scrapers and probes would otherwise hold close() open.
    forceCloseConnections: true,
    // No route takes a parsed body: the gateway reads POST /rpc itself, within its bound.
    bodyParser: false,
    ...(options.https ? { httpsOptions: options.https.options } : {}),
  });
  try {
    if (options.https?.metricsNeedClientCert) app.use('/metrics', requireClientCertificate);
    gateway = createGateway(app, options);
    app.use(gateway.http);
    gateway.attach(app.getHttpServer() as HttpServer);
    const health = app.get(GrpcHealth);
    const grpcServer = new QuorumLockGrpcServer({
      address: options.clientAddress,
      addServices: (server) => health.addToServer(server),
      interceptors: options.grpcInterceptors,
      keepalive: options.grpcKeepalive,
      credentials: options.grpcCredentials,
    });
    app.connectMicroservice({ strategy: grpcServer });
    await app.startAllMicroservices();
    await app.listen(http.port, http.host);
    const serving = app.get(ServingState);
    const grace = options.grpcGraceMs ?? GRPC_GRACE_MS;
    return {
      app,
      grpcPort: grpcServer.port,
      httpPort: ((app.getHttpServer() as HttpServer).address() as AddressInfo).port,
      setHttpsContext(context) {
        (app.getHttpServer() as HttpsServer).setSecureContext(context);
      },
      drain() {
        serving.drain();
        health.refresh();
        grpcServer.stopAccepting();
      },
      async close() {
        await grpcServer.shutdown(grace);
        await gateway?.close();
        await app.close();
      },
    };
  } catch (err) {
    await gateway?.close();
    await ignoreRejection(app.close(), 'the start-up failure is the one to report', options.logger);
    throw err;
  }
}

/**
 * Under --client-cert-auth, /metrics answers only a client whose certificate verified against
 * the trusted CA; the probes stay open, since kubelets and load balancers have no certificate.
 */
function requireClientCertificate(req: IncomingMessage, res: ServerResponse, next: () => void) {
  if ((req.socket as TLSSocket).authorized) return next();
  res.writeHead(401, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
  res.end('a client certificate signed by the trusted CA (--trusted-ca-file) is required\n');
}

/** The --auth-config file, loaded and watched; a bad one is a configuration error. */
function openAuthConfig(
  config: ServerConfig,
  logger: Logger,
  access: AccessControl,
): AuthConfigFile | undefined {
  const file = config.authConfig;
  if (file === undefined) return undefined;
  try {
    return AuthConfigFile.open(file, { logger, onLoad: (p) => access.setPolicy(p) });
  } catch (e) {
    if (!(e instanceof AuthConfigError)) throw e;
    const o = CONFIG_OPTIONS.find((x) => x.key === 'authConfig')!;
    throw new ConfigError(e.problems.map((p) => `invalid ${o.flag} (${o.env}) ${file}: ${p}`));
  }
}

export interface RunningServer {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Settles once the server has shut down, whether by close() or by a signal. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Defaults to one built from the config's log settings. */
  readonly logger?: Logger;
  /** Defaults to the config's certificate files, read here (a ConfigError names a bad one). */
  readonly security?: TransportSecurity;
  /** Install SIGTERM/SIGINT handlers (default true); tests leave the process's signals alone. */
  readonly handleSignals?: boolean;
}

export async function serve(
  config: ServerConfig,
  options: ServeOptions = {},
): Promise<RunningServer> {
  const telemetry = new Telemetry();
  const logger = telemetry.withRaftContext(
    options.logger ?? createLogger(config).child({ node: config.id }),
  );
  // Before anything opens the data dir: whose it is, and a forced new cluster.
  await prepareDataDir(config, logger);
  const security = options.security ?? new TransportSecurity(config, logger);
  const httpsOptions = security.httpsOptions();
  const access = new AccessControl({
    insecure: config.insecure,
    onDenied: (d) => {
      telemetry.authDenied(d.action);
      const { rpc, action, code, on, principal, peer, reason } = d;
      logger.warn({ rpc, action, code, on, principal, peer, reason }, 'call refused');
    },
  });
  let authFile: AuthConfigFile | undefined;
  let started: Application;
  try {
    authFile = openAuthConfig(config, logger, access);
    started = await startApplication(
      AppModule.forRoot(config, logger, security, access, telemetry),
      {
        clientAddress: config.clientListenAddress ?? config.clientAddress,
        httpAddress: config.httpAddress,
        logger,
        grpcInterceptors: [telemetry.grpcInterceptor],
        grpcKeepalive: {
          intervalMs: config.grpcKeepaliveIntervalMs,
          timeoutMs: config.grpcKeepaliveTimeoutMs,
        },
        grpcCredentials: security.clientServer,
        ...(httpsOptions
          ? {
              https: {
                options: httpsOptions,
                metricsNeedClientCert: security.metricsNeedClientCert,
              },
            }
          : {}),
      },
    );
  } catch (err) {
    authFile?.close();
    security.close();
    telemetry.close();
    throw err;
  }
  security.onHttpsChange((context) => started.setHttpsContext(context));
  security.watch();
  const lockNode = started.app.get(LockNodeLifecycle);
  logger.info(
    {
      client: config.clientAddress,
      clientListen: config.clientListenAddress,
      peer: config.peerAddress,
      http: config.httpAddress,
      clientTls: security.client !== undefined,
      peerTls: security.peer !== undefined,
    },
    'quorumlock serving',
  );

  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
  // Certificates and the auth config are re-read when their files change; SIGHUP re-reads
  // them at once.
  const onHangup = () => {
    logger.info({ signal: 'SIGHUP' }, 'signal received: re-reading certificate and auth files');
    security.reload('SIGHUP');
    void authFile?.reload('SIGHUP');
  };
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const closed = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // A failed shutdown reaches whoever awaits `closed`; when nobody does, it is no crash.
  void ignoreRejection(closed, 'shutdown failures are reported to those awaiting closed', logger);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (closing === undefined) {
      closing = shutdown();
      closing.then(settle.resolve, settle.reject);
    }
    return closing;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (closing !== undefined) {
      logger.warn({ signal }, 'already shutting down');
      return;
    }
    logger.info({ signal }, 'signal received');
    setTimeout(() => {
      logger.fatal({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'graceful shutdown timed out');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    void ignoreRejection(close(), 'a failed shutdown rejects `closed`', logger);
  };

  // Order: refuse new work, hand leadership over while peers are still reachable, then close
  // the servers; /healthz keeps answering until the very end.
  async function shutdown(): Promise<void> {
    logger.info('shutting down');
    started.drain();
    try {
      await lockNode.stop({ transferLeadership: true });
    } catch (err) {
      logger.error({ err }, 'stopping the lock node failed');
    }
    try {
      await started.close();
      logger.info('stopped');
    } finally {
      telemetry.close();
      security.close();
      authFile?.close();
      for (const s of signals) process.off(s, onSignal);
      process.off('SIGHUP', onHangup);
    }
  }

  if (options.handleSignals ?? true) {
    for (const s of signals) process.on(s, onSignal);
    process.on('SIGHUP', onHangup);
  }
  // After a failed storage write (or a broken Raft invariant) the node's state is unknown: exit
  // so a supervisor restarts the node, which then reloads (and checks) what is really on disk.
  lockNode.node.onFatal(() => {
    if (options.handleSignals ?? true) {
      const exit = () => process.exit(70);
      void close().then(exit, (err: unknown) => {
        logger.error({ err }, 'shutting down after the fatal error failed');
        exit();
      });
    }
  });

  // A node that reaches a peer of another cluster before it has found a leader of its own is on
  // the wrong data dir or pointed at the wrong peers: it refuses to run. A node serving its own
  // cluster only logs it (the stray node is the one to stop).
  started.app.get<ClusterIdFile>(CLUSTER_ID).onMismatch((peer, detail) => {
    if (lockNode.node.raft.leaderId() !== '' || closing !== undefined) return;
    logger.fatal(
      { peer, detail },
      'this data dir belongs to another cluster than its peers: refusing to run',
    );
    if (options.handleSignals ?? true) {
      const exit = () => process.exit(78);
      void close().then(exit, exit);
    }
  });

  return { grpcPort: started.grpcPort, httpPort: started.httpPort, closed, close };
}
