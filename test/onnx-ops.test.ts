// Differential tests, one ONNX op (or exporter idiom) at a time: onnxruntime-node is the reference.
// Models are emitted the way PyTorch and tf2onnx write them; `differential` also re-exports ours and re-checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeModel, floatTensorProto, int64TensorProto, nodeProto, valueInfo, type AttrValue, type NodeProto, type TensorProto } from "../src/onnx/proto.js";
import { differential, randomTensor } from "./onnx-testkit.js";
import type { Tensor } from "../src/nn/tensor.js";

interface Case {
  opset: number;
  inputs: Record<string, number[]>;
  nodes: NodeProto[];
  inits?: TensorProto[];
  outputs?: string[];
}

let seed = 100;
const w = (name: string, shape: number[], lo = -1, hi = 1): TensorProto => floatTensorProto(name, randomTensor(shape, seed++, lo, hi));
const i64 = (name: string, values: number[], dims = [values.length]): TensorProto => int64TensorProto(name, dims, values);
const f = (name: string, values: number[], dims = [values.length]): TensorProto => floatTensorProto(name, { shape: dims, data: Float32Array.from(values) });
const node = (op: string, ins: string[], outs: string[], attrs: Record<string, AttrValue> = {}, name = `${op.toLowerCase()}_${outs[0]}`): NodeProto =>
  nodeProto(op, ins, outs, name, attrs);

/** Builds the model, feeds random inputs (batch from the given shapes), compares with onnxruntime. */
async function check(label: string, c: Case): Promise<void> {
  const bytes = encodeModel({
    opset: c.opset,
    inputs: Object.entries(c.inputs).map(([k, s]) => valueInfo(k, s.map((d, i) => (i === 0 ? "N" : d)))),
    outputs: (c.outputs ?? ["y"]).map((o) => valueInfo(o, null)),
    nodes: c.nodes,
    initializers: c.inits ?? [],
  });
  const feeds: Record<string, Tensor> = {};
  for (const [k, s] of Object.entries(c.inputs)) feeds[k] = randomTensor(s, seed++, -2, 2);
  await differential(bytes, feeds, `${label} (opset ${c.opset})`);
}

const OPSETS = [11, 13, 17, 19];

test("Conv: 3x3, pads 1, bias (PyTorch nn.Conv2d)", async () => {
  for (const opset of OPSETS) {
    await check("conv3x3", {
      opset, inputs: { x: [2, 3, 9, 9] }, inits: [w("W", [4, 3, 3, 3]), w("B", [4])],
      nodes: [node("Conv", ["x", "W", "B"], ["y"], { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] }, strides: { ints: [1, 1] }, dilations: { ints: [1, 1] }, group: { int: 1 } })],
    });
  }
});

test("Conv: stride 2, dilation 2, asymmetric pads, no bias, rectangular kernel", async () => {
  await check("conv-strided", {
    opset: 13, inputs: { x: [2, 3, 11, 10] }, inits: [w("W", [5, 3, 2, 3])],
    nodes: [node("Conv", ["x", "W"], ["y"], { strides: { ints: [2, 3] }, dilations: { ints: [2, 1] }, pads: { ints: [0, 1, 2, 1] } })],
  });
});

test("Conv: groups = 2 and a 1x1 kernel", async () => {
  await check("conv-groups", {
    opset: 13, inputs: { x: [1, 4, 7, 7] }, inits: [w("W", [6, 2, 3, 3]), w("B", [6])],
    nodes: [node("Conv", ["x", "W", "B"], ["y"], { group: { int: 2 }, pads: { ints: [1, 1, 1, 1] } })],
  });
  await check("conv-1x1", {
    opset: 13, inputs: { x: [3, 8, 5, 5] }, inits: [w("W", [4, 8, 1, 1])],
    nodes: [node("Conv", ["x", "W"], ["y"])],
  });
});

