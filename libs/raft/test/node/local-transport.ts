import type { Transport } from '../../src/ports.js';
import type { Storage } from '../../src/storage.js';
import type { Message, NodeId } from '../../src/types.js';

interface Peer {
  onMessage: (m: Message) => void;
  onSnapshotStatus: (peer: NodeId, ok: boolean) => void;
  storage?: Storage;
}

/**
 * In-process transport for RaftNode tests: a hub that delivers asynchronously and can cut links.
 * Given the nodes' storages, it streams InstallSnapshot as GrpcTransport does: the sender's
 * stored snapshot, chunk by chunk, into the receiver's storage, then the message with the data.
 */
export class LocalHub {
  private readonly peers = new Map<NodeId, Peer>();
  readonly blocked = new Set<string>();
  /** Every message sent through the hub, in order (InstallSnapshot as the core emitted it). */
  readonly sent: Message[] = [];

  transport(id: NodeId, storage?: Storage): Transport {
    const peer: Peer = { onMessage: () => {}, onSnapshotStatus: () => {}, storage };
    return {
      start: async () => {
        this.peers.set(id, peer);
      },
      stop: async () => {
        if (this.peers.get(id) === peer) this.peers.delete(id);
      },
      send: (m) => {
        this.sent.push(m);
        if (this.cut(m)) return;
        if (m.type === 'InstallSnapshot') {
          void this.streamSnapshot(m, peer).then((ok) => peer.onSnapshotStatus(m.to, ok));
          return;
        }
        setImmediate(() => {
          if (!this.cut(m)) this.peers.get(m.to)?.onMessage(m);
        });
      },
      onMessage: (h) => (peer.onMessage = h),
      onUnreachable: () => {},
      onSnapshotStatus: (h) => (peer.onSnapshotStatus = h),
    };
  }

  isolate(id: NodeId, ids: NodeId[]): void {
    for (const o of ids) if (o !== id) this.blocked.add(`${id}>${o}`).add(`${o}>${id}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  private cut(m: Message): boolean {
    return this.blocked.has(`${m.from}>${m.to}`);
  }

  private async streamSnapshot(m: Message & { type: 'InstallSnapshot' }, from: Peer) {
    await new Promise((resolve) => setImmediate(resolve));
    const to = this.peers.get(m.to);
    const stored = await from.storage?.readSnapshot();
    if (to?.storage === undefined || !stored || this.cut(m)) return false;
    try {
      const data = await to.storage.receiveSnapshot(stored.meta, stored.data.chunks());
      if (this.cut(m) || this.peers.get(m.to) !== to) return false;
      to.onMessage({ ...m, snapshot: stored.meta, data });
      return true;
    } catch {
      return false;
    }
  }
}
