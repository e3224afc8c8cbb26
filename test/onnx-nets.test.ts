// Differential tests of whole networks against onnxruntime-node: a ResNet-style net as PyTorch exports it,
// a MobileNetV2-style net as tf2onnx exports a Keras model (NHWC input), an MLP with Gemm; BatchNorm folding;
// networks built with ModelBuilder and exported.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeModel, floatTensorProto, int64TensorProto, nodeProto, valueInfo, type AttrValue, type NodeProto, type TensorProto } from "../src/onnx/proto.js";
import { importOnnx } from "../src/onnx/import.js";
import { exportOnnx } from "../src/onnx/export.js";
import { foldBatchNorm } from "../src/nn/passes.js";
import { runModel } from "../src/nn/run.js";
import { ModelBuilder } from "../src/nn/builder.js";
import { approximableLayers, macsPerLayer } from "../src/nn/analysis.js";
import { Rng, type Tensor } from "../src/nn/tensor.js";
import { assertClose, differential, ortRun, randomTensor } from "./onnx-testkit.js";

class ProtoNet {
  nodes: NodeProto[] = [];
  inits: TensorProto[] = [];
  private seed = 7;

  weight(name: string, shape: number[], lo: number, hi: number): string {
    this.inits.push(floatTensorProto(name, randomTensor(shape, this.seed++, lo, hi)));
    return name;
  }

  node(op: string, name: string, ins: string[], attrs: Record<string, AttrValue> = {}): string {
    const out = `${name}_output_0`;
    this.nodes.push(nodeProto(op, ins, [out], name, attrs));
    return out;
  }

  /** PyTorch Conv2d(bias=False) + BatchNorm2d as exported with training=False and no constant folding of BN. */
  convBn(prefix: string, x: string, cin: number, cout: number, k: number, stride: number, groups = 1): string {
    const fanIn = (cin / groups) * k * k;
    const bound = Math.sqrt(3 / fanIn);
    const w = this.weight(`${prefix}.weight`, [cout, cin / groups, k, k], -bound, bound);
    const c = this.node("Conv", `${prefix}/Conv`, [x, w], {
      kernel_shape: { ints: [k, k] }, strides: { ints: [stride, stride] }, pads: { ints: Array(4).fill((k - 1) >> 1) }, dilations: { ints: [1, 1] }, group: { int: groups },
    });
    const bn = [
      this.weight(`${prefix}.bn.weight`, [cout], 0.5, 1.5), this.weight(`${prefix}.bn.bias`, [cout], -0.2, 0.2),
      this.weight(`${prefix}.bn.running_mean`, [cout], -0.2, 0.2), this.weight(`${prefix}.bn.running_var`, [cout], 0.5, 1.5),
    ];
    return this.node("BatchNormalization", `${prefix}/BatchNormalization`, [c, ...bn], { epsilon: { float: 1e-5 }, momentum: { float: 0.9 } });
  }

  bytes(opset: number, input: [string, (number | string)[]], output: string): Uint8Array {
    this.nodes.push(nodeProto("Identity", [output], ["output"], "output/Identity"));
    return encodeModel({ opset, inputs: [valueInfo(input[0], input[1])], outputs: [valueInfo("output", null)], nodes: this.nodes, initializers: this.inits, producerName: "pytorch" });
  }
}

