import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { layerMacs, layerOutputSize, layersFromModel } from "../src/energy/network.js";
import { macsPerLayer } from "../src/nn/analysis.js";
import { isApproximable, type Model } from "../src/nn/graph.js";
import { runModel } from "../src/nn/run.js";
import { Rng } from "../src/nn/tensor.js";
import { exportOnnx } from "../src/onnx/export.js";
import { loadOnnx } from "../src/onnx/import.js";
import { loadModel, saveModel } from "../src/zoo/sidecar.js";
import { buildZooModel } from "../src/zoo/index.js";
import { uniformRandom } from "../src/util/random.js";
import {
  checkGenome, decodeGenome, describeArchitecture, geneCardinalities, geneNames, NAS_GENOME_LENGTH, referenceGenome, repairGenome, type NasSpace,
} from "../src/search/nas/space.js";
import { architectureAssignment, architectureLayers, architectureParams, buildNetwork } from "../src/search/nas/network.js";

const MNIST: NasSpace = { inputShape: [1, 28, 28], classes: 10, multipliers: ["exact", "drum_k4_u8x8", "trunc_k6c_u8x8"] };
const CIFAR: NasSpace = { inputShape: [3, 32, 32], classes: 10, multipliers: ["exact", "drum_k4_u8x8"] };

function randomGenome(space: NasSpace, random: () => number): number[] {
  return geneCardinalities(space).map((c) => Math.floor(random() * c));
}

function parameterCount(model: Model): number {
  let n = 0;
  for (const node of model.nodes) {
    if (isApproximable(node)) n += node.weight.data.length + (node.bias?.data.length ?? 0);
    else if (node.op === "BatchNorm") n += node.scale.data.length + node.bias.data.length;
  }
  return n;
}

test("nas genome: layout, cardinalities and refusals", () => {
  const card = geneCardinalities(MNIST);
  assert.equal(card.length, NAS_GENOME_LENGTH);
  assert.equal(geneNames().length, NAS_GENOME_LENGTH);
  assert.equal(new Set(geneNames()).size, NAS_GENOME_LENGTH);
  // 1 stem + 3 stages x 3 blocks x 3 slots + 3 dense layers: one multiplier gene per possible layer.
  assert.deepEqual(geneNames().filter((n) => n.endsWith("mult") || /mult\d$/.test(n)).map((n) => card[geneNames().indexOf(n)]), new Array(31).fill(3));
  const g = repairGenome(MNIST, new Array(NAS_GENOME_LENGTH).fill(0));
  assert.throws(() => checkGenome(MNIST, g.slice(1)), /expected 55 genes, got 54/);
  const bad = [...g];
  bad[1] = 99;
  assert.throws(() => checkGenome(MNIST, bad), /gene stem\.width must be an integer from 0 to 7, got 99/);
  assert.throws(() => geneCardinalities({ ...MNIST, multipliers: [] }), /at least one multiplier/);
  assert.throws(() => geneCardinalities({ ...MNIST, multipliers: ["exact", "exact"] }), /listed twice/);
});

