import { AxnnError } from "../util/errors.js";
import { sizeOf, type Tensor } from "../nn/tensor.js";
import { batchTensor, subsetIndices, type Dataset, type Normalization } from "../data/datasets.js";
import type { Progress } from "../util/progress.js";

/**
 * Rank of the true class among a sample's scores: the number of classes scored higher, plus those
 * scored equal with a smaller index (ties broken by index, as an argmax taking the first maximum).
 * Top-k is correct when the rank is < k. A NaN score of the true class ranks last.
 */
export function labelRank(scores: Float32Array | readonly number[], offset: number, classes: number, label: number): number {
  const s = scores[offset + label]!;
  // A NaN score is never a correct answer (NaN compares false with everything).
  if (Number.isNaN(s)) return classes;
  let rank = 0;
  for (let j = 0; j < classes; j++) {
    const v = scores[offset + j]!;
    if (v > s || (v === s && j < label)) rank++;
  }
  return rank;
}

export interface Accuracy {
  top1: number;
  top5: number;
  count: number;
}

/** Accumulates top-1 / top-5 over batches of model outputs [n, classes] (any trailing shape of `classes` elements). */
export class AccuracyCounter {
  private correct1 = 0;
  private correct5 = 0;
  private seen = 0;

  add(output: Tensor, labels: ArrayLike<number>): void {
    const n = output.shape[0]!;
    if (n !== labels.length) throw new AxnnError(`model output has ${n} rows for ${labels.length} labels`, { field: "output" });
    const classes = sizeOf(output.shape.slice(1));
    for (let i = 0; i < n; i++) {
      const label = labels[i]!;
      if (label >= classes) throw new AxnnError(`label ${label} but the model output has only ${classes} classes`, { field: "output" });
      const r = labelRank(output.data, i * classes, classes, label);
      if (r < 1) this.correct1++;
      if (r < 5) this.correct5++;
    }
    this.seen += n;
  }

  result(): Accuracy {
    return { top1: this.seen ? this.correct1 / this.seen : 0, top5: this.seen ? this.correct5 / this.seen : 0, count: this.seen };
  }
}

export interface PassResult extends Accuracy {
  /** Wall time of the model runs alone (data preparation excluded). */
  seconds: number;
  imagesPerSecond: number;
  /** Predicted class (argmax, first maximum) of every evaluated sample, in evaluation order. */
  predictions: Int32Array;
}

/** The evaluation samples as ready batches (prepared once, shared by every pass). */
export interface EvalBatches {
  batches: { input: Tensor; labels: Uint8Array }[];
  count: number;
}

/**
 * Float input layout of a model's sample shape: the dataset's NCHW, reshaped when the element
 * counts agree, or transposed to NHWC when the model declares [H, W, C] with C > 1 (tf2onnx exports).
 */
function toModelLayout(t: Tensor, ds: Dataset, sampleShape: readonly number[] | undefined): Tensor {
  if (!sampleShape) return t;
  const [, C, H, W] = ds.shape;
  if (C > 1 && sampleShape.length === 3 && sampleShape[0] === H && sampleShape[1] === W && sampleShape[2] === C) {
    const n = t.shape[0]!;
    const out = new Float32Array(t.data.length);
    for (let s = 0; s < n; s++) {
      for (let c = 0; c < C; c++) {
        for (let k = 0; k < H * W; k++) out[s * C * H * W + k * C + c] = t.data[s * C * H * W + c * H * W + k]!;
      }
    }
    return { shape: [n, H, W, C], data: out };
  }
  return batchTensorReshape(t, sampleShape, ds);
}

function batchTensorReshape(t: Tensor, sampleShape: readonly number[], ds: Dataset): Tensor {
  const per = sizeOf(t.shape.slice(1));
  if (sizeOf(sampleShape) !== per) {
    throw new AxnnError(`the model expects samples of shape [${sampleShape.join(", ")}] (${sizeOf(sampleShape)} values); dataset ${ds.name} has samples [${ds.shape.slice(1).join(", ")}] (${per} values)`, { field: "--data" });
  }
  return { shape: [t.shape[0]!, ...sampleShape], data: t.data };
}

export function prepareBatches(ds: Dataset, indices: Int32Array, batchSize: number, norm: Normalization, sampleShape?: readonly number[]): EvalBatches {
  const batches: EvalBatches["batches"] = [];
  for (let from = 0; from < indices.length; from += batchSize) {
    const to = Math.min(indices.length, from + batchSize);
    const input = toModelLayout(batchTensor(ds, indices, from, to, norm), ds, sampleShape);
    batches.push({ input, labels: Uint8Array.from(indices.subarray(from, to), (i) => ds.labels[i]!) });
  }
  return { batches, count: indices.length };
}

/**
 * Runs `run` over every batch and scores its outputs. The first batch runs once more, untimed,
 * before the timed runs (JIT compilation, prepared tables and quantized weights are not throughput).
 */
export function evaluatePass(batches: EvalBatches, run: (x: Tensor) => Tensor, opts: { warmUp?: boolean; progress?: Progress } = {}): PassResult {
  if ((opts.warmUp ?? true) && batches.batches.length > 0) run(batches.batches[0]!.input);
  const counter = new AccuracyCounter();
  const predictions = new Int32Array(batches.count);
  let seconds = 0, k = 0;
  for (const b of batches.batches) {
    const t0 = performance.now();
    const y = run(b.input);
    seconds += (performance.now() - t0) / 1000;
    counter.add(y, b.labels);
    opts.progress?.tick(y.shape[0]!);
    const classes = sizeOf(y.shape.slice(1));
    for (let i = 0; i < y.shape[0]!; i++) {
      let best = 0;
      for (let j = 1; j < classes; j++) if (y.data[i * classes + j]! > y.data[i * classes + best]!) best = j;
      predictions[k++] = best;
    }
  }
  const acc = counter.result();
  return { ...acc, seconds, imagesPerSecond: seconds > 0 ? acc.count / seconds : 0, predictions };
}

export { subsetIndices };
