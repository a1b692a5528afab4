import { Role, type NodeId } from '../../libs/raft/src/index.js';
import { SimCluster } from './cluster.js';

export interface SimOptions {
  seed: number;
  nodes?: 3 | 5;
  /** Simulated ms of faults before everything heals. */
  chaosMs?: number;
  /** Simulated ms after healing within which the cluster must recover. */
  recoverMs?: number;
  trace?: boolean;
}

export interface SimResult {
  seed: number;
  nodes: number;
  faults: string[];
  stats: SimCluster['stats'];
  recoveredAfterMs: number;
}

/**
 * One seeded run: a chaos phase with random faults under client load, then every fault heals
 * and the cluster must elect a leader and apply every acknowledged write on every node within
 * bounded simulated time. Safety is checked after every event; a violation throws.
 */
export function runSeed(opts: SimOptions): SimResult {
  const seed = opts.seed;
  const size = opts.nodes ?? (seed % 2 === 0 ? 3 : 5);
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const sim = new SimCluster(ids, seed, opts.trace);
  const r = sim.rand;
  const chaosMs = opts.chaosMs ?? 3000;
  const recoverMs = opts.recoverMs ?? 10000;
  const faults: string[] = [];
  const note = (f: string) => {
    faults.push(`${sim.now.toFixed(0)}ms ${f}`);
    sim.log(`fault ${f}`);
  };
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const down = new Set<NodeId>();

  let valueSeq = 0;
  let clientOn = true;
  const clientLoop = () => {
    if (!clientOn) return;
    const burst = 1 + Math.floor(r() * 4);
    for (let k = 0; k < burst; k++) sim.propose(`v${seed}-${valueSeq++}`);
    if (r() < 0.3) sim.read();
    sim.schedule(2 + r() * 20, clientLoop);
  };
  sim.schedule(200, clientLoop);

  const faultLoop = () => {
    if (sim.now >= chaosMs) return;
    const x = r();
    if (x < 0.15) {
      const leaders = sim.leaders();
      const victim = leaders.length > 0 && r() < 0.6 ? leaders[0].id : pick(ids);
      const restartLater = () =>
        sim.schedule(50 + r() * 600, () => {
          if (!down.has(victim)) return;
          down.delete(victim);
          sim.start(victim);
          note(`restart ${victim}`);
        });
      const node = sim.nodes.get(victim)!;
      if (down.has(victim) || node.crashMidWrite) {
        note(`${victim} is already down or about to crash`);
      } else if (r() < 0.5) {
        node.crashMidWrite = () => {
          down.add(victim);
          note(`crash ${victim} mid-write`);
          restartLater();
        };
      } else {
        sim.crash(victim);
        down.add(victim);
        note(`crash ${victim}`);
        restartLater();
      }
    } else if (x < 0.3) {
      // Symmetric partition into two random groups.
      const shuffled = [...ids].sort(() => r() - 0.5);
      const cut = 1 + Math.floor(r() * (size - 1));
      const a = new Set(shuffled.slice(0, cut));
      for (const p of ids)
        for (const q of ids) if (a.has(p) !== a.has(q)) sim.net.blocked.add(`${p}>${q}`);
      note(`partition ${[...a].join(',')} | ${shuffled.slice(cut).join(',')}`);
    } else if (x < 0.4) {
      const leaders = sim.leaders();
      const l = leaders.length > 0 ? leaders[0].id : pick(ids);
      for (const q of ids) if (q !== l) sim.net.blocked.add(`${l}>${q}`).add(`${q}>${l}`);
      note(`isolate leader ${l}`);
    } else if (x < 0.5) {
      const p = pick(ids);
      const q = pick(ids.filter((i) => i !== p));
      sim.net.blocked.add(`${p}>${q}`);
      note(`one-way ${p}>${q}`);
    } else if (x < 0.6) {
      // Bridge: two sides that only one node can reach.
      const bridge = pick(ids);
      const rest = ids.filter((i) => i !== bridge);
      const half = rest.slice(0, Math.floor(rest.length / 2));
      for (const p of half)
        for (const q of rest)
          if (!half.includes(q)) sim.net.blocked.add(`${p}>${q}`).add(`${q}>${p}`);
      note(`bridge via ${bridge}`);
    } else if (x < 0.75) {
      sim.net.blocked.clear();
      note('heal network');
    } else if (x < 0.82) {
      sim.net.dropRate = r() * 0.3;
      sim.net.dupRate = r() * 0.2;
      sim.net.maxDelayMs = 1 + r() * 30;
      note(
        `lossy drop=${sim.net.dropRate.toFixed(2)} dup=${sim.net.dupRate.toFixed(2)} delay<=${sim.net.maxDelayMs.toFixed(0)}ms`,
      );
    } else if (x < 0.9) {
      const n = sim.nodes.get(pick(ids))!;
      n.slowDisk = !n.slowDisk;
      note(`${n.slowDisk ? 'slow' : 'fast'} disk ${n.id}`);
    }
    sim.schedule(50 + r() * 300, faultLoop);
  };
  sim.schedule(300 + r() * 300, faultLoop);

  sim.runUntil(chaosMs);

  // Heal everything, then demand recovery.
  sim.net.blocked.clear();
  sim.net.dropRate = 0;
  sim.net.dupRate = 0;
  sim.net.maxDelayMs = 2;
  for (const n of sim.nodes.values()) {
    n.slowDisk = false;
    n.crashMidWrite = null;
  }
  for (const id of down) sim.start(id);
  down.clear();
  note('heal all');
  const healedAt = sim.now;
  // Keep writing briefly so that a leader of the new term commits (and so applies everything).
  sim.schedule(500, () => (clientOn = false));

  const recovered = () => {
    if (clientOn) return false;
    const leaders = sim.leaders();
    if (leaders.length !== 1) return false;
    const acked = sim.checker.acked;
    for (const n of sim.nodes.values()) {
      if (!n.core || n.core.role === Role.Candidate) return false;
      if (n.sm.appliedIndex < sim.checker.maxAckedIndex) return false;
    }
    for (const [value, index] of acked) {
      for (const n of sim.nodes.values()) {
        // Indexes below a node's snapshot are checked through the snapshot's content.
        if (n.sm.values.get(index) !== value)
          throw new Error(`acknowledged write ${value}@${index} missing on ${n.id}`);
      }
    }
    return true;
  };
  let ok = false;
  sim.runUntil(healedAt + recoverMs, () => sim.now > healedAt + 500 && (ok = recovered()));
  if (!ok) {
    const state = [...sim.nodes.values()].map(
      (n) =>
        `${n.id}:${n.core?.role ?? 'down'} term=${n.core?.term} applied=${n.sm.appliedIndex} commit=${n.core?.log.committed}`,
    );
    throw new Error(
      `no recovery within ${recoverMs}ms of healing (max acked ${sim.checker.maxAckedIndex}): ${state.join(' ')}`,
    );
  }
  return { seed, nodes: size, faults, stats: sim.stats, recoveredAfterMs: sim.now - healedAt };
}