function resnetProto(opset: number): Uint8Array {
  const g = new ProtoNet();
  g.inits.push(floatTensorProto("mean", { shape: [1, 3, 1, 1], data: Float32Array.of(0.485, 0.456, 0.406) }));
  g.inits.push(floatTensorProto("std", { shape: [1, 3, 1, 1], data: Float32Array.of(0.229, 0.224, 0.225) }));
  let x = g.node("Sub", "/Sub", ["input", "mean"]);
  x = g.node("Div", "/Div", [x, "std"]);
  x = g.node("Relu", "/relu/Relu", [g.convBn("conv1", x, 3, 8, 3, 1)]);
  x = g.node("MaxPool", "/maxpool/MaxPool", [x], { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } });
  // BasicBlock with an identity shortcut.
  let h = g.node("Relu", "/layer1.0/relu/Relu", [g.convBn("layer1.0.conv1", x, 8, 8, 3, 1)]);
  h = g.convBn("layer1.0.conv2", h, 8, 8, 3, 1);
  x = g.node("Relu", "/layer1.0/relu_1/Relu", [g.node("Add", "/layer1.0/Add", [h, x])]);
  // BasicBlock with a strided 1x1 projection shortcut.
  h = g.node("Relu", "/layer2.0/relu/Relu", [g.convBn("layer2.0.conv1", x, 8, 16, 3, 2)]);
  h = g.convBn("layer2.0.conv2", h, 16, 16, 3, 1);
  const sc = g.convBn("layer2.0.downsample", x, 8, 16, 1, 2);
  x = g.node("Relu", "/layer2.0/relu_1/Relu", [g.node("Add", "/layer2.0/Add", [h, sc])]);
  x = g.node("GlobalAveragePool", "/avgpool/GlobalAveragePool", [x]);
  x = g.node("Flatten", "/Flatten", [x], { axis: { int: 1 } });
  const fc = [g.weight("fc.weight", [10, 16], -0.25, 0.25), g.weight("fc.bias", [10], -0.1, 0.1)];
  x = g.node("Gemm", "/fc/Gemm", [x, ...fc], { alpha: { float: 1 }, beta: { float: 1 }, transB: { int: 1 } });
  return g.bytes(opset, ["input", ["batch_size", 3, 16, 16]], x);
}

function mobilenetProto(opset: number): Uint8Array {
  const g = new ProtoNet();
  const clip6 = (name: string, x: string): string => g.node("Clip", name, [x, "relu6_min", "relu6_max"]);
  g.inits.push(floatTensorProto("relu6_min", { shape: [], data: Float32Array.of(0) }), floatTensorProto("relu6_max", { shape: [], data: Float32Array.of(6) }));
  const conv = (name: string, x: string, cin: number, cout: number, k: number, stride: number, groups: number, attrs: Record<string, AttrValue>): string => {
    const bound = Math.sqrt(3 / ((cin / groups) * k * k));
    return g.node("Conv", name, [x, g.weight(`${name}/weights`, [cout, cin / groups, k, k], -bound, bound), g.weight(`${name}/bias`, [cout], -0.1, 0.1)], {
      strides: { ints: [stride, stride] }, group: { int: groups }, kernel_shape: { ints: [k, k] }, dilations: { ints: [1, 1] }, ...attrs,
    });
  };
  // Keras normalises uint8-range pixels: x / 127.5 - 1.
  g.inits.push(floatTensorProto("scale", { shape: [], data: Float32Array.of(1 / 127.5) }), floatTensorProto("one", { shape: [], data: Float32Array.of(1) }));
  let x = g.node("Mul", "rescaling/mul", ["input_1", "scale"]);
  x = g.node("Sub", "rescaling/sub", [x, "one"]);
  x = g.node("Transpose", "Conv1__6", [x], { perm: { ints: [0, 3, 1, 2] } });
  x = clip6("Conv1_relu/Relu6", conv("Conv1", x, 3, 8, 3, 2, 1, { auto_pad: { string: "SAME_UPPER" } }));
  // Inverted residual: expand 1x1, depthwise 3x3, project 1x1 (linear), residual add.
  let h = clip6("block_1_expand_relu/Relu6", conv("block_1_expand", x, 8, 24, 1, 1, 1, { pads: { ints: [0, 0, 0, 0] } }));
  h = clip6("block_1_depthwise_relu/Relu6", conv("block_1_depthwise", h, 24, 24, 3, 1, 24, { pads: { ints: [1, 1, 1, 1] } }));
  h = conv("block_1_project", h, 24, 8, 1, 1, 1, {});
  x = g.node("Add", "block_1_add/add", [x, h]);
  // A strided depthwise branch concatenated with a pooled branch.
  const a = clip6("block_2_dw_relu/Relu6", conv("block_2_depthwise", x, 8, 16, 3, 2, 8, { pads: { ints: [0, 0, 1, 1] } }));
  const b = g.node("AveragePool", "block_2_pool", [x], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } });
  x = g.node("Concat", "block_2_concat/concat", [a, b], { axis: { int: 1 } });
  if (opset < 18) x = g.node("ReduceMean", "global_average_pooling2d/Mean", [x], { axes: { ints: [2, 3] }, keepdims: { int: 0 } });
  else {
    g.inits.push(int64TensorProto("mean_axes", [2], [2, 3]));
    x = g.node("ReduceMean", "global_average_pooling2d/Mean", [x, "mean_axes"], { keepdims: { int: 0 } });
  }
  x = g.node("MatMul", "predictions/MatMul", [x, g.weight("predictions/kernel", [24, 5], -0.3, 0.3)]);
  x = g.node("Add", "predictions/BiasAdd", [x, g.weight("predictions/bias", [5], -0.1, 0.1)]);
  x = g.node("Softmax", "predictions/Softmax", [x], { axis: { int: opset < 13 ? 1 : -1 } });
  return g.bytes(opset, ["input_1", ["unk__0", 12, 12, 3]], x);
}

