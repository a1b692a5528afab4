// One seeded run of the whole lock service: 3 or 5 complete nodes, clients following the SDK's
// rules, and a chaos phase of faults drawn from the seed; then everything heals, the cluster must
// recover, and the history is checked. The same seed replays the same run exactly.
import { SimNetwork, SimWorld } from '../world/index.js';
import { KIND_LOCKS } from './kinds.js';
import { checkHistory, type CheckReport } from './checker.js';
import { type ClientEnv, FencedStore, SimClient } from './client.js';
import { ADMIN, SimLockCluster, simNodeDefaults } from './cluster.js';
import { LockHistory } from './history.js';
import { clientRpc } from './rpc.js';
import { type Loot, SimThief } from './thief.js';

export interface LockSimOptions {
  readonly seed: number;
  readonly nodes?: 3 | 5;
  /** Simulated ms of faults. */
  readonly chaosMs?: number;
  /** Simulated ms after healing within which the cluster must serve again. */
  readonly recoverMs?: number;
  readonly trace?: (line: string) => void;
}

export interface LockSimResult {
  readonly history: LockHistory;
  readonly seed: number;
  readonly nodes: number;
  readonly faults: string[];
  readonly report: CheckReport;
  readonly events: number;
  readonly simMs: number;
}

const LOCKS = ['l/a', 'l/b'];
const ELECTION = 'e/one';
/**
 * Who the clients are: lockers and electors share identities (replicas of one service), the
 * admin among them; a thief uses leases of the others (a stranger, or one of them).
 */
const IDENTITIES = {
  locker: ['alice', 'bob', ADMIN, 'alice'],
  elector: ['carol', 'dave'],
  watcher: ['erin'],
  thief: ['mallory', 'bob'],
} as const;
type Role = keyof typeof IDENTITIES;

