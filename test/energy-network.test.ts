import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDesign } from "../src/energy/presets.js";
import {
  convLayer, denseLayer, depthwiseLayer, evaluatePlan, layerMacs, layerWorkload, layersFromModel, mappingCacheKey, networkEnergy,
  planNetwork, assignmentScales, archForProblem, type NetworkLayer,
} from "../src/energy/network.js";
import { cifarMobileNetV2Layers, ZOO_NAMES, zooLayers } from "../src/energy/zoo-shapes.js";
import { buildZooModel } from "../src/zoo/index.js";
import { isApproximable } from "../src/nn/graph.js";
import { networkEnergyChartSpec, networkEnergyToJson, formatNetworkTable } from "../src/energy/network-report.js";
import { chartSvg } from "../src/report/charts.js";
import { loadAssignment, parseAssignment, resolveAssignment, uniformAssignment } from "../src/multipliers/assignment.js";
import { MultiplierLibrary } from "../src/multipliers/library.js";
import type { ComputeScale } from "../src/energy/approx.js";
import { ModelBuilder } from "../src/nn/builder.js";
import { exportOnnx } from "../src/onnx/export.js";
import { importOnnx } from "../src/onnx/import.js";
import { registerEnergy } from "../src/cli/energy.js";
import { AxnnError } from "../src/util/errors.js";
import { runCommand } from "./cli-inprocess.js";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `axnn-net-${p}-`));
// Mapper budgets are tiny here: the tests check the bookkeeping, not mapping quality.
const FAST = { maxEvaluations: 60, seed: 3 };

