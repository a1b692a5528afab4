import { type NodeId, Role } from '../../libs/raft/src/index.js';
import { SimRaftCluster, type SimStats } from './raft-cluster.js';
import { calmNetwork, type CrashTrigger, fastDisk, SimWorld, slowDisk } from './world/index.js';

export interface SimOptions {
  seed: number;
  nodes?: 3 | 5;
  /** Simulated ms of faults before everything heals. */
  chaosMs?: number;
  /** Simulated ms after healing within which the cluster must recover. */
  recoverMs?: number;
  /** Receives the trace, one `<ms> <line>` per call. */
  trace?: (line: string) => void;
}

export interface SimResult {
  seed: number;
  nodes: number;
  faults: string[];
  stats: SimStats;
  recoveredAfterMs: number;
}

/**
 * One seeded run of real RaftNodes: a chaos phase with random faults (crashes, also during a
 * write; partitions; lossy, slow links; slow disks; process freezes; every host's clock drifts)
 * under client load, then every fault heals and the cluster must elect a leader and apply every
 * acknowledged write on every node within bounded simulated time. Safety is checked as the run
 * goes; a violation rejects with the simulated time and the first broken property.
 */
export async function runSeed(opts: SimOptions): Promise<SimResult> {
  const seed = opts.seed;
  const size = opts.nodes ?? (seed % 2 === 0 ? 3 : 5);
  const voters = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const spares = Array.from({ length: size === 3 ? 2 : 1 }, (_, i) => `s${i + 1}`);
  const world = new SimWorld(seed, { trace: opts.trace });
  const sim = new SimRaftCluster(world, voters, spares);
  // Faults strike every node, members or not.
  const ids = sim.all;
  const net = sim.net;
  const chaosMs = opts.chaosMs ?? 3000;
  const recoverMs = opts.recoverMs ?? 10000;
  const faults: string[] = [];
  const note = (f: string) => {
    faults.push(`${world.now.toFixed(0)}ms ${f}`);
    world.trace(`fault ${f}`);
  };
  const down = new Set<NodeId>();
  const leaderOr = (p: number): NodeId => {
    const [first] = sim.leaders();
    return first !== undefined && world.chance(p) ? first.id : world.pick(ids);
  };

  let valueSeq = 0;
  let clientOn = true;
  const clientLoop = () => {
    if (!clientOn) return;
    const burst = world.int(1, 5);
    for (let k = 0; k < burst; k++) sim.propose(`v${seed}-${valueSeq++}`);
    if (world.chance(0.3)) sim.read();
    world.schedule(world.between(2, 22), clientLoop);
  };
  world.schedule(200, clientLoop);

  const crash = (victim: NodeId, how: string) => {
    sim.crash(victim);
    down.add(victim);
    note(`crash ${victim}${how}`);
    // A supervisor often restarts the process at once: it is back before its peers time out.
    const downMs = world.chance(0.3) ? world.between(1, 20) : world.between(50, 650);
    world.schedule(downMs, () => {
      if (!down.has(victim)) return;
      down.delete(victim);
      sim.start(victim);
      note(`restart ${victim}`);
    });
  };

  const faultLoop = () => {
    if (world.now >= chaosMs) return;
    const x = world.rand();
    if (x < 0.15) {
      const how = world.rand();
      // Only candidates and voters write votes; any node may be snapshotting.
      const victim = how < 0.6 ? leaderOr(0.6) : world.pick(ids);
      const node = sim.nodes.get(victim)!;
      const trigger = (what: string, match?: CrashTrigger['match']) => {
        node.disk.crashDuringNextWrite = { match, crash: () => crash(victim, ` during ${what}`) };
      };
      if (down.has(victim) || node.disk.crashDuringNextWrite) {
        note(`${victim} is already down or about to crash`);
      } else if (how < 0.35) {
        crash(victim, '');
      } else if (how < 0.6) {
        trigger('a write');
      } else if (how < 0.85) {
        trigger('a vote', (w, d) => {
          const hs = w.kind === 'save' ? w.batch.hardState : undefined;
          return hs !== undefined && (hs.term !== d.term || hs.vote !== d.vote);
        });
      } else if (how < 0.93) {
        // Its chunks or the write that stores them: the previous snapshot must survive.
        trigger(
          'a snapshot save',
          (w) => w.kind === 'snapshot' || (w.kind === 'snapshotChunk' && !w.received),
        );
      } else {
        trigger('a snapshot receive', (w) => w.kind === 'snapshotChunk' && w.received);
      }
    } else if (x < 0.3) {
      // Symmetric partition into two random groups.
      const shuffled = world.shuffle(ids);
      const cut = world.int(1, size);
      net.partition(shuffled.slice(0, cut), shuffled.slice(cut));
      note(`partition ${shuffled.slice(0, cut).join(',')} | ${shuffled.slice(cut).join(',')}`);
    } else if (x < 0.4) {
      const l = leaderOr(1);
      net.isolate(l, ids);
      note(`isolate leader ${l}`);
    } else if (x < 0.5) {
      const p = world.pick(ids);
      const q = world.pick(ids.filter((i) => i !== p));
      net.block(p, q);
      note(`one-way ${p}>${q}`);
    } else if (x < 0.6) {
      // Bridge: two sides that only one node can reach.
      const bridge = world.pick(ids);
      const rest = ids.filter((i) => i !== bridge);
      const half = rest.slice(0, Math.floor(rest.length / 2));
      net.partition(
        half,
        rest.filter((i) => !half.includes(i)),
      );
      note(`bridge via ${bridge}`);
    } else if (x < 0.72) {
      net.heal();
      note('heal network');
    } else if (x < 0.8) {
      net.policy = {
        ...calmNetwork,
        dropRate: world.rand() * 0.3,
        dupRate: world.rand() * 0.2,
        maxDelayMs: world.between(1, 31),
        tailRate: world.rand() * 0.1,
        tailDelayMs: world.between(50, 400),
      };
      const p = net.policy;
      note(
        `lossy drop=${p.dropRate.toFixed(2)} dup=${p.dupRate.toFixed(2)} delay<=${p.maxDelayMs.toFixed(0)}ms` +
          ` tail=${p.tailRate.toFixed(2)}x${p.tailDelayMs.toFixed(0)}ms`,
      );
    } else if (x < 0.87) {
      const n = sim.nodes.get(world.pick(ids))!;
      const slow = n.disk.policy !== slowDisk;
      n.disk.policy = slow ? slowDisk : fastDisk;
      note(`${slow ? 'slow' : 'fast'} disk ${n.id}`);
    } else if (x < 0.95) {
      // A GC pause or SIGSTOP: often longer than an election timeout.
      const victim = leaderOr(0.5);
      const host = sim.nodes.get(victim)!.host;
      const ms = world.between(10, 1000);
      if (host && !host.crashed) {
        host.freeze(ms);
        sim.stats.freezes++;
        note(`freeze ${victim} ${ms.toFixed(0)}ms`);
      }
    }
    world.schedule(world.between(50, 350), faultLoop);
  };
  world.schedule(world.between(300, 600), faultLoop);

  // Membership changes among the faults: add, promote, remove (the leader too), re-add.
  const membershipLoop = () => {
    if (world.now >= chaosMs) return;
    sim.changeMembership();
    world.schedule(world.between(100, 500), membershipLoop);
  };
  world.schedule(world.between(300, 600), membershipLoop);

  await world.run(chaosMs);

  // Heal everything, then demand recovery.
  net.heal();
  net.policy = { ...calmNetwork };
  for (const n of sim.nodes.values()) {
    n.disk.policy = fastDisk;
    n.disk.crashDuringNextWrite = null;
  }
  for (const id of down) sim.start(id);
  down.clear();
  note('heal all');
  const healedAt = world.now;
  // Keep writing briefly so that a leader of the new term commits (and so applies everything).
  world.schedule(500, () => (clientOn = false));

  const recovered = () => {
    if (clientOn) return false;
    const leaders = sim.leaders();
    if (leaders.length !== 1) return false;
    const maxAcked = sim.checker.maxAckedIndex;
    // Nodes removed from the cluster no longer receive its log.
    const members = new Set(leaders[0]!.raft!.membership().members.map((m) => m.id));
    const nodes = [...sim.nodes.values()].filter((n) => members.has(n.id));
    for (const n of nodes) {
      if (!n.up || n.raft!.status().role === Role.Candidate) return false;
      if (n.sm.appliedIndex < maxAcked) return false;
    }
    for (const [value, index] of sim.checker.acked) {
      for (const n of nodes) {
        if (n.sm.values.get(index) !== value)
          throw new Error(`acknowledged write ${value}@${index} missing on ${n.id}`);
      }
    }
    return true;
  };
  let ok = false;
  await world.run(healedAt + recoverMs, () => world.now > healedAt + 500 && (ok = recovered()));
  if (!ok) {
    const state = [...sim.nodes.values()].map((n) => {
      const s = n.raft?.status();
      return `${n.id}:${s?.role ?? 'down'} term=${s?.term} applied=${n.sm.appliedIndex} commit=${s?.commit}`;
    });
    throw new Error(
      `no recovery within ${recoverMs}ms of healing (max acked ${sim.checker.maxAckedIndex}): ${state.join(' ')}`,
    );
  }
  return {
    seed,
    nodes: size,
    faults,
    stats: sim.summary(),
    recoveredAfterMs: world.now - healedAt,
  };
}