export async function runLockSeed(o: LockSimOptions): Promise<LockSimResult> {
  const seed = o.seed;
  const world = new SimWorld(seed, { trace: o.trace });
  const size = o.nodes ?? (seed % 2 === 0 ? 3 : 5);
  const voters = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const net = new SimNetwork(world, {
    dropRate: world.chance(0.5) ? world.between(0, 0.03) : 0,
    dupRate: world.chance(0.3) ? world.between(0, 0.02) : 0,
    maxDelayMs: world.between(0.5, 5),
  });
  const history = new LockHistory();
  const store = new FencedStore(history);
  // Frequent snapshots in some seeds, so that restarts and followers restore from them often.
  const cluster = new SimLockCluster(
    world,
    net,
    voters,
    history,
    { ...simNodeDefaults, snapshotEntries: world.pick([20, 60, 200]) },
    ['s1'],
  );
  // Faults strike every node, members of the moment or not.
  const ids = cluster.all;
  const chaosMs = o.chaosMs ?? 3_500;
  const recoverMs = o.recoverMs ?? 6_000;
  /** Clients go on this long after the faults heal, on a cluster that must serve them. */
  const calmMs = 1_500;
  const faults: string[] = [];
  const note = (f: string) => {
    faults.push(`${world.now.toFixed(0)}ms ${f}`);
    world.trace(`FAULT ${f}`);
  };
  const abandoned = new Map<string, { at: number }>();

  for (const id of ids) cluster.start(id);

  // ---- clients -------------------------------------------------------------------------------
  const clients: SimClient[] = [];
  const roles = new Map<SimClient, Role>();
  let clientSeq = 0;
  const spawned: Record<Role, number> = { locker: 0, elector: 0, watcher: 0, thief: 0 };
  const spawnClient = (role: Role) => {
    const cid = `c${++clientSeq}`;
    const host = world.spawn(cid);
    const names = IDENTITIES[role];
    const principal = names[spawned[role]++ % names.length]!;
    const env: ClientEnv = {
      id: cid,
      principal,
      runtime: host,
      rand: world.rand,
      rpc: clientRpc(host, net, principal),
      nodes: world.shuffle(ids),
      history,
      store,
      realNow: () => world.now,
      toReal: (local) => world.now + (local - host.now()) / host.rate,
      abandon: (lease, lastTouch) => abandoned.set(lease, { at: lastTouch }),
    };
    const c = role === 'thief' ? new SimThief(env) : new SimClient(env);
    clients.push(c);
    roles.set(c, role);
    host.onCrash(() => c.crashed());
    host.run(() => void loop(c, role).catch((e: unknown) => world.fail(e)));
    return { c, host };
  };
  /** Recent grants to identities other than `principal`: what a thief may try to use. */
  const lootFor = (principal: string): Loot[] =>
    history.ops
      .slice(-200)
      .filter((o) => o.grant && o.principal !== principal)
      .map((o) => ({ lease: o.grant!.lease, mutex: o.mutex, name: o.name }));
  const loop = async (c: SimClient, role: Role) => {
    const r = c.env.rand;
    while (c.running) {
      if (c instanceof SimThief) {
        const loot = lootFor(c.env.principal);
        if (loot.length > 0)
          await c.steal(loot[Math.floor(r() * loot.length)]!, LOCKS[Math.floor(r() * 2)]!);
        await c.sleep(50 + r() * 250);
        continue;
      }
      if (role === 'watcher') {
        await (r() < 0.5
          ? c.watchFor('watch', 'l/', 500 + r() * 1500)
          : c.watchFor('observe', ELECTION, 500 + r() * 1500));
        continue;
      }
      const kind = role === 'locker' ? 'lock' : 'election';
      const names = r() < 0.4 ? Object.keys(KIND_LOCKS) : LOCKS;
      const name = role === 'locker' ? names[Math.floor(r() * names.length)]! : ELECTION;
      if (r() < 0.05) {
        await c.members();
      } else if (r() < 0.25) {
        await c.read(kind, name);
      } else {
        await c.hold(kind, name, {
          ttl: [1_000, 1_500, 2_000][Math.floor(r() * 3)]!,
          waitMs: r() < 0.5 ? 0 : 100 + r() * 1_500,
          holdMs: r() * 2_000,
          abandon: r() < 0.2,
          noRequestId: r() < 0.2,
          alsoWaitFor:
            role === 'locker' && LOCKS.includes(name) && r() < 0.3
              ? LOCKS.find((l) => l !== name)
              : undefined,
        });
      }
      await c.sleep(r() * 200);
    }
  };
  for (let i = 0; i < 4; i++) spawnClient('locker');
  for (let i = 0; i < 2; i++) spawnClient('elector');
  spawnClient('watcher');
  spawned.thief = world.int(0, IDENTITIES.thief.length); // a stranger or a fellow client
  spawnClient('thief');

  // ---- leaderless time, sampled --------------------------------------------------------------
  let without: number | undefined;
  const sample = () => {
    const l = cluster.leader();
    const ok = l !== undefined && !l.host.frozen && reachesMajority(l.id);
    if (!ok && without === undefined) without = world.now;
    if (ok && without !== undefined) {
      history.leaderless.push({ from: without, to: world.now });
      without = undefined;
    }
    world.schedule(10, sample);
  };
  // A majority of the voters of the leader's configuration (membership changes move it).
  const reachesMajority = (id: string) => {
    const current = cluster.leader()?.node.raft.status().voters ?? voters;
    return (
      current.filter(
        (p) =>
          p === id || (!net.isBlocked(id, p) && !net.isBlocked(p, id) && !world.host(p)?.crashed),
      ).length >
      current.length / 2
    );
  };
  world.schedule(0, sample);

  // ---- faults --------------------------------------------------------------------------------
  const down = new Set<string>();
  const restartLater = (id: string, ms: number) =>
    world.schedule(ms, () => {
      down.delete(id);
      if (!cluster.running(id)) cluster.start(id);
    });
  const faultLoop = () => {
    if (world.now >= chaosMs) return;
    const x = world.rand();
    const leader = cluster.leader()?.id;
    const victim = leader && world.chance(0.6) ? leader : world.pick(ids);
    const majorityUp = down.size + 1 <= Math.floor((size - 1) / 2);
    if (x < 0.06 && leader && majorityUp) {
      // Leader churn: the leader dies every few hundred ms for a while, and comes back soon.
      const until = world.now + world.between(1_000, 2_500);
      note(`leader churn for ${(until - world.now).toFixed(0)}ms`);
      const churn = () => {
        const l = cluster.leader()?.id;
        if (world.now >= until || world.now >= chaosMs) return;
        if (l && down.size + 1 <= Math.floor((size - 1) / 2)) {
          note(`crash leader ${l}`);
          cluster.crash(l);
          down.add(l);
          restartLater(l, world.between(50, 300));
        }
        world.schedule(world.between(300, 700), churn);
      };
      churn();
    } else if (x < 0.15 && !down.has(victim) && majorityUp) {
      note(`crash ${victim}`);
      cluster.crash(victim);
      down.add(victim);
      restartLater(victim, world.between(50, 1_500));
    } else if (x < 0.22 && !down.has(victim) && majorityUp) {
      // During its next write, or in the middle of its next snapshot save (a chunk, or the write
      // that stores them): a torn write either way.
      const snapshot = world.chance(0.4);
      note(`crash ${victim} during its next ${snapshot ? 'snapshot save' : 'write'}`);
      const s = cluster.nodes.get(victim)!;
      s.disk.crashDuringNextWrite = {
        ...(snapshot ? { match: (w) => w.kind === 'snapshot' || w.kind === 'snapshotChunk' } : {}),
        crash: () => {
          cluster.crash(victim);
          down.add(victim);
          restartLater(victim, world.between(50, 1_000));
        },
      };
    } else if (x < 0.35) {
      const shuffled = world.shuffle(ids);
      const cut = 1 + world.int(0, Math.floor((size - 1) / 2) + 1);
      note(`partition ${shuffled.slice(0, cut).join(',')} | ${shuffled.slice(cut).join(',')}`);
      net.partition(shuffled.slice(0, cut), shuffled.slice(cut));
      world.schedule(world.between(200, 1_500), () => net.heal());
    } else if (x < 0.45 && leader) {
      note(`isolate leader ${leader}`);
      net.isolate(leader, ids);
      world.schedule(world.between(200, 1_500), () => net.heal());
    } else if (x < 0.52 && leader) {
      const others = ids.filter((i) => i !== leader);
      const inbound = world.chance(0.5);
      note(`one-way ${inbound ? 'to' : 'from'} leader ${leader}`);
      for (const p of others) {
        if (inbound) net.block(p, leader);
        else net.block(leader, p);
      }
      world.schedule(world.between(200, 1_500), () => net.heal());
    } else if (x < 0.58 && size >= 3) {
      const [bridge, ...rest] = world.shuffle(ids);
      const half = Math.ceil(rest.length / 2);
      note(
        `bridge ${bridge} between ${rest.slice(0, half).join(',')} and ${rest.slice(half).join(',')}`,
      );
      net.partition(rest.slice(0, half), rest.slice(half));
      world.schedule(world.between(200, 1_500), () => net.heal());
    } else if (x < 0.68) {
      const ms = world.between(50, 2 * simNodeDefaults.electionTimeoutMaxMs);
      note(`freeze ${victim} ${ms.toFixed(0)}ms`);
      cluster.nodes.get(victim)?.host?.freeze(ms);
    } else if (x < 0.74) {
      note(`slow disk ${victim}`);
      const d = cluster.nodes.get(victim)!.disk;
      d.policy = { ...d.policy, minDelayMs: 20, maxDelayMs: 80 };
      world.schedule(
        world.between(300, 1_500),
        () => (d.policy = { ...d.policy, minDelayMs: 0.1, maxDelayMs: 1 }),
      );
    } else if (x < 0.82) {
      const c = world.pick(clients.filter((k) => k.running));
      const ms = world.between(1_200, 3_000);
      note(`pause client ${c.env.id} ${ms.toFixed(0)}ms`);
      world.host(c.env.id)?.freeze(ms);
    } else if (x < 0.88) {
      const c = world.pick(clients.filter((k) => k.running));
      note(`crash client ${c.env.id}`);
      world.host(c.env.id)?.crash();
      spawnClient(roles.get(c)!);
    } else {
      const p = { ...net.policy };
      net.policy = { ...p, dropRate: world.between(0, 0.2), maxDelayMs: world.between(1, 30) };
      note(`lossy network ${net.policy.dropRate.toFixed(2)} ${net.policy.maxDelayMs.toFixed(0)}ms`);
      world.schedule(world.between(200, 1_500), () => (net.policy = p));
    }
    world.schedule(world.between(100, 600), faultLoop);
  };
  world.schedule(300, faultLoop);

  // Membership changes among the faults: a spare joins, is promoted, a voter is removed, and
  // re-added later with its old data.
  const membershipLoop = () => {
    if (world.now >= chaosMs) return;
    const asked = cluster.changeMembership((xs) => world.pick(xs));
    if (asked) note(`membership: ${asked}`);
    world.schedule(world.between(300, 900), membershipLoop);
  };
  world.schedule(world.between(400, 800), membershipLoop);

  // ---- run, heal, recover, check ---------------------------------------------------------------
  await world.run(chaosMs);
  net.heal();
  for (const s of cluster.nodes.values()) {
    s.disk.crashDuringNextWrite = null;
    s.disk.policy = { ...s.disk.policy, minDelayMs: 0.1, maxDelayMs: 1 };
  }
  world.schedule(0, () => {
    for (const id of ids) if (!cluster.running(id)) cluster.start(id);
  });
  // Clients go on for a while after the faults, then stop; the cluster must serve again.
  await world.run(chaosMs + calmMs);
  for (const c of clients) c.stop();
  let served = false;
  await world.run(chaosMs + recoverMs, () => {
    served = cluster.leader() !== undefined && ids.every((id) => cluster.nodes.get(id)!.node);
    return served;
  });
  if (!served) throw new Error(`seed ${seed}: no leader serving ${recoverMs} ms after healing`);
  await world.run(world.now + 3_000);
  if (without !== undefined) history.leaderless.push({ from: without, to: world.now });
  const report = checkHistory(history, { end: world.now, abandoned, admin: ADMIN });
  return { history, seed, nodes: size, faults, report, events: world.events, simMs: world.now };
}
