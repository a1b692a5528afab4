// Linearizability of Acquire/Release/Describe (Campaign/Resign/Leader) per mutex, against a mutex
// model: free, or held by one owner; grants take increasing tokens. A lease's end is an op of its
// own ("leave"): its acknowledged release, or else an expiry somewhere between the earliest time
// the lease could go (its floor, or a release that may have been sent) and the time it was
// certainly gone (a NOT_FOUND, a Watch event, or the next grant). Reads and refused acquires are
// observations: they must see the state at some point inside their call.
import type { Grant, KeyHistory } from './grants.js';
import { checkLinearizable, type LinOp, type LinResult, minimize } from './wgl.js';

interface MutexState {
  holder: string | null;
  last: number;
}

export interface LinOutcome {
  key: string;
  result: LinResult['kind'];
  ops: number;
  steps: number;
  /** For a violation: the smallest failing sub-history found, one line per op. */
  witness?: string[];
}

type Unit = LinOp<MutexState>[];

const INIT: MutexState = { holder: null, last: 0 };
const stateKey = (s: MutexState) => `${s.holder ?? '-'}/${s.last}`;
const t = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(1) : 'never');

function grantOps(g: Grant, next: Grant | undefined): Unit {
  const grant: LinOp<MutexState> = {
    call: g.acquire.invoke,
    ret: g.by,
    label: `op ${g.acquire.id} ${g.client}: grant ${g.owner} token ${g.token ?? '?'}`,
    step: (s) =>
      s.holder === null && (g.token === null || g.token > s.last)
        ? { holder: g.owner, last: g.token ?? s.last }
        : null,
  };
  let call: number;
  let ret: number;
  let why: string;
  if (g.releaseAck) {
    [call, ret, why] = [
      g.releaseAck.invoke,
      g.releaseAck.complete!,
      `release op ${g.releaseAck.id}`,
    ];
  } else {
    call = Math.min(g.floor, g.releaseFrom);
    const nextBy = next?.by ?? Infinity;
    ret = Math.min(g.goneBy, nextBy);
    const by =
      ret === Infinity
        ? ''
        : `: ${g.goneBy <= nextBy ? g.goneWhy : `grant op ${next!.acquire.id}`}`;
    why = `expiry or unacknowledged release, not before ${t(call)}, by ${t(ret)}${by}`;
    // A lease gone before it could expire is reported by the durability checks; here it only
    // must not make the entry impossible.
    call = Math.min(call, ret);
  }
  const leave: LinOp<MutexState> = {
    call,
    ret,
    label: `${g.owner} leaves (${why})`,
    step: (s) => (s.holder === g.owner ? { holder: null, last: s.last } : null),
  };
  return [grant, leave];
}

/** The ops of one mutex as units: a grant with its leave and every read naming its owner. */
function units(kh: KeyHistory): Unit[] {
  const out: Unit[] = [];
  const byOwner = new Map<string, Unit>();
  const known = kh.grants.filter((g) => g.token !== null);
  const index = new Map(known.map((g, i) => [g, i]));
  for (const g of kh.grants) {
    const i = index.get(g) ?? -1;
    // The next grant (by token) needs the mutex free: this lease was gone by the time it was.
    const next = i >= 0 && i + 1 < known.length ? known[i + 1] : undefined;
    const u = grantOps(g, next);
    byOwner.set(g.owner, u);
    out.push(u);
  }
  // A lock in its lock-delay refuses an acquire with nobody holding it (no holder named).
  const delays = kh.grants.some((g) => g.delayMs > 0);
  for (const o of kh.ops) {
    if (o.outcome !== 'ok' || o.complete === null) continue;
    if (o.kind === 'acquire' && o.granted === false && !o.holder && delays) continue;
    let want: ((s: MutexState) => boolean) | undefined;
    let what = '';
    if (o.kind === 'describe') {
      want = o.held ? (s) => s.holder === o.holder : (s) => s.holder === null;
      what = o.held ? `read: held by ${o.holder} token ${o.token}` : 'read: free';
    } else if (o.kind === 'acquire' && o.granted === false) {
      want = o.holder ? (s) => s.holder === o.holder : (s) => s.holder !== null;
      what = `refused: held by ${o.holder || 'someone'}`;
    }
    if (!want) continue;
    // A holder no grant explains is reported as a phantom by the durability checks.
    const named = o.holder ? byOwner.get(o.holder) : undefined;
    if (o.holder && (o.kind === 'describe' ? o.held : true) && !named) continue;
    const test = want;
    const op: LinOp<MutexState> = {
      call: o.invoke,
      ret: o.complete,
      label: `op ${o.id} ${o.client}: ${what}`,
      step: (s) => (test(s) ? s : null),
    };
    if (named) named.push(op);
    else out.push([op]);
  }
  return out;
}

export function checkKeyLinearizable(kh: KeyHistory, budget: number): LinOutcome {
  const us = units(kh);
  const ops = us.flat();
  const r = checkLinearizable(ops, INIT, stateKey, { budget });
  const outcome: LinOutcome = { key: kh.key, result: r.kind, ops: ops.length, steps: r.steps };
  if (r.kind !== 'violation') return outcome;
  // Units that started after the stuck op returned cannot be needed to show the failure.
  const stuck = ops[r.stuck];
  if (stuck === undefined)
    throw new Error(`the search got stuck at op ${r.stuck} of ${ops.length}`);
  const before = us.filter((u) => Math.min(...u.map((o) => o.call)) <= stuck.ret);
  const fails = (sub: readonly Unit[], exact = false) =>
    checkLinearizable(sub.flat(), INIT, stateKey, { budget: Math.min(budget, 2_000_000), exact })
      .kind === 'violation';
  const small = minimize(fails(before) ? before : us, (sub) => fails(sub), 300);
  if (!fails(small, true)) {
    // Only a hash collision could do this: the exact search disagrees, so claim nothing.
    return { ...outcome, result: 'gave-up' };
  }
  outcome.witness = small
    .flat()
    .sort((a, b) => a.call - b.call)
    .map((o) => `[${t(o.call)}, ${t(o.ret)}] ${o.label}`);
  return outcome;
}