test("Conv: depthwise (group = channels, multiplier 1 and 2) becomes DepthwiseConv2D", async () => {
  for (const mult of [1, 2]) {
    const bytesCase: Case = {
      opset: 13, inputs: { x: [2, 4, 8, 8] }, inits: [w("W", [4 * mult, 1, 3, 3]), w("B", [4 * mult])],
      nodes: [node("Conv", ["x", "W", "B"], ["y"], { group: { int: 4 }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } })],
    };
    await check(`depthwise x${mult}`, bytesCase);
  }
  const { importOnnx } = await import("../src/onnx/import.js");
  const m = importOnnx(encodeModel({
    opset: 13, inputs: [valueInfo("x", ["N", 4, 8, 8])], outputs: [valueInfo("y", null)],
    nodes: [node("Conv", ["x", "W"], ["y"], { group: { int: 4 } })], initializers: [w("W", [4, 1, 3, 3])],
  }));
  assert.equal(m.nodes[0]!.op, "DepthwiseConv2D");
});

test("Conv and pools: auto_pad SAME_UPPER, SAME_LOWER, VALID (tf2onnx 'same'/'valid')", async () => {
  for (const autoPad of ["SAME_UPPER", "SAME_LOWER", "VALID"]) {
    await check(`conv ${autoPad}`, {
      opset: 13, inputs: { x: [1, 2, 8, 7] }, inits: [w("W", [3, 2, 4, 3])],
      nodes: [node("Conv", ["x", "W"], ["y"], { auto_pad: { string: autoPad }, strides: { ints: [2, 2] } })],
    });
    await check(`maxpool ${autoPad}`, {
      opset: 13, inputs: { x: [1, 2, 8, 7] },
      nodes: [node("MaxPool", ["x"], ["y"], { auto_pad: { string: autoPad }, kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] } })],
    });
  }
});

test("Gemm: transB = 1 with bias (PyTorch nn.Linear), transB = 0 with alpha/beta and a [1, N] bias, scalar C", async () => {
  await check("gemm-transB", {
    opset: 13, inputs: { x: [3, 10] }, inits: [w("W", [6, 10]), w("B", [6])],
    nodes: [node("Gemm", ["x", "W", "B"], ["y"], { alpha: { float: 1 }, beta: { float: 1 }, transB: { int: 1 } })],
  });
  await check("gemm-alpha-beta", {
    opset: 11, inputs: { x: [2, 5] }, inits: [w("W", [5, 4]), w("C", [1, 4])],
    nodes: [node("Gemm", ["x", "W", "C"], ["y"], { alpha: { float: 0.5 }, beta: { float: 2 } })],
  });
  await check("gemm-scalar-c", {
    opset: 13, inputs: { x: [2, 5] }, inits: [w("W", [3, 5]), f("C", [0.25], [])],
    nodes: [node("Gemm", ["x", "W", "C"], ["y"], { transB: { int: 1 } })],
  });
});

test("MatMul + Add (tf2onnx Dense) fuses into one Dense; MatMul on a rank-3 input", async () => {
  const m = await (async () => {
    const c: Case = {
      opset: 13, inputs: { x: [4, 7] }, inits: [w("W", [7, 3]), w("B", [3])],
      nodes: [node("MatMul", ["x", "W"], ["h"]), node("Add", ["h", "B"], ["y"])],
    };
    await check("matmul-add", c);
    const { importOnnx } = await import("../src/onnx/import.js");
    return importOnnx(encodeModel({ opset: 13, inputs: [valueInfo("x", ["N", 7])], outputs: [valueInfo("y", null)], nodes: c.nodes, initializers: c.inits }));
  })();
  assert.deepEqual(m.nodes.map((n) => n.op), ["Dense"]);
  await check("matmul-rank3", {
    opset: 13, inputs: { x: [2, 3, 5] }, inits: [w("W", [5, 4])],
    nodes: [node("MatMul", ["x", "W"], ["y"])],
  });
});

test("BatchNormalization on NCHW and on [N, C]", async () => {
  for (const opset of [11, 15]) {
    await check("bn-4d", {
      opset, inputs: { x: [2, 3, 4, 5] },
      inits: [w("s", [3]), w("b", [3]), w("m", [3]), w("v", [3], 0.5, 2)],
      nodes: [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], { epsilon: { float: 1e-3 } })],
    });
  }
  await check("bn-2d", {
    opset: 13, inputs: { x: [4, 6] },
    inits: [w("s", [6]), w("b", [6]), w("m", [6]), w("v", [6], 0.5, 2)],
    nodes: [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
  });
});

