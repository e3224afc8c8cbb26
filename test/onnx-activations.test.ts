// The ops of MobileNetV3- and EfficientNet-lite-style models (Sigmoid, HardSigmoid, HardSwish,
// LeakyRelu, PRelu, Tanh, Resize/Upsample, GlobalMaxPool; Softmax and Concat in the block),
// against onnxruntime-node, written the way PyTorch and tf2onnx write them; then one
// MobileNetV3-style block end to end: float against onnxruntime, quantized and approximate
// inference, and compiled plans against the reference engine bit for bit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeModel, floatTensorProto, int64TensorProto, nodeProto, valueInfo, type AttrValue, type NodeProto, type TensorProto } from "../src/onnx/proto.js";
import { importOnnx } from "../src/onnx/import.js";
import { runModel } from "../src/nn/run.js";
import { Rng, type Tensor } from "../src/nn/tensor.js";
import { quantizeModel, EXACT_INT8, FLOAT, type LayerArithmetic } from "../src/quant/index.js";
import { compilePlan } from "../src/plan/index.js";
import { generateByName } from "../src/multipliers/generators/index.js";
import { forwardNode, backwardNode } from "../src/train/backward.js";
import { AxnnError } from "../src/util/errors.js";
import { assertClose, differential, ortRun, randomTensor } from "./onnx-testkit.js";

interface Case {
  opset: number;
  inputs: Record<string, number[]>;
  nodes: NodeProto[];
  inits?: TensorProto[];
}

let seed = 900;
const w = (name: string, shape: number[], lo = -1, hi = 1): TensorProto => floatTensorProto(name, randomTensor(shape, seed++, lo, hi));
const i64 = (name: string, values: number[]): TensorProto => int64TensorProto(name, [values.length], values);
const f32 = (name: string, values: number[], dims = [values.length]): TensorProto => floatTensorProto(name, { shape: dims, data: Float32Array.from(values) });
const node = (op: string, ins: string[], outs: string[], attrs: Record<string, AttrValue> = {}, name = `${op.toLowerCase()}_${outs[0]}`): NodeProto =>
  nodeProto(op, ins, outs, name, attrs);

function bytesOf(c: Case): Uint8Array {
  return encodeModel({
    opset: c.opset,
    inputs: Object.entries(c.inputs).map(([k, s]) => valueInfo(k, s.map((d, i) => (i === 0 ? "N" : d)))),
    outputs: [valueInfo("y", null)],
    nodes: c.nodes,
    initializers: c.inits ?? [],
  });
}

async function check(label: string, c: Case, lo = -4, hi = 4): Promise<void> {
  const feeds: Record<string, Tensor> = {};
  for (const [k, s] of Object.entries(c.inputs)) feeds[k] = randomTensor(s, seed++, lo, hi);
  await differential(bytesOf(c), feeds, `${label} (opset ${c.opset})`);
}

