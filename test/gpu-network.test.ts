// The GPU-resident quantized network (src/quant/gpu-network.ts) against QuantizedModel.run on the
// TypeScript reference backend, bit for bit: zoo networks (LeNet-5: conv, max pooling, dense;
// ResNet-8: residual Adds, global average pooling; MobileNetV2: depthwise, ReLU6), symmetric and
// asymmetric, per-tensor and per-channel, exact int8 and approximate tables; the network steps'
// adversarial float32 cases (ties, subnormals, infinities, NaN, -0) against the CPU ops; and the
// explicit refusal of what has no exact GPU form. Skips only without a WebGPU adapter (CI requires one).
import { test } from "node:test";
import assert from "node:assert/strict";
import { kernelBackend, setBackend } from "../src/kernels/index.js";
import { onBackend } from "./backends.js";
import { webGpuAdapter } from "../src/kernels/webgpu/backend.js";
import { ModelBuilder } from "../src/nn/builder.js";
import { Rng, type Tensor } from "../src/nn/tensor.js";
import { EXACT_INT8, FLOAT, quantizeModel, quantizeModelWithParams, type LayerArithmetic, type QuantConfig } from "../src/quant/index.js";
import { GpuQuantizedNetwork, quantizeThresholds } from "../src/quant/gpu-network.js";
import { plannedRunner } from "../src/plan/index.js";
import { quantizeToCodes, type QuantParams } from "../src/quant/params.js";
import { resolveMultiplier } from "../src/multipliers/resolve.js";
import { cifarResNet, lenet5, mobileNetV2 } from "../src/zoo/index.js";
import { AxnnError } from "../src/util/errors.js";

const adapter = webGpuAdapter();
if (!adapter.info && process.env.AXNN_REQUIRE_GPU === "1") throw new Error(`AXNN_REQUIRE_GPU=1 but no WebGPU adapter: ${adapter.why}`);
const skip = !adapter.info && `${adapter.why}; set VK_ICD_FILENAMES to a Vulkan driver, e.g. SwiftShader's`;

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
/**
 * Bits with every NaN as 0x7fc00000: a NaN's sign and payload are the CPU's own (x86 makes
 * Inf - Inf 0xffc00000, ARM 0x7fc00000); the GPU gives 0x7fc00000. Where NaN is, is compared.
 */
const canonicalBits = (a: Float32Array) => bits(Float32Array.from(a, (v) => (Number.isNaN(v) ? NaN : v)));

const onTypescript = <T>(fn: () => T): T => onBackend("typescript", fn);

test("quantize thresholds give quantizeToCodes' code for every float32 near them and at the extremes", () => {
  const cases: QuantParams[] = [
    { scale: 0.0123, zeroPoint: 0, qmin: -128, qmax: 127 },
    { scale: 0.5, zeroPoint: 37, qmin: 0, qmax: 255 }, // x / scale exact: ties at every half
    { scale: 3e-39, zeroPoint: 200, qmin: 0, qmax: 255 }, // steps among float32 subnormals
  ];
  const x = new Float32Array(1), xb = new Uint32Array(x.buffer);
  for (const p of cases) {
    const t = quantizeThresholds(p);
    assert.equal(t.length, p.qmax - p.qmin);
    const codeOfKey = (key: number): number => {
      let c = 0;
      while (c < t.length && t[c]! <= key) c++;
      return (p.qmin + c) & 0xff;
    };
    const keyOf = (b: number) => (b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0);
    const probe = [0, 0x80000000, 0x7f800000, 0xff800000, 1, 0x80000001, 0x7f7fffff, 0xff7fffff];
    for (const th of t) for (const d of [-1, 0, 1]) probe.push(((th + d) >>> 0) & 0x80000000 ? ~((th + d) >>> 0) >>> 0 : ((th + d) & 0x7fffffff) >>> 0);
    for (const b of probe) {
      xb[0] = b;
      if (Number.isNaN(x[0])) continue;
      assert.equal(codeOfKey(keyOf(b)), quantizeToCodes(x, p)[0], `bits ${b.toString(16)} with ${JSON.stringify(p)}`);
    }
  }
});

