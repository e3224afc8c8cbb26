import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { convLayer, denseLayer, depthwiseLayer, type NetworkLayer } from "../src/energy/network.js";
import { loadDesign } from "../src/energy/presets.js";
import { computeEnergies } from "../src/energy/ert.js";
import type { DatasetRow, LayerRecord } from "../src/predict/dataset.js";
import { readDataset, rowsToCsv } from "../src/predict/dataset.js";
import { evaluatePredictors } from "../src/predict/evaluate.js";
import { layerShapeKey } from "../src/predict/features.js";
import { EnergyPredictors, rawMultiplicationSum, savePredictors, trainPredictors, type PredictLayer } from "../src/predict/predictors.js";
import { registerPredict } from "../src/cli/predict.js";
import { assignmentScales, layersFromModel } from "../src/energy/network.js";
import { ModelBuilder } from "../src/nn/builder.js";
import { exportOnnx } from "../src/onnx/export.js";
import { importOnnx } from "../src/onnx/import.js";
import { AxnnError } from "../src/util/errors.js";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `axnn-predict-${p}-`));

test("sum predictor: MACs x energy of one multiplication, by hand", () => {
  // conv 4->8, 3x3 on 6x6 "same": 8*6*6*4*9 = 10368 MACs; dense 10->5: 50 MACs.
  const layers: PredictLayer[] = [
    { layer: convLayer("c", { inChannels: 4, outChannels: 8, inSize: 6, kernel: 3 }), powerRatio: 0.5 },
    { layer: denseLayer("d", { inFeatures: 10, outFeatures: 5 }), powerRatio: 1 },
  ];
  // 2 pJ per MAC, multiplier 25% of it: (10368 * 0.5 + 50 * 1) * 2 * 0.25
  assert.equal(rawMultiplicationSum(layers, 2, 0.25), (10368 * 0.5 + 50) * 0.5);
});

/**
 * Synthetic rows priced by a made-up but known model (memory energy per MAC a function of the
 * kernel and the stride; the compute part as the energy model charges it), so the predictors'
 * fits can be checked against the truth without running the mapper.
 */
function syntheticRows(arch: string, count: number, offset = 0): DatasetRow[] {
  const { arch: a, ert } = loadDesign(arch);
  const macPj = computeEnergies(ert, a.compute.name).compute;
  // Aladdin 40 nm: 32-bit multiply 12.7 pJ scaled by (8/32)^2, 32-bit add 0.21 pJ scaled by 16/32 (docs/energy.md: 88.3%).
  const share = (12.7 / 16) / (12.7 / 16 + 0.21 / 2);
  const rows: DatasetRow[] = [];
  for (let i = 0; i < count; i++) {
    const k = [1, 3, 5][i % 3]!, s = 1 + (i % 2), c = 8 * (1 + (i % 4)), size = [8, 16][i % 2]!;
    const layers: NetworkLayer[] = [
      convLayer("a", { inChannels: 3, outChannels: c, inSize: size, kernel: k, stride: s }),
      depthwiseLayer("b", { inChannels: c, inSize: size, kernel: 3 }),
      denseLayer("fc", { inFeatures: c, outFeatures: 10 }),
    ];
    const ratio = [0.3, 0.6, 1, 1.4][(i + offset) % 4]!;
    const records: LayerRecord[] = layers.map((layer, j) => {
      const macs = layer.kind === "dense" ? layer.inChannels * layer.outChannels : 0;
      const outH = Math.floor((layer.inH + layer.pads[0] + layer.pads[2] - layer.kernelH) / layer.strideH) + 1;
      const m = layer.kind === "dense" ? macs : layer.outChannels * outH * outH * (layer.inChannels / layer.groups) * layer.kernelH * layer.kernelW;
      const memPerMac = 3 + 10 / layer.kernelH + 2 * layer.strideH + (layer.kind === "dense" ? 20 : 0) + j;
      const computePj = m * macPj * (1 - share + share * ratio);
      return { layer, multiplier: "m", powerRatio: ratio, macs: m, energyPj: m * memPerMac + computePj, computePj };
    });
    const energyPj = records.reduce((x, r) => x + r.energyPj, 0);
    rows.push({
      id: `${arch}-${i}`, arch, family: "variable", base: "nas", seed: 1, index: i, macs: records.reduce((x, r) => x + r.macs, 0), energyPj,
      computePj: records.reduce((x, r) => x + r.computePj, 0), multiplierPj: 0, distinctShapes: 3, searchMs: 1000, evalMs: 1, referenceMs: 1001,
      measuredMs: 1, maxEvaluations: 10, layers: records,
    });
  }
  return rows;
}

