import { createHash } from "node:crypto";
import { uniformRandom } from "../util/random.js";

/** A genome: one integer per gene, gene i in [0, cardinalities[i]). */
export type Genome = readonly number[];

/**
 * The archive key of a genome: a short SHA-256 of its genes. Equal genomes have equal keys; the
 * archive keeps the genes too and checks them, so a (2^-64-unlikely) collision is caught, not merged.
 */
export function genomeKey(genome: Genome): string {
  return createHash("sha256").update(genome.join(",")).digest("hex").slice(0, 16);
}

/**
 * The random stream of one step of a search, a pure function of (seed, stream, step): a search
 * that is stopped and replayed draws exactly the same numbers at every generation.
 */
export function stepRandom(seed: number, stream: string, step: number): () => number {
  const h = createHash("sha256").update(`${seed >>> 0}/${stream}/${step}`).digest();
  return uniformRandom(h.readUInt32LE(0));
}

export function randomInt(rand: () => number, n: number): number {
  return Math.min(n - 1, Math.floor(rand() * n));
}

export function randomGenome(rand: () => number, cardinalities: readonly number[]): number[] {
  return cardinalities.map((c) => randomInt(rand, c));
}

/** The number of distinct genomes (Infinity when it exceeds 2^53). */
export function searchSpaceSize(cardinalities: readonly number[]): number {
  let n = 1;
  for (const c of cardinalities) {
    n *= c;
    if (n > Number.MAX_SAFE_INTEGER) return Infinity;
  }
  return n;
}