interface Case { name: string; model: ReturnType<typeof lenet5>; input: number[] }
const nets: Case[] = [
  { name: "LeNet-5", model: lenet5({ inputShape: [1, 16, 16], width: 0.5, seed: 3 }), input: [2, 1, 16, 16] },
  { name: "ResNet-8", model: cifarResNet("resnet8", { inputShape: [3, 8, 8], width: 0.25, seed: 4 }), input: [2, 3, 8, 8] },
  { name: "MobileNetV2", model: mobileNetV2({ inputShape: [3, 8, 8], width: 0.25, seed: 5 }), input: [2, 3, 8, 8] },
];

test("zoo networks resident on the GPU equal QuantizedModel.run bit for bit (sym/asym, per-tensor/per-channel, exact int8 and tables)", { skip }, () => {
  const configs: [QuantConfig, string][] = [
    [{ scheme: "asym", perChannel: false, calibration: { method: "minmax" } }, "drum_k3_u8x8"],
    [{ scheme: "sym", perChannel: true, calibration: { method: "minmax" } }, "drum_k4_s8x8"],
  ];
  let compared = 0;
  for (const net of nets) {
    const x: Tensor = new Rng(7).uniformTensor(net.input);
    const calib: Tensor = new Rng(8).uniformTensor(net.input);
    for (const [config, mult] of configs) {
      const q = quantizeModel(net.model, [{ [net.model.inputs[0]!.name]: calib }], config);
      const arithmetics: [string, LayerArithmetic | Map<string, LayerArithmetic>][] = [
        ["int8", EXACT_INT8],
        [mult, { kind: "lut", multiplier: resolveMultiplier(mult).multiplier }],
      ];
      const want: Float32Array[] = [];
      for (const [label, a] of arithmetics) {
        const expected = onTypescript(() => q.run({ [net.model.inputs[0]!.name]: x }, a)[net.model.outputs[0]!]!.data);
        const gpu = new GpuQuantizedNetwork(q, a, x.shape);
        const got = gpu.run(x);
        assert.deepEqual(got.shape, [net.input[0], 10]);
        assert.ok(new Set(expected).size > 5, `${net.name} ${label}: degenerate logits`);
        assert.deepEqual(bits(got.data), bits(expected), `${net.name} ${config.scheme}${config.perChannel ? " per-channel" : ""} ${label}`);
        // A second batch reuses the uploaded weights and tables.
        assert.deepEqual(bits(gpu.run(x).data), bits(expected));
        want.push(expected);
        compared++;
      }
      assert.notDeepEqual(bits(want[0]!), bits(want[1]!), `${net.name}: the table changes the logits (the comparison can fail)`);
    }
  }
  assert.equal(compared, nets.length * 4);
});

test("GPU network of quantized layers on special inputs (NaN, infinities, -0, subnormals; a branch 2^-100 smaller, subnormal biases) equals QuantizedModel.run", { skip }, () => {
  // Activation parameters given directly, so that the dense layer reads exactly the values computed.
  const b = new ModelBuilder("steps", { seed: 2 });
  const a = b.input("a", [null, 2, 4, 4]);
  const conv1 = b.conv2d(a, { outChannels: 2, kernel: 1, name: "c1" });
  const conv2 = b.conv2d(a, { outChannels: 2, kernel: 1, name: "c2" });
  const sum = b.add(conv1, conv2);
  const pooled = b.maxPool(b.relu6(sum), { kernel: 3, stride: 2, padding: 1 });
  const avg = b.globalAvgPool(b.relu(b.add(b.maxPool(sum, { kernel: 2, stride: 2 }), pooled)));
  b.output(b.dense(b.flatten(avg), { outFeatures: 3, name: "head" }));
  const model = b.build();
  // Weights that put values on exact ties and in the subnormal range after dequantization.
  const rand = new Rng(9);
  for (const n of model.nodes) {
    if (n.op !== "Conv2D" && n.op !== "Dense") continue;
    for (let i = 0; i < n.weight.data.length; i++) n.weight.data[i] = (rand.uniform() - 0.5) * 2 ** (n.name === "c2" ? -100 : 0);
    if (n.bias) for (let i = 0; i < n.bias.data.length; i++) n.bias.data[i] = i % 2 === 0 ? 2 ** -126 : -(2 ** -130);
  }
  const params: Record<string, QuantParams> = {
    c1: { scale: 2 ** -3, zeroPoint: 0, qmin: -128, qmax: 127 },
    c2: { scale: 2 ** -3, zeroPoint: 0, qmin: -128, qmax: 127 },
    head: { scale: 2 ** -3, zeroPoint: 0, qmin: -128, qmax: 127 },
  };
  const q = quantizeModelWithParams(model, params, { scheme: "sym", perChannel: true, calibration: { method: "minmax" } });
  const data = new Float32Array(2 * 2 * 4 * 4);
  const special = [NaN, -0, 0, Infinity, -Infinity, 2 ** -149, -(2 ** -149), 1e30, -1e30, 0.0625, -0.0625, 15.9375];
  for (let i = 0; i < data.length; i++) data[i] = i < special.length ? special[i]! : (new Rng(i).uniform() - 0.5) * 40;
  const x: Tensor = { shape: [2, 2, 4, 4], data };
  const expected = onTypescript(() => q.run({ a: x }, EXACT_INT8)[model.outputs[0]!]!.data);
  assert.equal(new Set(expected).size, expected.length, "distinct logits (the comparison can fail)");
  const got = new GpuQuantizedNetwork(q, EXACT_INT8, x.shape).run(x);
  assert.deepEqual(bits(got.data), bits(expected));
});

