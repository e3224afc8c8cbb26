// Per-layer sensitivity to an approximate multiplier: accuracy with only one layer approximate.
import type { ChartSpec } from "../report/charts.js";
import { FLOAT, type LayerArithmetic } from "../quant/model.js";
import { evaluatePass } from "./accuracy.js";
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
  const fl = evaluatePass(p.batches, runner(p, FLOAT));
  const i8 = evaluatePass(p.batches, runner(p, p.exact));
  const all = evaluatePass(p.batches, runner(p, p.approximate));
  const layers = p.layers.map((l) => {
    const only = new Map<string, LayerArithmetic>(p.layers.map((o) => [o.name, o.name === l.name ? p.approximate.get(l.name)! : p.exact]));
    const r = evaluatePass(p.batches, runner(p, only));
    return { name: l.name, kind: l.kind, macs: l.macs, top1: r.top1, top5: r.top5, delta_top1: r.top1 - i8.top1 };
  });
  return {
    model: modelLabel(setup.model),
    data: setup.data, samples: i8.count, multiplier: Object.values(p.multiplierNames)[0] ?? setup.mult, quant: quantSummary(p),
    float_top1: fl.top1, int8_top1: i8.top1, int8_top5: i8.top5, all_approx_top1: all.top1, layers,
  };
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

/** Bar chart of top-1 per layer with the exact int8 accuracy as a rule. */
export function sensitivityChart(r: SensitivityReport): ChartSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: `Sensitivity to ${r.multiplier}: one layer approximate`, subtitle: `${r.model}, ${r.data}, ${r.samples} samples; line: exact int8 (${pct(r.int8_top1)})` },
    width: Math.max(240, 28 * r.layers.length),
    height: 240,
    layer: [
      {
        data: { values: r.layers.map((l, i) => ({ layer: l.name, order: i, top1: l.top1 })) },
        mark: { type: "bar", color: "#4c78a8" },
        encoding: {
          x: { field: "layer", type: "nominal", sort: { field: "order" }, title: "layer (execution order)" },
          y: { field: "top1", type: "quantitative", title: "top-1 accuracy", axis: { format: ".0%" } },
          tooltip: [{ field: "layer" }, { field: "top1", format: ".2%" }],
        },
      },
      {
        data: { values: [{ int8: r.int8_top1 }] },
        mark: { type: "rule", color: "#e45756", strokeDash: [4, 3] },
        encoding: { y: { field: "int8", type: "quantitative" } },
      },
    ],
  } as ChartSpec;
}
