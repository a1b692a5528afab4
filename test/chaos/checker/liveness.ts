// Time-bound properties: a dead client's lease goes within TTL + election timeout + checkpoint
// interval (+ slack for the expiry tick, its commit and the probe's polling), and
// availability per fault. The bound assumes a working cluster, so it is asserted only over
// windows with no fault but at most one crash or pause of a single node (one leader change).
import type { FaultRecord, History, Op } from '../history.js';
import type { KeyHistory } from './grants.js';
import type { Violations } from './safety.js';

export const DEAD_SLACK_MS = 1000;
const ONE_NODE_FAULTS = new Set(['kill-leader', 'kill-node', 'pause-leader']);

export interface DeadLeaseStats {
  leases: number;
  asserted: number;
  skipped: number;
  /** How long after its floor (last confirmed send + TTL) each lease was seen gone, ms. */
  goneAfterFloorMs: number[];
}

/** Faults that touched the cluster between from and to (a paused client does not). */
function faultsIn(faults: readonly FaultRecord[], from: number, to: number): FaultRecord[] {
  return faults.filter(
    (f) => f.kind !== 'pause-client' && f.start < to && (f.recovered ?? Infinity) > from,
  );
}

export function checkDeadLeases(
  h: History,
  keys: Map<string, KeyHistory>,
  prefix: string,
  v: Violations,
): DeadLeaseStats {
  const stats: DeadLeaseStats = { leases: 0, asserted: 0, skipped: 0, goneAfterFloorMs: [] };
  const extra = h.meta.electionTimeoutMaxMs + h.meta.checkpointIntervalMs + DEAD_SLACK_MS;
  for (const kh of keys.values()) {
    if (!kh.key.startsWith(prefix)) continue;
    const g = kh.grants.find((x) => x.acked && x.lease !== null);
    if (!g) continue;
    const renewals = kh.ops.filter((o) => o.kind === 'renew' && o.lease === g.lease);
    // A renewal whose fate is unknown may have reached the leader any time later.
    if (renewals.some((o) => o.outcome === 'unknown')) continue;
    stats.leases++;
    const confirmed = [g.acquire, ...renewals.filter((o) => o.outcome === 'ok')];
    const lastAck = Math.max(...confirmed.map((o) => o.complete!));
    const bound = lastAck + g.ttl + extra;
    const reads = kh.ops
      .filter((o): o is Op & { complete: number } => o.kind === 'describe' && o.outcome === 'ok')
      .sort((a, b) => a.invoke - b.invoke);
    const gone = reads.find((d) => d.invoke > lastAck && d.holder !== g.owner);
    if (gone) stats.goneAfterFloorMs.push(Math.round(gone.complete - g.floor));
    const late = reads.filter((d) => d.holder === g.owner && d.invoke > bound).at(-1);
    const faults = faultsIn(h.faults, lastAck, late?.invoke ?? bound);
    if (faults.length > 1 || faults.some((f) => !ONE_NODE_FAULTS.has(f.kind))) {
      stats.skipped++;
      continue;
    }
    stats.asserted++;
    if (!late) continue;
    v.add(
      'dead-lease-expiry',
      kh.key,
      `lease of ${g.owner} (token ${g.token}), last confirmed at ${lastAck.toFixed(1)}, still held at ${late.invoke.toFixed(1)}: beyond TTL ${g.ttl} + election timeout + checkpoint interval + ${DEAD_SLACK_MS} ms slack${faults[0] ? ` (fault: ${faults[0].kind})` : ''}`,
      [g.acquire.id, late.id],
    );
  }
  return stats;
}

/**
 * Every fault is followed by recovery: once it is healed, every running node names the same
 * leader within the nemesis's 30 s (recorded as the fault's `recovered`), and so does the
 * cluster after the final heal (a harness failure, recorded apart). Returns the faults checked.
 */
export function checkRecovery(h: History, v: Violations): number {
  for (const f of h.faults) {
    if (f.recovered === null)
      v.add(
        'recovery',
        '',
        `fault ${f.id} (${f.kind} [${f.targets.join(',')}] ${f.detail}) healed at ${f.end.toFixed(1)}: no agreed leader within 30 s`,
      );
  }
  return h.faults.length;
}

export interface Availability {
  fault: number;
  kind: string;
  /** From the fault's start to the first acquire granted that was asked for after it. */
  firstGrantMs: number | null;
  /** From the fault's end (healed) until every node agreed on a leader. */
  recoveryMs: number | null;
}

export function availability(h: History): Availability[] {
  const grants = h.ops
    .filter(
      (o) => o.kind === 'acquire' && o.outcome === 'ok' && o.granted && o.key.startsWith('lock:'),
    )
    .sort((a, b) => a.complete! - b.complete!);
  return h.faults.map((f) => {
    const first = grants.find((o) => o.invoke >= f.start);
    return {
      fault: f.id,
      kind: f.kind,
      firstGrantMs: first ? Math.round(first.complete! - f.start) : null,
      recoveryMs: f.recovered === null ? null : Math.round(f.recovered - f.end),
    };
  });
}

/** count, median, p90 and max per fault kind, of the first-grant times. */
export function summarize(a: readonly Availability[]): Record<string, string> {
  const out: Record<string, string> = {};
  const kinds = [...new Set(a.map((x) => x.kind))].sort();
  for (const k of kinds) {
    const xs = a.filter((x) => x.kind === k);
    const ms = xs
      .map((x) => x.firstGrantMs)
      .filter((x): x is number => x !== null)
      .sort((p, q) => p - q);
    const q = (p: number) =>
      ms.length ? ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] : NaN;
    out[k] =
      `${xs.length} faults, first grant after median ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${ms.at(-1) ?? NaN} ms${ms.length < xs.length ? `, ${xs.length - ms.length} without a later grant` : ''}`;
  }
  return out;
}