test("Sigmoid, Tanh, HardSigmoid (ONNX defaults and PyTorch's 1/6), HardSwish, LeakyRelu (default and 0.2)", async () => {
  for (const opset of [11, 13, 17, 19]) {
    await check("sigmoid", { opset, inputs: { x: [2, 3, 5, 5] }, nodes: [node("Sigmoid", ["x"], ["y"])] }, -12, 12);
    await check("tanh", { opset, inputs: { x: [2, 7] }, nodes: [node("Tanh", ["x"], ["y"])] });
    await check("hardsigmoid default", { opset, inputs: { x: [2, 3, 4, 4] }, nodes: [node("HardSigmoid", ["x"], ["y"])] });
    await check("hardsigmoid torch", { opset, inputs: { x: [2, 3, 4, 4] }, nodes: [node("HardSigmoid", ["x"], ["y"], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } })] });
    await check("leakyrelu default", { opset, inputs: { x: [2, 3, 4, 4] }, nodes: [node("LeakyRelu", ["x"], ["y"])] });
    await check("leakyrelu 0.2", { opset, inputs: { x: [2, 9] }, nodes: [node("LeakyRelu", ["x"], ["y"], { alpha: { float: 0.2 } })] });
  }
  for (const opset of [14, 17, 19]) {
    await check("hardswish", { opset, inputs: { x: [2, 3, 5, 5] }, nodes: [node("HardSwish", ["x"], ["y"])] }, -5, 5);
  }
  // Values the functions are sensitive at: the HardSwish/HardSigmoid corners, large |x| for Sigmoid.
  const x: Tensor = { shape: [1, 12], data: Float32Array.of(-3, 3, -2.5, 2.5, 0, -0, -40, 40, 1e-8, -1e-8, 6, -6) };
  for (const [op, opset, attrs] of [["HardSwish", 14, {}], ["HardSigmoid", 13, {}], ["Sigmoid", 13, {}], ["LeakyRelu", 13, { alpha: { float: 0.1 } }]] as const) {
    await differential(bytesOf({ opset, inputs: { x: [1, 12] }, nodes: [node(op, ["x"], ["y"], attrs)] }), { x }, `${op} at its corners`);
  }
  // The ops themselves, not just "close to onnxruntime": a few exact values.
  const m = importOnnx(bytesOf({ opset: 14, inputs: { x: [1, 4] }, nodes: [node("HardSwish", ["x"], ["y"])] }));
  assert.deepEqual(Array.from(runModel(m, { x: { shape: [1, 4], data: Float32Array.of(-4, 3, 1.5, 10) } }).y!.data), [-0, 3, 1.125, 10]);
});

test("PRelu: PyTorch's per-channel [C, 1, 1] slope, a single slope, and a slope that does not broadcast is refused", async () => {
  for (const opset of [11, 13, 17]) {
    await check("prelu per channel", { opset, inputs: { x: [2, 4, 5, 5] }, inits: [w("slope", [4, 1, 1], 0, 0.5)], nodes: [node("PRelu", ["x", "slope"], ["y"])] });
    await check("prelu scalar", { opset, inputs: { x: [2, 4, 3, 3] }, inits: [f32("slope", [0.25], [1])], nodes: [node("PRelu", ["x", "slope"], ["y"])] });
  }
  await check("prelu on [N, F]", { opset: 13, inputs: { x: [3, 6] }, inits: [w("slope", [6], 0, 1)], nodes: [node("PRelu", ["x", "slope"], ["y"])] });
  assert.throws(
    () => importOnnx(bytesOf({ opset: 13, inputs: { x: [2, 4, 5, 5] }, inits: [w("slope", [3, 1, 1])], nodes: [node("PRelu", ["x", "slope"], ["y"], {}, "act1")] })),
    (e: unknown) => e instanceof AxnnError && /node "act1" \(PRelu\): slope \[3,1,1\] does not broadcast to the input \[1,4,5,5\]/.test(e.message),
  );
});

test("GlobalMaxPool on NCHW, with negative planes", async () => {
  for (const opset of [11, 13, 19]) {
    await check("globalmaxpool", { opset, inputs: { x: [2, 5, 6, 7] }, nodes: [node("GlobalMaxPool", ["x"], ["y"])] }, -3, -1);
  }
});

test("Resize: PyTorch's nearest (asymmetric, floor) and bilinear (pytorch_half_pixel, align_corners), by scales and by sizes", async () => {
  const nearestTorch = { mode: { string: "nearest" }, coordinate_transformation_mode: { string: "asymmetric" }, nearest_mode: { string: "floor" } };
  const linear = (coords: string) => ({ mode: { string: "linear" }, coordinate_transformation_mode: { string: coords } });
  for (const opset of [11, 13, 17, 19]) {
    const roi = opset < 13 ? [f32("roi", [], [0])] : [];
    const roiIn = opset < 13 ? "roi" : "";
    await check("nearest x2", { opset, inputs: { x: [2, 3, 4, 5] }, inits: [...roi, f32("scales", [1, 1, 2, 2])], nodes: [node("Resize", ["x", roiIn, "scales"], ["y"], nearestTorch)] });
    await check("bilinear x2", { opset, inputs: { x: [2, 3, 4, 5] }, inits: [...roi, f32("scales", [1, 1, 2, 2])], nodes: [node("Resize", ["x", roiIn, "scales"], ["y"], linear("pytorch_half_pixel"))] });
    await check("bilinear align_corners sizes", {
      opset, inputs: { x: [1, 2, 4, 5] }, inits: [...roi, f32("scales", [], [0]), i64("sizes", [1, 2, 7, 9])],
      nodes: [node("Resize", ["x", roiIn || "roi_unused", "scales", "sizes"].map((s) => (s === "roi_unused" ? "" : s)), ["y"], linear("align_corners"))],
    });
  }
});

