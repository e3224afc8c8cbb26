import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildZooModel, loadModel, parseSidecar, saveModel, sidecarPath, zooNames, type ModelSidecar } from "../src/zoo/index.js";
import { layerMacs, layerOutputSize, layersFromModel, type NetworkLayer } from "../src/energy/network.js";
import { zooLayers } from "../src/energy/zoo-shapes.js";
import { macsPerLayer } from "../src/nn/analysis.js";
import { isApproximable, type Model } from "../src/nn/graph.js";
import { runModel } from "../src/nn/run.js";
import { Rng, type Tensor } from "../src/nn/tensor.js";
import { exportOnnx } from "../src/onnx/export.js";
import { loadOnnx } from "../src/onnx/import.js";
import { assertClose, ortRun } from "./onnx-testkit.js";

/** Trainable parameters as PyTorch counts them: weights, biases, BatchNorm scale and shift. */
function parameterCount(model: Model): number {
  let n = 0;
  for (const node of model.nodes) {
    if (isApproximable(node)) n += node.weight.data.length + (node.bias?.data.length ?? 0);
    else if (node.op === "BatchNorm") n += node.scale.data.length + node.bias.data.length;
  }
  return n;
}

const totalMacs = (model: Model, inputShape?: number[]): number => macsPerLayer(model, inputShape).reduce((a, r) => a + r.macs, 0);

function sampleInput(model: Model, batch: number, seed: number): Tensor {
  const shape = model.inputs[0]!.shape.slice(1) as number[];
  return new Rng(seed).uniformTensor([batch, ...shape], -1, 1);
}

/** Random BatchNorm statistics, so that the BN nodes are not identities and their export is exercised too. */
function randomiseBatchNorms(model: Model, seed: number): void {
  const rng = new Rng(seed);
  for (const node of model.nodes) {
    if (node.op !== "BatchNorm") continue;
    for (let i = 0; i < node.scale.data.length; i++) {
      node.scale.data[i] = 0.5 + rng.uniform();
      node.bias.data[i] = rng.uniform() - 0.5;
      node.mean.data[i] = 0.2 * (rng.uniform() - 0.5);
      node.variance.data[i] = 0.5 + rng.uniform();
    }
  }
}

for (const name of zooNames()) {
  test(`zoo ${name}: forward pass, ONNX round trip through loadOnnx and onnxruntime`, async () => {
    const model = buildZooModel(name, { seed: 7 });
    randomiseBatchNorms(model, 3);
    const x = sampleInput(model, 2, 11);
    const y = runModel(model, { input: x });
    assert.deepEqual(model.outputs.length, 1);
    const out = y[model.outputs[0]!]!;
    assert.deepEqual(out.shape, [2, 10]);
    assert.ok(out.data.every(Number.isFinite), "finite logits");
    // The two samples differ, so must the logits (a broken graph tends to give constants).
    assert.notDeepEqual(Array.from(out.data.slice(0, 10)), Array.from(out.data.slice(10)));

    const bytes = exportOnnx(model);
    const reloaded = loadOnnx(bytes);
    const y2 = runModel(reloaded, { input: x });
    assert.deepEqual(Object.values(y2)[0]!.data, out.data, "identical outputs after export + loadOnnx");
    assert.deepEqual(layersFromModel(reloaded), layersFromModel(model), "same layers after the round trip");

    const ort = await ortRun(bytes, { input: x });
    assertClose(out, Object.values(ort)[0]!, `${name} vs onnxruntime`, 1e-4);
  });
}

/** Same layer as the energy zoo's: every shape field; pads through the output size (see below). */
function assertSameLayer(ours: NetworkLayer, ref: NetworkLayer, label: string): void {
  const { pads: _p1, ...a } = ours;
  const { pads: _p2, ...b } = ref;
  assert.deepEqual(a, b, `${label}: layer ${ref.name}`);
  assert.deepEqual(layerOutputSize(ours), layerOutputSize(ref), `${label}: output size of ${ref.name}`);
  assert.equal(layerMacs(ours), layerMacs(ref), `${label}: MACs of ${ref.name}`);
}