test("a network with Concat, AvgPool and broadcasting Adds (an Inception-like block with a squeeze-and-excitation-like sum) runs wholly on the GPU and equals QuantizedModel.run", { skip }, () => {
  const b = new ModelBuilder("inception-like", { seed: 6 });
  const x = b.input("x", [null, 3, 8, 8]);
  const stem = b.relu(b.conv2d(x, { outChannels: 4, kernel: 3, padding: 1, name: "stem" }));
  const branches = b.concat([
    b.relu(b.conv2d(stem, { outChannels: 3, kernel: 1, name: "b1" })),
    b.relu(b.conv2d(stem, { outChannels: 2, kernel: 3, padding: 1, name: "b3" })),
    b.avgPool(stem, { kernel: 3, stride: 1, padding: 1, countIncludePad: false }),
  ], 1);
  const excited = b.relu(b.add(branches, b.globalAvgPool(branches)));
  const pooled = b.avgPool(b.add(excited, b.constant("bias", { shape: [9, 1, 1], data: Float32Array.from({ length: 9 }, (_v, i) => (i - 4) / 8) })), { kernel: 2 });
  b.output(b.dense(b.flatten(pooled), { outFeatures: 10, name: "head" }));
  const model = b.build();
  const input: Tensor = new Rng(11).uniformTensor([2, 3, 8, 8]);
  const q = quantizeModel(model, [{ x: new Rng(12).uniformTensor([2, 3, 8, 8]) }], { scheme: "asym", perChannel: true, calibration: { method: "minmax" } });
  for (const a of [EXACT_INT8, { kind: "lut", multiplier: resolveMultiplier("drum_k3_u8x8").multiplier } as LayerArithmetic]) {
    const gpu = new GpuQuantizedNetwork(q, a, input.shape);
    assert.equal(gpu.cpuFrom, undefined);
    const want = onTypescript(() => q.run({ x: input }, a)[model.outputs[0]!]!.data);
    assert.ok(new Set(want).size > 5, "degenerate logits");
    assert.deepEqual(bits(gpu.run(input).data), bits(want));
  }
});

