import { AxnnError } from "../util/errors.js";
import { ACTIVATION_BITS, decodeOperand, tableSize, type Multiplier } from "./multiplier.js";

/**
 * Error metrics with EvoApproxLib's definitions. The keys are a CLI contract
 * (`axnn mult metrics --json` prints exactly these).
 *
 * Errors are `approx - exact`, exact products from the decoded operand values.
 * Under the uniform distribution every one of the 2^(8+N) operand pairs counts once;
 * under an {@link OperandDistribution} every pair counts with its probability, and the
 * worst cases (`wce`, `wcre_pct`) range over pairs of non-zero probability.
 */
export interface ErrorMetrics {
  /** Mean |approx - exact|. */
  mae: number;
  /** Worst-case |approx - exact|. */
  wce: number;
  /** `mae` as a percentage of 2^(8+N), the output range (2^16 for 8x8, signed or not). */
  mae_pct: number;
  /** `wce` as a percentage of 2^(8+N). */
  wce_pct: number;
  /**
   * Mean |approx - exact| / |exact| in %, over pairs whose exact product is non-zero
   * (under a distribution: weighted by probability, conditional on a non-zero exact product).
   */
  mre_pct: number;
  /** Largest |approx - exact| / |exact| in %, over pairs whose exact product is non-zero. */
  wcre_pct: number;
  /** Share of pairs (probability mass) with any error, in %. */
  ep_pct: number;
  /** Mean squared error. */
  mse: number;
  /** Mean signed error (approx - exact). */
  bias: number;
}

/**
 * A distribution of operand pairs, as histograms of counts (or probabilities; only the
 * ratios matter) indexed by raw operand bit patterns, the same codes that index the table
 * (two's complement for signed multipliers: count of value -1 is at code 255).
 *
 * - `{ activation, weight }`: 256 activation counts and 2^N weight counts, taken as independent.
 * - `{ joint }`: 256 x 2^N counts laid out like the table, entry `(act << N) | w`.
 */
export type OperandDistribution =
  | { activation: ArrayLike<number>; weight: ArrayLike<number> }
  | { joint: ArrayLike<number> };

const operandValueCache = new Map<string, Int32Array>();

/** Values of all codes of an operand (cached: these tiny arrays are reused on every call). */
function operandValues(bits: number, signed: boolean): Int32Array {
  const key = `${bits}${signed ? "s" : "u"}`;
  let v = operandValueCache.get(key);
  if (!v) {
    v = new Int32Array(1 << bits);
    for (let c = 0; c < v.length; c++) v[c] = decodeOperand(c, bits, signed);
    operandValueCache.set(key, v);
  }
  return v;
}

/** Copies a histogram into a Float64Array after checking its length and entries. */
function checkedHistogram(counts: ArrayLike<number> | undefined, expected: number, what: string, field: string): Float64Array {
  if (counts === undefined || counts === null || typeof counts.length !== "number") {
    throw new AxnnError(`${what} histogram is missing: expected an array of ${expected} counts`, { field });
  }
  if (counts.length !== expected) {
    throw new AxnnError(`${what} histogram must have ${expected} counts (one per operand code), got ${counts.length}`, { field });
  }
  const out = new Float64Array(expected);
  let total = 0;
  for (let i = 0; i < expected; i++) {
    const c = counts[i]!;
    if (typeof c !== "number" || !Number.isFinite(c) || c < 0) {
      throw new AxnnError(`${what} histogram entry ${i} is ${String(c)}; counts must be finite and non-negative`, { field });
    }
    out[i] = c;
    total += c;
  }
  if (!(total > 0)) throw new AxnnError(`${what} histogram is all zeros; at least one count must be positive`, { field });
  return out;
}

interface Weights {
  /** Per-activation-code weight, or null for 1. */
  row: Float64Array | null;
  /** Per-weight-code weight, or null for 1. */
  col: Float64Array | null;
  /** Per-table-entry weight, or null for 1. */
  joint: Float64Array | null;
}

function distributionWeights(dist: OperandDistribution | undefined, weightBits: number): Weights {
  if (dist === undefined) return { row: null, col: null, joint: null };
  if (typeof dist !== "object" || dist === null) {
    throw new AxnnError("operand distribution must be { activation, weight } or { joint }", { field: "distribution" });
  }
  const nW = 1 << weightBits;
  if ("joint" in dist) {
    if ("activation" in dist || "weight" in dist) {
      throw new AxnnError("give either a joint histogram or activation and weight histograms, not both", { field: "distribution" });
    }
    const size = tableSize(weightBits);
    return { row: null, col: null, joint: checkedHistogram(dist.joint, size, `joint (256 x ${nW})`, "distribution.joint") };
  }
  if (!("activation" in dist) || !("weight" in dist)) {
    throw new AxnnError("operand distribution needs both activation and weight histograms (or one joint histogram)", { field: "distribution" });
  }
  return {
    row: checkedHistogram(dist.activation, 1 << ACTIVATION_BITS, "activation", "distribution.activation"),
    col: checkedHistogram(dist.weight, nW, `weight (8x${weightBits})`, "distribution.weight"),
    joint: null,
  };
}

/**
 * Error metrics of a multiplier, under the uniform distribution of operand pairs
 * (EvoApproxLib's published figures) or under `dist`. One pass over the table.
 */
