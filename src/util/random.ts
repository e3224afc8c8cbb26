/**
 * Seeded pseudo-random numbers (mulberry32): small, fast, and the same stream for the
 * same seed on every machine, which is what reproducible searches and simulations need.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform numbers in [0, 1) from a seed. */
export function uniformRandom(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}
