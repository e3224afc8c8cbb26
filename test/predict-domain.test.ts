// The predictors know their training domain: never an impossible value, a warning that says how far
// outside, and the energy model as fallback when asked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { convLayer, denseLayer, layerMacs, type NetworkLayer } from "../src/energy/network.js";
import { loadDesign } from "../src/energy/presets.js";
import { computeEnergies } from "../src/energy/ert.js";
import { multiplierShare } from "../src/energy/approx.js";
import type { DatasetRow, LayerRecord } from "../src/predict/dataset.js";
import { EnergyPredictors, predictNetwork, savePredictors, trainPredictors, type PredictLayer } from "../src/predict/predictors.js";
import { ModelBuilder } from "../src/nn/builder.js";
import { exportOnnx } from "../src/onnx/export.js";
import { REPO_ROOT } from "./shared.js";

/**
 * Rows of one conv layer each, 16 to 64 channels, whose memory energy per MAC grows with the
 * layer's size (as a bigger layer spills out of the buffers): energy is convex in the MAC count,
 * so the sum predictor's straight line through these rows has a negative intercept, and a much
 * smaller network extrapolates below zero, as LeNet-5 did on a predictor trained on ResNets.
 */
function convexRows(): DatasetRow[] {
  const { arch: a, ert } = loadDesign("eyeriss");
  const macPj = computeEnergies(ert, a.compute.name).compute;
  return [16, 24, 32, 40, 48, 56, 64].map((c, i) => {
    const layer = convLayer("a", { inChannels: c, outChannels: c, inSize: 16, kernel: 3 });
    const macs = layerMacs(layer);
    const computePj = macs * macPj;
    const record: LayerRecord = { layer, multiplier: "exact", powerRatio: 1, macs, energyPj: macs * (1e-6 * macs) + computePj, computePj };
    return {
      id: `convex-${i}`, arch: "eyeriss", family: "fixed", base: "convex", seed: 1, index: i, macs, energyPj: record.energyPj, computePj, multiplierPj: 0,
      distinctShapes: 1, searchMs: 1, evalMs: 1, referenceMs: 2, measuredMs: 1, maxEvaluations: 10, layers: [record],
    };
  });
}

const tiny: PredictLayer[] = [
  { layer: convLayer("c1", { inChannels: 1, outChannels: 4, inSize: 8, kernel: 3 }), powerRatio: 1 },
  { layer: denseLayer("fc", { inFeatures: 64, outFeatures: 10 }), powerRatio: 1 },
];

test("the sum predictor never goes below the network's compute energy, where its straight line would go negative", () => {
  const file = trainPredictors(convexRows(), { trees: 5 });
  const fit = file.archs.eyeriss!.sumFits["*"]!;
  assert.ok(fit.a < 0, `the fit's intercept ${fit.a} is negative`);
  const p = new EnergyPredictors(file);
  const raw = p.sumRaw("eyeriss", tiny);
  assert.ok(fit.a + fit.b * raw < 0, "the plain affine fit is negative on the tiny network (the reported bug)");
  const { arch, ert } = loadDesign("eyeriss");
  const macPj = computeEnergies(ert, arch.compute.name).compute;
  const compute = (4 * 8 * 8 * 9 + 640) * macPj; // conv ("same"): 4 x 8 x 8 outputs of 9 taps; dense 64 x 10
  assert.ok(Math.abs(p.computeEnergy("eyeriss", tiny) - compute) < 1e-9 * compute);
  assert.equal(p.sum("eyeriss", tiny), p.computeEnergy("eyeriss", tiny));
  const r = predictNetwork(p, "eyeriss", tiny);
  assert.equal(r.sumAtFloor, true);
  assert.ok(r.learnedPj > compute);
  // Inside the domain the fit is used as it is.
  const row = convexRows()[3]!;
  const inside = predictNetwork(p, "eyeriss", row.layers.map((l) => ({ layer: l.layer, powerRatio: 1 })));
  assert.equal(inside.sumAtFloor, false);
  assert.ok(Math.abs(inside.sumPj - (fit.a + fit.b * inside.sumRawPj)) < 1e-9 * inside.sumPj);
  assert.deepEqual(inside.domain, { known: true, inside: true, outside: [] });
  assert.equal(multiplierShare(arch.compute), file.archs.eyeriss!.multiplierShare);
});