const energyCases: [string, { width?: number }][] = [
  ["resnet8", {}], ["resnet14", {}], ["resnet20", {}], ["vgg", {}],
  ["mobilenetv2", {}], ["mobilenetv2", { width: 0.5 }], ["mobilenetv2", { width: 1.4 }],
];
for (const [name, o] of energyCases) {
  test(`zoo ${name} ${JSON.stringify(o)}: approximable layers, pads and MACs equal the energy zoo's`, () => {
    const model = buildZooModel(name, { inputShape: [3, 32, 32], classes: 10, ...o });
    const ref = zooLayers(name, { widthMultiplier: o.width });
    const ours = layersFromModel(model);
    assert.deepEqual(ours.map((l) => l.name), ref.map((l) => l.name), "layer names in execution order");
    ours.forEach((l, i) => assertSameLayer(l, ref[i]!, name));
    // layersFromModel rewrites pads as the smallest that give the output size (a stride-2 3x3 conv on
    // 32x32 shows [0,0,1,1]); the model's own pads must be the energy zoo's symmetric ones.
    const nodes = new Map(model.nodes.filter(isApproximable).map((n) => [n.name, n]));
    for (const r of ref) {
      const node = nodes.get(r.name)!;
      if (node.op !== "Dense") assert.deepEqual(node.pads, r.pads, `pads of ${r.name}`);
    }
    const macs = macsPerLayer(model);
    assert.deepEqual(macs.map((m) => m.macs), ref.map((l) => layerMacs(l)), "macsPerLayer = the energy zoo's layerMacs");
  });
}

test("LeNet-5: parameters and MACs by hand, 28x28 padded to the paper's 32x32", () => {
  const model = buildZooModel("lenet5", { inputShape: [1, 28, 28], classes: 10 });
  // conv1 6*(1*5*5)+6 = 156; conv2 16*(6*5*5)+16 = 2416; fc1 400*120+120 = 48120; fc2 120*84+84 = 10164; fc3 84*10+10 = 850.
  assert.equal(parameterCount(model), 156 + 2416 + 48120 + 10164 + 850);
  assert.equal(parameterCount(model), 61706);
  // conv1 28*28 outputs * 6 * 25; conv2 10*10 * 16 * 150; fc 400*120 + 120*84 + 84*10.
  assert.deepEqual(macsPerLayer(model).map((m) => [m.name, m.macs]), [
    ["conv1", 28 * 28 * 6 * 25], ["conv2", 10 * 10 * 16 * 150], ["fc1", 400 * 120], ["fc2", 120 * 84], ["fc3", 84 * 10],
  ]);
  // A 32x32 input needs no padding and gives the same fc1 width; a 3-channel input only changes conv1.
  const rgb = buildZooModel("lenet5", { inputShape: [3, 32, 32] });
  assert.equal(parameterCount(rgb), 61706 + 2 * 6 * 25);
  // Width scales every hidden layer: 3, 8, 60, 42.
  const half = buildZooModel("lenet5", { width: 0.5 });
  assert.deepEqual(macsPerLayer(half).map((m) => m.weightShape[0]), [3, 8, 60, 42, 10]);
});

test("CIFAR ResNets: parameter counts of He et al. 2016, table 6 (0.27M, 0.46M, 0.66M, 0.85M)", () => {
  const paper: [number, number][] = [[3, 0.27], [5, 0.46], [7, 0.66], [9, 0.85]];
  for (const [n, millions] of paper) {
    const model = buildZooModel("resnet20", { depth: n });
    assert.equal(Math.round(parameterCount(model) / 1e4) / 100, millions, `ResNet-${6 * n + 2}`);
    assert.equal(macsPerLayer(model).length, 6 * n + 2, `ResNet-${6 * n + 2} weighted layers`);
  }
  // The named depths: ResNet-8 and -14 have 1 and 2 blocks per stage.
  assert.equal(macsPerLayer(buildZooModel("resnet8")).length, 8);
  assert.equal(macsPerLayer(buildZooModel("resnet14")).length, 14);
  // Width 0.5: 8, 16, 32 channels; the option-A shortcut pads 8 -> 16 and 16 -> 32.
  const narrow = buildZooModel("resnet8", { width: 0.5 });
  assert.deepEqual(macsPerLayer(narrow).map((m) => m.weightShape[0]), [8, 8, 8, 16, 16, 32, 32, 10]);
  assert.deepEqual(runModel(narrow, { input: sampleInput(narrow, 1, 2) }).fc!.shape, [1, 10]);
});