test("Resize: tf2onnx's modes (half_pixel, tf_half_pixel_for_nn, round_prefer_ceil), shrinking, non-integer scales, opset 18 axes", async () => {
  const cases: [string, Record<string, AttrValue>, number[]][] = [
    ["linear half_pixel x1.5", { mode: { string: "linear" } }, [1, 1, 1.5, 1.5]],
    ["linear half_pixel shrink", { mode: { string: "linear" }, coordinate_transformation_mode: { string: "half_pixel" } }, [1, 1, 0.5, 0.6]],
    ["nearest half_pixel round_prefer_floor shrink (ties)", { mode: { string: "nearest" } }, [1, 1, 0.5, 0.5]],
    ["nearest half_pixel round_prefer_ceil", { mode: { string: "nearest" }, nearest_mode: { string: "round_prefer_ceil" } }, [1, 1, 0.5, 2]],
    ["nearest tf_half_pixel_for_nn", { mode: { string: "nearest" }, coordinate_transformation_mode: { string: "tf_half_pixel_for_nn" } }, [1, 1, 2, 3]],
    ["nearest align_corners ceil", { mode: { string: "nearest" }, coordinate_transformation_mode: { string: "align_corners" }, nearest_mode: { string: "ceil" } }, [1, 1, 1.7, 2.3]],
    ["linear asymmetric", { mode: { string: "linear" }, coordinate_transformation_mode: { string: "asymmetric" } }, [1, 1, 2.5, 0.75]],
  ];
  for (const [label, attrs, scales] of cases) {
    await check(label, { opset: 13, inputs: { x: [2, 3, 6, 8] }, inits: [f32("scales", scales)], nodes: [node("Resize", ["x", "", "scales"], ["y"], attrs)] });
  }
  await check("opset 18 axes", {
    opset: 18, inputs: { x: [2, 3, 4, 4] }, inits: [f32("scales", [2, 3])],
    nodes: [node("Resize", ["x", "", "scales"], ["y"], { mode: { string: "linear" }, axes: { ints: [2, 3] } })],
  });
});

test("Resize by sizes computed from the input's Shape (PyTorch's F.interpolate(size=...) with a dynamic batch)", async () => {
  await check("interpolate size", {
    opset: 13, inputs: { x: [3, 2, 5, 6] }, inits: [i64("start", [0]), i64("end", [2]), i64("hw", [9, 4])],
    nodes: [
      node("Shape", ["x"], ["shape"]),
      node("Slice", ["shape", "start", "end"], ["nc"]),
      node("Concat", ["nc", "hw"], ["sizes"], { axis: { int: 0 } }),
      node("Resize", ["x", "", "", "sizes"], ["y"], { mode: { string: "linear" }, coordinate_transformation_mode: { string: "pytorch_half_pixel" } }),
    ],
  });
});