test("Relu, Clip(0, 6) as ReLU6 with min/max inputs, a general Clip, Clip with min only, Clip with attributes (opset 10)", async () => {
  for (const opset of OPSETS) {
    await check("relu", { opset, inputs: { x: [2, 3, 4, 4] }, nodes: [node("Relu", ["x"], ["y"])] });
    await check("relu6", { opset, inputs: { x: [2, 3, 4, 4] }, inits: [f("lo", [0], []), f("hi", [6], [])], nodes: [node("Clip", ["x", "lo", "hi"], ["y"])] });
  }
  await check("relu6-large", { opset: 13, inputs: { x: [1, 2, 3, 3] }, nodes: [node("Mul", ["x", "k"], ["h"]), node("Clip", ["h", "lo", "hi"], ["y"])], inits: [f("k", [5], []), f("lo", [0], []), f("hi", [6], [])] });
  await check("clip-general", { opset: 13, inputs: { x: [2, 5] }, inits: [f("lo", [-0.5], []), f("hi", [0.75], [])], nodes: [node("Clip", ["x", "lo", "hi"], ["y"])] });
  await check("clip-min-only", { opset: 13, inputs: { x: [2, 5] }, inits: [f("lo", [0], [])], nodes: [node("Clip", ["x", "lo"], ["y"])] });
  await check("clip-max-only", { opset: 13, inputs: { x: [2, 5] }, inits: [f("hi", [0.5], [])], nodes: [node("Clip", ["x", "", "hi"], ["y"])] });
  await check("clip-attrs", { opset: 10, inputs: { x: [2, 5] }, nodes: [node("Clip", ["x"], ["y"], { min: { float: 0 }, max: { float: 6 } })] });
});

test("MaxPool: 3x3/2 pads 1 (ResNet stem), ceil_mode, dilations, 2x2/2", async () => {
  for (const opset of [11, 13, 19]) {
    await check("maxpool-stem", { opset, inputs: { x: [2, 3, 9, 9] }, nodes: [node("MaxPool", ["x"], ["y"], { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } })] });
  }
  await check("maxpool-ceil", { opset: 13, inputs: { x: [1, 2, 8, 9] }, nodes: [node("MaxPool", ["x"], ["y"], { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, ceil_mode: { int: 1 } })] });
  await check("maxpool-ceil-pad", { opset: 13, inputs: { x: [1, 2, 5, 5] }, nodes: [node("MaxPool", ["x"], ["y"], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] }, ceil_mode: { int: 1 } })] });
  await check("maxpool-dilated", { opset: 13, inputs: { x: [1, 2, 9, 9] }, nodes: [node("MaxPool", ["x"], ["y"], { kernel_shape: { ints: [2, 2] }, dilations: { ints: [2, 2] } })] });
  await check("maxpool-2x2", { opset: 13, inputs: { x: [3, 4, 8, 8] }, nodes: [node("MaxPool", ["x"], ["y"], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } })] });
});

test("AveragePool: padding with count_include_pad 0 and 1, ceil_mode", async () => {
  for (const cip of [0, 1]) {
    for (const opset of [11, 19]) {
      await check(`avgpool cip=${cip}`, { opset, inputs: { x: [2, 3, 7, 7] }, nodes: [node("AveragePool", ["x"], ["y"], { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] }, count_include_pad: { int: cip } })] });
    }
    await check(`avgpool ceil cip=${cip}`, { opset: 13, inputs: { x: [1, 2, 8, 8] }, nodes: [node("AveragePool", ["x"], ["y"], { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [0, 0, 1, 1] }, ceil_mode: { int: 1 }, count_include_pad: { int: cip } })] });
  }
});

test("GlobalAveragePool, and ReduceMean over H, W (tf2onnx GlobalAveragePooling2D) with axes as attribute and as input", async () => {
  await check("gap", { opset: 13, inputs: { x: [2, 5, 4, 3] }, nodes: [node("GlobalAveragePool", ["x"], ["y"])] });
  await check("reducemean-attr", { opset: 13, inputs: { x: [2, 5, 4, 3] }, nodes: [node("ReduceMean", ["x"], ["y"], { axes: { ints: [2, 3] }, keepdims: { int: 0 } })] });
  await check("reducemean-nhwc", { opset: 11, inputs: { x: [2, 4, 3, 5] }, nodes: [node("ReduceMean", ["x"], ["y"], { axes: { ints: [1, 2] } })] });
  await check("reducemean-input", { opset: 18, inputs: { x: [2, 5, 4, 3] }, inits: [i64("axes", [-1, 2])], nodes: [node("ReduceMean", ["x", "axes"], ["y"], { keepdims: { int: 1 } })] });
  await check("reducemean-all", { opset: 13, inputs: { x: [2, 5, 4, 3] }, nodes: [node("ReduceMean", ["x"], ["y"], { keepdims: { int: 0 } })] });
});

