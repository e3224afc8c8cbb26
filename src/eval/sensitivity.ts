// Per-layer sensitivity to an approximate multiplier: accuracy with only one layer approximate.
import type { ChartSpec } from "../report/charts.js";
import { FLOAT, type LayerArithmetic } from "../quant/model.js";
import { evaluatePass, type PassResult } from "./accuracy.js";
import { progressBar } from "../util/progress.js";
import { modelLabel, quantSummary, type QuantSummary } from "./evaluate.js";
import { prepareEvaluation, runner, type EvalSetup } from "./session.js";

/** The result of `axnn sensitivity`. */
export interface SensitivityReport {
  model: string;
  data: string;
  samples: number;
  multiplier: string;
  quant: QuantSummary;
  float_top1: number;
  int8_top1: number;
  int8_top5: number;
  /** Every layer approximate at once. */
  all_approx_top1: number;
  layers: { name: string; kind: string; macs: number; top1: number; top5: number; delta_top1: number }[];
}

/** For each approximable layer, the accuracy with that layer alone on `mult` (the others exact int8). */
export function runSensitivity(setup: EvalSetup & { mult: string }): SensitivityReport {
  const p = prepareEvaluation(setup);
  // One bar over every pass: float, exact int8, all layers approximate, then one per layer.
  const progress = progressBar(`sensitivity (${p.layers.length} layers)`, (3 + p.layers.length) * p.batches.count, { quiet: !setup.progress, unit: "img" });
  let fl: PassResult, i8: PassResult, all: PassResult, layers: SensitivityReport["layers"];
  try {
    fl = evaluatePass(p.batches, runner(p, FLOAT), { progress });
    i8 = evaluatePass(p.batches, runner(p, p.exact), { progress });
    all = evaluatePass(p.batches, runner(p, p.approximate), { progress });
    layers = p.layers.map((l) => {
      const only = new Map<string, LayerArithmetic>(p.layers.map((o) => [o.name, o.name === l.name ? p.approximate.get(l.name)! : p.exact]));
      const r = evaluatePass(p.batches, runner(p, only), { progress });
      return { name: l.name, kind: l.kind, macs: l.macs, top1: r.top1, top5: r.top5, delta_top1: r.top1 - i8.top1 };
    });
  } finally {
    progress.stop();
  }
  return {
    model: modelLabel(setup.model),
    data: setup.data, samples: i8.count, multiplier: Object.values(p.multiplierNames)[0] ?? setup.mult, quant: quantSummary(p),
    float_top1: fl.top1, int8_top1: i8.top1, int8_top5: i8.top5, all_approx_top1: all.top1, layers,
  };
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

/**
 * Bar chart of each layer's top-1 drop against exact int8, in points, with that layer alone on the
 * multiplier. The axis spans the drops (not 0-100 %), so differences of a fraction of a point show;
 * a negative drop (a gain) is a bar below zero.
 */
export function sensitivityChart(r: SensitivityReport): ChartSpec {
  const values = r.layers.map((l, i) => ({ layer: l.name, order: i, drop: -100 * l.delta_top1, top1: l.top1 }));
  const allDrop = 100 * (r.int8_top1 - r.all_approx_top1);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: {
      text: `Sensitivity to ${r.multiplier}: one layer approximate`,
      subtitle: [
        `${r.model}, ${r.data}, ${r.samples} samples; top-1 drop against exact int8 (${pct(r.int8_top1)})`,
        `every layer approximate at once: ${allDrop.toFixed(2)} points`,
      ],
    },
    width: Math.max(240, 36 * r.layers.length),
    height: 240,
    data: { values },
    layer: [
      {
        mark: { type: "bar", color: "#4c78a8" },
        encoding: {
          x: { field: "layer", type: "nominal", sort: { field: "order" }, title: "layer (execution order)", axis: { labelAngle: -40, labelLimit: 160 } },
          y: { field: "drop", type: "quantitative", title: "top-1 drop (points)", axis: { format: ".1f" } },
          tooltip: [{ field: "layer" }, { field: "drop", format: ".2f", title: "drop (points)" }, { field: "top1", format: ".2%", title: "top-1" }],
        },
      },
      {
        mark: { type: "text", baseline: "bottom", dy: -2, fontSize: 10 },
        encoding: {
          x: { field: "layer", type: "nominal", sort: { field: "order" } },
          y: { field: "drop", type: "quantitative" },
          text: { field: "drop", type: "quantitative", format: ".2f" },
        },
      },
    ],
  } as ChartSpec;
}