test("GPU network float steps on adversarial float32 values equal the CPU ops: Add ties and cancellation, ReLU/ReLU6 of NaN and -0, max pooling with -0 and NaN, Pad, averages that lose bits in double, subnormals, infinities", { skip }, () => {
  const W = 8;
  const rows: number[][] = [
    // Adjacent pairs summed below: ties to even (1 + 2^-24), ties up (1 + 2^-23 + 2^-24), cancellation, subnormal sums.
    [1, 2 ** -24, 1 + 2 ** -23, 2 ** -24, -(1 + 2 ** -23), 3 * 2 ** -149, -(2 ** -149), 2 ** -126],
    [NaN, -0, 0, -0, Infinity, -Infinity, 3.4e38, 3.4e38],
    [2 ** 100, 1, -(2 ** 100), 1, 2 ** -149, 2 ** -149, 2 ** -149, -0],
    [-0, -0, -0, -0, 6, 6.000001, 5.999999, -1e-45],
    [1e30, 1e-30, -1e30, 7, 0.1, 0.2, 0.3, -0.6],
    [-5, -3, -2, -7, -1e-40, -2e-40, -0, -1],
    [Infinity, 1, 2, 3, -Infinity, 1, 2, 3],
    [0.5, 1.5, 2.5, -0.5, -1.5, 1 / 3, 2 / 3, 1e-38],
  ];
  const data = Float32Array.from(rows.flat().concat(rows.flat().reverse()));
  const x: Tensor = { shape: [2, 1, 8, W], data };
  const build = (name: string, body: (b: ModelBuilder, x: string) => string) => {
    const b = new ModelBuilder(name, { seed: 1 });
    b.output(body(b, b.input("x", [null, 1, 8, W])));
    return quantizeModelWithParams(b.build(), {}, { scheme: "sym", perChannel: false, calibration: { method: "minmax" } });
  };
  const shifted = (b: ModelBuilder, v: string) => b.pad(v, [0, 0, 0, 1, 0, 0, 0, -1]);
  const cases = [
    build("add-pairs", (b, v) => b.add(v, shifted(b, v))),
    build("add-relu6", (b, v) => b.relu6(b.add(v, shifted(b, v)))),
    build("relu", (b, v) => b.add(b.relu(v), b.relu6(v))),
    build("maxpool", (b, v) => b.maxPool(v, { kernel: [3, 3], stride: [1, 1], padding: [1, 1] })),
    build("maxpool-strided", (b, v) => b.maxPool(v, { kernel: [2, 3], stride: [2, 2], padding: [0, 1, 1, 0], ceilMode: true })),
    build("pad-edge-reflect", (b, v) => b.add(b.pad(v, [0, 0, 2, 1, 0, 0, 1, 2], { mode: "edge" }), b.pad(v, [0, 0, 2, 1, 0, 0, 1, 2], { mode: "reflect" }))),
    build("pad-constant", (b, v) => b.pad(v, [0, 1, 1, 0, 0, 0, 0, 2], { value: -2.5 })),
    build("global-avgpool", (b, v) => b.flatten(b.globalAvgPool(v))),
    build("rows-avgpool", (b, v) => b.globalAvgPool(b.reshape(v, [-1, 8, W, 1]))),
    build("avgpool", (b, v) => b.avgPool(v, { kernel: 3, stride: 1, padding: 1 })),
    build("avgpool-exclude-pad-ceil", (b, v) => b.avgPool(v, { kernel: [2, 3], stride: [2, 2], padding: [0, 1, 1, 0], ceilMode: true, countIncludePad: false })),
    build("avgpool-ties", (b, v) => b.avgPool(b.add(v, shifted(b, v)), { kernel: [1, 2], stride: [1, 1] })),
    build("concat", (b, v) => b.concat([b.relu(v), v, b.maxPool(v, { kernel: 1 })], 1)),
    build("concat-rows", (b, v) => b.concat([v, b.pad(v, [0, 0, 0, 1, 0, 0, 0, 0], { value: 7 })], 3)),
    // Broadcasting: a per-plane average added back (squeeze-and-excitation's shape), a constant row, a constant scalar, with a fused ReLU6.
    build("add-broadcast-planes", (b, v) => b.add(b.globalAvgPool(b.reshape(v, [-1, 8, W, 1])), b.reshape(v, [-1, 8, W, 1]))),
    build("add-broadcast-row", (b, v) => b.add(v, b.constant("row", { shape: [W], data: Float32Array.from(rows[0]!) }))),
    build("add-broadcast-scalar-relu6", (b, v) => b.relu6(b.add(b.constant("s", { shape: [1, 1, 1, 1], data: Float32Array.of(2 ** -24) }), v))),
  ];
  for (const q of cases) {
    const want = onTypescript(() => q.run({ x }, EXACT_INT8)[q.model.outputs[0]!]!.data);
    const got = new GpuQuantizedNetwork(q, EXACT_INT8, x.shape).run(x).data;
    assert.deepEqual(canonicalBits(got), canonicalBits(want), q.model.name);
  }
});