test("Resize at opset 10 and Upsample at opsets 7 and 9: asymmetric, floor when growing", async () => {
  await check("resize opset 10", { opset: 10, inputs: { x: [2, 3, 4, 5] }, inits: [f32("scales", [1, 1, 2, 3])], nodes: [node("Resize", ["x", "scales"], ["y"], { mode: { string: "nearest" } })] });
  await check("resize opset 10 linear", { opset: 10, inputs: { x: [2, 3, 4, 5] }, inits: [f32("scales", [1, 1, 2, 1.5])], nodes: [node("Resize", ["x", "scales"], ["y"], { mode: { string: "linear" } })] });
  await check("upsample opset 9", { opset: 9, inputs: { x: [2, 3, 4, 5] }, inits: [f32("scales", [1, 1, 2, 2])], nodes: [node("Upsample", ["x", "scales"], ["y"], { mode: { string: "nearest" } })] });
  await check("upsample opset 7", { opset: 7, inputs: { x: [2, 3, 4, 5] }, nodes: [node("Upsample", ["x"], ["y"], { mode: { string: "nearest" }, scales: { floats: [1, 1, 2, 2] } })] });
});

test("Resize: what axnn does not compute the same way is refused, naming the node", () => {
  const bad = (attrs: Record<string, AttrValue>, scales = [1, 1, 2, 2], opset = 13, extra: TensorProto[] = []): Uint8Array =>
    bytesOf({ opset, inputs: { x: [1, 3, 4, 4] }, inits: [f32("scales", scales), ...extra], nodes: [node("Resize", ["x", "", "scales"], ["y"], attrs, "up1")] });
  const cases: [Uint8Array, RegExp][] = [
    [bad({ mode: { string: "cubic" } }), /mode "cubic" is not supported/],
    [bad({ mode: { string: "linear" }, coordinate_transformation_mode: { string: "tf_crop_and_resize" } }), /coordinate_transformation_mode "tf_crop_and_resize" is not supported/],
    [bad({ mode: { string: "nearest" } }, [1, 2, 2, 2]), /resize the batch or channel axis/],
    [bad({ mode: { string: "linear" }, antialias: { int: 1 } }, [1, 1, 0.5, 0.5], 18), /antialias = 1 is not supported/],
    [bad({ mode: { string: "nearest" } }, [1, 1, 2]), /3 values; only 4-D/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => importOnnx(bytes, "m.onnx"), (e: unknown) => e instanceof AxnnError && /node "up1" \(Resize\)/.test(e.message) && re.test(e.message) && e.file === "m.onnx", String(re));
  }
});

test("training passes through the new ops: each backward pass against central differences", () => {
  const m = importOnnx(bytesOf({
    opset: 14, inputs: { x: [1, 2, 3, 3] }, inits: [w("slope", [2, 1, 1], 0.1, 0.5), f32("scales", [1, 1, 1.5, 2])],
    nodes: [
      node("HardSwish", ["x"], ["a"]), node("Sigmoid", ["a"], ["b"]), node("Tanh", ["x"], ["c"]), node("Add", ["b", "c"], ["d"]),
      node("PRelu", ["d", "slope"], ["e"]), node("LeakyRelu", ["e"], ["e2"], { alpha: { float: 0.3 } }),
      node("HardSigmoid", ["e2"], ["g"], { alpha: { float: 0.4 } }), node("Resize", ["g", "", "scales"], ["r"], { mode: { string: "linear" } }),
      node("Mul", ["r", "r"], ["r2"]), node("GlobalMaxPool", ["r2"], ["y"]),
    ],
  }));
  const ctx = { training: false, bnMomentum: 0.1, dropoutRate: 0, random: Math.random };
  for (const n of m.nodes) {
    const ins = n.inputs.map((i) => m.constants.get(i) ?? randomTensor(n.op === "GlobalMaxPool" ? [1, 2, 4, 6] : n.op === "Resize" ? [1, 2, 3, 3] : [1, 2, 3, 3], seed++, -3.5, 3.5));
    const { out, saved } = forwardNode(n, ins, ctx);
    const dy = randomTensor(out.shape, seed++).data;
    const dx = backwardNode(n, ins, out, saved, dy, ins.map((_t, k) => k === 0)).inputs[0]!;
    const loss = (x: Float32Array): number => {
      const o = forwardNode(n, [{ shape: ins[0]!.shape, data: x }, ...ins.slice(1)], ctx).out.data;
      let s = 0;
      for (let i = 0; i < o.length; i++) s += o[i]! * dy[i]!;
      return s;
    };
    const x0 = Float64Array.from(ins[0]!.data);
    for (let i = 0; i < x0.length; i++) {
      const h = 1e-3, xp = Float32Array.from(x0), xm = Float32Array.from(x0);
      xp[i] += h;
      xm[i] -= h;
      const num = (loss(xp) - loss(xm)) / (xp[i]! - xm[i]!);
      assert.ok(Math.abs(num - dx[i]!) <= 2e-2 * (1 + Math.abs(num)), `${n.op}: d/dx[${i}] numeric ${num}, backward ${dx[i]}`);
    }
  }
});

