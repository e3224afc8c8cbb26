// Compiled execution plans (src/plan) against the reference engine (QuantizedModel.run): every zoo
// model, sym and asym, per-tensor and per-channel, exact and approximate tables, bit for bit; the
// all-float plan against its slow twin (the same kernels, one op at a time); thread counts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildZooModel, zooNames } from "../src/zoo/index.js";
import { quantizeModel, EXACT_INT8, FLOAT, type LayerArithmetic, type QuantScheme } from "../src/quant/index.js";
import { compilePlan } from "../src/plan/index.js";
import { Rng, type Tensor } from "../src/nn/tensor.js";
import { foldBatchNorm } from "../src/nn/passes.js";
import { runModel } from "../src/nn/run.js";
import { windowGeometry } from "../src/nn/shapes.js";
import { isApproximable, type ConvNode, type Model } from "../src/nn/graph.js";
import { ModelBuilder, type ConvOptions } from "../src/nn/builder.js";
import { conv2dFloat, conv2dFloatGemm } from "../src/kernels/index.js";
import { floatLayer, quantizeWeights } from "../src/quant/model.js";
import { generateByName } from "../src/multipliers/generators/index.js";
import { AxnnError } from "../src/util/errors.js";
import { digestsPerThreadCount } from "./thread-counts.js";
import { onEveryBackend } from "./backends.js";

/** Small versions of the zoo networks: narrow, small images (the structure is what the plan compiles). */
function tinyZoo(name: string): Model {
  if (name === "lenet5") return buildZooModel(name, { width: 0.5 });
  if (name === "mobilenetv2") return buildZooModel(name, { width: 0.25, inputShape: [3, 8, 8] });
  return buildZooModel(name, { width: 0.5, inputShape: [3, 12, 12] });
}

function sameBits(got: Tensor, want: Tensor, what: string): void {
  assert.deepEqual(got.shape, want.shape, what);
  const a = new Uint32Array(got.data.buffer, got.data.byteOffset, got.data.length);
  const b = new Uint32Array(want.data.buffer, want.data.byteOffset, want.data.length);
  const i = a.findIndex((v, k) => v !== b[k]);
  assert.equal(i, -1, `${what}: element ${i} is ${got.data[i]}, the reference gives ${want.data[i]}`);
}

test("plans give the reference engine's outputs bit for bit: every zoo model, sym/asym, per-tensor/per-channel, exact, tables, mixed", () => {
  const tables = { asym: generateByName("drum_k4_u8x8").multiplier, sym: generateByName("drum_k4_s8x8").multiplier };
  const narrow = { asym: generateByName("exact_u8x4").multiplier, sym: generateByName("exact_s8x4").multiplier };
  for (const name of zooNames()) {
    const model = tinyZoo(name);
    const inName = model.inputs[0]!.name, outName = model.outputs[0]!;
    const sample = model.inputs[0]!.shape.slice(1) as number[];
    const rng = new Rng(11);
    const shape = [3, ...sample];
    const x = rng.uniformTensor(shape, -1, 1);
    const calib = [{ [inName]: rng.uniformTensor([4, ...sample], -1, 1) }];
    for (const scheme of ["asym", "sym"] as QuantScheme[]) {
      for (const perChannel of [false, true]) {
        const q = quantizeModel(model, calib, { scheme, perChannel, calibration: { method: "minmax" } });
        const layers = q.layerNames();
        // One layer float, one through the table, the rest exact: every kind of step side by side.
        const mixed = new Map<string, LayerArithmetic>([[layers[1]!, FLOAT], [layers[layers.length - 2]!, { kind: "lut", multiplier: tables[scheme] }]]);
        const runs: [string, LayerArithmetic | Map<string, LayerArithmetic>][] = [
          ["exact int8", EXACT_INT8],
          ["table", { kind: "lut", multiplier: tables[scheme] }],
          ["8x4 table", { kind: "lut", multiplier: narrow[scheme] }],
          ["exact 4-bit weights", { kind: "exact", weightBits: 4 }],
          ["mixed", mixed],
          // Weights given with the arithmetic (ALWANN's tuned weights) instead of the layer's own.
          ["tables with given weights", new Map(layers.map((l) => [l, { kind: "lut", multiplier: tables[scheme], weights: quantizeWeights(q.layers.get(l)!.node.weight, scheme, 8, !perChannel, "mse") }]))],
        ];
        for (const [label, arith] of runs) {
          const want = q.run({ [inName]: x }, arith)[outName]!;
          const plan = compilePlan(q, arith, { [inName]: shape });
          const what = `${name} ${scheme} ${perChannel ? "per-channel" : "per-tensor"} ${label}`;
          sameBits(plan.run({ [inName]: x })[outName]!, want, what);
          sameBits(plan.run({ [inName]: x })[outName]!, want, `${what} (second run, reused buffers)`);
        }
        if (scheme === "asym" && !perChannel) {
          // Float layers on the direct kernel are the reference's float path exactly.
          const plan = compilePlan(q, FLOAT, { [inName]: shape }, { floatConv: "direct" });
          sameBits(plan.run({ [inName]: x })[outName]!, q.run({ [inName]: x }, FLOAT)[outName]!, `${name} float (direct)`);
        }
      }
    }
  }
});

