import type { Transport } from '../../src/ports.js';
import type { Message, NodeId } from '../../src/types.js';

/** In-process transport for RaftNode tests: a hub that delivers asynchronously and can cut links. */
export class LocalHub {
  private readonly handlers = new Map<NodeId, (m: Message) => void>();
  readonly blocked = new Set<string>();

  transport(id: NodeId): Transport {
    return {
      start: async () => {},
      stop: () => {
        this.handlers.delete(id);
        return Promise.resolve();
      },
      send: (m) => {
        if (this.blocked.has(`${m.from}>${m.to}`)) return;
        setImmediate(() => {
          if (!this.blocked.has(`${m.from}>${m.to}`)) this.handlers.get(m.to)?.(m);
        });
      },
      onMessage: (h) => this.handlers.set(id, h),
      onUnreachable: () => {},
      onSnapshotStatus: () => {},
    };
  }

  isolate(id: NodeId, ids: NodeId[]): void {
    for (const o of ids) if (o !== id) this.blocked.add(`${id}>${o}`).add(`${o}>${id}`);
  }
}
