// The separable path of compiled plans (native/plan_conv.cc separableConv, native/gemm_int16.cc):
// integer convolutions over tables T[a][w] = f(a) * g(w) run as an int16 GEMM of the factors. Its
// twin is the reference engine (QuantizedModel.run), compared bit for bit on zoo models and odd
// single-layer geometries, on every native ISA level (the AVX2 vpmaddwd tile and the portable one).
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildZooModel, zooNames } from "../src/zoo/index.js";
import { quantizeModel, EXACT_INT8, type LayerArithmetic, type QuantScheme } from "../src/quant/index.js";
import { compilePlan } from "../src/plan/index.js";
import { Rng, type Tensor } from "../src/nn/tensor.js";
import type { Model } from "../src/nn/graph.js";
import { ModelBuilder, type ConvOptions } from "../src/nn/builder.js";
import { generateByName } from "../src/multipliers/generators/index.js";
import { separableFactors } from "../src/multipliers/separable.js";
import { availableBackends, setLutAlgorithm, type LutAlgorithm } from "../src/kernels/index.js";
import { onBackend } from "./backends.js";
import { nativeSkip } from "./shared.js";

const nativeLevels = availableBackends("cpu").filter((b) => b.startsWith("native-"));
const skip = nativeSkip(nativeLevels.length);

function sameBits(got: Tensor, want: Tensor, what: string): void {
  assert.deepEqual(got.shape, want.shape, what);
  const a = new Uint32Array(got.data.buffer, got.data.byteOffset, got.data.length);
  const b = new Uint32Array(want.data.buffer, want.data.byteOffset, want.data.length);
  const i = a.findIndex((v, k) => v !== b[k]);
  assert.equal(i, -1, `${what}: element ${i} is ${got.data[i]}, the reference gives ${want.data[i]}`);
}

function withAlgorithm<T>(algorithm: LutAlgorithm, fn: () => T): T {
  setLutAlgorithm(algorithm);
  try {
    return fn();
  } finally {
    setLutAlgorithm("auto");
  }
}

const lut = (name: string): LayerArithmetic => {
  const multiplier = generateByName(name).multiplier;
  assert.ok(separableFactors(multiplier), `${name} is separable`);
  return { kind: "lut", multiplier };
};

/** Separable arithmetics per scheme: exact int8, DRUM 8x8, an 8x4 DRUM table, operand truncation. */
const ARITHMETICS: Record<QuantScheme, [string, LayerArithmetic][]> = {
  asym: [["exact", EXACT_INT8], ["drum_k4_u8x8", lut("drum_k4_u8x8")], ["drum_k3_u8x4", lut("drum_k3_u8x4")], ["optrunc_a2w2r_u8x8", lut("optrunc_a2w2r_u8x8")]],
  sym: [["exact", EXACT_INT8], ["drum_k4_s8x8", lut("drum_k4_s8x8")], ["drum_k3_s8x4", lut("drum_k3_s8x4")]],
};

/** Runs the plan with the separable path forced and checks it against the reference, and that convolutions with 8+ channels per group took it. */
function checkPlan(q: ReturnType<typeof quantizeModel>, arith: LayerArithmetic, x: Tensor, what: string): void {
  const model = q.model, inName = model.inputs[0]!.name, outName = model.outputs[0]!;
  const want = q.run({ [inName]: x }, arith)[outName]!;
  const plan = compilePlan(q, arith, { [inName]: x.shape }, { profile: true });
  sameBits(withAlgorithm("separable", () => plan.run({ [inName]: x }))[outName]!, want, `${what} (separable)`);
  const convs = plan.profile().steps.filter((s) => s.kind === "conv-int");
  assert.ok(convs.some((s) => s.algorithm === "separable"), `${what}: some layer ran separable (${convs.map((s) => `${s.name}:${s.algorithm}`).join(" ")})`);
  for (const s of convs) {
    const node = model.nodes.find((n) => n.name === s.name) as { weight: { shape: number[] }; groups?: number };
    const perGroup = node.weight.shape[0]! / (node.groups ?? 1);
    assert.equal(s.algorithm === "separable", perGroup >= 8, `${what} ${s.name}: ${perGroup} channels per group ran ${s.algorithm}`);
  }
  // planes/direct never take it; auto does.
  sameBits(withAlgorithm("planes", () => plan.run({ [inName]: x }))[outName]!, want, `${what} (planes)`);
  assert.ok(plan.profile().steps.every((s) => s.algorithm !== "separable"), `${what}: planes forbids separable`);
  sameBits(plan.run({ [inName]: x })[outName]!, want, `${what} (auto)`);
  assert.ok(plan.profile().steps.some((s) => s.algorithm === "separable"), `${what}: auto takes separable`);
}

function tinyZoo(name: string): Model {
  if (name === "lenet5") return buildZooModel(name, { width: 0.5 });
  if (name === "mobilenetv2") return buildZooModel(name, { width: 0.5, inputShape: [3, 8, 8] });
  return buildZooModel(name, { width: 0.5, inputShape: [3, 12, 12] });
}