function mlpProto(opset: number): Uint8Array {
  const g = new ProtoNet();
  let x = g.node("Flatten", "/Flatten", ["x"], { axis: { int: 1 } });
  x = g.node("Gemm", "/fc1/Gemm", [x, g.weight("fc1.weight", [32, 64], -0.2, 0.2), g.weight("fc1.bias", [32], -0.1, 0.1)], { transB: { int: 1 } });
  x = g.node("Relu", "/Relu", [x]);
  x = g.node("Dropout", "/dropout/Dropout", [x], opset < 12 ? { ratio: { float: 0.5 } } : {});
  x = g.node("Gemm", "/fc2/Gemm", [x, g.weight("fc2.weight", [10, 32], -0.3, 0.3), g.weight("fc2.bias", [10], -0.1, 0.1)], { transB: { int: 1 } });
  x = g.node("Softmax", "/Softmax", [x], { axis: { int: 1 } });
  return g.bytes(opset, ["x", ["N", 1, 8, 8]], x);
}

test("ResNet-style net (PyTorch export: normalisation, Conv+BN, MaxPool, residual Add, projection shortcut, Gemm)", async () => {
  for (const opset of [11, 13, 17]) {
    const bytes = resnetProto(opset);
    const x = randomTensor([3, 3, 16, 16], opset, 0, 1);
    const model = await differential(bytes, { input: x }, `resnet opset ${opset}`);
    assert.equal(model.nodes.filter((n) => n.op === "Conv2D").length, 6);
    assert.equal(model.nodes.filter((n) => n.op === "Add").length, 2);
  }
  // MACs per sample by hand: 16x16 after the stem conv, 8x8 after the max pool, 4x4 after the strided block.
  assert.deepEqual(approximableLayers(importOnnx(resnetProto(13))), [
    { name: "conv1/Conv", kind: "Conv2D", macs: 16 * 16 * 8 * 3 * 9 },
    { name: "layer1.0.conv1/Conv", kind: "Conv2D", macs: 8 * 8 * 8 * 8 * 9 },
    { name: "layer1.0.conv2/Conv", kind: "Conv2D", macs: 8 * 8 * 8 * 8 * 9 },
    { name: "layer2.0.conv1/Conv", kind: "Conv2D", macs: 4 * 4 * 16 * 8 * 9 },
    { name: "layer2.0.conv2/Conv", kind: "Conv2D", macs: 4 * 4 * 16 * 16 * 9 },
    { name: "layer2.0.downsample/Conv", kind: "Conv2D", macs: 4 * 4 * 16 * 8 },
    { name: "/fc/Gemm", kind: "Dense", macs: 16 * 10 },
  ]);
});

test("foldBatchNorm: the ResNet-style net without BatchNorm nodes gives onnxruntime's outputs, also re-exported", async () => {
  const bytes = resnetProto(13);
  const model = importOnnx(bytes);
  const folded = foldBatchNorm(model);
  assert.equal(model.nodes.filter((n) => n.op === "BatchNorm").length, 6);
  assert.equal(folded.nodes.filter((n) => n.op === "BatchNorm").length, 0);
  assert.equal(folded.nodes.length, model.nodes.length - 6);
  const feeds = { input: randomTensor([2, 3, 16, 16], 5, 0, 1) };
  const ref = await ortRun(bytes, feeds);
  assertClose(runModel(folded, feeds).output!, ref.output!, "folded");
  assertClose((await ortRun(exportOnnx(folded), feeds)).output!, ref.output!, "folded, exported");
  // The input model is left as it was.
  assertClose(runModel(model, feeds).output!, ref.output!, "unfolded after folding");
});

