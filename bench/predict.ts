import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timeIt, type BenchResult } from "./harness.js";
import { loadDesign } from "../src/energy/presets.js";
import { zooLayers } from "../src/energy/zoo-shapes.js";
import { labelNetwork, type DatasetRow } from "../src/predict/dataset.js";
import { multiplierPoolNames } from "../src/predict/multipliers.js";
import { EnergyPredictors, trainPredictors, type PredictLayer } from "../src/predict/predictors.js";
import { sampleVariableNetwork } from "../src/predict/sampling.js";

/**
 * Predictor time per network against the reference (energy model with its mapping searches, each
 * network with an empty cache, one thread). The predictors are trained on the few networks labelled
 * here: the figures are about time, not fidelity (docs/predict.md has those).
 */
export function benchPredict(): BenchResult[] {
  const out: BenchResult[] = [];
  const { arch, ert } = loadDesign("eyeriss");
  const pool = multiplierPoolNames();
  const evaluations = 300;
  const rows: DatasetRow[] = [];
  let wallMs = 0;
  for (let i = 0; i < 4; i++) {
    const cacheDir = mkdtempSync(join(tmpdir(), "axnn-bench-predict-"));
    try {
      const t0 = performance.now();
      rows.push(labelNetwork("eyeriss", arch, ert, sampleVariableNetwork(1, i, pool), 1, { maxEvaluations: evaluations, cacheDir }));
      wallMs += performance.now() - t0;
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }
  const refMs = wallMs / rows.length;
  out.push({
    group: "predict", name: `reference: sampled network on eyeriss, empty cache (${evaluations} evals/shape)`, ms: refMs, runs: rows.length,
    figures: { "shapes/net": rows.reduce((a, r) => a + r.distinctShapes, 0) / rows.length, "accounted ms (search + eval)": rows.reduce((a, r) => a + r.referenceMs, 0) / rows.length },
  });
  const p = new EnergyPredictors(trainPredictors(rows, { trees: 50 }));
  const nets: [string, PredictLayer[]][] = [
    ["resnet20", zooLayers("resnet20").map((layer) => ({ layer, powerRatio: 0.7 }))],
    ["mobilenetv2", zooLayers("mobilenetv2").map((layer) => ({ layer, powerRatio: 0.7 }))],
    ["sampled", rows[0]!.layers.map((l) => ({ layer: l.layer, powerRatio: l.powerRatio }))],
  ];
  for (const [name, layers] of nets) {
    const sum = timeIt(() => p.sum("eyeriss", layers, "variable"), { minMs: 100, minRuns: 50, maxRuns: 100000 });
    out.push({ group: "predict", name: `sum predictor, ${name} (${layers.length} layers)`, ...sum, figures: { "us/net": sum.ms * 1000, "speed-up vs reference": refMs / sum.ms } });
    const learned = timeIt(() => p.learned("eyeriss", layers), { minMs: 200, minRuns: 20, maxRuns: 100000 });
    out.push({ group: "predict", name: `learned predictor, ${name} (${layers.length} layers)`, ...learned, figures: { "us/net": learned.ms * 1000, "speed-up vs reference": refMs / learned.ms } });
  }
  return out;
}