/** The float plan's twin: the folded model one op at a time, convolutions on im2col + GEMM where a group has 8+ output channels. */
function floatTwin(model: Model, inputs: Record<string, Tensor>): Record<string, Tensor> {
  const folded = foldBatchNorm(model);
  return runModel(folded, inputs, {
    kernel: (node, ins) => {
      if (!isApproximable(node)) return undefined;
      if (node.op === "Dense") return [floatLayer(node, ins[0]!)];
      const n = node as ConvNode, x = ins[0]!;
      const [M, , kh, kw] = n.weight.shape as [number, number, number, number];
      const padding = windowGeometry(x.shape[2]!, x.shape[3]!, [kh, kw], n.strides, n.dilations, n.pads, n.autoPad, false).pads;
      const options = { stride: n.strides, dilation: n.dilations, groups: n.groups, padding };
      const r = M / n.groups >= 8 ? conv2dFloatGemm(x.data, x.shape, n.weight.data, n.weight.shape, options) : conv2dFloat(x.data, x.shape, n.weight.data, n.weight.shape, options);
      if (n.bias) {
        const inner = r.shape[2]! * r.shape[3]!;
        for (let i = 0; i < r.data.length; i++) r.data[i] = r.data[i]! + n.bias.data[Math.floor(i / inner) % M]!;
      }
      return [{ shape: r.shape, data: r.data }];
    },
  });
}

test("the all-float plan (im2col + GEMM, fused bias/ReLU/Add) equals its one-op-at-a-time twin bit for bit, and the float engine within rounding", () => {
  for (const name of zooNames()) {
    const model = tinyZoo(name);
    const inName = model.inputs[0]!.name, outName = model.outputs[0]!;
    const shape = [3, ...(model.inputs[0]!.shape.slice(1) as number[])];
    const x = new Rng(12).uniformTensor(shape, -1, 1);
    const got = compilePlan(model, FLOAT, { [inName]: shape }).run({ [inName]: x })[outName]!;
    sameBits(got, floatTwin(model, { [inName]: x })[outName]!, `${name} float plan`);
    const q = quantizeModel(model, [{ [inName]: x }], { scheme: "asym", perChannel: false, calibration: { method: "minmax" } });
    const engine = q.run({ [inName]: x }, FLOAT)[outName]!;
    const scale = Math.max(...Array.from(engine.data, Math.abs));
    for (let i = 0; i < got.data.length; i++) assert.ok(Math.abs(got.data[i]! - engine.data[i]!) <= 1e-4 * scale, `${name} float element ${i}: ${got.data[i]} vs ${engine.data[i]}`);
  }
});

test("float plan convolutions equal their im2col + GEMM twin bit for bit: strides, dilations, asymmetric pads, groups, several k blocks, partial tiles", () => {
  const rng = new Rng(21);
  const cases: { c: number; h: number; w: number; o: ConvOptions; batch: number }[] = [
    { c: 3, h: 7, w: 9, o: { outChannels: 8, kernel: 3, padding: 1 }, batch: 1 },
    { c: 16, h: 9, w: 7, o: { outChannels: 12, kernel: [3, 2], stride: [2, 1], padding: [1, 0, 2, 1] }, batch: 3 },
    { c: 40, h: 6, w: 6, o: { outChannels: 20, kernel: 3, padding: 1 }, batch: 2 }, // K = 360: two k blocks, M not a tile multiple
    { c: 64, h: 8, w: 8, o: { outChannels: 16, kernel: 3, padding: 1, stride: 2 }, batch: 5 }, // K = 576: three k blocks
    { c: 8, h: 11, w: 10, o: { outChannels: 16, kernel: 3, dilation: [2, 3], padding: [2, 3] }, batch: 2 },
    { c: 12, h: 5, w: 13, o: { outChannels: 24, kernel: [1, 3], stride: [1, 3], groups: 3, padding: [0, 2] }, batch: 4 },
    { c: 32, h: 4, w: 4, o: { outChannels: 64, kernel: 1, groups: 2 }, batch: 7 },
  ];
  for (const [i, { c, h, w, o, batch }] of cases.entries()) {
    const b = new ModelBuilder(`conv${i}`);
    const x = b.input("x", [null, c, h, w]);
    b.output(b.relu(b.conv2d(x, { ...o, name: "conv" })));
    const model = b.build();
    const input = rng.uniformTensor([batch, c, h, w], -1, 1);
    const got = compilePlan(model, FLOAT, { x: input.shape }).run({ x: input })[model.outputs[0]!]!;
    sameBits(got, floatTwin(model, { x: input })[model.outputs[0]!]!, `case ${i} ${JSON.stringify(o)}`);
    assert.ok(got.data.some((v) => v > 0), `case ${i}: some outputs are positive`);
  }
});

