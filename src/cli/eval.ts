import type { Command } from "commander";
import { extname } from "node:path";
import { AxnnError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { chart, chartSvg } from "../report/charts.js";
import { CALIBRATION_METHODS, type CalibrationMethod } from "../quant/calibrate.js";
import type { QuantScheme } from "../quant/params.js";
import type { EvalSetup } from "../eval/session.js";
import { runEvaluation } from "../eval/evaluate.js";
import { runSensitivity, sensitivityChart } from "../eval/sensitivity.js";
import { addOutOption, deviceOption, parseNumberOption, printJson, textTable } from "./common.js";

interface CommonOptions {
  model: string;
  data: string;
  limit?: string;
  split: string;
  seed: string;
  batchSize: string;
  calibSize: string;
  calibration: string;
  percentile: string;
  normalize: string;
  quant?: string;
  perChannel?: boolean;
  weightBits: string;
  weightCalibration: string;
  sidecar: boolean;
  json?: boolean;
  quiet?: boolean;
}

interface EvalOptions extends CommonOptions {
  mult?: string;
  multConfig?: string;
}

interface SensitivityOptions extends CommonOptions {
  mult: string;
  out?: string;
  chart?: string;
}

function addCommonOptions(cmd: Command): Command {
  return deviceOption(cmd)
    .requiredOption("--model <file>", "ONNX model (single input, class scores as first output)")
    .requiredOption("--data <dataset>", "mnist, fashion-mnist, cifar10:<dir> (binary version) or idx:<images>,<labels>")
    .option("--limit <n>", "evaluate a seeded subset of n test samples (default: all)")
    .option("--split <split>", "test or train", "test")
    .option("--seed <n>", "seed of the evaluation and calibration subsets", "1")
    .option("--batch-size <n>", "samples per batch", "64")
    .option("--calib-size <n>", "calibration samples (a seeded subset of the training split)", "256")
    .option("--calibration <method>", `activation ranges: ${CALIBRATION_METHODS.join(", ")}`, "minmax")
    .option("--percentile <p>", "upper percentile for --calibration percentile", "99.99")
    .option("--normalize <spec>", "pixel normalisation: unit ([0, 1]), standard (the dataset's usual mean/std) or mean:std per channel, e.g. 0.5,0.5,0.5:0.25,0.25,0.25", "unit")
    .option("--quant <scheme>", "sym (int8, signed mul8s multipliers) or asym (uint8 with zero points, unsigned mul8u); default from the multiplier")
    .option("--per-channel", "one weight scale per output channel")
    .option("--weight-calibration <method>", "weight ranges: minmax or mse", "minmax")
    .option("--weight-bits <n>", "weight width of the exact integer baseline (2..8); multipliers use their own width", "8")
    .option("--no-sidecar", "ignore <model>.axnn.json (by default it supplies the multipliers, quantization, ranges and --normalize not given here)")
    .option("--json", "print one JSON object (and no progress bar)")
    .option("--quiet", "no progress bar");
}

/** The options as given; those the user left at their defaults are undefined, so the model's sidecar can supply them. */
function setupFrom(opts: CommonOptions, cmd: Command): EvalSetup {
  const given = (key: string): boolean => cmd.getOptionValueSource(key) !== "default";
  if (opts.split !== "test" && opts.split !== "train") throw new AxnnError(`expected test or train, got "${opts.split}"`, { field: "--split" });
  if (opts.quant !== undefined && opts.quant !== "sym" && opts.quant !== "asym") throw new AxnnError(`expected sym or asym, got "${opts.quant}"`, { field: "--quant" });
  if (!CALIBRATION_METHODS.includes(opts.calibration as CalibrationMethod)) throw new AxnnError(`expected one of ${CALIBRATION_METHODS.join(", ")}, got "${opts.calibration}"`, { field: "--calibration" });
  if (opts.weightCalibration !== "minmax" && opts.weightCalibration !== "mse") throw new AxnnError(`expected minmax or mse, got "${opts.weightCalibration}"`, { field: "--weight-calibration" });
  return {
    model: opts.model,
    data: opts.data,
    split: opts.split,
    limit: parseNumberOption(opts.limit, "--limit", { min: 1, integer: true }),
    seed: parseNumberOption(opts.seed, "--seed", { integer: true }),
    batchSize: parseNumberOption(opts.batchSize, "--batch-size", { min: 1, integer: true }),
    calibrationSize: parseNumberOption(opts.calibSize, "--calib-size", { min: 1, integer: true }),
    calibration: given("calibration") || given("percentile") ? { method: opts.calibration as CalibrationMethod, percentile: parseNumberOption(opts.percentile, "--percentile") } : undefined,
    normalize: given("normalize") ? opts.normalize : undefined,
    quant: opts.quant as QuantScheme | undefined,
    perChannel: opts.perChannel ?? false,
    weightBits: parseNumberOption(opts.weightBits, "--weight-bits", { min: 2, integer: true }),
    weightCalibration: given("weightCalibration") ? opts.weightCalibration as "minmax" | "mse" : undefined,
    ignoreSidecar: !opts.sidecar,
    progress: !opts.json && !opts.quiet,
  };
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

export function registerEval(program: Command): void {
  addCommonOptions(
    program
      .command("eval")
      .description("accuracy (top-1, top-5) of a model in float32, exact int8 and with approximate multipliers; MACs per layer; throughput")
      .option("--mult <name|file>", "multiplier for every approximable layer (library or generator name, .bin, .v)")
      .option("--mult-config <file>", 'per-layer multipliers: {"default": "...", "layers": {"<layer>": "..."}}'),
  ).action((opts: EvalOptions, cmd: Command) => {
    const r = runEvaluation({ ...setupFrom(opts, cmd), mult: opts.mult, multConfig: opts.multConfig });
    if (opts.json) return printJson(r);
    const rows = [
      ["float32", pct(r.float_top1), pct(r.float_top5), r.float_images_per_s.toFixed(0)],
      ["exact int8", pct(r.int8_top1), pct(r.int8_top5), r.int8_images_per_s.toFixed(0)],
      ["approximate", pct(r.approx_top1), pct(r.approx_top5), r.approx_images_per_s.toFixed(0)],
    ];
    process.stdout.write(`${r.model} on ${r.data} (${r.split}, ${r.samples} samples), quantization ${r.quant.scheme}${r.quant.per_channel ? " per-channel" : ""}, ${r.quant.ranges === "stored" ? "stored ranges" : `calibration ${r.quant.calibration}`}, kernels ${r.backend}\n`);
    if (r.quant.settings_from) process.stdout.write(`settings not given on the command line come from ${r.quant.settings_from}\n`);
    process.stdout.write("\n");
    process.stdout.write(textTable(["arithmetic", "top-1", "top-5", "images/s"], rows) + "\n\n");
    process.stdout.write(textTable(["layer", "kind", "MACs", "multiplier"], r.layers.map((l) => [l.name, l.kind, l.macs, l.multiplier])) + "\n");
    process.stdout.write(`total ${r.total_macs} MACs per sample; approximate vs int8: ${pct(r.approx_vs_int8_disagreement)} of predictions differ\n`);
  });
}

export function registerSensitivity(program: Command): void {
  addCommonOptions(
    addOutOption(program
      .command("sensitivity")
      .description("accuracy with only one layer on the approximate multiplier (the others exact int8), for every layer")
      .requiredOption("--mult <name|file>", "the approximate multiplier")
      .option("--chart <file.svg|file.png>", "write a bar chart of each layer's top-1 drop against exact int8 (points)"),
    "file.json", "write the result as JSON"),
  ).action(async (opts: SensitivityOptions, cmd: Command) => {
    if (opts.chart !== undefined && ![".svg", ".png"].includes(extname(opts.chart).toLowerCase())) {
      throw new AxnnError(`expected a .svg or .png file, got "${opts.chart}"`, { field: "--chart" });
    }
    const r = runSensitivity({ ...setupFrom(opts, cmd), mult: opts.mult });
    if (opts.out) writeFileAtomic(opts.out, JSON.stringify(r, null, 2) + "\n");
    if (opts.chart) {
      const spec = sensitivityChart(r);
      if (extname(opts.chart).toLowerCase() === ".png") writeFileAtomic(opts.chart, (await chart(spec)).png);
      else writeFileAtomic(opts.chart, await chartSvg(spec));
    }
    if (opts.json) return printJson(r);
    process.stdout.write(`${r.model} on ${r.data} (${r.samples} samples), multiplier ${r.multiplier}, quantization ${r.quant.scheme}${r.quant.per_channel ? " per-channel" : ""}\n`);
    process.stdout.write(`float32 top-1 ${pct(r.float_top1)}, exact int8 ${pct(r.int8_top1)}, every layer approximate ${pct(r.all_approx_top1)}\n\n`);
    process.stdout.write(textTable(["layer", "kind", "MACs", "top-1", "top-5", "change vs int8"], r.layers.map((l) => [l.name, l.kind, l.macs, pct(l.top1), pct(l.top5), `${l.delta_top1 >= 0 ? "+" : ""}${(100 * l.delta_top1).toFixed(2)} pp`])) + "\n");
  });
}