test("what has no exact GPU form is refused naming the node; plannedRunner on the GPU backend then runs layer by layer and says why once", { skip }, () => {
  const net = nets[0]!;
  const inName = net.model.inputs[0]!.name, outName = net.model.outputs[0]!;
  const x: Tensor = new Rng(7).uniformTensor(net.input);
  const q = quantizeModel(net.model, [{ [inName]: x }], { scheme: "asym", perChannel: false, calibration: { method: "minmax" } });
  const first = q.layerNames()[0]!;
  const mixed = new Map<string, LayerArithmetic>([[first, FLOAT]]);
  assert.throws(() => new GpuQuantizedNetwork(q, mixed, x.shape), (e: unknown) => e instanceof AxnnError && e.message.includes(`node "${first}"`) && e.message.includes("float32 layer"));
  const want = onTypescript(() => [mixed, EXACT_INT8].map((a) => q.run({ [inName]: x }, a)[outName]!.data));
  const before = kernelBackend();
  setBackend("webgpu");
  try {
    const notes: string[] = [];
    const run = plannedRunner(q, mixed, { onGpuFallback: (why) => notes.push(why) });
    assert.deepEqual(bits(run({ [inName]: x })[outName]!.data), bits(want[0]!));
    assert.deepEqual(bits(run({ [inName]: { shape: [1, ...x.shape.slice(1)], data: x.data.slice(0, x.data.length / 2) } })[outName]!.data), bits(want[0]!.slice(0, 10)));
    assert.equal(notes.length, 1);
    assert.match(notes[0]!, new RegExp(`node "${first}"`));
    // Every layer integer: resident, no note, the same logits.
    const resident = plannedRunner(q, EXACT_INT8, { onGpuFallback: (why) => notes.push(why) });
    assert.deepEqual(bits(resident({ [inName]: x })[outName]!.data), bits(want[1]!));
    assert.equal(notes.length, 1);
    // A float layer after the first: the GPU's part up to it, the CPU's from it, read back once.
    const last = q.layerNames().at(-1)!;
    const tailed = new Map<string, LayerArithmetic>([[last, FLOAT]]);
    // (The float layer runs on the active backend, here the GPU's float32 kernel, in both.)
    const wantTail = q.run({ [inName]: x }, tailed)[outName]!.data;
    const gpuTail = new GpuQuantizedNetwork(q, tailed, x.shape);
    assert.equal(gpuTail.cpuFrom?.node, last);
    assert.deepEqual(bits(gpuTail.run(x).data), bits(wantTail));
    assert.deepEqual(bits(plannedRunner(q, tailed, { onGpuFallback: (why) => notes.push(why) })({ [inName]: x })[outName]!.data), bits(wantTail));
    assert.equal(notes.length, 2);
    assert.match(notes[1]!, new RegExp(`up to node "${last}", from there on the CPU .*float32 layer`));
    // An op without a GPU form at the end (Softmax): on the CPU after the readback.
    const b = new ModelBuilder("softmax-tail", { seed: 4 });
    const h = b.relu(b.conv2d(b.input("x", [null, 1, 6, 6]), { outChannels: 3, kernel: 3, name: "conv" }));
    b.output(b.softmax(b.dense(b.flatten(h), { outFeatures: 4, name: "fc" }), -1, "softmax"));
    const sx: Tensor = new Rng(3).uniformTensor([3, 1, 6, 6]);
    const sq = quantizeModel(b.build(), [{ x: sx }], { scheme: "sym", perChannel: true, calibration: { method: "minmax" } });
    const sm = new GpuQuantizedNetwork(sq, EXACT_INT8, sx.shape);
    assert.equal(sm.cpuFrom?.node, "softmax");
    assert.deepEqual(bits(sm.run(sx).data), bits(onTypescript(() => sq.run({ x: sx }, EXACT_INT8)[sq.model.outputs[0]!]!.data)));
  } finally {
    setBackend(before);
  }
});
