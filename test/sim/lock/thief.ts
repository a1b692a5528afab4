// A client that uses leases other identities created, as one that learnt their ids might. The
// server must refuse every such use (PERMISSION_DENIED); the checker's lease-ownership property
// holds it to that.
import type { MutexKind } from '../../../apps/lock-service/src/domain/commands.js';
import { type RpcError, SimClient } from './client.js';

const CALL_BUDGET_MS = 4_000;

/** A grant another identity got: the lease, and the lock or election it holds. */
export interface Loot {
  readonly lease: string;
  readonly mutex: MutexKind;
  readonly name: string;
}

export class SimThief extends SimClient {
  private tries = 0;

  /**
   * Renews the lease, releases it (whole, or its lock or election), acquires `lock` with it, or
   * proclaims with it, and records what the server answered.
   */
  async steal(g: Loot, lock: string): Promise<void> {
    const { history, rand } = this.env;
    const x = rand();
    const how =
      g.mutex === 'election' && x < 0.25
        ? 'proclaim'
        : x < 0.4
          ? 'renew'
          : x < 0.6
            ? 'release'
            : x < 0.8
              ? 'release-one'
              : 'acquire';
    const n = ++this.tries;
    const owner = `${this.env.id}#thief${n}`;
    const requestId = `${this.env.id}-thief${n}`;
    const op = history.begin({
      client: this.env.id,
      principal: this.env.principal,
      kind: how === 'release-one' ? (g.mutex === 'lock' ? 'release' : 'resign') : how,
      mutex: how === 'acquire' ? 'lock' : g.mutex,
      name: how === 'acquire' ? lock : g.name,
      requestId: how === 'acquire' ? requestId : '',
      lease: g.lease,
      invoke: this.env.realNow(),
    });
    const lease_id = g.lease;
    try {
      if (how === 'renew') {
        await this.call('LockService', 'Renew', () => ({ lease_id }), CALL_BUDGET_MS);
      } else if (how === 'release' || (how === 'release-one' && g.mutex === 'lock')) {
        const name = how === 'release' ? '' : g.name;
        const r = await this.call<{ released: boolean }>(
          'LockService',
          'Release',
          () => ({ lease_id, name }),
          CALL_BUDGET_MS,
        );
        op.released = r.released;
      } else if (how === 'release-one') {
        const r = await this.call<{ resigned: boolean }>(
          'ElectionService',
          'Resign',
          () => ({ election: g.name, lease_id }),
          CALL_BUDGET_MS,
        );
        op.released = r.resigned;
      } else if (how === 'proclaim') {
        await this.call(
          'ElectionService',
          'Proclaim',
          () => ({ election: g.name, lease_id, value: `stolen-${n}` }),
          CALL_BUDGET_MS,
        );
      } else {
        const r = await this.call<{ acquired: boolean; fencing_token: number; ttl_ms: number }>(
          'LockService',
          'Acquire',
          () => ({ name: lock, owner, lease_id, request_id: requestId }),
          CALL_BUDGET_MS,
        );
        op.owner = owner;
        if (r.acquired)
          op.grant = { lease: lease_id, token: Number(r.fencing_token), ttl: r.ttl_ms };
      }
      op.complete = this.env.realNow();
      op.outcome = 'ok';
    } catch (e) {
      this.finish(op, e as RpcError);
    }
  }
}
