// `axnn finetune`: quantization-aware retraining of a model for its approximate multipliers
// (src/train/qat.ts), with `axnn eval`'s accuracy before and after.
import type { Command } from "commander";
import { loadDataset, parseNormalization, subsetIndices } from "../data/datasets.js";
import { prepareBatches } from "../eval/accuracy.js";
import { prepareEvaluation, type EvalSetup } from "../eval/session.js";
import type { Model } from "../nn/graph.js";
import { loadOnnx } from "../onnx/import.js";
import { writeOnnx } from "../onnx/export.js";
import type { QuantScheme } from "../quant/params.js";
import { trainModel, type EpochMetrics } from "../train/loop.js";
import { DEFAULT_SGD } from "../train/optim.js";
import type { QatArithmetic, QatGradient } from "../train/qat.js";
import { AxnnError } from "../util/errors.js";
import { runEvaluation } from "./eval.js";
import { parseNumberOption, printJson, textTable } from "./common.js";

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
}

/** The result of `axnn finetune` (also its JSON). Accuracies are those `axnn eval` reports for the same settings. */
export interface FinetuneReport {
  model: string;
  data: string;
  samples: number;
  epochs: number;
  gradient: QatGradient;
  multipliers: Record<string, string>;
  before_top1: number;
  after_top1: number;
  before_float_top1: number;
  after_float_top1: number;
  before_int8_top1: number;
  after_int8_top1: number;
  history: EpochMetrics[];
}

