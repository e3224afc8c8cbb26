// `axnn finetune`: parses the options of runFinetune (src/train/finetune.ts) and prints its report.
import type { Command } from "commander";
import type { QuantScheme } from "../quant/params.js";
import { DEFAULT_FINETUNE_RANGES, runFinetune } from "../train/finetune.js";
import { DEFAULT_BN_FREEZE, DEFAULT_BN_REESTIMATE, QAT_RANGES, RANGE_MOMENTUM, type QatRanges } from "../train/qat.js";
import { AxnnError } from "../util/errors.js";
import { checkOutputFile } from "../util/fs.js";
import { addOutOption, deviceOption, parseNumberOption, printJson, textTable } from "./common.js";

interface FinetuneCliOptions {
  model: string;
  data: string;
  mult?: string;
  multConfig?: string;
  epochs: string;
  out: string;
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
  bnFreeze: string;
  bnReestimate: string;
  rangeMomentum: string;
  ranges: string;
}

function parseFraction(value: string, name: string): number {
  const v = parseNumberOption(value, name, { min: 0 });
  if (v > 1) throw new AxnnError(`expected a number from 0 to 1, got "${value}"`, { field: name });
  return v;
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

export function registerFinetune(program: Command): void {
  const cmd = deviceOption(program.command("finetune"))
    .description("quantization-aware retraining with approximate multipliers in the forward pass (STE or table backward); accuracy before and after")
    .requiredOption("--model <file>", "ONNX model")
    .requiredOption("--data <spec>", "mnist, fashion-mnist or cifar10:<dir>")
    .option("--mult <name|file>", "multiplier for every approximable layer")
    .option("--mult-config <file>", 'per-layer multipliers: {"default": "...", "layers": {"<layer>": "..."}}')
    .requiredOption("--epochs <n>", "epochs")
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
    .option("--bn-freeze <fraction>", "fraction of the training steps after which BatchNorm uses (and keeps) its running statistics; 1: never", String(DEFAULT_BN_FREEZE))
    .option("--bn-reestimate <batches>", "re-estimate BatchNorm's running statistics on this many training batches after every epoch (0: no)", String(DEFAULT_BN_REESTIMATE))
    .option("--ranges <how>", "input ranges during QAT: calibrate (every epoch, as eval does), track (moving average of each batch's min/max) or learn (LSQ); tracked and learned ones are stored in the output's sidecar", DEFAULT_FINETUNE_RANGES)
    .option("--range-momentum <m>", "--ranges track: weight of each new batch's min/max in the moving average", String(RANGE_MOMENTUM))
    .option("--json", "print the report as JSON")
    .option("--quiet", "no progress bar");
  addOutOption(cmd, "file", "fine-tuned float model (.onnx), BatchNorm folded, and its sidecar (.axnn.json: quantization, tracked or learned input ranges) that axnn eval reads", { required: true });
  cmd.action((o: FinetuneCliOptions) => {
      if (o.grad !== "ste" && o.grad !== "table") throw new AxnnError(`--grad must be ste or table, got "${o.grad}"`, { field: "--grad" });
      if (!(QAT_RANGES as readonly string[]).includes(o.ranges)) throw new AxnnError(`--ranges must be one of ${QAT_RANGES.join(", ")}, got "${o.ranges}"`, { field: "--ranges" });
      checkOutputFile(o.out);
      const { report } = runFinetune({
        model: o.model, data: o.data, mult: o.mult, multConfig: o.multConfig,
        epochs: parseNumberOption(o.epochs, "--epochs", { min: 1, integer: true }),
        lr: parseNumberOption(o.lr, "--lr", { min: 0 }),
        batchSize: parseNumberOption(o.batchSize, "--batch-size", { min: 1, integer: true }),
        seed: parseNumberOption(o.seed, "--seed", { integer: true }),
        trainSamples: parseNumberOption(o.trainSamples, "--train-samples", { min: 1, integer: true }),
        limit: parseNumberOption(o.limit, "--limit", { min: 1, integer: true }),
        calibrationSize: parseNumberOption(o.calibSize, "--calib-size", { min: 1, integer: true }),
        normalize: o.normalize, quant: o.quant as QuantScheme | undefined, perChannel: o.perChannel === true,
        quiet: o.quiet === true || o.json === true, output: o.out, gradient: o.grad,
        freezeBatchNorm: parseFraction(o.bnFreeze, "--bn-freeze"), ranges: o.ranges as QatRanges,
        reestimateBatches: parseNumberOption(o.bnReestimate, "--bn-reestimate", { min: 0, integer: true }),
        rangeMomentum: parseFraction(o.rangeMomentum, "--range-momentum"),
      });
      for (const w of report.warnings) process.stderr.write(`axnn: warning: ${w}\n`);
      if (o.json) return printJson(report);
      process.stdout.write(textTable(["arithmetic", "before", "after"], [
        ["float32", pct(report.before_float_top1), pct(report.after_float_top1)],
        ["exact int8", pct(report.before_int8_top1), pct(report.after_int8_top1)],
        ["approximate", pct(report.before_top1), pct(report.after_top1)],
      ]) + "\n");
      process.stdout.write(`top-1 on ${report.samples} ${report.data} test samples after ${report.epochs} epoch(s) of QAT (${report.gradient} gradients, ${report.ranges} ranges); written ${o.out}\n`);
    });
}