test("normalisation prologue: Sub mean, Div std, Mul scale by constants (per-channel and scalar)", async () => {
  for (const opset of OPSETS) {
    await check("normalise", {
      opset, inputs: { x: [2, 3, 4, 4] },
      inits: [f("mean", [0.485, 0.456, 0.406], [1, 3, 1, 1]), f("std", [0.229, 0.224, 0.225], [1, 3, 1, 1]), f("k", [255], [])],
      nodes: [node("Mul", ["x", "k"], ["a"]), node("Sub", ["a", "mean"], ["b"]), node("Div", ["b", "std"], ["y"])],
    });
  }
  await check("constant-left", {
    opset: 13, inputs: { x: [2, 3] }, inits: [f("c", [1, 2, 3], [3])],
    nodes: [node("Sub", ["c", "x"], ["a"]), node("Div", ["c", "a"], ["y"])],
  });
});

test("Add, Sub, Mul, Div of two computed tensors, with broadcasting", async () => {
  for (const op of ["Add", "Sub", "Mul", "Div"]) {
    await check(`${op} same shape`, { opset: 13, inputs: { a: [2, 3, 4, 4], b: [2, 3, 4, 4] }, nodes: [node(op, ["a", "b"], ["y"])] });
  }
  await check("add broadcast", { opset: 13, inputs: { a: [2, 3, 4, 4], b: [2, 3, 1, 4] }, nodes: [node("Add", ["a", "b"], ["y"])] });
  await check("mul broadcast", { opset: 13, inputs: { a: [2, 3, 4, 4], b: [2, 3, 1, 1] }, nodes: [node("Mul", ["a", "b"], ["y"])] });
});

test("Concat along channels and along the last axis", async () => {
  await check("concat-c", { opset: 13, inputs: { a: [2, 3, 4, 4], b: [2, 5, 4, 4] }, nodes: [node("Concat", ["a", "b", "a"], ["y"], { axis: { int: 1 } })] });
  await check("concat-last", { opset: 11, inputs: { a: [2, 3, 4, 2], b: [2, 3, 4, 3] }, nodes: [node("Concat", ["a", "b"], ["y"], { axis: { int: -1 } })] });
});

test("Flatten (axis 1 and 2), Reshape with 0 and -1 (initializer and Constant node)", async () => {
  await check("flatten1", { opset: 13, inputs: { x: [2, 3, 4, 5] }, nodes: [node("Flatten", ["x"], ["y"], { axis: { int: 1 } })] });
  await check("flatten2", { opset: 11, inputs: { x: [2, 3, 4, 5] }, nodes: [node("Flatten", ["x"], ["y"], { axis: { int: 2 } })] });
  await check("reshape", { opset: 13, inputs: { x: [2, 3, 4, 5] }, inits: [i64("s", [0, -1, 5])], nodes: [node("Reshape", ["x", "s"], ["y"])] });
  await check("reshape-constant-node", {
    opset: 13, inputs: { x: [2, 3, 4, 5] },
    nodes: [node("Constant", [], ["s"], { value: { tensor: int64TensorProto("", [2], [-1, 60]) } }), node("Reshape", ["x", "s"], ["y"])],
  });
});

test("Transpose: tf2onnx NHWC -> NCHW around a Conv, and a general permutation", async () => {
  await check("nhwc-conv", {
    opset: 13, inputs: { x: [2, 6, 5, 3] }, inits: [w("W", [4, 3, 3, 3]), w("B", [4])],
    nodes: [
      node("Transpose", ["x"], ["xt"], { perm: { ints: [0, 3, 1, 2] } }),
      node("Conv", ["xt", "W", "B"], ["c"], { pads: { ints: [1, 1, 1, 1] } }),
      node("Transpose", ["c"], ["y"], { perm: { ints: [0, 2, 3, 1] } }),
    ],
  });
  await check("transpose-general", { opset: 13, inputs: { x: [2, 3, 4, 5] }, nodes: [node("Transpose", ["x"], ["y"], { perm: { ints: [2, 0, 3, 1] } })] });
});

