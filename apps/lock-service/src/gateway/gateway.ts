// The HTTP listener's gateway: JSON-RPC 2.0 on POST /rpc and on the WebSocket of GET /ws (`ws`),
// and the live view's page on GET /. Bodies and messages are bounded; a bad one is answered
// (or the socket closed) and never reaches the node.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import type { CallerFacts } from '../security/access-control.js';
import type { JsonRpcEndpoint } from './json-rpc.js';
import { LIVE_PAGE } from './live-page.js';
import { type SessionLimits, SocketSession } from './socket-session.js';

export interface GatewayLimits extends SessionLimits {
  /** Bytes of one POST /rpc body, and of one WebSocket message. */
  readonly maxMessageBytes: number;
  /** Calls in flight at once on one WebSocket. */
  readonly maxCallsPerSocket: number;
  /** A socket that does not answer a ping within this is closed (its subscriptions end). */
  readonly pingIntervalMs: number;
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  maxMessageBytes: 1 << 20,
  maxCallsPerSocket: 256,
  maxBufferedBytes: 4 << 20,
  maxSubscriptions: 64,
  pingIntervalMs: 30_000,
};

/** What the connection tells of its caller: the same facts a gRPC call gives admission. */
export function callerOf(req: IncomingMessage): CallerFacts {
  const socket = req.socket as Partial<TLSSocket> & IncomingMessage['socket'];
  // Only a certificate TLS verified against the trusted CA names anyone.
  const cert = socket.encrypted && socket.authorized ? socket.getPeerCertificate?.() : undefined;
  const authorization = req.headers.authorization;
  return {
    peer: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
    authorization: authorization === undefined ? [] : [authorization],
    ...(cert && Object.keys(cert).length > 0 ? { certificate: cert } : {}),
  };
}

/**
 * A browser sends Origin with cross-site requests: a page elsewhere must not use the operator's
 * browser (and its client certificate) to call the node. Clients that are not browsers send none.
 */
function crossSite(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

function answer(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

const rpcError = (code: number, message: string) =>
  JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } });

export class Gateway {
  private readonly wss: WebSocketServer;

  constructor(
    private readonly rpc: JsonRpcEndpoint,
    private readonly limits: GatewayLimits = DEFAULT_GATEWAY_LIMITS,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: limits.maxMessageBytes,
      perMessageDeflate: false,
    });
  }

  /** Express-style middleware for GET / and POST /rpc; anything else goes to `next`. */
  readonly http = (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.setHeader(
        'content-security-policy',
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
      );
      return answer(res, 200, 'text/html; charset=utf-8', LIVE_PAGE);
    }
    if (path !== '/rpc') return next();
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return answer(res, 405, 'text/plain', 'JSON-RPC 2.0: POST a request to /rpc\n');
    }
    if (crossSite(req))
      return answer(res, 403, 'application/json', rpcError(-32600, 'cross-site request refused'));
    this.post(req, res);
  };

  /** For the server's 'upgrade' event: GET /ws becomes a WebSocket carrying JSON-RPC. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '/').split('?')[0];
    const refuse = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (path !== '/ws') return refuse('404 Not Found');
    if (crossSite(req)) return refuse('403 Forbidden');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serveSocket(ws, req));
  };

  attach(server: Server): void {
    server.on('upgrade', this.upgrade);
  }

  /** Closes every WebSocket (going away): their subscriptions end. */
  close(): Promise<void> {
    // The close frame says why; then the sockets are cut, since a shutdown does not wait for
    // clients to answer it.
    for (const ws of this.wss.clients) ws.close(1001, 'the node is shutting down');
    for (const ws of this.wss.clients) ws.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }

  private post(req: IncomingMessage, res: ServerResponse): void {
    const max = this.limits.maxMessageBytes;
    const tooLarge = () => {
      res.setHeader('connection', 'close');
      answer(res, 413, 'application/json', rpcError(-32600, `request body over ${max} bytes`));
      // Stop reading what is left of the body once the answer is out.
      res.on('finish', () => req.destroy());
    };
    if (Number(req.headers['content-length'] ?? 0) > max) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > max) {
        over = true;
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (over) return;
      const abort = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) abort.abort(new Error('the client went away'));
      });
      const text = Buffer.concat(chunks).toString('utf8');
      void this.rpc.handle(text, { caller: callerOf(req), signal: abort.signal }).then(
        (reply) => {
          if (res.destroyed) return;
          if (reply === undefined) {
            res.writeHead(204, { 'cache-control': 'no-store' });
            res.end();
          } else answer(res, 200, 'application/json', reply);
        },
        () => {
          if (!res.destroyed)
            answer(res, 500, 'application/json', rpcError(-32603, 'Internal error'));
        },
      );
    });
  }

  private serveSocket(ws: WebSocket, req: IncomingMessage): void {
    const session = new SocketSession(ws, this.limits);
    const caller = callerOf(req);
    let inFlight = 0;
    let alive = true;
    const ping = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    }, this.limits.pingIntervalMs);
    ping.unref();
    ws.on('pong', () => (alive = true));
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (inFlight >= this.limits.maxCallsPerSocket) {
        session.sendText(rpcError(-32000, 'too many calls in flight on this WebSocket'));
        return;
      }
      inFlight++;
      void this.rpc
        .handle(bytes.toString('utf8'), { caller, signal: session.signal, socket: session })
        .then(
          (reply) => reply !== undefined && session.sendText(reply),
          () => session.sendText(rpcError(-32603, 'Internal error')),
        )
        .finally(() => inFlight--);
    });
    // An oversized message closes the socket with 1009 (ws does that), like any other close.
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearInterval(ping);
      session.close();
    });
  }
}