/**
 * A MobileNetV3-style bottleneck as PyTorch exports it: expand 1x1 conv + HardSwish, depthwise
 * 3x3 + HardSwish, squeeze-excite (GlobalAveragePool, 1x1 conv, ReLU, 1x1 conv, HardSigmoid, Mul),
 * project 1x1, residual Add; then a second branch concatenated (LeakyRelu, Sigmoid gate, a strided
 * conv upsampled back by Resize), GlobalMaxPool, a classifier with PRelu and Tanh, Softmax.
 */
function mobileNetV3Block(): Uint8Array {
  const conv = (x: string, wName: string, y: string, attrs: Record<string, AttrValue> = {}, bias?: string): NodeProto =>
    node("Conv", bias ? [x, wName, bias] : [x, wName], [y], attrs);
  return encodeModel({
    opset: 14,
    inputs: [valueInfo("x", ["N", 8, 8, 8])],
    outputs: [valueInfo("y", null)],
    initializers: [
      w("w_exp", [24, 8, 1, 1], -0.5, 0.5), w("b_exp", [24], -0.1, 0.1),
      w("w_dw", [24, 1, 3, 3], -0.5, 0.5), w("b_dw", [24], -0.1, 0.1),
      w("w_se1", [8, 24, 1, 1], -0.5, 0.5), w("b_se1", [8], -0.1, 0.1),
      w("w_se2", [24, 8, 1, 1], -0.5, 0.5), w("b_se2", [24], -0.1, 0.1),
      w("w_proj", [8, 24, 1, 1], -0.5, 0.5), w("b_proj", [8], -0.1, 0.1),
      w("w_br", [8, 8, 3, 3], -0.3, 0.3), w("w_down", [8, 8, 3, 3], -0.3, 0.3),
      f32("scales", [1, 1, 2, 2]),
      w("w_fc", [16, 24], -0.5, 0.5), w("b_fc", [16], -0.1, 0.1), w("slope", [16], 0.05, 0.3),
      w("w_cls", [10, 16], -0.5, 0.5),
    ],
    nodes: [
      conv("x", "w_exp", "e", {}, "b_exp"), node("HardSwish", ["e"], ["e_act"]),
      conv("e_act", "w_dw", "d", { group: { int: 24 }, pads: { ints: [1, 1, 1, 1] } }, "b_dw"), node("HardSwish", ["d"], ["d_act"]),
      node("GlobalAveragePool", ["d_act"], ["se_pool"]),
      conv("se_pool", "w_se1", "se1", {}, "b_se1"), node("Relu", ["se1"], ["se1_act"]),
      conv("se1_act", "w_se2", "se2", {}, "b_se2"), node("HardSigmoid", ["se2"], ["se_gate"], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } }),
      node("Mul", ["d_act", "se_gate"], ["se_out"]),
      conv("se_out", "w_proj", "p", {}, "b_proj"), node("Add", ["p", "x"], ["block"]),
      conv("block", "w_br", "br", { pads: { ints: [1, 1, 1, 1] } }), node("LeakyRelu", ["br"], ["br_act"], { alpha: { float: 0.1 } }),
      node("Sigmoid", ["br_act"], ["br_gate"]), node("Mul", ["br", "br_gate"], ["br_out"]),
      conv("block", "w_down", "down", { pads: { ints: [1, 1, 1, 1] }, strides: { ints: [2, 2] } }),
      node("Resize", ["down", "", "scales"], ["up"], { mode: { string: "nearest" }, coordinate_transformation_mode: { string: "asymmetric" }, nearest_mode: { string: "floor" } }),
      node("Concat", ["block", "br_out", "up"], ["cat"], { axis: { int: 1 } }),
      node("GlobalMaxPool", ["cat"], ["gmp"]), node("Flatten", ["gmp"], ["flat"]),
      node("Gemm", ["flat", "w_fc", "b_fc"], ["fc"], { transB: { int: 1 } }), node("PRelu", ["fc", "slope"], ["fc_act"]), node("Tanh", ["fc_act"], ["fc_t"]),
      node("Gemm", ["fc_t", "w_cls"], ["logits"], { transB: { int: 1 } }), node("Softmax", ["logits"], ["y"], { axis: { int: 1 } }),
    ],
  });
}