test("a plan refuses inputs of another shape, naming the input and the compiled shape", () => {
  const model = tinyZoo("resnet8");
  const plan = compilePlan(model, FLOAT, { input: [2, 3, 12, 12] });
  assert.throws(() => plan.run({ input: new Rng(1).uniformTensor([1, 3, 12, 12]) }), (e: unknown) => e instanceof AxnnError && /compiled for \[2, 3, 12, 12\]/.test(e.message));
});

test("a profiled plan times every step (wall and CPU) over its runs; an unprofiled one refuses profile()", () => {
  const model = tinyZoo("resnet8");
  const x = new Rng(2).uniformTensor([2, 3, 12, 12], -1, 1);
  const plan = compilePlan(model, FLOAT, { input: [2, 3, 12, 12] }, { profile: true });
  const want = compilePlan(model, FLOAT, { input: [2, 3, 12, 12] }).run({ input: x });
  sameBits(plan.run({ input: x })[model.outputs[0]!]!, want[model.outputs[0]!]!, "profiled run");
  plan.run({ input: x });
  const p = plan.profile();
  assert.equal(p.runs, 2);
  assert.deepEqual(p.steps.map((s) => `${s.kind} ${s.name}`), plan.describe().map((d) => d.split(" -> ")[0]));
  const convs = p.steps.filter((s) => s.kind === "conv-float");
  assert.ok(convs.length >= 3, `conv steps: ${convs.length}`);
  for (const s of p.steps) assert.ok(s.ms >= 0 && s.cpuMs >= 0 && Number.isFinite(s.ms) && Number.isFinite(s.cpuMs), `${s.name}: ${s.ms} ms, ${s.cpuMs} CPU ms`);
  assert.ok(convs.reduce((a, s) => a + s.cpuMs, 0) > 0, "the conv steps took some CPU time");
  const unprofiled = compilePlan(model, FLOAT, { input: [2, 3, 12, 12] });
  assert.throws(() => unprofiled.profile(), (e: unknown) => e instanceof AxnnError && /profile: true/.test(e.message));
});

test("planned runs give the same bits with 1, 2 and 3 threads (table, exact and float plans)", () => {
  const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
  const body = `
    const { buildZooModel } = await import(${url("../src/zoo/index.js")});
    const { quantizeModel, EXACT_INT8, FLOAT } = await import(${url("../src/quant/index.js")});
    const { compilePlan } = await import(${url("../src/plan/index.js")});
    const { generateByName } = await import(${url("../src/multipliers/generators/index.js")});
    for (const name of ["resnet8", "mobilenetv2"]) {
      const model = buildZooModel(name, { width: 0.5, inputShape: [3, 16, 16] });
      const shape = [5, 3, 16, 16];
      const x = { shape, data: rand(5 * 3 * 16 * 16) };
      const q = quantizeModel(model, [{ input: x }], { scheme: "asym", perChannel: true, calibration: { method: "minmax" } });
      for (const a of [EXACT_INT8, { kind: "lut", multiplier: generateByName("drum_k4_u8x8").multiplier }]) add(compilePlan(q, a, { input: shape }).run({ input: x })[model.outputs[0]].data);
      add(compilePlan(model, FLOAT, { input: shape }).run({ input: x })[model.outputs[0]].data);
    }`;
  const [one, ...others] = digestsPerThreadCount(body);
  for (const d of others) assert.equal(d, one);
});

test("on every CPU backend a plan gives that backend's reference results (the TypeScript one: the reference engine itself)", async (t) => {
  const model = tinyZoo("resnet8");
  const shape = [2, 3, 12, 12];
  const x = new Rng(13).uniformTensor(shape, -1, 1);
  const q = quantizeModel(model, [{ input: x }], { scheme: "asym", perChannel: true, calibration: { method: "minmax" } });
  await onEveryBackend(t, () => {
    for (const arith of [EXACT_INT8, { kind: "lut", multiplier: generateByName("drum_k4_u8x8").multiplier } as LayerArithmetic]) {
      sameBits(compilePlan(q, arith, { input: shape }).run({ input: x })[model.outputs[0]!]!, q.run({ input: x }, arith)[model.outputs[0]!]!, "resnet8");
    }
  }, { device: "cpu" });
});
