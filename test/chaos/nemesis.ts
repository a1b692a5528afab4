// Applies the fault schedule to a running cluster, one fault at a time, and records each in the
// fault log: what, on which nodes, from when to when, and when the cluster agreed on a leader again.
import { seededRandom } from '../../libs/raft/src/prng.js';
import { sleep } from '../../libs/testing/src/wait.js';
import type { ChaosCluster } from './cluster.js';
import type { FaultRecord, Recorder } from './history.js';
import type { PausedClient } from './paused-client.js';
import type { FaultStep } from './schedule.js';

const RECOVERY_TIMEOUT_MS = 30_000;

/** The member a step's draw in [0, 1) names. */
const member = (ids: readonly string[], pick: number): string =>
  ids[Math.floor(pick * ids.length) % ids.length]!;

/** A deterministic shuffle from the step's own draw. */
function shuffled<T>(xs: readonly T[], pick: number): T[] {
  const r = seededRandom(Math.floor(pick * 2 ** 32));
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!]; // 0 <= j <= i < length
  }
  return out;
}

export class Nemesis {
  private nextId = 1;

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly rec: Recorder,
    private readonly client: PausedClient,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Runs steps until `until` (monotonic ms); the fault running then is finished and healed. */
  async run(steps: readonly FaultStep[], until: number): Promise<void> {
    for (const step of steps) {
      await sleep(Math.min(step.quietMs, until - this.rec.now()));
      if (this.rec.now() >= until) return;
      await this.apply(step);
    }
  }

  private async leaderOr(pick: number): Promise<string> {
    const ids = this.cluster.ids;
    return (await this.cluster.latestLeader()) ?? member(ids, pick);
  }

  private async apply(step: FaultStep): Promise<void> {
    const c = this.cluster;
    const ids = c.ids;
    const f: FaultRecord = {
      id: this.nextId++,
      kind: step.kind,
      targets: [],
      detail: '',
      start: 0,
      end: 0,
      recovered: null,
    };
    const begin = (targets: string[], detail: string) => {
      f.targets = targets;
      f.detail = detail;
      f.start = this.rec.now();
      this.rec.faults.push(f);
      this.log(
        `fault ${f.id} ${step.kind} [${targets.join(',')}] ${detail} for ${step.durationMs} ms`,
      );
    };
    const hold = () => sleep(step.durationMs);
    switch (step.kind) {
      case 'kill-leader':
      case 'kill-node': {
        const t =
          step.kind === 'kill-leader' ? await this.leaderOr(step.pick) : member(ids, step.pick);
        begin([t], 'kill -9, restart with its data');
        await c.kill(t);
        await hold();
        c.startNode(t);
        break;
      }
      case 'pause-leader': {
        const t = await this.leaderOr(step.pick);
        begin([t], 'SIGSTOP, then SIGCONT');
        c.pause(t);
        await hold();
        c.resume(t);
        break;
      }
      case 'partition-halves':
      case 'isolate-leader':
      case 'bridge': {
        const [a, b, bridge] = await this.groups(step);
        const detail = [a, ...(bridge.length ? [bridge] : []), b].map((g) => g.join()).join('|');
        begin([...a, ...bridge, ...b], `${detail} (${step.linkMode})`);
        c.mesh.cut(a, b, step.linkMode);
        c.mesh.cut(b, a, step.linkMode);
        await hold();
        c.mesh.heal();
        break;
      }
      case 'one-way-leader': {
        const leader = await this.leaderOr(step.pick);
        const others = ids.filter((i) => i !== leader);
        const out = step.pick < 0.5;
        begin([leader], `${out ? 'leader->others' : 'others->leader'} cut (${step.linkMode})`);
        if (out) c.mesh.cut([leader], others, step.linkMode);
        else c.mesh.cut(others, [leader], step.linkMode);
        await hold();
        c.mesh.heal();
        break;
      }
      case 'slow-node': {
        const t = step.pick < 0.5 ? await this.leaderOr(step.pick) : member(ids, step.pick * 2);
        begin([t], `links +${step.delayMs} ms, stalls of 20-60 ms (slow disk)`);
        c.mesh.delay(t, step.delayMs);
        await this.stutter(t, step.durationMs);
        c.mesh.heal();
        break;
      }
      case 'pause-client': {
        begin(['client'], 'SIGSTOP of a lock holder, longer than its TTL');
        await this.client.scenario(step.durationMs);
        break;
      }
      case 'crash-all': {
        begin([...ids], 'kill -9 of every node, restart all');
        await Promise.all(ids.map((id) => c.kill(id)));
        await hold();
        for (const id of ids) c.startNode(id);
        break;
      }
    }
    f.end = this.rec.now();
    // The checker fails the run on a fault never recovered from (recovered: null).
    const leader = await c.awaitLeader(RECOVERY_TIMEOUT_MS);
    f.recovered = leader ? this.rec.now() : null;
    if (!leader)
      this.log(`fault ${f.id}: no agreed leader ${RECOVERY_TIMEOUT_MS} ms after healing`);
  }

  /** Two sides (and a bridge node in touch with both) for a partition step. */
  private async groups(step: FaultStep): Promise<[string[], string[], string[]]> {
    const ids = this.cluster.ids;
    const leader = await this.leaderOr(step.pick);
    const rest = shuffled(
      ids.filter((i) => i !== leader),
      step.pick,
    );
    if (step.kind === 'isolate-leader') return [[leader], rest, []];
    if (step.kind === 'bridge') {
      // The leader is the bridge half the time, on one side otherwise.
      const order = step.pick < 0.5 ? [leader, ...rest] : [...rest, leader];
      const [bridge = leader, ...others] = order;
      const half = Math.floor(others.length / 2);
      return [others.slice(0, half), others.slice(half), [bridge]];
    }
    // Halves: the leader lands in the minority half the time.
    const order = step.pick < 0.5 ? [leader, ...rest] : [...rest, leader];
    const minority = Math.floor(ids.length / 2);
    return [order.slice(0, minority), order.slice(minority), []];
  }

  /** Short SIGSTOPs, like a process stuck in fsync, until durationMs passed. */
  private async stutter(id: string, durationMs: number): Promise<void> {
    const until = this.rec.now() + durationMs;
    while (this.rec.now() < until) {
      this.cluster.pause(id);
      await sleep(20 + Math.random() * 40);
      this.cluster.resume(id);
      await sleep(100 + Math.random() * 150);
    }
  }

  /**
   * Undoes every fault: links healed, processes resumed, dead nodes restarted. Returns whether
   * every node then agreed on a leader within the recovery timeout.
   */
  async healAll(): Promise<boolean> {
    this.cluster.mesh.heal();
    for (const id of this.cluster.ids) {
      this.cluster.resume(id);
      if (!this.cluster.isUp(id)) this.cluster.startNode(id);
    }
    return (await this.cluster.awaitLeader(RECOVERY_TIMEOUT_MS)) !== undefined;
  }
}