test("MobileNetV2 at 224x224, 1000 classes: torchvision's 3,504,872 parameters and the paper's 300M MACs", () => {
  const model = buildZooModel("mobilenetv2", { inputShape: [3, 224, 224], classes: 1000 });
  assert.equal(parameterCount(model), 3504872);
  const macs = totalMacs(model);
  assert.ok(Math.abs(macs - 300e6) < 1e6, `MACs ${macs}`);
  assert.equal(macsPerLayer(model).at(-2)!.outputShape.slice(2).join("x"), "7x7", "ImageNet strides end at 7x7");
});

test("small VGG: depth and width are parametric; parameter count by hand", () => {
  const model = buildZooModel("vgg");
  // convs 9*(3*32 + 32*32 + 32*64 + 64*64 + 64*128 + 128*128), BN 2*2*(32+64+128), fc1 2048*128+128, fc2 128*10+10.
  const convs = 9 * (3 * 32 + 32 * 32 + 32 * 64 + 64 * 64 + 64 * 128 + 128 * 128);
  assert.equal(parameterCount(model), convs + 4 * (32 + 64 + 128) + 2048 * 128 + 128 + 128 * 10 + 10);
  const deep = buildZooModel("vgg", { depth: 3, width: 0.5, classes: 100 });
  const rows = macsPerLayer(deep);
  assert.deepEqual(rows.map((r) => r.name), ["conv1_1", "conv1_2", "conv1_3", "conv2_1", "conv2_2", "conv2_3", "conv3_1", "conv3_2", "conv3_3", "fc1", "fc2"]);
  assert.deepEqual(rows.map((r) => r.weightShape[0]), [16, 16, 16, 32, 32, 32, 64, 64, 64, 64, 100]);
});

test("zoo options are checked", () => {
  assert.throws(() => buildZooModel("resnet50"), /unknown zoo model "resnet50"/);
  assert.throws(() => buildZooModel("mobilenetv2", { depth: 2 }), /mobilenetv2 depth: mobilenetv2 has no depth parameter/);
  assert.throws(() => buildZooModel("vgg", { depth: 0 }), /vgg depth: expected a positive integer/);
  assert.throws(() => buildZooModel("resnet8", { width: 0 }), /width multiplier must be positive/);
  assert.throws(() => buildZooModel("lenet5", { inputShape: [28, 28] }), /lenet5 inputShape/);
  // Seeds: the same seed repeats, another one differs.
  const a = buildZooModel("lenet5", { seed: 5 }), b = buildZooModel("lenet5", { seed: 5 }), c = buildZooModel("lenet5", { seed: 6 });
  const w = (m: Model) => (m.nodes.find((n) => n.name === "conv1") as { weight: Tensor }).weight.data;
  assert.deepEqual(w(a), w(b));
  assert.notDeepEqual(w(a), w(c));
});

const tmp = (): string => mkdtempSync(join(tmpdir(), "axnn-zoo-"));

