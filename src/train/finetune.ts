// Fine-tuning: quantization-aware retraining of a model for its approximate multipliers
// (./qat.ts), with `axnn eval`'s accuracy before and after.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDataset, parseNormalization, subsetIndices } from "../data/datasets.js";
import { prepareBatches } from "../eval/accuracy.js";
import { evaluatePrepared, modelLabel, runEvaluation, type EvalReport } from "../eval/evaluate.js";
import { prepareEvaluation, type EvalSetup } from "../eval/session.js";
import type { Model } from "../nn/graph.js";
import { foldBatchNorm } from "../nn/passes.js";
import type { QuantScheme } from "../quant/params.js";
import { saveModel, type ModelSidecar } from "../zoo/sidecar.js";
import { loadAssignment, uniformAssignment } from "../multipliers/assignment.js";
import { trainModel, type EpochMetrics } from "./loop.js";
import { DEFAULT_SGD } from "./optim.js";
import type { QatArithmetic, QatGradient, QatRanges } from "./qat.js";

export interface FinetuneSetup {
  /** ONNX file or model. */
  model: string | Model;
  data: string;
  mult?: string;
  multConfig?: string;
  epochs: number;
  /** SGD learning rate (cosine schedule); default 0.02 (measured better than 0.005 on LeNet-5, see docs/training.md). */
  lr?: number;
  batchSize?: number;
  seed?: number;
  /** Train on a seeded subset of the training split. */
  trainSamples?: number;
  /** Evaluate on a seeded subset of the test split (as `axnn eval --limit`). */
  limit?: number;
  /** Calibration samples (as `axnn eval --calib-size`); default 256. */
  calibrationSize?: number;
  normalize?: string;
  quant?: QuantScheme;
  perChannel?: boolean;
  quiet?: boolean;
  /** Where to write the fine-tuned float model (.onnx). */
  output?: string;
  /** QAT backward of the approximate layers (src/train/qat.ts); default "ste". */
  gradient?: QatGradient;
  /** QatConfig.freezeBatchNorm. */
  freezeBatchNorm?: number;
  /** QatConfig.reestimateBatches. */
  reestimateBatches?: number;
  /** QatConfig.rangeMomentum. */
  rangeMomentum?: number;
  /** QatConfig.ranges: how the input ranges are set during QAT; default DEFAULT_FINETUNE_RANGES. */
  ranges?: QatRanges;
}

/** Default input ranges of `axnn finetune` (measured in docs/training.md). */
export const DEFAULT_FINETUNE_RANGES: QatRanges = "track";

/** The result of `axnn finetune` (also its JSON). Accuracies are those `axnn eval` reports for the same settings. */
export interface FinetuneReport {
  model: string;
  data: string;
  samples: number;
  epochs: number;
  gradient: QatGradient;
  ranges: QatRanges;
  multipliers: Record<string, string>;
  before_top1: number;
  after_top1: number;
  before_float_top1: number;
  after_float_top1: number;
  before_int8_top1: number;
  after_int8_top1: number;
  history: EpochMetrics[];
}

/** Evaluates, retrains with the approximate layers in the loop, folds BatchNorm, evaluates again. */
export function runFinetune(setup: FinetuneSetup): { report: FinetuneReport; model: Model } {
  const seed = setup.seed ?? 1;
  const batchSize = setup.batchSize ?? 64;
  const calibrationSize = setup.calibrationSize ?? 256;
  // The model as given: a file is evaluated as `axnn eval` evaluates it, with its sidecar.
  const evalSetup: EvalSetup = {
    model: setup.model, data: setup.data, mult: setup.mult, multConfig: setup.multConfig, limit: setup.limit, seed, batchSize,
    calibrationSize, normalize: setup.normalize, quant: setup.quant, perChannel: setup.perChannel,
  };
  const p = prepareEvaluation(evalSetup);
  const before = evaluatePrepared(p, evalSetup);
  const arithmetic = new Map<string, QatArithmetic>();
  for (const [name, a] of p.approximate) {
    if (a.kind !== "float") arithmetic.set(name, a);
  }

  // The calibration batches of `axnn eval` (same split, subset and normalisation): with ranges
  // "calibrate" QAT trains with the ranges eval will calibrate on the fine-tuned weights; tracked
  // and learned ranges start from them.
  const train = loadDataset(setup.data, "train");
  const normalize = p.normalize;
  const norm = parseNormalization(normalize, train.name);
  const input = p.model.inputs[0]!;
  const declared = input.shape.slice(1);
  const sampleShape = declared.every((d) => d !== null) ? (declared as number[]) : undefined;
  const calib = prepareBatches(train, subsetIndices(train.shape[0], calibrationSize, seed + 1), batchSize, norm, sampleShape);

  // The unfolded model: its BatchNorms normalise with batch statistics during QAT (qatForward runs
  // each layer with the weights folded as eval folds them); folded once at the end.
  const ranges = setup.ranges ?? DEFAULT_FINETUNE_RANGES;
  const result = trainModel(p.model, train, null, {
    epochs: setup.epochs, batchSize, lr: setup.lr ?? 0.02, seed, optimizer: DEFAULT_SGD, schedule: { kind: "cosine" },
    normalization: norm, trainSamples: setup.trainSamples, quiet: setup.quiet,
    qat: { arithmetic, quant: p.qmodel.config, calibrationBatches: calib.batches.map((b) => ({ [input.name]: b.input })), gradient: setup.gradient ?? "ste", freezeBatchNorm: setup.freezeBatchNorm, reestimateBatches: setup.reestimateBatches, ranges, rangeMomentum: setup.rangeMomentum },
  });
  const tuned = foldBatchNorm(result.model);
  // Tracked or learned ranges are part of what QAT trained: the sidecar keeps them, and eval (here
  // and `axnn eval` on the written file) uses them instead of recalibrating.
  // The multipliers it was tuned for, as given (docs/zoo.md), so `axnn eval` / `axnn energy` on it need no --mult.
  const assigned = setup.multConfig !== undefined ? loadAssignment(setup.multConfig, Object.keys(p.multiplierNames)) : setup.mult !== undefined ? uniformAssignment(setup.mult) : p.sidecar?.multipliers;
  const sidecar: ModelSidecar = {
    quantization: { ...p.qmodel.config, ...(result.qatInputs ? { activations: result.qatInputs } : {}) },
    ...(assigned ? { multipliers: { default: assigned.default, layers: assigned.layers } } : {}),
    input: { normalize },
  };
  // "After" is `axnn eval` on the written file and its sidecar (a temporary one when no output is asked for).
  const scratch = setup.output === undefined ? mkdtempSync(join(tmpdir(), "axnn-finetune-")) : undefined;
  let after: EvalReport;
  try {
    const file = setup.output ?? join(scratch!, "finetuned.onnx");
    saveModel(file, tuned, sidecar);
    after = runEvaluation({ ...evalSetup, model: file });
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
  return {
    model: tuned,
    report: {
      model: modelLabel(setup.model),
      data: setup.data,
      samples: before.samples,
      epochs: setup.epochs,
      gradient: setup.gradient ?? "ste",
      ranges,
      multipliers: p.multiplierNames,
      before_top1: before.approx_top1,
      after_top1: after.approx_top1,
      before_float_top1: before.float_top1,
      after_float_top1: after.float_top1,
      before_int8_top1: before.int8_top1,
      after_int8_top1: after.int8_top1,
      history: result.history,
    },
  };
}
