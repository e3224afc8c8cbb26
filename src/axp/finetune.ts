import { AxnnError } from "../util/errors.js";
import type { Dataset, Normalization } from "../data/datasets.js";
import { isApproximable } from "../nn/graph.js";
import { trainModel, type EpochMetrics } from "../train/loop.js";
import { DEFAULT_SGD } from "../train/optim.js";
import type { Param } from "../train/params.js";
import type { ClusteredModel, LayerClusters } from "./cluster.js";

/**
 * Cluster-aware fine-tuning (Han, Mao and Dally, "Deep Compression", ICLR 2016, section 3.1): the
 * clustered model is trained with its bin assignment fixed; the gradient of a centroid is the sum
 * of the gradients of the weights in its bin, and every weight of the bin moves by that gradient,
 * so the weights of a bin stay equal (one centroid) and only the K centroids per layer (and the
 * biases) learn.
 */
export interface ClusterFinetuneOptions {
  epochs: number;
  /** SGD learning rate (cosine schedule); default DEFAULT_CLUSTER_FINETUNE_LR. */
  lr?: number;
  /**
   * "mean" (default): the bin's mean gradient; "sum": Deep Compression's summed gradient, the same
   * step as "mean" with the rate multiplied by the bin's size (hundreds to tens of thousands of
   * weights per bin, so one rate does not suit every layer; measured worse, docs/axp.md).
   */
  centroidGradient?: CentroidGradient;
  batchSize?: number;
  seed?: number;
  /** Train on a seeded subset of the training split (all by default). */
  trainSamples?: number;
  normalization?: Normalization;
  quiet?: boolean;
}

export type CentroidGradient = "sum" | "mean";
export const CENTROID_GRADIENTS: readonly CentroidGradient[] = ["sum", "mean"];

/** Default SGD rate of cluster-aware fine-tuning with mean centroid gradients: measured on LeNet-5 (docs/axp.md, "Cluster-aware fine-tuning"). */
export const DEFAULT_CLUSTER_FINETUNE_LR = 0.1;

export interface ClusterFinetuneResult {
  clustered: ClusteredModel;
  history: EpochMetrics[];
  lr: number;
  centroidGradient: CentroidGradient;
}

/** Replaces the gradient of every weight of a bin by the bin's summed (or mean) gradient, in place. */
export function tieGradients(grad: Float32Array, clusters: LayerClusters, rule: CentroidGradient): void {
  const bins = clusters.centroids.length;
  const sum = new Float64Array(bins);
  const count = new Float64Array(bins);
  const binOf = clusters.binOf;
  for (let i = 0; i < grad.length; i++) {
    sum[binOf[i]!]! += grad[i]!;
    count[binOf[i]!]! += 1;
  }
  if (rule === "mean") for (let b = 0; b < bins; b++) if (count[b]! > 0) sum[b]! /= count[b]!;
  for (let i = 0; i < grad.length; i++) grad[i] = sum[binOf[i]!]!;
}

/**
 * Fine-tunes a clustered model on a training split with the bin of every weight kept: the returned
 * clustering has the same bins (binOf) and the trained centroids. Refuses (an internal error) if a
 * bin's weights did not stay equal.
 */
export function finetuneClusters(clustered: ClusteredModel, train: Dataset, opts: ClusterFinetuneOptions): ClusterFinetuneResult {
  const rule = opts.centroidGradient ?? "mean";
  if (!CENTROID_GRADIENTS.includes(rule)) throw new AxnnError(`expected one of ${CENTROID_GRADIENTS.join(", ")}, got "${String(rule)}"`, { field: "--centroid-gradient" });
  const lr = opts.lr ?? DEFAULT_CLUSTER_FINETUNE_LR;
  const weightOf = new Map<string, LayerClusters>();
  for (const [name, l] of clustered.layers) weightOf.set(`${name}.weight`, l);
  const result = trainModel(clustered.model, train, null, {
    epochs: opts.epochs, batchSize: opts.batchSize ?? 64, lr, seed: opts.seed ?? 1, optimizer: DEFAULT_SGD, schedule: { kind: "cosine" },
    normalization: opts.normalization, trainSamples: opts.trainSamples, quiet: opts.quiet,
    // A fine-tuning run that blows the weights up is stopped (TrainingDiverged) rather than returned.
    maxWeightGrowth: 10,
    transformGradients: (params: readonly Param[]) => {
      for (const p of params) {
        const l = weightOf.get(p.name);
        if (l) tieGradients(p.grad, l, rule);
      }
    },
  });
  const layers = new Map<string, LayerClusters>();
  for (const n of result.model.nodes) {
    if (!isApproximable(n)) continue;
    const old = clustered.layers.get(n.name);
    if (!old) continue;
    const centroids = Float32Array.from(old.centroids);
    const seen = new Uint8Array(centroids.length);
    const w = n.weight.data;
    for (let i = 0; i < w.length; i++) {
      const b = old.binOf[i]!;
      if (!seen[b]) {
        centroids[b] = w[i]!;
        seen[b] = 1;
      } else if (!Object.is(centroids[b], w[i])) {
        throw new AxnnError(`internal error: the weights of bin ${b} no longer agree after fine-tuning (${centroids[b]} and ${w[i]})`, { field: `layer "${n.name}"` });
      }
    }
    layers.set(n.name, { ...old, centroids });
  }
  return { clustered: { model: result.model, layers, options: clustered.options }, history: result.history, lr, centroidGradient: rule };
}