test("nas genome: thousands of random genomes build valid networks whose MACs equal the energy model's", () => {
  const random = uniformRandom(2026);
  const seen = new Set<string>();
  let flattenHeads = 0, projections = 0, strided = 0;
  for (let i = 0; i < 3000; i++) {
    const space = i % 4 === 3 ? CIFAR : MNIST;
    const raw = randomGenome(space, random);
    const g = repairGenome(space, raw);
    checkGenome(space, g);
    assert.deepEqual(repairGenome(space, g), g, "repair is idempotent");
    const arch = decodeGenome(space, raw);
    assert.deepEqual(decodeGenome(space, g), arch, "a genome and its repair decode alike");
    seen.add(describeArchitecture(arch));
    // Zero weights except where the model runs (drawing random weights dominates a build).
    const model = buildNetwork(arch, { seed: i, zeroWeights: i % 100 !== 0 });
    const expected = architectureLayers(arch);
    // The built model's approximable layers, as src/nn counts them and as the energy model reads them.
    const rows = macsPerLayer(model);
    assert.deepEqual(rows.map((r) => r.name), expected.map((l) => l.layer.name), `layers of ${describeArchitecture(arch)}`);
    const fromModel = layersFromModel(model);
    for (let k = 0; k < expected.length; k++) {
      // layersFromModel derives pads from the output size (a stride-2 conv's unused top-left pad reads as 0): compare all else.
      assert.deepEqual({ ...fromModel[k], pads: null }, { ...expected[k]!.layer, pads: null }, `layer ${expected[k]!.layer.name} of ${describeArchitecture(arch)}`);
      assert.deepEqual(layerOutputSize(fromModel[k]!), layerOutputSize(expected[k]!.layer));
      assert.equal(rows[k]!.macs, layerMacs(expected[k]!.layer));
    }
    assert.equal(parameterCount(model), architectureParams(arch));
    const out = macsPerLayer(model).at(-1)!.outputShape;
    assert.deepEqual(out, [1, space.classes]);
    if (arch.head.pool !== "gap") flattenHeads++;
    if (expected.some((l) => l.layer.name.endsWith(".proj"))) projections++;
    if (arch.stages.some((s) => s.downsample === "stride")) strided++;
    // Every genome exports to ONNX and imports back with the same layers (a sample runs on both).
    if (i % 5 === 0) {
      const back = loadOnnx(exportOnnx(model));
      assert.deepEqual(macsPerLayer(back).map((r) => [r.name, r.macs, r.weightShape]), rows.map((r) => [r.name, r.macs, r.weightShape]));
      if (i % 100 === 0) {
        const x = new Rng(i).uniformTensor([2, ...space.inputShape], 0, 1);
        const y1 = runModel(model, { input: x })[model.outputs[0]!]!;
        const y2 = runModel(back, { input: x })[back.outputs[0]!]!;
        assert.deepEqual(Array.from(y2.data), Array.from(y1.data));
      }
    }
  }
  // The property covered what it should: many distinct architectures, every head and shortcut kind.
  assert.ok(seen.size > 2500, `${seen.size} distinct architectures`);
  assert.ok(flattenHeads > 300 && projections > 100 && strided > 300, `${flattenHeads} flatten heads, ${projections} projections, ${strided} strided`);
});

test("nas genome: every genome saves as ONNX plus sidecar and loads back with its multipliers", () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-nas-space-"));
  try {
    const random = uniformRandom(7);
    for (let i = 0; i < 40; i++) {
      const arch = decodeGenome(MNIST, randomGenome(MNIST, random));
      const file = join(dir, `m${i}.onnx`);
      const assignment = architectureAssignment(arch);
      saveModel(file, buildNetwork(arch), { multipliers: assignment, quantization: { scheme: "asym", perChannel: false } });
      const { model, sidecar } = loadModel(file);
      assert.deepEqual(sidecar?.multipliers?.layers, assignment.layers);
      assert.deepEqual(Object.keys(assignment.layers), architectureLayers(arch).map((l) => l.layer.name));
      assert.deepEqual(new Set(Object.values(assignment.layers)).size <= MNIST.multipliers.length, true);
      assert.equal(macsPerLayer(model).length, Object.keys(assignment.layers).length);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("nas genome: the space holds LeNet-5, ResNet-8/20 and MobileNetV2-like networks", () => {
  // ResNet-8 and ResNet-20 of the space are the zoo's (same layers, shapes and MACs) on CIFAR-sized inputs.
  for (const [name, zoo] of [["resnet8", "resnet8"], ["resnet20", "resnet20"]] as const) {
    const arch = decodeGenome(CIFAR, referenceGenome(CIFAR, name, 1));
    const ours = architectureLayers(arch).map((l) => layerMacs(l.layer));
    const theirs = layersFromModel(buildZooModel(zoo)).map(layerMacs);
    assert.deepEqual(ours, theirs, name);
    assert.ok(architectureLayers(arch).every((l) => l.multiplier === "drum_k4_u8x8"));
  }
  // LeNet-5: conv5x5 6, pool, conv5x5 16, pool, fc 120, 84, 10 (with "same" padding: 784 features instead of 400).
  const lenet = architectureLayers(decodeGenome(MNIST, referenceGenome(MNIST, "lenet5")));
  assert.deepEqual(lenet.map((l) => [l.layer.name, l.layer.inChannels, l.layer.outChannels, l.layer.kernelH]), [
    ["stem", 1, 6, 5], ["s1.b1.conv", 6, 16, 5], ["fc1", 784, 120, 1], ["fc2", 120, 84, 1], ["fc", 84, 10, 1],
  ]);
  const mb = decodeGenome(CIFAR, referenceGenome(CIFAR, "mobilenetv2"));
  assert.equal(describeArchitecture(mb), "stem32k3 | inverted-t116k3x1 | inverted-t624k3x2/stride | inverted-t632k3x3/stride | gap");
  const mbLayers = architectureLayers(mb).map((l) => l.layer.name);
  assert.deepEqual(mbLayers.slice(0, 5), ["stem", "s1.b1.dw", "s1.b1.project", "s2.b1.expand", "s2.b1.dw"]);
  assert.equal(architectureLayers(mb).filter((l) => l.layer.kind === "depthwise").length, 6);
});
