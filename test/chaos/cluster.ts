// The chaos harness's cluster: the test kit's cluster (test/support/cluster.ts) whose Raft links
// all go through fault-injecting proxies. Each node gets its own --peers: its own entry is its
// real peer address (the config requires the same port as --peer-address), every other entry is
// the proxy of the link from it to that peer. stop() stops the proxies too.
import { ignoreRejection } from '../../libs/common/src/ignore.js';
import { tail } from '../../libs/testing/src/processes.js';
import { LocalCluster, type StatusResponse } from '../support/cluster.js';
import type { RoleChange } from './history.js';
import { ProxyMesh } from './proxy.js';

export interface ClusterSettings {
  electionTimeoutMinMs: number;
  electionTimeoutMaxMs: number;
  heartbeatIntervalMs: number;
  checkpointIntervalMs: number;
  snapshotEntries: number;
}

export const DEFAULT_SETTINGS: ClusterSettings = {
  electionTimeoutMinMs: 150,
  electionTimeoutMaxMs: 300,
  heartbeatIntervalMs: 50,
  // Short, so that the dead-client bound (TTL + election timeout + checkpoint) is tight.
  checkpointIntervalMs: 1000,
  // Small, so that restarted and lagging nodes catch up by snapshot too.
  snapshotEntries: 2000,
};

const NO_ANSWER = 'a node that does not answer has no say';

/** Lines of each node's log that a run's report keeps. */
const LOG_LINES = 200;

const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));

export class ChaosCluster extends LocalCluster {
  readonly mesh = new ProxyMesh();
  private roleTimer: NodeJS.Timeout | undefined;

  constructor(
    ids: readonly string[],
    readonly settings: ClusterSettings = DEFAULT_SETTINGS,
  ) {
    super({
      ids,
      flags: [
        ...['--election-timeout-min-ms', String(settings.electionTimeoutMinMs)],
        ...['--election-timeout-max-ms', String(settings.electionTimeoutMaxMs)],
        ...['--heartbeat-interval-ms', String(settings.heartbeatIntervalMs)],
        ...['--checkpoint-interval-ms', String(settings.checkpointIntervalMs)],
        ...['--snapshot-entries', String(settings.snapshotEntries)],
        ...['--log-level', 'warn'],
      ],
      silentHaveNoSay: true,
    });
  }

  /** A chaos run starts 5 nodes on a loaded machine: more time than a test's cluster. */
  override start(timeoutMs = 30_000): Promise<void> {
    return super.start(timeoutMs);
  }

  /** The proxies go up before any node, which is started with their ports. */
  protected override async assignAddresses(): Promise<void> {
    await super.assignAddresses();
    for (const a of this.ids)
      for (const b of this.ids) if (a !== b) await this.mesh.add(a, b, portOf(this.node(b).peer));
  }

  protected override peersFor(id: string): string {
    return this.ids
      .map((o) =>
        o === id ? `${o}=${this.node(o).peer}` : `${o}=127.0.0.1:${this.mesh.link(id, o).port}`,
      )
      .join(',');
  }

  /**
   * The leader named in the highest term any live node reports, if it is live itself: who most
   * likely leads now, without waiting for agreement.
   */
  async latestLeader(): Promise<string | undefined> {
    const all = await Promise.all(
      this.live().map((id) => ignoreRejection(this.status(id, 500), NO_ANSWER)),
    );
    let best: StatusResponse | undefined;
    for (const s of all) if (s?.leader_id && (!best || s.term > best.term)) best = s;
    return best && this.live().includes(best.leader_id) ? best.leader_id : undefined;
  }

  /** The agreed leader within timeoutMs, or undefined: no recovery is a finding, not an error. */
  awaitLeader(timeoutMs: number): Promise<string | undefined> {
    return ignoreRejection(this.leader(timeoutMs), 'the caller records that no leader came');
  }

  /**
   * Polls every live node's Status and reports changes of term, role or leader, so that a
   * history shows who led when. Stops with stop().
   */
  watchRoles(report: (c: RoleChange) => void, everyMs = 200): void {
    const last = new Map<string, string>();
    let busy = false;
    this.roleTimer = setInterval(() => {
      if (busy) return;
      busy = true;
      void Promise.all(
        this.live().map(async (id) => {
          const s = await ignoreRejection(this.status(id, everyMs), NO_ANSWER);
          const key = s && `${s.term}/${s.role}/${s.leader_id}`;
          if (!s || key === last.get(id)) return;
          last.set(id, key!);
          report({
            at: performance.now(),
            node: id,
            term: s.term,
            role: s.role,
            leader: s.leader_id,
          });
        }),
      ).finally(() => (busy = false));
    }, everyMs);
  }

  /** Crashes and exits the harness did not cause, and the tail of every node's log. */
  diagnostics(): { unexpectedExits: string[]; logs: Record<string, string[]> } {
    return {
      unexpectedExits: [...this.unexpectedExits()],
      logs: Object.fromEntries(
        this.ids.map((id) => [id, tail(this.logFile(id), LOG_LINES).split('\n').filter(Boolean)]),
      ),
    };
  }

  override async stop(): Promise<void> {
    clearInterval(this.roleTimer);
    await super.stop();
    await this.mesh.stop();
  }
}
