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
import { trainModel, TrainingDiverged, type EpochMetrics, type TrainResult } from "./loop.js";
import { DEFAULT_SGD } from "./optim.js";
import { RANGE_MOMENTUM, type QatArithmetic, type QatGradient, type QatRanges } from "./qat.js";
import { AxnnError } from "../util/errors.js";

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
  /** The learning rate (and, with tracked ranges, the range momentum) of the run that produced the model. */
  lr: number;
  range_momentum?: number;
  /** Runs that diverged and were restarted from the input model with a lower rate (FINETUNE_RETRIES at most). */
  diverged: { lr: number; range_momentum?: number; reason: string }[];
  /** The approximate accuracy after is below the one before: the written model is worse than the input. */
  worse_than_input: boolean;
  /** What the user should know about the result (also printed by the CLI). */
  warnings: string[];
}

/** Restarts of a diverged fine-tuning run; each halves the rate and divides the range momentum by 10 (slow tracking recovers DRUM-3 on LeNet-5, docs/training.md). */
export const FINETUNE_RETRIES = 2;

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
  // A run that diverges (non-finite loss, exploding weights) restarts from the input model with half
  // the rate and, with tracked ranges, a tenth of the range momentum: tracked ranges that follow
  // runaway activations too fast were the cause on LeNet-5 with drum_k3_u8x8 (docs/training.md).
  let lr = setup.lr ?? 0.02;
  let rangeMomentum = ranges === "track" ? setup.rangeMomentum ?? RANGE_MOMENTUM : undefined;
  const diverged: FinetuneReport["diverged"] = [];
  let result: TrainResult | undefined;
  for (let attempt = 0; result === undefined; attempt++) {
    try {
      result = trainModel(p.model, train, null, {
        epochs: setup.epochs, batchSize, lr, seed, optimizer: DEFAULT_SGD, schedule: { kind: "cosine" },
        normalization: norm, trainSamples: setup.trainSamples, quiet: setup.quiet,
        qat: { arithmetic, quant: p.qmodel.config, calibrationBatches: calib.batches.map((b) => ({ [input.name]: b.input })), gradient: setup.gradient ?? "ste", freezeBatchNorm: setup.freezeBatchNorm, reestimateBatches: setup.reestimateBatches, ranges, rangeMomentum },
      });
    } catch (e) {
      if (!(e instanceof TrainingDiverged)) throw e;
      const where = `epoch ${e.epoch}, batch ${e.batch}: ${e.reason}`;
      diverged.push({ lr, ...(rangeMomentum !== undefined ? { range_momentum: rangeMomentum } : {}), reason: where });
      if (attempt >= FINETUNE_RETRIES) {
        throw new AxnnError(`retraining diverged ${diverged.length} times (last at lr ${lr}, ${where}); no model was written. Try a lower --lr${ranges === "track" ? " or --range-momentum" : ""}`, { field: "--lr" });
      }
      if (!setup.quiet) process.stderr.write(`axnn: training diverged (${where}); restarting from the input model with lr ${lr / 2}${rangeMomentum !== undefined ? ` and range momentum ${rangeMomentum / 10}` : ""}\n`);
      lr /= 2;
      if (rangeMomentum !== undefined) rangeMomentum /= 10;
    }
  }
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
  // "After" is `axnn eval` on the model as written (a scratch copy, so that a model at chance is
  // never written to the output), with its sidecar.
  const scratch = mkdtempSync(join(tmpdir(), "axnn-finetune-"));
  let after: EvalReport;
  try {
    const file = join(scratch, "finetuned.onnx");
    saveModel(file, tuned, sidecar);
    after = runEvaluation({ ...evalSetup, model: file });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const chance = 1 / train.classes;
  if (after.approx_top1 <= 1.5 * chance && before.approx_top1 > 1.5 * chance) {
    throw new AxnnError(`retraining ended at chance (${pct(after.approx_top1)} with the approximate multipliers, ${pct(before.approx_top1)} before; float ${pct(after.float_top1)}); no model was written. Try a lower --lr (this run: ${lr})${ranges === "track" ? " or --range-momentum" : ""}`, { field: "--lr" });
  }
  const worse = after.approx_top1 < before.approx_top1;
  const warnings: string[] = [];
  if (diverged.length > 0) warnings.push(`retraining diverged ${diverged.length === 1 ? "once" : `${diverged.length} times`} and was restarted with lr ${lr}${rangeMomentum !== undefined ? `, range momentum ${rangeMomentum}` : ""}`);
  if (worse) warnings.push(`the fine-tuned model is worse than the input: ${pct(after.approx_top1)} after, ${pct(before.approx_top1)} before (approximate top-1)`);
  if (setup.output !== undefined) saveModel(setup.output, tuned, sidecar);
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
      lr,
      ...(rangeMomentum !== undefined ? { range_momentum: rangeMomentum } : {}),
      diverged,
      worse_than_input: worse,
      warnings,
    },
  };
}

const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;