/** Four layers, two of them the same shape under different names; a depthwise and a dense layer. */
function smallNet(): NetworkLayer[] {
  return [
    convLayer("a", { inChannels: 8, outChannels: 16, inSize: 8, kernel: 3 }),
    convLayer("b", { inChannels: 8, outChannels: 16, inSize: 8, kernel: 3 }),
    depthwiseLayer("dw", { inChannels: 16, inSize: 8, kernel: 3, stride: 2 }),
    denseLayer("fc", { inFeatures: 256, outFeatures: 10 }),
  ];
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

test("zoo: CIFAR ResNets have 6n+2 layers and ResNet-20's MACs match a hand count", () => {
  assert.equal(zooLayers("resnet8").length, 8);
  assert.equal(zooLayers("resnet14").length, 14);
  const r20 = zooLayers("resnet20");
  assert.equal(r20.length, 20);
  assert.deepEqual(r20.map((l) => l.kind).filter((k) => k === "dense"), ["dense"]);
  // Hand count: conv1 32*32*16*3*9; per stage (out map, filters): first conv from the previous width, then 5 more.
  const conv = (hw: number, m: number, c: number) => hw * hw * m * c * 9;
  const expected = conv(32, 16, 3) + 6 * conv(32, 16, 16) + conv(16, 32, 16) + 5 * conv(16, 32, 32) + conv(8, 64, 32) + 5 * conv(8, 64, 64) + 64 * 10;
  assert.equal(expected, 40551040);
  assert.equal(r20.reduce((a, l) => a + layerMacs(l), 0), expected);
  // Each layer's Timeloop problem covers exactly its MACs.
  for (const l of r20) {
    const w = layerWorkload(l);
    assert.equal(w.problem.macs * w.repeat, layerMacs(l), l.name);
  }
  assert.deepEqual(layerWorkload(r20.find((l) => l.name === "layer3.0.conv1")!).problem.bounds, [32, 64, 3, 3, 1, 8, 8]);
});

test("zoo: MobileNetV2 (32x32) has 17 blocks ending at 4x4 and width-scaled channels", () => {
  const m = cifarMobileNetV2Layers();
  // stem + 16 expansions (the t=1 block has none) + 17 depthwise + 17 projections + last conv + classifier.
  assert.equal(m.length, 1 + 16 + 17 + 17 + 1 + 1);
  assert.equal(m.filter((l) => l.kind === "depthwise").length, 17);
  const last = m[m.length - 2]!;
  assert.deepEqual([last.inChannels, last.outChannels, last.inH, last.inW], [320, 1280, 4, 4]);
  assert.equal(m[m.length - 1]!.inChannels, 1280);
  const half = cifarMobileNetV2Layers({ widthMultiplier: 0.5 });
  assert.equal(half[0]!.outChannels, 16);
  assert.equal(half.find((l) => l.name === "features.1.project")!.outChannels, 8);
  assert.equal(half[half.length - 1]!.inChannels, 1280);
  assert.equal(zooLayers("vgg").length, 8);
  assert.throws(() => zooLayers("resnet21"), AxnnError);
});

test("zoo: the energy model's shapes are the zoo builders' networks, so --width scales every zoo network as train --width does", () => {
  const row = (l: { name: string; inChannels: number; outChannels: number }) => `${l.name}:${l.inChannels}:${l.outChannels}`;
  assert.deepEqual(zooLayers("resnet8", { widthMultiplier: 2 }).map(row), [
    "conv1:3:32", "layer1.0.conv1:32:32", "layer1.0.conv2:32:32", "layer2.0.conv1:32:64", "layer2.0.conv2:64:64",
    "layer3.0.conv1:64:128", "layer3.0.conv2:128:128", "fc:128:10",
  ]);
  assert.deepEqual(zooLayers("vgg", { widthMultiplier: 0.5 }).map(row), [
    "conv1_1:3:16", "conv1_2:16:16", "conv2_1:16:32", "conv2_2:32:32", "conv3_1:32:64", "conv3_2:64:64", "fc1:1024:64", "fc2:64:10",
  ]);
  // The same layers, in the same order, as the model `axnn train --arch` builds.
  for (const name of ZOO_NAMES) {
    const model = buildZooModel(name, { inputShape: [3, 32, 32] });
    assert.deepEqual(zooLayers(name).map((l) => l.name), model.nodes.filter(isApproximable).map((n) => n.name), name);
  }
  // Batch is applied per call, never leaking into the next call through the cache of built shapes.
  assert.equal(zooLayers("resnet8", { batch: 4 })[0]!.batch, 4);
  assert.equal(zooLayers("resnet8")[0]!.batch, 1);
  assert.throws(() => zooLayers("mobilenetv2", { widthMultiplier: 0 }), /width multiplier must be positive/);
});

test("workloads: groups, depthwise multipliers, strides and dense layers", () => {
  const g = layerWorkload(convLayer("g", { inChannels: 8, outChannels: 12, inSize: [10, 6], kernel: [3, 1], stride: [2, 1], groups: 4 }));
  // Timeloop's R/P run along the width, S/Q along the height.
  assert.deepEqual(g.problem.bounds, [2, 3, 1, 3, 1, 6, 5]);
  assert.equal(g.repeat, 4);
  const dw = layerWorkload(depthwiseLayer("dw", { inChannels: 4, inSize: 5, kernel: 3, channelMultiplier: 2 }));
  assert.deepEqual(dw.problem.dims, ["C", "R", "S", "N", "P", "Q"]);
  assert.equal(dw.repeat, 2);
  assert.equal(dw.problem.macs * dw.repeat, 8 * 5 * 5 * 9);
  const fc = layerWorkload(denseLayer("fc", { inFeatures: 20, outFeatures: 7, batch: 3 }));
  assert.equal(fc.problem.macs, 20 * 7 * 3);
  assert.throws(() => layerWorkload(convLayer("bad", { inChannels: 6, outChannels: 4, inSize: 4, kernel: 3, groups: 4 })), /groups/);
  assert.throws(() => layerWorkload(convLayer("tiny", { inChannels: 1, outChannels: 1, inSize: 2, kernel: 5, padding: 0 })), /does not fit/);
});

test("network: constraint factors on dimensions a depthwise problem lacks are left out, and reported unless 1", () => {
  const { arch } = loadDesign("eyeriss");
  const conv = layerWorkload(smallNet()[0]!).problem;
  assert.equal(archForProblem(arch, conv).arch, arch);
  const dw = layerWorkload(smallNet()[2]!).problem;
  const adapted = archForProblem(arch, dw);
  assert.deepEqual(adapted.dropped, []);
  assert.ok(arch.levels.some((l) => l.constraints.temporalFactors?.M === 1), "the preset fixes M somewhere");
  for (const l of adapted.arch.levels) assert.equal(l.constraints.temporalFactors?.M, undefined);
  const forced = { ...arch, levels: arch.levels.map((l, i) => (i === 1 ? { ...l, constraints: { ...l.constraints, temporalFactors: { M: 2 } } } : l)) };
  assert.deepEqual(archForProblem(forced, dw).dropped, [`${arch.levels[1]!.name} temporal M=2`]);
});

test("network: distinct shapes are searched once, totals are sums of layers", () => {
  const { arch, ert } = loadDesign("eyeriss");
  const cacheDir = tmp("plan");
  const r = networkEnergy(arch, ert, smallNet(), { ...FAST, cacheDir });
  assert.equal(r.search.distinctShapes, 3);
  assert.equal(r.search.searched, 3);
  assert.equal(readdirSync(cacheDir).filter((f) => f.endsWith(".json")).length, 3);
  const [a, b] = r.layers;
  assert.equal(a!.energyPj, b!.energyPj);
  assert.equal(a!.shapeIndex, b!.shapeIndex);
  const sum = (f: (l: (typeof r.layers)[number]) => number) => r.layers.reduce((s, l) => s + f(l), 0);
  assert.ok(rel(r.totals.energyPj, sum((l) => l.energyPj)) < 1e-12);
  assert.equal(r.totals.cycles, sum((l) => l.cycles));
  assert.equal(r.totals.macs, smallNet().reduce((s, l) => s + layerMacs(l), 0));
  for (const c of r.componentNames) assert.ok(rel(r.totals.components[c]!, sum((l) => l.components[c]!)) < 1e-12 || r.totals.components[c] === 0, c);
  for (const l of r.layers) {
    const parts = Object.values(l.components).reduce((s, x) => s + x, 0);
    assert.ok(rel(parts, l.energyPj) < 1e-12, `${l.name}: components add up`);
  }
  // Exact multipliers: the multiplier's part of the MAC energy is the Aladdin split, 12.7*(8/32)^2 / (that + 0.21*(16/32)).
  const share = (12.7 / 16) / (12.7 / 16 + 0.105);
  assert.ok(rel(r.totals.multiplierPj, share * r.totals.computePj) < 1e-12);
  assert.ok(rel(r.totals.multiplierShare, r.totals.multiplierPj / r.totals.energyPj) < 1e-12);
});

test("network: a cache hit gives identical results without searching (its speed: npm run bench); a corrupt or stale cache file is searched again and rewritten", () => {
  const { arch, ert } = loadDesign("simba");
  const cacheDir = tmp("cache");
  const opts = { maxEvaluations: 400, seed: 5, cacheDir };
  const cold = networkEnergy(arch, ert, smallNet(), opts);
  const warm = networkEnergy(arch, ert, smallNet(), opts);
  assert.equal(warm.search.cacheHits, 3);
  assert.equal(warm.search.searched, 0);
  assert.ok(warm.layers.every((l) => l.mappingFromCache));
  assert.deepEqual(warm.layers.map((l) => [l.energyPj, l.cycles, l.components]), cold.layers.map((l) => [l.energyPj, l.cycles, l.components]));

  const files = readdirSync(cacheDir).filter((f) => f.endsWith(".json")).sort();
  writeFileSync(join(cacheDir, files[0]!), '{"format": "axnn-mapping-cache", "version": 1, "key": ');
  // A well-formed file whose stored energy no longer matches its mapping (e.g. an older model) is stale.
  const stale = JSON.parse(readFileSync(join(cacheDir, files[1]!), "utf8"));
  stale.energy_pj *= 1.5;
  writeFileSync(join(cacheDir, files[1]!), JSON.stringify(stale));
  // Well-formed JSON whose mapping does not fit the architecture (a level missing).
  const short = JSON.parse(readFileSync(join(cacheDir, files[2]!), "utf8"));
  short.mapping.levels.pop();
  writeFileSync(join(cacheDir, files[2]!), JSON.stringify(short));
  const again = networkEnergy(arch, ert, smallNet(), opts);
  assert.equal(again.search.searched, 3);
  assert.equal(again.search.cacheHits, 0);
  assert.deepEqual(again.layers.map((l) => l.energyPj), cold.layers.map((l) => l.energyPj));
  for (const f of files) {
    const doc = JSON.parse(readFileSync(join(cacheDir, f), "utf8"));
    assert.equal(doc.format, "axnn-mapping-cache");
    assert.ok(rel(doc.energy_pj, stale.energy_pj / 1.5) < 1e-12 || f !== files[1]);
  }
  assert.equal(networkEnergy(arch, ert, smallNet(), opts).search.cacheHits, 3);
  // --no-cache: no reads, no writes.
  const noCacheDir = tmp("nocache");
  networkEnergy(arch, ert, smallNet(), { ...opts, cacheDir: noCacheDir, cache: false });
  assert.equal(readdirSync(noCacheDir).length, 0);
});

test("network: the cache key changes with the search settings, the shape and the ERT content, not the file location", () => {
  const { arch, ert } = loadDesign("eyeriss");
  const problem = layerWorkload(smallNet()[0]!).problem;
  const base = { objective: "energy" as const, seed: 1, maxEvaluations: 100, algorithm: "auto" as const, exhaustiveLimit: 20000 };
  const k = mappingCacheKey(arch, ert, problem, base);
  assert.equal(mappingCacheKey({ ...arch, file: "/elsewhere/arch.yaml" }, ert, { ...problem, name: "renamed" }, base), k);
  assert.notEqual(mappingCacheKey(arch, ert, problem, { ...base, seed: 2 }), k);
  assert.notEqual(mappingCacheKey(arch, ert, problem, { ...base, maxEvaluations: 101 }), k);
  assert.notEqual(mappingCacheKey(arch, ert, problem, { ...base, objective: "edp" }), k);
  assert.notEqual(mappingCacheKey(arch, ert, layerWorkload(smallNet()[3]!).problem, base), k);
  const ert2 = loadDesign("eyeriss").ert;
  const [name, table] = [...ert2.components.entries()][0]!;
  ert2.components.set(name, JSON.parse(JSON.stringify(table), (_k, v) => (typeof v === "number" ? v * 2 : v)));
  assert.notEqual(mappingCacheKey(arch, ert2, problem, base), k);
  assert.notEqual(mappingCacheKey(loadDesign("simba").arch, ert, problem, base), k);
});

test("network: a layer's multiplier scales only that layer's compute energy, by its factor", () => {
  const { arch, ert } = loadDesign("eyeriss");
  const plan = planNetwork(arch, ert, smallNet(), { ...FAST, cacheDir: tmp("mult") });
  const exact = evaluatePlan(plan);
  const half: ComputeScale = { scale: 0.5, share: 0.8, powerRatio: 0.375, multiplier: "half", powerSource: "published" };
  const tenth: ComputeScale = { scale: 0.9, share: 0.8, powerRatio: 0.875, multiplier: "tenth", powerSource: "published" };
  const approx = evaluatePlan(plan, new Map([["b", half], ["fc", tenth]]));
  const compute = arch.compute.name;
  exact.layers.forEach((e, i) => {
    const x = approx.layers[i]!;
    const factor = e.name === "b" ? 0.5 : e.name === "fc" ? 0.9 : 1;
    assert.ok(rel(x.components[compute]!, e.components[compute]! * factor) < 1e-12, e.name);
    for (const c of exact.componentNames) if (c !== compute) assert.equal(x.components[c], e.components[c], `${e.name} ${c}`);
    assert.equal(x.cycles, e.cycles);
    assert.ok(rel(x.energyPj, e.energyPj - e.computePj * (1 - factor)) < 1e-12);
    // The multiplier's part: exact MAC energy x share x power ratio.
    if (factor !== 1) assert.ok(rel(x.multiplierPj, e.computePj * 0.8 * (factor === 0.5 ? 0.375 : 0.875)) < 1e-12);
  });
  assert.equal(approx.layers[1]!.multiplier, "half");
  assert.equal(approx.layers[0]!.multiplier, "exact");
  // The same through an assignment of real multipliers: layers on "exact" keep factor 1.
  const lib = new MultiplierLibrary(tmp("lib"));
  const a = parseAssignment(JSON.stringify({ layers: { dw: "trunc_k8_u8x8" } }), "a.json", plan.layers.map((l) => l.name));
  const scales = assignmentScales(a, plan.layers, arch.compute, { library: lib });
  assert.deepEqual([...scales.keys()], ["dw"]);
  const s = scales.get("dw")!;
  assert.ok(rel(s.share, (12.7 / 16) / (12.7 / 16 + 0.105)) < 1e-12);
  assert.ok(rel(s.scale, 1 - s.share + s.share * s.powerRatio) < 1e-12);
  assert.ok(s.powerRatio < 1, "truncating 8 columns saves power");
  const viaFile = evaluatePlan(plan, scales);
  assert.ok(rel(viaFile.layers[2]!.computePj, exact.layers[2]!.computePj * s.scale) < 1e-12);
  assert.equal(viaFile.layers[0]!.energyPj, exact.layers[0]!.energyPj);
});

test("assignment: file errors name the file and the field", () => {
  const names = ["conv1", "fc"];
  const dir = tmp("assign");
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const bad = write("bad.json", "{\"layers\": {");
  assert.throws(() => loadAssignment(bad, names), (e: unknown) => e instanceof AxnnError && e.message.includes(bad) && /not valid JSON/.test(e.message));
  const unknownLayer = write("unknown.json", JSON.stringify({ layers: { conv1: "exact", conv9: "exact" } }));
  assert.throws(() => loadAssignment(unknownLayer, names), (e: unknown) =>
    e instanceof AxnnError && e.message.includes(unknownLayer) && e.message.includes("layers.conv9") && e.message.includes("conv1, fc"));
  const wrongType = write("type.json", JSON.stringify({ layers: { conv1: 3 } }));
  assert.throws(() => loadAssignment(wrongType, names), (e: unknown) => e instanceof AxnnError && e.message.includes(`${wrongType}: layers.conv1:`));
  const extraKey = write("key.json", JSON.stringify({ default: "exact", layer: {} }));
  assert.throws(() => loadAssignment(extraKey, names), /unknown key "layer"/);
  assert.throws(() => loadAssignment(join(dir, "missing.json"), names), /cannot read/);
  const lib = new MultiplierLibrary(tmp("lib2"));
  const unknownMult = loadAssignment(write("mult.json", JSON.stringify({ default: "exact", layers: { fc: "no_such_multiplier" } })), names);
  assert.throws(() => resolveAssignment(unknownMult, names, { library: lib }), (e: unknown) =>
    e instanceof AxnnError && e.message.includes("mult.json: layers.fc:") && /unknown multiplier "no_such_multiplier"/.test(e.message));
  const badDefault = loadAssignment(write("def.json", JSON.stringify({ default: "nope_mult" })), names);
  assert.throws(() => resolveAssignment(badDefault, names, { library: lib }), /def\.json: default: unknown multiplier/);
  assert.throws(() => resolveAssignment(uniformAssignment("nope_mult"), names, { library: lib }), /--mult: unknown multiplier/);
  // Valid: default applies to unlisted layers, "exact" resolves to nothing to price.
  const ok = resolveAssignment(loadAssignment(write("ok.json", JSON.stringify({ default: "trunc_k4c_u8x8", layers: { fc: "exact" } })), names), names, { library: lib });
  assert.equal(ok.get("conv1")!.multiplier.name, "trunc_k4c_u8x8");
  assert.equal(ok.get("fc"), undefined);
});

test("layersFromModel: shapes of an imported ONNX model's conv, depthwise and dense layers", () => {
  const b = new ModelBuilder("m");
  let x = b.input("x", [null, 3, 16, 12]);
  x = b.conv2d(x, { outChannels: 8, kernel: 3, stride: 2, padding: 1, name: "c1" });
  x = b.relu(x);
  x = b.depthwiseConv2d(x, { kernel: 3, padding: "same", name: "dw" });
  x = b.conv2d(x, { outChannels: 8, kernel: 1, groups: 2, name: "g" });
  x = b.globalAvgPool(x);
  x = b.flatten(x);
  x = b.dense(x, { outFeatures: 5, name: "fc" });
  b.output(x);
  const model = importOnnx(exportOnnx(b.build()));
  const layers = layersFromModel(model, { batch: 2 });
  assert.deepEqual(layers.map((l) => [l.name, l.kind]), [["c1", "conv"], ["dw", "depthwise"], ["g", "conv"], ["fc", "dense"]]);
  const [c1, dw, g, fc] = layers as [NetworkLayer, NetworkLayer, NetworkLayer, NetworkLayer];
  assert.deepEqual([c1.inChannels, c1.outChannels, c1.inH, c1.inW, c1.strideH, c1.batch], [3, 8, 16, 12, 2, 2]);
  assert.deepEqual(layerWorkload(c1).problem.bounds, [3, 8, 3, 3, 2, 6, 8]); // out 8x6 (floor((16+2-3)/2)+1, floor((12+2-3)/2)+1)
  assert.deepEqual([dw.inH, dw.inW, dw.groups, ...layerWorkload(dw).problem.bounds], [8, 6, 8, 8, 3, 3, 2, 6, 8]);
  assert.equal(layerWorkload(g).repeat, 2);
  assert.deepEqual([fc.inChannels, fc.outChannels, fc.batch], [8, 5, 2]);
});

/** Runs `axnn energy ...` in-process and returns stdout. */
const runCli = (args: string[]): Promise<string> => runCommand(registerEnergy, ["energy", ...args]);

test("cli: energy net --zoo --json -o writes JSON, chart and report; bad --mult-config is an error", async () => {
  process.env.AXNN_HOME = tmp("home");
  const out = tmp("out");
  const json = JSON.parse(await runCli(["net", "--zoo", "resnet8", "--arch", "eyeriss", "--evaluations", "40", "--json", "-o", out]));
  assert.equal(json.layers.length, 8);
  assert.equal(json.macs, zooLayers("resnet8").reduce((s, l) => s + layerMacs(l), 0));
  assert.ok(json.multiplier_share > 0 && json.multiplier_share < 1);
  assert.equal(json.search.distinct_shapes, 7);
  for (const f of ["energy.json", "energy-per-layer.svg", "energy-per-layer.png", "report.html"]) assert.ok(existsSync(join(out, f)), f);
  assert.deepEqual([...readFileSync(join(out, "energy-per-layer.png")).subarray(1, 4)], [0x50, 0x4e, 0x47]);
  assert.ok(readdirSync(join(process.env.AXNN_HOME, "cache", "mappings")).length === 7);
  const cfg = join(out, "cfg.json");
  writeFileSync(cfg, JSON.stringify({ layers: { "layer9.0.conv1": "exact" } }));
  await assert.rejects(runCli(["net", "--zoo", "resnet8", "--arch", "eyeriss", "--mult-config", cfg, "--json"]), /layer9\.0\.conv1.*conv1, layer1\.0\.conv1/);
  await assert.rejects(runCli(["net", "--arch", "eyeriss", "--json"]), /exactly one of --zoo/);
});

test("report: table and stacked-bar chart", async () => {
  const { arch, ert } = loadDesign("eyeriss");
  const r = networkEnergy(arch, ert, smallNet(), { ...FAST, cacheDir: tmp("rep") });
  const table = formatNetworkTable(r);
  for (const l of r.layers) assert.match(table, new RegExp(`^${l.name} `, "m"));
  const json = networkEnergyToJson(r);
  assert.equal(json.layers.length, 4);
  const svg = await chartSvg(networkEnergyChartSpec(r));
  assert.match(svg, /^<svg/);
  // One bar per (layer, component with energy).
  const used = r.componentNames.filter((c) => r.totals.components[c]! > 0);
  const bars = r.layers.reduce((s, l) => s + used.filter((c) => l.components[c]! > 0).length, 0);
  assert.equal((svg.match(/<path aria-label="layer/g) ?? []).length, bars);
});
