// A lock client in a process of its own, so that the harness can SIGSTOP it like a long GC pause.
// It does what the harness asks over IPC and, once granted, decides to write to the fenced store
// a moment later without looking at the clock again: the write a paused client makes late.
// Usage (by paused-client.ts): node dist/test/chaos/client-proc.js '<endpoints JSON>'
import { type Lock, QuorumLockClient, QuorumLockError } from '../../libs/client/src/index.js';

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
  | { type: 'close' };

export type FromChild =
  | { type: 'granted'; id: number; token: number; lease: string; ttlMs: number }
  | { type: 'refused'; id: number; code: number; message: string }
  | { type: 'released'; id: number; released: boolean | null; message?: string }
  | { type: 'write'; name: string; token: number };

function main(): void {
  const endpoints = JSON.parse(process.argv[2] ?? '[]') as string[];
  const client = new QuorumLockClient({ endpoints, callTimeoutMs: 5000, attemptTimeoutMs: 1500 });
  const send = (m: FromChild) => process.send?.(m);
  let lock: Lock | null = null;

  process.on('message', (m: ToChild) => {
    switch (m.type) {
      case 'acquire':
        client
          .acquire(m.name, { owner: m.owner, ttlMs: m.ttlMs, waitMs: 2000 })
          .then((l) => {
            lock = l;
            send({
              type: 'granted',
              id: m.id,
              token: Number(l.fencingToken),
              lease: l.leaseId,
              ttlMs: l.ttlMs,
            });
            const token = Number(l.fencingToken);
            if (l.held)
              setTimeout(() => send({ type: 'write', name: m.name, token }), m.writeAfterMs);
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
      case 'close':
        void client.close({ release: false }).finally(() => process.exit(0));
        return;
    }
  });
  // The harness going away must not leave this process behind.
  process.on('disconnect', () => process.exit(0));
}

main();