/** Evaluates, retrains with the approximate layers in the loop (BatchNorm folded first), evaluates again. */
export function runFinetune(setup: FinetuneSetup): { report: FinetuneReport; model: Model } {
  const model = typeof setup.model === "string" ? loadOnnx(setup.model) : setup.model;
  const seed = setup.seed ?? 1;
  const batchSize = setup.batchSize ?? 64;
  const calibrationSize = setup.calibrationSize ?? 256;
  const evalSetup: EvalSetup = {
    model, data: setup.data, mult: setup.mult, multConfig: setup.multConfig, limit: setup.limit, seed, batchSize,
    calibrationSize, normalize: setup.normalize, quant: setup.quant, perChannel: setup.perChannel,
  };
  const before = runEvaluation(evalSetup);
  const p = prepareEvaluation(evalSetup);
  const arithmetic = new Map<string, QatArithmetic>();
  for (const [name, a] of p.approximate) {
    if (a.kind !== "float") arithmetic.set(name, a);
  }

  // The calibration batches of `axnn eval` (same split, subset and normalisation), so the ranges
  // QAT trains with are those eval will calibrate on the fine-tuned weights.
  const train = loadDataset(setup.data, "train");
  const norm = parseNormalization(setup.normalize ?? "unit", train.name);
  const input = p.model.inputs[0]!;
  const declared = input.shape.slice(1);
  const sampleShape = declared.every((d) => d !== null) ? (declared as number[]) : undefined;
  const calib = prepareBatches(train, subsetIndices(train.shape[0], calibrationSize, seed + 1), batchSize, norm, sampleShape);

  const result = trainModel(p.qmodel.model, train, null, {
    epochs: setup.epochs, batchSize, lr: setup.lr ?? 0.02, seed, optimizer: DEFAULT_SGD, schedule: { kind: "cosine" },
    normalization: norm, trainSamples: setup.trainSamples, quiet: setup.quiet,
    qat: { arithmetic, quant: p.qmodel.config, calibrationBatches: calib.batches.map((b) => ({ [input.name]: b.input })), gradient: setup.gradient ?? "ste" },
  });
  if (setup.output !== undefined) writeOnnx(setup.output, result.model);
  const after = runEvaluation({ ...evalSetup, model: result.model });
  return {
    model: result.model,
    report: {
      model: typeof setup.model === "string" ? setup.model : setup.model.name,
      data: setup.data,
      samples: before.samples,
      epochs: setup.epochs,
      gradient: setup.gradient ?? "ste",
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

interface FinetuneCliOptions {
  model: string;
  data: string;
  mult?: string;
  multConfig?: string;
  epochs: string;
  output: string;
  lr: string;
  batchSize: string;
  seed: string;
  trainSamples?: string;
  limit?: string;
  calibSize: string;
  normalize?: string;
  quant?: string;
  perChannel?: boolean;
  json?: boolean;
  quiet?: boolean;
  grad: string;
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

export function registerFinetune(program: Command): void {
  program
    .command("finetune")
    .description("quantization-aware retraining with approximate multipliers in the forward pass (STE backward); accuracy before and after")
    .requiredOption("--model <file>", "ONNX model")
    .requiredOption("--data <spec>", "mnist, fashion-mnist or cifar10:<dir>")
    .option("--mult <name|file>", "multiplier for every approximable layer")
    .option("--mult-config <file>", 'per-layer multipliers: {"default": "...", "layers": {"<layer>": "..."}}')
    .requiredOption("--epochs <n>", "epochs")
    .requiredOption("-o, --output <file>", "fine-tuned float model (.onnx), BatchNorm folded; axnn eval quantizes it again")
    .option("--lr <rate>", "SGD learning rate (cosine schedule)", "0.02")
    .option("--batch-size <n>", "batch size (training, calibration and evaluation)", "64")
    .option("--seed <n>", "seed of shuffling and of the evaluation and calibration subsets", "1")
    .option("--train-samples <n>", "train on a seeded random subset")
    .option("--limit <n>", "evaluate on a seeded random subset of the test split")
    .option("--calib-size <n>", "calibration samples", "256")
    .option("--normalize <spec>", "unit, standard or mean:std (default unit)")
    .option("--quant <scheme>", "sym or asym (default: from the multiplier's signedness)")
    .option("--per-channel", "per-channel weight quantization")
    .option("--grad <kind>", "backward of the approximate layers: ste (exact product's derivatives) or table (the table's finite differences)", "ste")
    .option("--json", "print the report as JSON")
    .option("--quiet", "no progress bar")
    .action((o: FinetuneCliOptions) => {
      if (o.grad !== "ste" && o.grad !== "table") throw new AxnnError(`--grad must be ste or table, got "${o.grad}"`, { field: "--grad" });
      const { report } = runFinetune({
        model: o.model, data: o.data, mult: o.mult, multConfig: o.multConfig,
        epochs: parseNumberOption(o.epochs, "--epochs", { min: 1, integer: true }),
        lr: parseNumberOption(o.lr, "--lr", { min: 0 }),
        batchSize: parseNumberOption(o.batchSize, "--batch-size", { min: 1, integer: true }),
        seed: parseNumberOption(o.seed, "--seed", { integer: true }),
        trainSamples: o.trainSamples === undefined ? undefined : parseNumberOption(o.trainSamples, "--train-samples", { min: 1, integer: true }),
        limit: o.limit === undefined ? undefined : parseNumberOption(o.limit, "--limit", { min: 1, integer: true }),
        calibrationSize: parseNumberOption(o.calibSize, "--calib-size", { min: 1, integer: true }),
        normalize: o.normalize, quant: o.quant as QuantScheme | undefined, perChannel: o.perChannel === true,
        quiet: o.quiet === true || o.json === true, output: o.output, gradient: o.grad,
      });
      if (o.json) return printJson(report);
      process.stdout.write(textTable(["arithmetic", "before", "after"], [
        ["float32", pct(report.before_float_top1), pct(report.after_float_top1)],
        ["exact int8", pct(report.before_int8_top1), pct(report.after_int8_top1)],
        ["approximate", pct(report.before_top1), pct(report.after_top1)],
      ]) + "\n");
      process.stdout.write(`top-1 on ${report.samples} ${report.data} test samples after ${report.epochs} epoch(s) of QAT (${report.gradient} gradients); written ${o.output}\n`);
    });
}
