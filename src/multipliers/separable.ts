import { ACTIVATION_BITS, type Multiplier } from "./multiplier.js";

/**
 * Factors of a separable multiplier: `table[(a << N) | w] === activation[a] * weight[w]` for
 * every pair of raw operand codes. A convolution over such a table is then an integer GEMM of
 * the transformed activations with the transformed weights (docs/kernels.md, "Separable tables").
 */
export interface SeparableFactors {
  /** f(a) for each of the 256 activation codes. */
  activation: Int16Array;
  /** g(w) for each of the 2^N weight codes. */
  weight: Int16Array;
}

/**
 * The largest factor magnitude accepted: with |f|, |g| <= 32767 a pair of products summed by one
 * vpmaddwd (int16 x int16 + int16 x int16) stays inside int32 (2 x 32767^2 < 2^31), and -32768 is
 * never used.
 */
export const SEPARABLE_FACTOR_LIMIT = 32767;

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The vector divided by the gcd of its entries, its first nonzero entry made positive. */
function primitive(v: number[]): number[] {
  const d = v.reduce(gcd, 0);
  const first = v.find((x) => x !== 0) ?? 1;
  const s = first < 0 ? -d : d;
  return v.map((x) => (x === 0 ? 0 : x / s));
}

/**
 * The factors of exact 8-bit products over 8-bit codes (the plan's exact int8 layers): the
 * decoded operands, two's complement when signed.
 */
export function exactFactors(signed: boolean): SeparableFactors {
  const f = Int16Array.from({ length: 256 }, (_, c) => (signed && c >= 128 ? c - 256 : c));
  return { activation: f, weight: f };
}

const fits = (v: number[]): boolean => v.every((x) => Math.abs(x) <= SEPARABLE_FACTOR_LIMIT);

const cache = new WeakMap<Int32Array, SeparableFactors | null>();

/**
 * The exact integer factorization T[a][w] = f(a) * g(w) of a multiplier's table, or null when the
 * table is not a product of a function of the activation and a function of the weight (checked
 * entry by entry), or its factors do not fit int16 with |f|, |g| <= 32767.
 *
 * An integer rank-1 table is c * u(a) * v(w) with u, v primitive (gcd 1) and c the gcd of all
 * entries; u is unique up to sign (taken positive at its first nonzero entry). The content c goes
 * to whichever factor keeps both within the limit (the weight's first). An all-zero table gives
 * f = 0, g = 1. The result is cached per table.
 */
export function separableFactors(m: Multiplier): SeparableFactors | null {
  const hit = cache.get(m.table);
  if (hit !== undefined) return hit;
  const result = factor(m.table, m.weightBits);
  cache.set(m.table, result);
  return result;
}

function factor(t: Int32Array, weightBits: number): SeparableFactors | null {
  const A = 1 << ACTIVATION_BITS, W = 1 << weightBits;
  // Pivot: the first nonzero entry.
  let pivot = -1;
  for (let i = 0; i < t.length; i++) {
    if (t[i] !== 0) {
      pivot = i;
      break;
    }
  }
  if (pivot < 0) return { activation: new Int16Array(A), weight: new Int16Array(W).fill(1) };
  const a0 = pivot >> weightBits, w0 = pivot & (W - 1);
  const u = primitive(Array.from({ length: A }, (_, a) => t[(a << weightBits) | w0]!));
  const v = primitive(Array.from({ length: W }, (_, w) => t[(a0 << weightBits) | w]!));
  const unit = u[a0]! * v[w0]!;
  const c = t[pivot]! / unit;
  if (!Number.isInteger(c)) return null;
  const tries: Array<[number[], number[]]> = [[u, v.map((x) => x * c)], [u.map((x) => x * c), v]];
  const pair = tries.find(([f, g]) => fits(f) && fits(g));
  if (!pair) return null;
  const [f, g] = pair;
  // Verified entry by entry: products are below 2^31, exact in doubles.
  for (let a = 0; a < A; a++) {
    const fa = f[a]!;
    const row = a << weightBits;
    for (let w = 0; w < W; w++) if (fa * g[w]! !== t[row | w]) return null;
  }
  return { activation: Int16Array.from(f), weight: Int16Array.from(g) };
}
