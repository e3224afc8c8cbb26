import { AxnnError } from "../util/errors.js";
import { uniformRandom } from "../util/random.js";

/**
 * One-dimensional k-means (Lloyd's algorithm) on sorted values with prefix sums.
 *
 * Why not a generic package (ml-kmeans): weights are scalars, and in one dimension the nearest
 * centroid of every point is given by the midpoints between sorted centroids, so an iteration is
 * K binary searches over the sorted weights plus O(K) prefix-sum lookups instead of n*K
 * distances over arrays of one-element arrays; the result is the same Lloyd iteration, the seeding
 * uses the project's seeded generator, and the objective is computed exactly in float64.
 */
export type KmeansInit = "kmeans++" | "linear" | "density";

export interface KmeansOptions {
  k: number;
  init?: KmeansInit;
  seed?: number;
  maxIterations?: number;
}

export interface KmeansResult {
  /** Sorted ascending, length <= k (fewer when there are fewer distinct values). */
  centroids: Float64Array;
  /** Sum of squared distances to the nearest centroid after each iteration (index 0: after seeding). */
  objectiveHistory: number[];
  objective: number;
  iterations: number;
}

export const KMEANS_INITS: readonly KmeansInit[] = ["kmeans++", "linear", "density"];

/** Index of the nearest centroid (sorted ascending) of value v; ties go to the lower centroid. */
export function nearestCentroid(centroids: ArrayLike<number>, v: number): number {
  let lo = 0, hi = centroids.length - 1;
  // Binary search on the midpoints: the first centroid whose upper midpoint is >= v.
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const boundary = (centroids[mid]! + centroids[mid + 1]!) / 2;
    if (v <= boundary) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Sum of squared distances of the values to their nearest centroid (plain loop: the reference). */
export function kmeansObjective(values: ArrayLike<number>, centroids: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) {
    const d = values[i]! - centroids[nearestCentroid(centroids, values[i]!)]!;
    s += d * d;
  }
  return s;
}

function distinctSorted(sorted: Float64Array): Float64Array {
  const out: number[] = [];
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) out.push(sorted[i]!);
  return Float64Array.from(out);
}

/** First index in sorted with sorted[i] > v. */
function upperBound(sorted: Float64Array, v: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function seedCentroids(sorted: Float64Array, distinct: Float64Array, k: number, init: KmeansInit, seed: number): Float64Array {
  const n = sorted.length;
  if (init === "linear") {
    // Deep Compression's linear initialisation: evenly spaced between the minimum and the maximum.
    const lo = sorted[0]!, hi = sorted[n - 1]!;
    return Float64Array.from({ length: k }, (_, i) => (k === 1 ? (lo + hi) / 2 : lo + ((hi - lo) * i) / (k - 1)));
  }
  if (init === "density") {
    // Equal-count quantiles of the values (the CDF's evenly spaced levels).
    return Float64Array.from({ length: k }, (_, i) => sorted[Math.min(n - 1, Math.floor(((i + 0.5) * n) / k))]!);
  }
  // k-means++ (Arthur and Vassilvitskii 2007): each next centroid drawn with probability proportional
  // to the squared distance to the nearest chosen one.
  const rand = uniformRandom(seed);
  const chosen: number[] = [sorted[Math.floor(rand() * n)]!];
  const d2 = new Float64Array(n);
  for (let i = 0; i < n; i++) d2[i] = (sorted[i]! - chosen[0]!) ** 2;
  while (chosen.length < k) {
    let total = 0;
    for (let i = 0; i < n; i++) total += d2[i]!;
    let pick: number;
    if (total === 0) {
      // Every value coincides with a chosen centroid: take an unused distinct value.
      const used = new Set(chosen);
      const free = distinct.find((v) => !used.has(v));
      if (free === undefined) break;
      pick = free;
    } else {
      let r = rand() * total;
      let idx = 0;
      for (; idx < n - 1; idx++) {
        r -= d2[idx]!;
        if (r < 0) break;
      }
      pick = sorted[idx]!;
    }
    chosen.push(pick);
    for (let i = 0; i < n; i++) d2[i] = Math.min(d2[i]!, (sorted[i]! - pick) ** 2);
  }
  return Float64Array.from(chosen);
}

/** Sorted, de-duplicated centroids; an empty cluster's centroid is dropped by the update step. */
function normalise(c: Float64Array): Float64Array {
  return distinctSorted(Float64Array.from(c).sort());
}

/**
 * Clusters scalar values to at most k centroids. With k >= the number of distinct values each
 * distinct value is its own centroid (exactly). Seeded: the same values and options give the same result.
 */
export function kmeans1d(values: ArrayLike<number>, opts: KmeansOptions): KmeansResult {
  const { k } = opts;
  if (!Number.isInteger(k) || k < 1) throw new AxnnError(`expected a whole number of clusters >= 1, got ${k}`, { field: "clusters" });
  const init = opts.init ?? "kmeans++";
  if (!KMEANS_INITS.includes(init)) throw new AxnnError(`unknown initialisation "${init}"; expected ${KMEANS_INITS.join(", ")}`, { field: "init" });
  const n = values.length;
  if (n === 0) throw new AxnnError("no values to cluster", { field: "values" });
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  for (let i = 0; i < n; i++) if (!Number.isFinite(sorted[i]!)) throw new AxnnError(`cannot cluster a non-finite value (${sorted[i]})`, { field: "values" });
  const distinct = distinctSorted(sorted);
  if (distinct.length <= k) {
    const obj = 0;
    return { centroids: distinct, objectiveHistory: [obj], objective: obj, iterations: 0 };
  }
  // Prefix sums of values and squares for cluster means and costs in O(1) per cluster.
  const prefix = new Float64Array(n + 1);
  const prefix2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    prefix[i + 1] = prefix[i]! + sorted[i]!;
    prefix2[i + 1] = prefix2[i]! + sorted[i]! * sorted[i]!;
  }
  const cost = (c: Float64Array): { obj: number; bounds: Int32Array } => {
    const bounds = new Int32Array(c.length + 1);
    bounds[c.length] = n;
    for (let j = 0; j < c.length - 1; j++) bounds[j + 1] = upperBound(sorted, (c[j]! + c[j + 1]!) / 2);
    let obj = 0;
    for (let j = 0; j < c.length; j++) {
      const a = bounds[j]!, b = bounds[j + 1]!;
      const cnt = b - a;
      if (cnt === 0) continue;
      const s = prefix[b]! - prefix[a]!, s2 = prefix2[b]! - prefix2[a]!;
      obj += Math.max(0, s2 - 2 * c[j]! * s + cnt * c[j]! * c[j]!);
    }
    return { obj, bounds };
  };
  let c = normalise(seedCentroids(sorted, distinct, k, init, opts.seed ?? 1));
  let { obj, bounds } = cost(c);
  const history = [obj];
  const maxIt = opts.maxIterations ?? 100;
  let it = 0;
  for (; it < maxIt; it++) {
    // Update: each centroid moves to its cluster's mean; empty clusters disappear.
    const next: number[] = [];
    for (let j = 0; j < c.length; j++) {
      const a = bounds[j]!, b = bounds[j + 1]!;
      if (b > a) next.push((prefix[b]! - prefix[a]!) / (b - a));
    }
    const nc = normalise(Float64Array.from(next));
    const r = cost(nc);
    // Lloyd's steps never raise the objective; stop when it no longer falls.
    if (r.obj >= obj) break;
    c = nc;
    obj = r.obj;
    bounds = r.bounds;
    history.push(obj);
  }
  return { centroids: c, objectiveHistory: history, objective: obj, iterations: it };
}