test("domain: the training ranges are stored with the model, and a network outside says which feature and how far", () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-domain-"));
  const rows = convexRows();
  savePredictors(join(dir, "p.json"), trainPredictors(rows, { trees: 5 }));
  const stored = JSON.parse(readFileSync(join(dir, "p.json"), "utf8"));
  const raws = rows.map((r) => new EnergyPredictors(stored).sumRaw("eyeriss", r.layers.map((l) => ({ layer: l.layer, powerRatio: 1 }))));
  assert.deepEqual(stored.archs.eyeriss.sumFits["*"].x, [Math.min(...raws), Math.max(...raws)]);
  const ranges = stored.archs.eyeriss.learned.featureRanges as [number, number][];
  const outChannels = stored.archs.eyeriss.learned.features.indexOf("log2_out_channels");
  assert.deepEqual(ranges[outChannels], [4, 6]); // 16 to 64 channels
  const p = EnergyPredictors.load(join(dir, "p.json"));
  const d = p.domain("eyeriss", tiny);
  assert.equal(d.inside, false);
  const sum = d.outside.find((o) => o.predictor === "sum")!;
  assert.ok(Math.abs(sum.factor! - Math.min(...raws) / p.sumRaw("eyeriss", tiny)) < 1e-9 * sum.factor!);
  // c1 has 4 output channels: 2 below the smallest training log2 (4), a factor of 4.
  const c1 = d.outside.find((o) => o.what === "layer c1: log2_out_channels")!;
  assert.deepEqual([c1.value, c1.min, c1.max, c1.factor], [2, 4, 6, 4]);
  assert.ok(d.outside.some((o) => o.what === "layer fc: is_dense" && o.factor === undefined), "a layer kind never trained on");
  // A file from before the domain was stored: unknown, never "inside".
  for (const a of Object.values(stored.archs) as { sumFits: Record<string, { x?: unknown }>; learned: { featureRanges?: unknown } }[]) {
    for (const f of Object.values(a.sumFits)) delete f.x;
    delete a.learned.featureRanges;
  }
  const old = new EnergyPredictors(stored).domain("eyeriss", tiny);
  assert.deepEqual([old.known, old.inside], [false, false]);
});

test("axnn predict energy: warns how far outside the domain, reports it in the JSON, and --fallback runs the energy model", () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-domain-cli-"));
  savePredictors(join(dir, "p.json"), trainPredictors(convexRows(), { trees: 5 }));
  const b = new ModelBuilder("tiny", { seed: 1 });
  const x = b.input("x", [null, 1, 8, 8]);
  b.output(b.dense(b.flatten(b.conv2d(x, { outChannels: 4, kernel: 3, padding: 1, name: "c1" })), { outFeatures: 10, name: "fc" }));
  writeFileSync(join(dir, "tiny.onnx"), exportOnnx(b.build()));
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(REPO_ROOT, "dist", "src", "cli", "main.js"), "predict", "energy", "--model", join(dir, "tiny.onnx"), "--predictor", join(dir, "p.json"), ...args], {
    encoding: "utf8", env: { ...process.env, AXNN_HOME: dir },
  });
  const plain = cli("--json");
  assert.equal(plain.status, 0, plain.stderr);
  const j = JSON.parse(plain.stdout);
  assert.equal(j.domain.inside, false);
  assert.ok(j.sum.energy_pj > 0 && j.sum.at_compute_floor === true && j.sum.energy_pj === j.compute_pj);
  assert.equal(j.energy_model, undefined);
  assert.match(plain.stderr, /warning: sum: raw multiplication energy .* is outside the training range .*x beyond it/);
  assert.match(plain.stderr, /warning: learned: layer c1: log2_out_channels = 2 is outside the training range \[4, 6\] \(4x beyond it\)/);
  const fb = cli("--json", "--fallback");
  assert.equal(fb.status, 0, fb.stderr);
  const f = JSON.parse(fb.stdout);
  assert.ok(f.energy_model.energy_pj > f.compute_pj, `energy model ${f.energy_model.energy_pj} pJ, compute alone ${f.compute_pj} pJ`);
});