test("sidecar: a model with its quantization and multiplier assignment round-trips", () => {
  const dir = tmp();
  try {
    const model = buildZooModel("resnet8", { width: 0.5, seed: 3 });
    const file = join(dir, "r8.onnx");
    const sidecar: ModelSidecar = {
      quantization: {
        scheme: "asym", perChannel: true, bits: 8, calibration: { method: "percentile", percentile: 99.9 }, weightCalibration: "mse",
        activations: { conv1: { scale: 0.0078125, zeroPoint: 128, qmin: 0, qmax: 255 }, fc: { scale: 0.01, zeroPoint: 0, qmin: 0, qmax: 255 } },
      },
      multipliers: { default: "mul8u_1JFF", layers: { conv1: "exact", "layer3.0.conv2": "mul8u_2NDH" } },
      zoo: { name: "resnet8", options: { width: 0.5, seed: 3 } },
    };
    saveModel(file, model, sidecar);
    assert.equal(sidecarPath(file), join(dir, "r8.axnn.json"));
    assert.ok(existsSync(join(dir, "r8.axnn.json")));
    const loaded = loadModel(file);
    assert.deepEqual(loaded.sidecar, { ...sidecar, multipliers: { ...sidecar.multipliers!, file: join(dir, "r8.axnn.json") } });
    const x = sampleInput(model, 1, 4);
    assert.deepEqual(runModel(loaded.model, { input: x }).fc!.data, runModel(model, { input: x }).fc!.data);

    // Saved again without settings: the stale sidecar goes, so the reload has none.
    saveModel(file, model);
    assert.ok(!existsSync(join(dir, "r8.axnn.json")));
    assert.equal(loadModel(file).sidecar, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sidecar: bad files are rejected naming the file and the field", () => {
  const dir = tmp();
  try {
    const model = buildZooModel("lenet5");
    const file = join(dir, "lenet.onnx");
    const side = join(dir, "lenet.axnn.json");
    saveModel(file, model);
    const bad = (doc: unknown, pattern: RegExp) => {
      writeFileSync(side, typeof doc === "string" ? doc : JSON.stringify(doc));
      assert.throws(() => loadModel(file), (e: Error) => e.name === "AxnnError" && e.message.startsWith(`${side}: `) && pattern.test(e.message), `expected ${pattern}`);
    };
    const head = { format: "axnn-model-sidecar", version: 1 };
    bad("{ not json", /not valid JSON/);
    bad({ ...head, format: "other" }, /format: expected "axnn-model-sidecar"/);
    bad({ ...head, version: 2 }, /version: expected 1/);
    bad({ ...head, extra: 1 }, /\(top level\): unknown key "extra"/);
    bad({ ...head, quantization: { scheme: "symmetric", perChannel: false } }, /quantization\.scheme: /);
    bad({ ...head, quantization: { scheme: "sym" } }, /quantization\.perChannel: /);
    bad({ ...head, quantization: { scheme: "sym", perChannel: false, activations: { conv1: { scale: 1, zeroPoint: 0, qmin: 5, qmax: 1 } } } }, /quantization\.activations\.conv1: expected qmin < qmax/);
    bad({ ...head, quantization: { scheme: "sym", perChannel: false, activations: { conv9: { scale: 1, zeroPoint: 0, qmin: -128, qmax: 127 } } } }, /quantization\.activations\.conv9: unknown layer "conv9"/);
    bad({ ...head, multipliers: { layers: { conv3: "exact" } } }, /multipliers\.layers\.conv3: unknown layer "conv3"; the model's approximable layers are: conv1, conv2, fc1, fc2, fc3/);
    bad({ ...head, multipliers: { layers: { conv1: "" } } }, /multipliers\.layers\.conv1: /);
    // The text parser alone, with no model to check against, accepts any layer name.
    assert.deepEqual(parseSidecar(JSON.stringify({ ...head, multipliers: { layers: { anything: "x" } } }), "s.json").multipliers?.layers, { anything: "x" });
    // saveModel refuses settings for layers the model lacks, before writing anything.
    const other = join(dir, "other.onnx");
    assert.throws(() => saveModel(other, model, { multipliers: { default: "exact", layers: { nope: "exact" } } }), /multipliers\.layers\.nope: unknown layer "nope"/);
    assert.ok(!existsSync(other));
    assert.ok(readFileSync(file).length > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
