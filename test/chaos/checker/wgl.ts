// A linearizability checker in the style of Wing & Gong with Lowe's improvements, as Porcupine
// implements it: walk the history's call/return entries, linearize any call whose model step
// succeeds, backtrack at a return that nothing linearized before it, and memoize the visited
// (linearized set, state) pairs so that each is explored once. The search is bounded by a step
// budget; running out is "gave up", never "linearizable".
import { seededRandom } from '../../../libs/raft/src/prng.js';

export interface LinOp<S> {
  call: number;
  /** Infinity: never returned (its effect may land any time after call). */
  ret: number;
  label: string;
  /** The next state, or null if the op cannot take effect in state s. */
  step(s: S): S | null;
}

export type LinResult =
  | { kind: 'ok'; steps: number }
  /** `stuck`: the op whose return no linearization could get past. */
  | { kind: 'violation'; steps: number; stuck: number }
  | { kind: 'gave-up'; steps: number };

export interface LinOptions {
  budget: number;
  /**
   * Memoize on the exact linearized set instead of its 64-bit Zobrist hash. Hash collisions
   * could only prune a branch wrongly (a false violation); failures are re-checked exactly.
   */
  exact?: boolean;
}

const NIL = -1;

/** a[i] for an index the search keeps in range; a broken invariant fails loudly. */
function at<T>(a: ArrayLike<T>, i: number): T {
  const v = a[i];
  if (v === undefined) throw new Error(`wgl invariant: index ${i} outside 0..${a.length - 1}`);
  return v;
}

export function checkLinearizable<S>(
  ops: readonly LinOp<S>[],
  init: S,
  stateKey: (s: S) => string,
  o: LinOptions,
): LinResult {
  const n = ops.length;
  // Entries 0..n-1 are calls, n..2n-1 returns; sorted by time, calls first on ties (permissive).
  const time = (e: number) => {
    const op = at(ops, e < n ? e : e - n);
    return e < n ? op.call : Math.max(op.ret, op.call);
  };
  const order = Array.from({ length: 2 * n }, (_, i) => i).sort(
    (a, b) => time(a) - time(b) || (a < n ? 0 : 1) - (b < n ? 0 : 1) || a - b,
  );
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(NIL);
  const prev = new Int32Array(2 * n + 1).fill(NIL);
  let last = head;
  for (const e of order) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  const unlink = (e: number) => {
    const [p, x] = [at(prev, e), at(next, e)];
    next[p] = x;
    if (x !== NIL) prev[x] = p;
  };
  const relink = (e: number) => {
    const [p, x] = [at(prev, e), at(next, e)];
    next[p] = e;
    if (x !== NIL) prev[x] = e;
  };
  const lift = (c: number) => {
    unlink(c);
    unlink(c + n);
  };
  const unlift = (c: number) => {
    relink(c + n);
    relink(c);
  };

  const rand = seededRandom(0x9e3779b9);
  const z1 = Uint32Array.from({ length: n }, () => Math.floor(rand() * 2 ** 32));
  const z2 = Uint32Array.from({ length: n }, () => Math.floor(rand() * 2 ** 32));
  const bits = new Uint8Array(n);
  const seen = new Set<string>();
  const stack: { c: number; state: S; h1: number; h2: number }[] = [];
  let state = init;
  let h1 = 0;
  let h2 = 0;
  let steps = 0;
  let e = at(next, head);
  while (at(next, head) !== NIL) {
    if (++steps > o.budget) return { kind: 'gave-up', steps };
    if (e < n) {
      const s = at(ops, e).step(state);
      if (s !== null) {
        const n1 = (h1 ^ at(z1, e)) >>> 0;
        const n2 = (h2 ^ at(z2, e)) >>> 0;
        bits[e] = 1;
        const key = o.exact
          ? `${stateKey(s)}|${Buffer.from(bits).toString('base64')}`
          : `${stateKey(s)}|${n1}|${n2}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ c: e, state, h1, h2 });
          state = s;
          h1 = n1;
          h2 = n2;
          lift(e);
          e = at(next, head);
          continue;
        }
        bits[e] = 0;
      }
      e = at(next, e);
    } else {
      const top = stack.pop();
      if (!top) return { kind: 'violation', steps, stuck: e - n };
      ({ state, h1, h2 } = top);
      bits[top.c] = 0;
      unlift(top.c);
      e = at(next, top.c);
    }
  }
  return { kind: 'ok', steps };
}

/**
 * Shrinks a failing set of units (each a group of ops that stand or fall together) to a small one
 * that still fails, in the manner of delta debugging: drop chunks while the rest still fails.
 */
export function minimize<U>(
  units: readonly U[],
  fails: (subset: readonly U[]) => boolean,
  maxChecks: number,
): U[] {
  let cur = [...units];
  let chunks = 2;
  let checks = 0;
  while (cur.length >= 2 && checks < maxChecks) {
    const size = Math.ceil(cur.length / chunks);
    let reduced = false;
    for (let i = 0; i < cur.length && checks < maxChecks; i += size) {
      const candidate = [...cur.slice(0, i), ...cur.slice(i + size)];
      checks++;
      if (candidate.length > 0 && fails(candidate)) {
        cur = candidate;
        chunks = Math.max(chunks - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (chunks >= cur.length) break;
      chunks = Math.min(cur.length, chunks * 2);
    }
  }
  return cur;
}
