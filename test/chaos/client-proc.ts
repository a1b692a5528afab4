// A lock client in a process of its own, so that the harness can SIGSTOP it like a long GC pause.
// It does what the harness asks over IPC and, once granted, decides to write to the fenced store
// a moment later without looking at the clock again: the write a paused client makes late.
// Every release its SDK sends waits until the harness has noted it, so that the history dates
// it no later than its send, even when it happens while the harness is busy.
// Usage (by paused-client.ts): node dist/test/chaos/client-proc.js '<endpoints JSON>'
import { type Lock, QuorumLockClient, QuorumLockError } from '@quorumlock/client';

export type ToChild =
  | {
      type: 'acquire';
      id: number;
      name: string;
      owner: string;
      ttlMs: number;
      writeAfterMs: number;
    }
  | { type: 'release'; id: number }
  | { type: 'noted'; id: number }
  | { type: 'close' };

export type FromChild =
  | {
      type: 'granted';
      id: number;
      token: number;
      lease: string;
      ttlMs: number;
      /** How much longer the SDK lets this client act on the lock (it writes only if > 0). */
      validForMs: number;
    }
  /** The SDK is about to send a release of the lease; it waits for 'noted' with the same id. */
  | { type: 'releasing'; id: number; lease: string }
  | { type: 'refused'; id: number; code: number; message: string }
  | { type: 'released'; id: number; released: boolean | null; message?: string }
  | { type: 'write'; name: string; token: number };

function main(): void {
  const endpoints = JSON.parse(process.argv[2] ?? '[]') as string[];
  const client = new QuorumLockClient({ endpoints, callTimeoutMs: 5000, attemptTimeoutMs: 1500 });
  const send = (m: FromChild) => process.send?.(m);
  let lock: Lock | null = null;
  const noted = new Map<number, () => void>();
  let nextNote = 1;
  const release = client.release.bind(client);
  client.release = async (leaseId, name, o) => {
    const id = -nextNote++; // negative: apart from the harness's request ids
    await new Promise<void>((r) => {
      noted.set(id, r);
      send({ type: 'releasing', id, lease: leaseId });
    });
    return release(leaseId, name, o);
  };

  process.on('message', (m: ToChild) => {
    switch (m.type) {
      case 'acquire':
        client
          .acquire(m.name, { owner: m.owner, ttlMs: m.ttlMs, waitMs: 2000 })
          .then((l) => {
            lock = l;
            const token = Number(l.fencingToken);
            // Decide to write before telling the harness: it stops this process the moment it
            // hears of the grant, and a decision taken after waking would see the lease expired.
            const validForMs = l.held
              ? Math.max(1, Math.round(l.validUntil - performance.now()))
              : 0;
            if (validForMs > 0)
              setTimeout(() => send({ type: 'write', name: m.name, token }), m.writeAfterMs);
            send({
              type: 'granted',
              id: m.id,
              token,
              lease: l.leaseId,
              ttlMs: l.ttlMs,
              validForMs,
            });
          })
          .catch((e: unknown) => {
            const code = e instanceof QuorumLockError ? e.code : -1;
            send({ type: 'refused', id: m.id, code, message: String(e) });
          });
        return;
      case 'release': {
        const l = lock;
        lock = null;
        if (!l) return send({ type: 'released', id: m.id, released: false });
        l.release().then(
          (released) => send({ type: 'released', id: m.id, released }),
          (e: unknown) => send({ type: 'released', id: m.id, released: null, message: String(e) }),
        );
        return;
      }
      case 'noted':
        noted.get(m.id)?.();
        noted.delete(m.id);
        return;
      case 'close':
        void client.close({ release: false }).finally(() => process.exit(0));
        return;
    }
  });
  // The harness going away must not leave this process behind.
  process.on('disconnect', () => process.exit(0));
}

main();