test("Softmax: opset 11 (coerced to 2-D) and opset 13 semantics on 4-D inputs, last axis on 2-D", async () => {
  for (const opset of [11, 13]) {
    await check("softmax-4d-axis1", { opset, inputs: { x: [2, 3, 2, 2] }, nodes: [node("Softmax", ["x"], ["y"], { axis: { int: 1 } })] });
    await check("softmax-2d", { opset, inputs: { x: [3, 10] }, nodes: [node("Softmax", ["x"], ["y"], { axis: { int: -1 } })] });
  }
  await check("softmax-default-13", { opset: 13, inputs: { x: [2, 3, 4] }, nodes: [node("Softmax", ["x"], ["y"])] });
});

test("Dropout (ratio attribute and ratio input) and Identity are identities at inference", async () => {
  await check("dropout-11", { opset: 11, inputs: { x: [2, 8] }, nodes: [node("Dropout", ["x"], ["h"], { ratio: { float: 0.5 } }), node("Relu", ["h"], ["y"])] });
  await check("dropout-13", { opset: 13, inputs: { x: [2, 8] }, inits: [f("r", [0.3], [])], nodes: [node("Dropout", ["x", "r"], ["h"]), node("Identity", ["h"], ["y"])] });
});

test("Pad: constant with a value, reflect, edge; a zero Pad before a Conv (merged into the Conv)", async () => {
  for (const opset of [11, 13, 19]) {
    await check("pad-constant", { opset, inputs: { x: [1, 2, 4, 5] }, inits: [i64("p", [0, 0, 1, 2, 0, 0, 2, 1]), f("v", [0.5], [])], nodes: [node("Pad", ["x", "p", "v"], ["y"], { mode: { string: "constant" } })] });
  }
  for (const mode of ["reflect", "edge"]) {
    await check(`pad-${mode}`, { opset: 13, inputs: { x: [1, 2, 4, 5] }, inits: [i64("p", [0, 0, 2, 1, 0, 0, 1, 3])], nodes: [node("Pad", ["x", "p"], ["y"], { mode: { string: mode } })] });
  }
  await check("pad-crop", { opset: 13, inputs: { x: [1, 2, 4, 5] }, inits: [i64("p", [0, 0, -1, 1, 0, 0, 1, -2])], nodes: [node("Pad", ["x", "p"], ["y"])] });
  const c: Case = {
    opset: 13, inputs: { x: [1, 3, 6, 6] }, inits: [i64("p", [0, 0, 1, 1, 0, 0, 1, 1]), w("W", [4, 3, 3, 3])],
    nodes: [node("Pad", ["x", "p"], ["xp"]), node("Conv", ["xp", "W"], ["y"], { strides: { ints: [2, 2] } })],
  };
  await check("pad-conv", c);
  const { importOnnx } = await import("../src/onnx/import.js");
  const m = importOnnx(encodeModel({ opset: 13, inputs: [valueInfo("x", ["N", 3, 6, 6])], outputs: [valueInfo("y", null)], nodes: c.nodes, initializers: c.inits }));
  assert.deepEqual(m.nodes.map((n) => n.op), ["Conv2D"]);
});

test("Squeeze and Unsqueeze: axes as attribute (opset 11) and as input (opset 13)", async () => {
  await check("squeeze-11", { opset: 11, inputs: { x: [2, 3, 1, 1] }, nodes: [node("Squeeze", ["x"], ["y"], { axes: { ints: [2, 3] } })] });
  await check("unsqueeze-11", { opset: 11, inputs: { x: [2, 3] }, nodes: [node("Unsqueeze", ["x"], ["y"], { axes: { ints: [1, 3] } })] });
  await check("squeeze-13", { opset: 13, inputs: { x: [2, 3, 1, 1] }, inits: [i64("a", [-1, 2])], nodes: [node("Squeeze", ["x", "a"], ["y"])] });
  await check("unsqueeze-13", { opset: 13, inputs: { x: [2, 3] }, inits: [i64("a", [-1])], nodes: [node("Unsqueeze", ["x", "a"], ["y"])] });
});