test("MobileNetV2-style net (tf2onnx export: NHWC Transpose, ReLU6 as Clip, depthwise, residual, Concat, ReduceMean, MatMul+Add, Softmax)", async () => {
  for (const opset of [11, 13, 15, 19]) {
    const x = randomTensor([2, 12, 12, 3], opset, 0, 255);
    const model = await differential(mobilenetProto(opset), { input_1: x }, `mobilenet opset ${opset}`);
    assert.equal(model.nodes.filter((n) => n.op === "DepthwiseConv2D").length, 2);
    assert.equal(model.nodes.filter((n) => n.op === "Relu6").length, 4);
    assert.equal(model.nodes.filter((n) => n.op === "Dense" && n.bias !== null).length, 1);
  }
});

test("MLP with Gemm, Dropout and Softmax", async () => {
  for (const opset of [11, 13, 19]) {
    const model = await differential(mlpProto(opset), { x: randomTensor([4, 1, 8, 8], opset) }, `mlp opset ${opset}`);
    assert.deepEqual(model.nodes.map((n) => n.op), ["Flatten", "Dense", "Relu", "Dense", "Softmax"]);
  }
});

test("ModelBuilder nets exported to ONNX: onnxruntime agrees with runModel (residual, depthwise, pools, concat)", async () => {
  const rng = new Rng(3);
  const bnParams = (c: number) => ({
    scale: rng.uniformTensor([c], 0.5, 1.5), bias: rng.uniformTensor([c], -0.1, 0.1),
    mean: rng.uniformTensor([c], -0.1, 0.1), variance: rng.uniformTensor([c], 0.5, 1.5),
  });
  const b = new ModelBuilder("built", { seed: 9 });
  const x = b.input("x", [null, 3, 15, 15]);
  let h = b.relu(b.batchNorm(b.conv2d(x, { outChannels: 8, kernel: 3, stride: 2, padding: 1, bias: false }), bnParams(8)));
  const r = b.relu6(b.batchNorm(b.depthwiseConv2d(h, { kernel: 3, padding: "same" }), bnParams(8)));
  h = b.add(h, b.conv2d(r, { outChannels: 8, kernel: 1 }));
  const p1 = b.maxPool(h, { kernel: 3, stride: 2, padding: 1 });
  const p2 = b.avgPool(h, { kernel: 3, stride: 2, padding: 1, countIncludePad: false });
  h = b.concat([p1, p2, b.depthwiseConv2d(h, { kernel: 3, stride: 2, padding: 1, multiplier: 2 })]);
  h = b.dropout(b.flatten(b.globalAvgPool(h)));
  b.output(b.softmax(b.dense(h, { outFeatures: 7 })));
  const model = b.build();
  const feeds = { x: randomTensor([2, 3, 15, 15], 11) };
  const ours = runModel(model, feeds);
  const ref = await ortRun(exportOnnx(model), feeds);
  for (const k of Object.keys(ref)) assertClose(ours[k]!, ref[k]!, `built ${k}`);
  const folded = foldBatchNorm(model);
  assert.equal(folded.nodes.filter((n) => n.op === "BatchNorm").length, 0);
  for (const k of Object.keys(ref)) assertClose(runModel(folded, feeds)[k]!, ref[k]!, `built folded ${k}`);
  // Import of our own export gives back the same approximable layers.
  const back = importOnnx(exportOnnx(model));
  assert.deepEqual(macsPerLayer(back), macsPerLayer(model));
});

test("a Dense on a rank-3 input exports as MatMul + Add and comes back as one Dense", async () => {
  const b = new ModelBuilder("seq");
  const x = b.input("x", [null, 4, 6]);
  b.output(b.dense(x, { outFeatures: 3, biasValues: new Rng(1).uniformTensor([3]) }));
  const model = b.build();
  const feeds: Record<string, Tensor> = { x: randomTensor([2, 4, 6], 4) };
  const bytes = exportOnnx(model);
  assertClose(runModel(model, feeds)[model.outputs[0]!]!, (await ortRun(bytes, feeds))[model.outputs[0]!]!, "rank-3 dense");
  assert.deepEqual(importOnnx(bytes).nodes.map((n) => n.op), ["Dense"]);
});