export function errorMetrics(m: Multiplier, dist?: OperandDistribution): ErrorMetrics {
  const n = m.weightBits;
  const { row, col, joint } = distributionWeights(dist, n);
  const actVals = operandValues(ACTIVATION_BITS, m.signed);
  const wVals = operandValues(n, m.signed);
  const nW = 1 << n;
  const table = m.table;

  // Under the uniform distribution every weight is 1, so all sums except the relative
  // one are sums of integers below 2^53 and come out exact.
  let total = 0, sumAbs = 0, sumSq = 0, sumSigned = 0, massWithError = 0;
  let sumRel = 0, massNonzeroExact = 0;
  let wce = 0, wcre = 0;
  let i = 0;
  for (let a = 0; a < 256; a++) {
    const rowW = row === null ? 1 : row[a]!;
    if (rowW === 0) { i += nW; continue; }
    const av = actVals[a]!;
    for (let w = 0; w < nW; w++, i++) {
      const p = rowW * (col === null ? 1 : col[w]!) * (joint === null ? 1 : joint[i]!);
      if (p === 0) continue;
      const exact = av * wVals[w]!;
      const e = table[i]! - exact;
      const abs = e < 0 ? -e : e;
      total += p;
      if (abs !== 0) {
        sumAbs += p * abs;
        sumSq += p * abs * abs;
        sumSigned += p * e;
        massWithError += p;
        if (abs > wce) wce = abs;
      }
      if (exact !== 0) {
        massNonzeroExact += p;
        if (abs !== 0) {
          const rel = abs / (exact < 0 ? -exact : exact);
          sumRel += p * rel;
          if (rel > wcre) wcre = rel;
        }
      }
    }
  }
  const range = tableSize(n);
  const mae = sumAbs / total;
  return {
    mae,
    wce,
    mae_pct: (100 * mae) / range,
    wce_pct: (100 * wce) / range,
    mre_pct: massNonzeroExact > 0 ? (100 * sumRel) / massNonzeroExact : 0,
    wcre_pct: 100 * wcre,
    ep_pct: (100 * massWithError) / total,
    mse: sumSq / total,
    bias: sumSigned / total,
  };
}

/** `approx - exact` for every table entry, in table order (`(act << N) | w`). */
export function errorMatrix(m: Multiplier): Int32Array {
  const n = m.weightBits;
  const nW = 1 << n;
  const actVals = operandValues(ACTIVATION_BITS, m.signed);
  const wVals = operandValues(n, m.signed);
  const out = new Int32Array(m.table.length);
  let i = 0;
  for (let a = 0; a < 256; a++) {
    const av = actVals[a]!;
    for (let w = 0; w < nW; w++, i++) out[i] = m.table[i]! - av * wVals[w]!;
  }
  return out;
}

/**
 * Histogram of the signed error. Bins are integer-aligned and equally wide: bin k holds
 * the errors `start + k*binWidth ... start + (k+1)*binWidth - 1`. There are at most
 * `bins` of them (default 101): one per error value when the error range is that narrow,
 * else the width is the smallest of 2, 5, 10, 20, 50, ... that fits, and the bin holding
 * 0 is centred on it (`-floor(w/2) ... w-1-floor(w/2)`). `counts` are pair counts (or
 * probability masses under `dist`).
 */
export interface ErrorHistogram {
  start: number;
  binWidth: number;
  counts: Float64Array;
  /** Smallest and largest error that occurs (with non-zero probability). */
  min: number;
  max: number;
  /** Sum of all counts. */
  total: number;
}

export function errorHistogram(m: Multiplier, bins = 101, dist?: OperandDistribution): ErrorHistogram {
  if (!Number.isInteger(bins) || bins < 1) {
    throw new AxnnError(`number of histogram bins must be a positive integer, got ${bins}`, { field: "bins" });
  }
  const { row, col, joint } = distributionWeights(dist, m.weightBits);
  const nW = 1 << m.weightBits;
  const err = errorMatrix(m);
  const prob = new Float64Array(err.length);
  let min = Infinity, max = -Infinity, total = 0;
  for (let i = 0; i < err.length; i++) {
    const p = (row === null ? 1 : row[i >> m.weightBits]!) * (col === null ? 1 : col[i & (nW - 1)]!) * (joint === null ? 1 : joint[i]!);
    prob[i] = p;
    if (p === 0) continue;
    total += p;
    const e = err[i]!;
    if (e < min) min = e;
    if (e > max) max = e;
  }
  let binWidth = 1, start = min;
  let nBins = max - min + 1;
  for (let k = 0; nBins > bins; k++) {
    binWidth = [2, 5, 10][k % 3]! * 10 ** Math.floor(k / 3);
    const half = Math.floor(binWidth / 2);
    start = Math.floor((min + half) / binWidth) * binWidth - half;
    nBins = Math.floor((max - start) / binWidth) + 1;
  }
  const counts = new Float64Array(nBins);
  for (let i = 0; i < err.length; i++) {
    const p = prob[i]!;
    if (p === 0) continue;
    counts[Math.floor((err[i]! - start) / binWidth)]! += p;
  }
  return { start, binWidth, counts, min, max, total };
}