test("constants computed in the graph are folded: Constant weights, a Transposed weight, Cast of a constant", async () => {
  await check("folded", {
    opset: 13, inputs: { x: [2, 5] }, inits: [w("Wt", [5, 4])],
    nodes: [
      node("Transpose", ["Wt"], ["W"], { perm: { ints: [1, 0] } }),
      node("Constant", [], ["b64"], { value: { tensor: { ...floatTensorProto("", { shape: [4], data: Float32Array.of(1, 2, 3, 4) }), dataType: 1 } } }),
      node("Cast", ["b64"], ["b"], { to: { int: 1 } }),
      node("Gemm", ["x", "W", "b"], ["y"], { transB: { int: 1 } }),
    ],
  });
  await check("constant-value-floats", {
    opset: 13, inputs: { x: [2, 3] },
    nodes: [node("Constant", [], ["c"], { value_floats: { floats: [1, -2, 3] } }), node("Mul", ["x", "c"], ["y"])],
  });
});

test("several outputs, one of them an intermediate value; a dangling branch is dropped", async () => {
  const c: Case = {
    opset: 13, inputs: { x: [2, 3, 4, 4] }, inits: [w("W", [2, 3, 1, 1])], outputs: ["c", "y"],
    nodes: [node("Conv", ["x", "W"], ["c"]), node("Relu", ["c"], ["y"]), node("Relu", ["x"], ["unused1"]), node("Relu", ["unused1"], ["unused2"])],
  };
  await check("multi-output", c);
  const { importOnnx } = await import("../src/onnx/import.js");
  const m = importOnnx(encodeModel({ opset: 13, inputs: [valueInfo("x", ["N", 3, 4, 4])], outputs: [valueInfo("c", null), valueInfo("y", null)], nodes: c.nodes, initializers: c.inits }));
  assert.deepEqual(m.nodes.map((n) => n.op), ["Conv2D", "Relu"]);
});

test("PyTorch x.view(x.size(0), -1) with a dynamic batch: Shape, Gather, Unsqueeze, Concat, Reshape", async () => {
  for (const opset of [11, 13, 17]) {
    const unsqueeze = opset < 13
      ? [node("Unsqueeze", ["n"], ["n1"], { axes: { ints: [0] } })]
      : [node("Constant", [], ["ax"], { value: { tensor: int64TensorProto("", [1], [0]) } }), node("Unsqueeze", ["n", "ax"], ["n1"])];
    const c: Case = {
      opset, inputs: { x: [3, 4, 3, 3] }, inits: [w("W", [5, 4, 3, 3])],
      nodes: [
        node("Conv", ["x", "W"], ["c"]),
        node("Shape", ["c"], ["s"]),
        node("Constant", [], ["zero"], { value: { tensor: int64TensorProto("", [], [0]) } }),
        node("Gather", ["s", "zero"], ["n"], { axis: { int: 0 } }),
        ...unsqueeze,
        node("Constant", [], ["minus1"], { value: { tensor: int64TensorProto("", [1], [-1]) } }),
        node("Concat", ["n1", "minus1"], ["target"], { axis: { int: 0 } }),
        node("Reshape", ["c", "target"], ["y"]),
      ],
    };
    await check(`view opset ${opset}`, c);
    const { importOnnx } = await import("../src/onnx/import.js");
    const m = importOnnx(encodeModel({ opset, inputs: [valueInfo("x", ["N", 4, 3, 3])], outputs: [valueInfo("y", null)], nodes: c.nodes, initializers: c.inits }));
    const reshape = m.nodes.find((n) => n.op === "Reshape");
    assert.deepEqual(reshape && "shape" in reshape ? reshape.shape : null, [0, -1]);
  }
});

