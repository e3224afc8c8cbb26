// Float, exact int8 and approximate accuracy of a model: what `axnn eval` reports.
import { FLOAT } from "../quant/model.js";
import { kernelBackend } from "../kernels/index.js";
import { evaluatePass, type PassResult } from "./accuracy.js";
import { progressBar } from "../util/progress.js";
import { prepareEvaluation, runner, type EvalSetup, type PreparedEvaluation } from "./session.js";

/** How an evaluation quantized the model (part of every evaluation report). */
export interface QuantSummary {
  /** The sidecar that supplied the settings not given, when there was one. */
  settings_from?: string;
  ranges: "stored" | "calibrated";
  scheme: string;
  per_channel: boolean;
  exact_weight_bits: number;
  weight_calibration: string;
  calibration: string;
  percentile?: number;
}

export function quantSummary(p: PreparedEvaluation): QuantSummary {
  const c = p.qmodel.config;
  return { ...(p.sidecarFile ? { settings_from: p.sidecarFile } : {}), ranges: p.storedRanges ? "stored" : "calibrated", scheme: c.scheme, per_channel: c.perChannel, exact_weight_bits: p.exact.kind === "exact" ? p.exact.weightBits ?? 8 : 8, weight_calibration: c.weightCalibration ?? "minmax", calibration: c.calibration.method, ...(c.calibration.method === "percentile" ? { percentile: c.calibration.percentile ?? 99.99 } : {}) };
}

/** The result of `axnn eval` (also its JSON). */
export interface EvalReport {
  model: string;
  data: string;
  split: string;
  samples: number;
  quant: QuantSummary;
  backend: string;
  float_top1: number;
  float_top5: number;
  int8_top1: number;
  int8_top5: number;
  approx_top1: number;
  approx_top5: number;
  /** Share of samples whose predicted class differs between int8 and approximate. */
  approx_vs_int8_disagreement: number;
  float_images_per_s: number;
  int8_images_per_s: number;
  approx_images_per_s: number;
  total_macs: number;
  layers: { name: string; kind: string; macs: number; multiplier: string }[];
}

function disagreement(a: PassResult, b: PassResult): number {
  let d = 0;
  for (let i = 0; i < a.predictions.length; i++) if (a.predictions[i] !== b.predictions[i]) d++;
  return a.predictions.length ? d / a.predictions.length : 0;
}

/** The model's name in reports: its file, or its name when given as a Model. */
export function modelLabel(model: EvalSetup["model"]): string {
  return typeof model === "string" ? model : model.name;
}

/** Float, exact int8 and approximate accuracy of a model (what `axnn eval` prints). */
export function runEvaluation(setup: EvalSetup): EvalReport {
  return evaluatePrepared(prepareEvaluation(setup), setup);
}

/** runEvaluation on an evaluation already prepared from `setup`. */
export function evaluatePrepared(p: PreparedEvaluation, setup: EvalSetup): EvalReport {
  // One bar over every pass: float, exact int8 and (with a multiplier table) approximate.
  const bar = progressBar("eval", (p.hasMultiplier ? 3 : 2) * p.batches.count, { quiet: !setup.progress, unit: "img" });
  let fl: PassResult, i8: PassResult, ax: PassResult;
  try {
    fl = evaluatePass(p.batches, runner(p, FLOAT), { progress: bar });
    i8 = evaluatePass(p.batches, runner(p, p.exact), { progress: bar });
    // Without a multiplier table the approximate run is the int8 run.
    ax = p.hasMultiplier ? evaluatePass(p.batches, runner(p, p.approximate), { progress: bar }) : i8;
  } finally {
    bar.stop();
  }
  return {
    model: modelLabel(setup.model),
    data: setup.data,
    split: setup.split ?? "test",
    samples: fl.count,
    quant: quantSummary(p),
    backend: kernelBackend(),
    float_top1: fl.top1, float_top5: fl.top5,
    int8_top1: i8.top1, int8_top5: i8.top5,
    approx_top1: ax.top1, approx_top5: ax.top5,
    approx_vs_int8_disagreement: disagreement(i8, ax),
    float_images_per_s: fl.imagesPerSecond, int8_images_per_s: i8.imagesPerSecond, approx_images_per_s: ax.imagesPerSecond,
    total_macs: p.layers.reduce((s, l) => s + l.macs, 0),
    layers: p.layers.map((l) => ({ name: l.name, kind: l.kind, macs: l.macs, multiplier: p.multiplierNames[l.name] ?? "exact" })),
  };
}