test("a MobileNetV3-style block loads and matches onnxruntime; quantized, approximate and compiled-plan inference run it", async () => {
  const bytes = mobileNetV3Block();
  const rng = new Rng(5);
  const x = rng.uniformTensor([4, 8, 8, 8], -1, 1);
  const model = await differential(bytes, { x }, "mobilenetv3 block");
  const ops = new Set(model.nodes.map((n) => n.op));
  for (const op of ["HardSwish", "HardSigmoid", "Mul", "Concat", "Resize", "GlobalMaxPool", "PRelu", "Tanh", "Sigmoid", "LeakyRelu", "Softmax", "DepthwiseConv2D"]) assert.ok(ops.has(op as never), `imported graph has ${op}`);
  const ref = (await ortRun(bytes, { x })).y!;

  const q = quantizeModel(model, [{ x: rng.uniformTensor([8, 8, 8, 8], -1, 1) }], { scheme: "sym", perChannel: true, calibration: { method: "minmax" } });
  assert.equal(q.layerNames().length, 9, "7 convolutions and 2 dense layers are approximable");
  const drum = generateByName("drum_k4_s8x8").multiplier;
  const runs: [string, LayerArithmetic, number][] = [["float", FLOAT, 1e-6], ["exact int8", EXACT_INT8, 0.05], ["DRUM k=4", { kind: "lut", multiplier: drum }, 0.1]];
  for (const [label, arith, tol] of runs) {
    const y = q.run({ x }, arith).y!;
    assert.deepEqual(y.shape, [4, 10]);
    // Probabilities: each row sums to 1 and stays near onnxruntime's float result.
    let worst = 0;
    for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let c = 0; c < 10; c++) {
        s += y.data[r * 10 + c]!;
        worst = Math.max(worst, Math.abs(y.data[r * 10 + c]! - ref.data[r * 10 + c]!));
      }
      assert.ok(Math.abs(s - 1) < 1e-5, `${label}: row ${r} sums to ${s}`);
    }
    assert.ok(worst <= tol, `${label}: largest probability difference to onnxruntime ${worst} > ${tol}`);
    if (label === "float") assertClose(y, ref, "quantized model in float", 1e-4);
  }
  // The integer runs really are integer: they differ from float.
  assert.notDeepEqual(Array.from(q.run({ x }, EXACT_INT8).y!.data), Array.from(q.run({ x }, FLOAT).y!.data));

  // Compiled plans: bit for bit the reference engine's outputs.
  for (const [label, arith] of [["exact int8", EXACT_INT8], ["DRUM k=4", { kind: "lut", multiplier: drum }]] as [string, LayerArithmetic][]) {
    const plan = compilePlan(q, arith, { x: x.shape });
    const got = plan.run({ x }).y!;
    const want = q.run({ x }, arith).y!;
    assert.deepEqual(Array.from(got.data), Array.from(want.data), `plan, ${label}`);
  }
  const floatPlan = compilePlan(model, FLOAT, { x: x.shape }).run({ x }).y!;
  assertClose(floatPlan, ref, "float plan", 1e-4);
});