test("separable plans equal the reference bit for bit: zoo models, sym/asym, per-tensor/per-channel, exact, DRUM 8x8 and 8x4, operand truncation, every native level", { skip }, () => {
  for (const level of nativeLevels) {
    onBackend(level, () => {
      for (const name of zooNames()) {
        const model = tinyZoo(name);
        const inName = model.inputs[0]!.name;
        const sample = model.inputs[0]!.shape.slice(1) as number[];
        const rng = new Rng(31);
        const x = rng.uniformTensor([2, ...sample], -1, 1);
        const calib = [{ [inName]: rng.uniformTensor([4, ...sample], -1, 1) }];
        for (const scheme of ["asym", "sym"] as QuantScheme[]) {
          for (const perChannel of [false, true]) {
            // The full set of arithmetics on one model per level keeps the test short; the others get DRUM 8x8.
            const ariths = name === "resnet8" || (perChannel && scheme === "asym") ? ARITHMETICS[scheme] : ARITHMETICS[scheme].slice(1, 2);
            const q = quantizeModel(model, calib, { scheme, perChannel, calibration: { method: "minmax" } });
            for (const [label, arith] of ariths) checkPlan(q, arith, x, `${level} ${name} ${scheme} ${perChannel ? "per-channel" : "per-tensor"} ${label}`);
          }
        }
      }
    });
  }
});

test("separable plans on odd geometries: stride 2, asymmetric pads, dilation, groups, 1x1, K odd, M not a tile multiple, partial panels", { skip }, () => {
  const rng = new Rng(32);
  const cases: { c: number; h: number; w: number; o: ConvOptions; batch: number }[] = [
    { c: 3, h: 7, w: 9, o: { outChannels: 8, kernel: 3, padding: 1 }, batch: 1 }, // K = 27 (odd)
    { c: 5, h: 9, w: 7, o: { outChannels: 10, kernel: [3, 2], stride: [2, 1], padding: [1, 0, 2, 1] }, batch: 3 },
    { c: 16, h: 6, w: 6, o: { outChannels: 20, kernel: 3, padding: 1, stride: 2 }, batch: 2 },
    { c: 8, h: 11, w: 10, o: { outChannels: 9, kernel: 3, dilation: [2, 3], padding: [2, 3] }, batch: 2 },
    { c: 12, h: 5, w: 13, o: { outChannels: 24, kernel: [1, 3], stride: [1, 3], groups: 3, padding: [0, 2] }, batch: 4 },
    { c: 32, h: 4, w: 4, o: { outChannels: 64, kernel: 1, groups: 2 }, batch: 7 },
    { c: 64, h: 8, w: 8, o: { outChannels: 16, kernel: 3, padding: 1 }, batch: 5 }, // K = 576
    { c: 8, h: 5, w: 5, o: { outChannels: 8, kernel: 3, groups: 8, padding: 1 }, batch: 2 }, // depthwise: keeps the direct core
  ];
  for (const level of nativeLevels) {
    onBackend(level, () => {
      for (const [i, { c, h, w, o, batch }] of cases.entries()) {
        const b = new ModelBuilder(`conv${i}`);
        const x = b.input("x", [null, c, h, w]);
        b.output(b.relu(b.conv2d(x, { ...o, name: "conv" })));
        const model = b.build();
        const input = rng.uniformTensor([batch, c, h, w], -1, 1);
        for (const scheme of ["asym", "sym"] as QuantScheme[]) {
          const q = quantizeModel(model, [{ x: input }], { scheme, perChannel: true, calibration: { method: "minmax" } });
          for (const [label, arith] of ARITHMETICS[scheme].slice(0, 3)) {
            const what = `${level} case ${i} ${JSON.stringify(o)} ${scheme} ${label}`;
            const want = q.run({ x: input }, arith)[model.outputs[0]!]!;
            const plan = compilePlan(q, arith, { x: input.shape }, { profile: true });
            sameBits(withAlgorithm("separable", () => plan.run({ x: input }))[model.outputs[0]!]!, want, what);
            const ran = plan.profile().steps.find((s) => s.kind === "conv-int")!.algorithm;
            assert.equal(ran, o.outChannels / (o.groups ?? 1) >= 8 ? "separable" : "direct", `${what}: ran ${ran}`);
            assert.ok(want.data.some((v) => v > 0), `${what}: some outputs are positive`);
          }
        }
      }
    });
  }
});

test("a non-separable table never takes the separable path", { skip }, () => {
  const model = tinyZoo("resnet8");
  const x = new Rng(33).uniformTensor([2, 3, 12, 12], -1, 1);
  const q = quantizeModel(model, [{ input: x }], { scheme: "asym", perChannel: true, calibration: { method: "minmax" } });
  const multiplier = generateByName("bam_h2_v7_u8x8").multiplier;
  assert.equal(separableFactors(multiplier), null);
  const arith: LayerArithmetic = { kind: "lut", multiplier };
  const plan = compilePlan(q, arith, { input: x.shape }, { profile: true });
  sameBits(withAlgorithm("separable", () => plan.run({ input: x }))[model.outputs[0]!]!, q.run({ input: x }, arith)[model.outputs[0]!]!, "bam");
  const algorithms = plan.profile().steps.filter((s) => s.kind === "conv-int").map((s) => s.algorithm);
  assert.ok(algorithms.length > 0 && algorithms.every((a) => a === "planes" || a === "direct"), algorithms.join(" "));
});