test("learned predictor: recovers the training shapes, prices multipliers exactly, survives save/load", () => {
  const rows = syntheticRows("eyeriss", 24);
  const p = new EnergyPredictors(trainPredictors(rows, { trees: 20 }));
  for (const r of rows) {
    const pred = p.learned("eyeriss", r.layers.map((l) => ({ layer: l.layer, powerRatio: l.powerRatio })));
    // Leaves hold at least 2 shapes (minNumSamples), so training shapes are recovered only approximately.
    assert.ok(Math.abs(pred - r.energyPj) / r.energyPj < 0.08, `${r.id}: ${pred} vs ${r.energyPj}`);
  }
  // Only the multipliers change: the learned predictor's difference is exactly the compute difference.
  const layers = rows[0]!.layers.map((l) => ({ layer: l.layer, powerRatio: 1 }));
  const cheaper = layers.map((l) => ({ ...l, powerRatio: 0.5 }));
  const { arch, ert } = loadDesign("eyeriss");
  const macPj = computeEnergies(ert, arch.compute.name).compute;
  const expectedDrop = rows[0]!.layers.reduce((x, l) => x + l.macs, 0) * macPj * 0.8831710709318498 * 0.5;
  const drop = p.learned("eyeriss", layers) - p.learned("eyeriss", cheaper);
  assert.ok(Math.abs(drop - expectedDrop) <= 1e-6 * expectedDrop, `${drop} vs ${expectedDrop}`);

  const dir = tmp("pred");
  const file = join(dir, "p.json");
  savePredictors(file, p.file);
  const back = EnergyPredictors.load(file);
  for (const r of rows.slice(0, 5)) {
    const input = r.layers.map((l) => ({ layer: l.layer, powerRatio: l.powerRatio }));
    assert.equal(back.learned("eyeriss", input), p.learned("eyeriss", input));
    assert.equal(back.sum("eyeriss", input, "variable"), p.sum("eyeriss", input, "variable"));
  }
  writeFileSync(join(dir, "bad.json"), JSON.stringify({ ...p.file, format: "nope" }));
  assert.throws(() => EnergyPredictors.load(join(dir, "bad.json")), (e: unknown) => e instanceof AxnnError && /not an axnn predictor file/.test(e.message));
  assert.throws(() => p.learned("simba", layers), (e: unknown) => e instanceof AxnnError && /no model for "simba"/.test(e.message));
});

test("sum predictor: the affine fit is exact when the energy is affine in the sum", () => {
  const rows = syntheticRows("simba", 12);
  const p0 = new EnergyPredictors(trainPredictors(rows, { trees: 5 }));
  // Rewrite the energies as 5 uJ + 3 x the raw sum: the fit must recover it.
  for (const r of rows) r.energyPj = 5e6 + 3 * p0.sumRaw("simba", r.layers.map((l) => ({ layer: l.layer, powerRatio: l.powerRatio })));
  const pf = trainPredictors(rows, { trees: 5 });
  const fit = pf.archs.simba!.sumFits.variable!;
  assert.ok(Math.abs(fit.a - 5e6) < 1e-3 * 5e6 && Math.abs(fit.b - 3) < 1e-9, JSON.stringify(fit));
  const r = evaluatePredictors(new EnergyPredictors(pf), rows);
  assert.ok(r.sum.pearson > 0.999999 && r.sum.mape < 1e-6);
  assert.ok(Object.hasOwn(r, "learned") && r.groups.length === 1 && r.groups[0]!.arch === "simba");
  assert.ok(r.sum.speedup > 0 && Number.isFinite(r.sum.speedup));
});

test("train: --exclude-shapes-of keeps those shapes out of the learned model", () => {
  const rows = syntheticRows("eyeriss", 12);
  const all = trainPredictors(rows, { trees: 5 });
  const excluded = new Set(rows[0]!.layers.map((l) => layerShapeKey(l.layer)));
  const some = trainPredictors(rows, { trees: 5, excludeShapes: new Map([["eyeriss", excluded]]) });
  const keysAll = new Set(all.archs.eyeriss!.learned.trainingShapeKeys);
  const keysSome = new Set(some.archs.eyeriss!.learned.trainingShapeKeys);
  for (const k of excluded) {
    assert.ok(keysAll.has(k));
    assert.ok(!keysSome.has(k));
  }
  assert.equal(keysSome.size, keysAll.size - excluded.size);
});

