/**
 * A small seeded PRNG (mulberry32). The core takes randomness as an input so that a simulator
 * seed reproduces every election timeout exactly.
 */
export type Random = () => number;

// Bound once: a global lookup per call is slow where modules run in a vm context (Jest).
const { imul, floor } = Math;

export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [lo, hi). */
export function randomInt(random: Random, lo: number, hi: number): number {
  return lo + floor(random() * (hi - lo));
}