test("tf2onnx-style Reshape target from Shape, Slice and Concat; Shape of a static tensor folds to a constant", async () => {
  await check("shape-slice", {
    opset: 13, inputs: { x: [2, 3, 4, 5] }, inits: [i64("st", [1]), i64("en", [2]), i64("tail", [4, 5])],
    nodes: [
      node("Shape", ["x"], ["s"]),
      node("Slice", ["s", "st", "en"], ["c"]),
      node("Concat", ["c", "tail"], ["pre"], { axis: { int: 0 } }),
      node("Constant", [], ["m1"], { value: { tensor: int64TensorProto("", [1], [-1]) } }),
      node("Concat", ["m1", "pre"], ["target"], { axis: { int: 0 } }),
      node("Reshape", ["x", "target"], ["y"]),
    ],
  });
  // The batch-dependent size used as data is refused with the node's name.
  const { importOnnx } = await import("../src/onnx/import.js");
  const { AxnnError } = await import("../src/util/errors.js");
  const bad = encodeModel({
    opset: 13, inputs: [valueInfo("x", ["N", 3])], outputs: [valueInfo("y", null)], initializers: [i64("zero", [0], [])],
    nodes: [node("Shape", ["x"], ["s"]), node("Gather", ["s", "zero"], ["n"]), node("Cast", ["n"], ["nf"], { to: { int: 1 } }), node("Mul", ["x", "nf"], ["y"], {}, "scale_by_batch")],
  });
  assert.throws(() => importOnnx(bad), (e: unknown) => e instanceof AxnnError && /node "scale_by_batch" \(Mul\): input "nf" is computed from the batch size/.test(e.message));
});

test("tf2onnx without its optimizer: NHWC Transposes around every Conv are sunk through Add/Relu/Concat and cancel", async () => {
  const toNchw = { perm: { ints: [0, 3, 1, 2] } }, toNhwc = { perm: { ints: [0, 2, 3, 1] } };
  const c: Case = {
    opset: 13, inputs: { x: [2, 6, 6, 3] },
    inits: [w("W1", [4, 3, 3, 3]), w("W2", [4, 4, 1, 1]), w("bias_nhwc", [4]), f("six", [6], [])],
    nodes: [
      node("Transpose", ["x"], ["x_t"], toNchw),
      node("Conv", ["x_t", "W1"], ["c1"], { pads: { ints: [1, 1, 1, 1] } }),
      node("Transpose", ["c1"], ["c1_t"], toNhwc),
      node("Add", ["c1_t", "bias_nhwc"], ["a1"]), // Keras BiasAdd on NHWC: a per-channel [C] constant
      node("Relu", ["a1"], ["r1"]),
      node("Transpose", ["r1"], ["r1_t"], toNchw),
      node("Conv", ["r1_t", "W2"], ["c2"]),
      node("Transpose", ["c2"], ["c2_t"], toNhwc),
      node("Mul", ["c2_t", "six"], ["m2"]),
      node("Concat", ["r1", "m2"], ["y"], { axis: { int: 3 } }), // channels last
    ],
  };
  await check("tf2onnx-unoptimised", c);
  const { importOnnx } = await import("../src/onnx/import.js");
  const m = importOnnx(encodeModel({ opset: 13, inputs: [valueInfo("x", ["N", 6, 6, 3])], outputs: [valueInfo("y", null)], nodes: c.nodes, initializers: c.inits }));
  // One Transpose in (NHWC input), one out (NHWC output), everything else NCHW; the BiasAdd is now the Conv's bias.
  assert.deepEqual(m.nodes.map((n) => n.op), ["Transpose", "Conv2D", "Relu", "Conv2D", "Mul", "Concat", "Transpose"]);
  assert.deepEqual(m.outputs, ["y"]);
});

test("a per-channel constant Add after a Conv with a bias merges into the bias; other constant shapes stay an Add", async () => {
  const { importOnnx } = await import("../src/onnx/import.js");
  for (const [shape, merged] of [[[5, 1, 1], true], [[1, 5, 1, 1], true], [[1, 1, 1, 6], false]] as const) {
    const c: Case = {
      opset: 13, inputs: { x: [2, 3, 6, 6] }, inits: [w("W", [5, 3, 1, 1]), w("B", [5]), w("k", [...shape])],
      nodes: [node("Conv", ["x", "W", "B"], ["c"]), node("Add", ["c", "k"], ["y"])],
    };
    await check(`conv+add ${shape.join("x")}`, c);
    const m = importOnnx(encodeModel({ opset: 13, inputs: [valueInfo("x", ["N", 3, 6, 6])], outputs: [valueInfo("y", null)], nodes: c.nodes, initializers: c.inits }));
    assert.deepEqual(m.nodes.map((n) => n.op), merged ? ["Conv2D"] : ["Conv2D", "Add"]);
  }
});