test("cli: predict train and eval --json on a small dataset", async () => {
  const dir = tmp("cli");
  writeFileSync(join(dir, "train.csv"), rowsToCsv(syntheticRows("eyeriss", 18)));
  writeFileSync(join(dir, "test.csv"), rowsToCsv(syntheticRows("eyeriss", 9, 1)));
  const run = async (...args: string[]) => {
    const program = new Command();
    program.exitOverride();
    registerPredict(program);
    let out = "";
    const write = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    // The CLI writes strings; the test runner's own reports (binary, possibly flushed while the
    // action awaits) go through untouched.
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (typeof chunk !== "string") return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
      out += chunk;
      return true;
    }) as typeof process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      await program.parseAsync(["node", "axnn", "predict", ...args]);
    } finally {
      process.stdout.write = write;
      process.stderr.write = err;
    }
    return out;
  };
  await run("train", "--data", join(dir, "train.csv"), "--trees", "10", "-o", join(dir, "p.json"));
  const json = JSON.parse(await run("eval", "--predictor", join(dir, "p.json"), "--data", join(dir, "test.csv"), "--json"));
  // The CLI prints what the library computes on the same files, metric by metric.
  const lib = evaluatePredictors(EnergyPredictors.load(join(dir, "p.json")), readDataset(join(dir, "test.csv")));
  for (const k of ["sum", "learned"] as const) {
    for (const m of ["pearson", "spearman", "kendall", "r2", "mape"] as const) assert.equal(json[k][m], lib[k][m], `${k}.${m}`);
    assert.ok(json[k].speedup > 1, `${k}: speed-up ${json[k].speedup} (a timing: only its sign is tested)`);
  }
  // The learned predictor computes the compute part exactly and sees every test shape in training
  // (the test rows reuse the training shapes): it ranks the 9 test networks exactly.
  assert.equal(json.learned.spearman, 1);
  // -o writes the table, the plots and the HTML report.
  await run("eval", "--predictor", join(dir, "p.json"), "--data", join(dir, "test.csv"), "-o", join(dir, "rep"));
  assert.match(readFileSync(join(dir, "rep", "scatter-eyeriss-variable.svg"), "utf8"), /<svg/);
  assert.match(readFileSync(join(dir, "rep", "report.html"), "utf8"), /Fidelity and speed-up/);
  assert.match(readFileSync(join(dir, "rep", "table.md"), "utf8"), /\| eyeriss \| variable \| learned \| 9 \|/);
  // The dataset command, end to end on one tiny network.
  await run("dataset", "--arch", "eyeriss", "--family", "variable", "--n", "1", "--evaluations", "10", "--jobs", "1", "--cache-dir", join(dir, "cache"), "-o", join(dir, "one.csv"));
  assert.equal(readDataset(join(dir, "one.csv")).length, 1);
  const energy = JSON.parse(await run("energy", "--zoo", "resnet8", "--predictor", join(dir, "p.json"), "--mult", "trunc_k6c_u8x8", "--json"));
  assert.equal(energy.arch, "eyeriss");
  assert.ok(energy.learned.energy_pj > 0 && energy.sum.energy_pj !== undefined);
  assert.ok(JSON.parse(readFileSync(join(dir, "p.json"), "utf8")).archs.eyeriss.learned.library.startsWith("ml-random-forest@"));

  // An ONNX model with a per-layer multiplier file: the learned prediction equals the library's on the same layers.
  const b = new ModelBuilder("m");
  let x = b.input("x", [null, 3, 16, 16]);
  x = b.conv2d(x, { outChannels: 8, kernel: 3, padding: 1, name: "c1" });
  x = b.relu(x);
  x = b.globalAvgPool(x);
  x = b.flatten(x);
  b.output(b.dense(x, { outFeatures: 10, name: "fc" }));
  const onnxFile = join(dir, "m.onnx");
  writeFileSync(onnxFile, exportOnnx(b.build()));
  writeFileSync(join(dir, "mc.json"), JSON.stringify({ layers: { c1: "trunc_k8_u8x8" } }));
  const viaCli = JSON.parse(await run("energy", "--model", onnxFile, "--predictor", join(dir, "p.json"), "--mult-config", join(dir, "mc.json"), "--json"));
  const p = EnergyPredictors.load(join(dir, "p.json"));
  const { arch: design } = loadDesign("eyeriss");
  const layers = layersFromModel(importOnnx(exportOnnx(b.build())));
  const scales = assignmentScales({ default: "exact", layers: { c1: "trunc_k8_u8x8" } }, layers, design.compute);
  const direct = p.learned("eyeriss", layers.map((layer) => ({ layer, powerRatio: scales.get(layer.name)?.powerRatio ?? 1 })));
  assert.equal(viaCli.layers, 2);
  assert.equal(viaCli.learned.energy_pj, direct);
  assert.ok(scales.get("c1")!.powerRatio < 1);
  // Without --mult or --mult-config the model's sidecar supplies the multipliers, as for axnn energy net.
  writeFileSync(join(dir, "m.axnn.json"), JSON.stringify({ format: "axnn-model-sidecar", version: 1, multipliers: { default: "exact", layers: { c1: "trunc_k8_u8x8" } } }));
  const viaSidecar = JSON.parse(await run("energy", "--model", onnxFile, "--predictor", join(dir, "p.json"), "--json"));
  assert.equal(viaSidecar.learned.energy_pj, direct);
  assert.equal(viaSidecar.sum.energy_pj, viaCli.sum.energy_pj);
  const exact = JSON.parse(await run("energy", "--model", onnxFile, "--predictor", join(dir, "p.json"), "--mult", "exact", "--json"));
  assert.ok(exact.sum.energy_pj > viaSidecar.sum.energy_pj, "--mult exact overrides the sidecar");
});
