import { AxnnError } from "../util/errors.js";
import { isApproximable, type ApproximableNode, type Model, type Node } from "../nn/graph.js";
import { foldBatchNorm } from "../nn/passes.js";
import { kmeans1d, nearestCentroid, type KmeansInit } from "./kmeans.js";

export interface ClusterOptions {
  /** Bins per layer (per output channel with perChannel). */
  clusters: number;
  perChannel?: boolean;
  init?: KmeansInit;
  seed?: number;
  maxIterations?: number;
  /** Fold BatchNorm into the preceding layers first (default true): the hardware multiplies folded weights. */
  foldBatchNorm?: boolean;
}

/** The clustering of one conv or dense layer. */
export interface LayerClusters {
  name: string;
  /** Weight groups: 1 (per layer) or the output channels (per channel). */
  groups: number;
  /** Bins per group (<= clusters: fewer where a group has fewer distinct weights). */
  binsPerGroup: number[];
  /**
   * Centroid of every bin of the layer as float32 values, bins numbered across groups
   * (group g's bins start at binOffset[g]); a weight is replaced by its bin's centroid.
   */
  centroids: Float32Array;
  binOffset: Int32Array;
  /** Layer-wide bin id of every weight, in the weight tensor's order. */
  binOf: Uint16Array;
  /** k-means objective (sum of squared weight errors) per group, after each iteration. */
  objectiveHistory: number[][];
  objective: number;
}

export interface ClusteredModel {
  /** The model with every conv and dense weight replaced by its centroid (BatchNorm folded unless disabled). */
  model: Model;
  layers: Map<string, LayerClusters>;
  options: Required<Omit<ClusterOptions, "maxIterations">> & { maxIterations: number };
}

/** Clusters one weight tensor [outChannels, ...] to `clusters` bins per layer or per output channel. */
export function clusterWeights(name: string, weight: Float32Array, outChannels: number, opts: ClusterOptions): { clusters: LayerClusters; clustered: Float32Array } {
  const groups = opts.perChannel ? outChannels : 1;
  const per = weight.length / groups;
  const binOf = new Uint16Array(weight.length);
  const clustered = new Float32Array(weight.length);
  const centroids: number[] = [];
  const binOffset = new Int32Array(groups);
  const binsPerGroup: number[] = [];
  const history: number[][] = [];
  let objective = 0;
  for (let g = 0; g < groups; g++) {
    const slice = weight.subarray(g * per, (g + 1) * per);
    const r = kmeans1d(slice, { k: opts.clusters, init: opts.init, seed: (opts.seed ?? 1) + g, maxIterations: opts.maxIterations });
    binOffset[g] = centroids.length;
    binsPerGroup.push(r.centroids.length);
    history.push(r.objectiveHistory);
    objective += r.objective;
    const base = centroids.length;
    for (const c of r.centroids) centroids.push(Math.fround(c));
    if (centroids.length > 65535) throw new AxnnError(`more than 65535 bins in one layer`, { field: `layer "${name}"` });
    for (let i = 0; i < per; i++) {
      const b = nearestCentroid(r.centroids, slice[i]!);
      binOf[g * per + i] = base + b;
      clustered[g * per + i] = centroids[base + b]!;
    }
  }
  return { clusters: { name, groups, binsPerGroup, centroids: Float32Array.from(centroids), binOffset, binOf, objectiveHistory: history, objective }, clustered };
}

/**
 * Clusters every conv and dense layer's weights (1-D k-means, seeded); the returned model computes with
 * the centroids and exports to ONNX like any model.
 */
export function clusterModel(model: Model, opts: ClusterOptions): ClusteredModel {
  if (!Number.isInteger(opts.clusters) || opts.clusters < 1) throw new AxnnError(`expected a whole number of clusters >= 1, got ${opts.clusters}`, { field: "--clusters" });
  const base = opts.foldBatchNorm ?? true ? foldBatchNorm(model) : model;
  const layers = new Map<string, LayerClusters>();
  const nodes: Node[] = base.nodes.map((n) => {
    if (!isApproximable(n)) return n;
    const { clusters, clustered } = clusterWeights(n.name, n.weight.data, n.weight.shape[0]!, opts);
    layers.set(n.name, clusters);
    return { ...n, weight: { shape: [...n.weight.shape], data: clustered } } as ApproximableNode;
  });
  return {
    model: { ...base, nodes },
    layers,
    options: { clusters: opts.clusters, perChannel: opts.perChannel ?? false, init: opts.init ?? "kmeans++", seed: opts.seed ?? 1, foldBatchNorm: opts.foldBatchNorm ?? true, maxIterations: opts.maxIterations ?? 100 },
  };
}

/**
 * The clustering as P per-PE memories see it: output channel (or feature) o runs on PE o mod P, and
 * bin b of a weight on PE p becomes bin p * bins + b (same centroid), so that a memory search, which
 * compares the bin exactly, finds only its own PE's entries. P = 1 returns the clustering itself.
 */
export function perPeClusters(cl: LayerClusters, outChannels: number, pes: number): LayerClusters {
  if (pes === 1) return cl;
  const bins = cl.centroids.length;
  if (bins * pes > 65535) throw new AxnnError(`${pes} PEs x ${bins} bins are more than 65535 bins`, { field: `layer "${cl.name}"` });
  const per = cl.binOf.length / outChannels;
  const binOf = new Uint16Array(cl.binOf.length);
  for (let i = 0; i < binOf.length; i++) binOf[i] = (Math.floor(i / per) % pes) * bins + cl.binOf[i]!;
  const centroids = new Float32Array(bins * pes);
  for (let p = 0; p < pes; p++) centroids.set(cl.centroids, p * bins);
  return { ...cl, centroids, binOf };
}

/** Number of distinct weight values of a layer (the K at which clustering changes nothing). */
export function distinctWeights(node: ApproximableNode): number {
  return new Set(node.weight.data).size;
}
