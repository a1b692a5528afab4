// A WebSocket JSON-RPC client for tests: keeps every message, waits for the ones a test expects.
import type { ClientRequestArgs } from 'node:http';
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { waitFor } from '../../../../libs/testing/src/wait.js';

export interface Message {
  jsonrpc: '2.0';
  id?: unknown;
  method?: string;
  params?: { subscription: string; result?: Record<string, unknown>; error?: unknown };
  result?: unknown;
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

export class WsClient {
  readonly messages: Message[] = [];
  closed: { code: number; reason: string } | undefined;
  /** The TCP connection under the socket, to stop reading it (a slow reader). */
  tcp!: Socket;
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => this.messages.push(JSON.parse(d.toString()) as Message));
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    ws.on('error', () => undefined);
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
    let tcp: Socket | undefined;
    const ws = new WebSocket(url, {
      headers,
      createConnection: (o: ClientRequestArgs) =>
        (tcp = connect({ host: o.host ?? '127.0.0.1', port: Number(o.port ?? 80) })),
    });
    const client = new WsClient(ws);
    client.tcp = tcp!;
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    return client;
  }

  send(raw: string): void {
    this.ws.send(raw);
  }

  /** Sends a request and waits for its answer. */
  async call(method: string, params?: unknown): Promise<Message> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    return this.answer(id);
  }

  answer(id: unknown): Promise<Message> {
    return waitFor(`the answer to request ${String(id)}`, () =>
      this.messages.find((m) => m.id === id && m.method === undefined),
    );
  }

  /** Notifications of one subscription, so far. */
  notifications(subscription: string): Message[] {
    return this.messages.filter((m) => m.params?.subscription === subscription);
  }

  waitClosed(timeoutMs = 15_000): Promise<{ code: number; reason: string }> {
    return waitFor('the socket to close', () => this.closed, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.tcp.resume();
    this.ws.close();
    await this.waitClosed();
  }
}
