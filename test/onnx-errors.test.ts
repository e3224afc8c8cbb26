// Bad input to the importer and the engine: each is one clear AxnnError.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeModel, floatTensorProto, nodeProto, valueInfo, type NodeProto } from "../src/onnx/proto.js";
import { importOnnx, loadOnnx } from "../src/onnx/import.js";
import { runModel } from "../src/nn/run.js";
import { AxnnError } from "../src/util/errors.js";
import { randomTensor } from "./onnx-testkit.js";
import { Rng } from "../src/nn/tensor.js";

const conv = (): Uint8Array =>
  encodeModel({
    opset: 13,
    inputs: [valueInfo("x", ["N", 3, 8, 8])],
    outputs: [valueInfo("y", null)],
    nodes: [nodeProto("Conv", ["x", "W", "B"], ["c"], "conv1", { pads: { ints: [1, 1, 1, 1] } }), nodeProto("Relu", ["c"], ["y"], "relu1")],
    initializers: [floatTensorProto("W", randomTensor([4, 3, 3, 3], 1)), floatTensorProto("B", randomTensor([4], 2))],
  });

function throwsAxnn(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof AxnnError, `expected an AxnnError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test("a truncated ONNX file is an AxnnError naming the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-onnx-"));
  const bytes = conv();
  // Cut inside the weights (a length-delimited field runs past the end) and near the start.
  for (const cut of [Math.floor(bytes.length * 0.6), 5, bytes.length - 3]) {
    const file = join(dir, `cut${cut}.onnx`);
    writeFileSync(file, bytes.subarray(0, cut));
    throwsAxnn(() => loadOnnx(file), new RegExp(`cut${cut}\\.onnx: .*(truncated|corrupt|no graph|initializer|raw data)`));
  }
  throwsAxnn(() => loadOnnx(join(dir, "missing.onnx")), /missing\.onnx: cannot read: ENOENT/);
  writeFileSync(join(dir, "text.onnx"), "this is not a model\n");
  throwsAxnn(() => loadOnnx(join(dir, "text.onnx")), /text\.onnx: not a valid ONNX model/);
  // The complete file loads.
  writeFileSync(join(dir, "ok.onnx"), bytes);
  assert.equal(loadOnnx(join(dir, "ok.onnx")).nodes.length, 2);
  rmSync(dir, { recursive: true, force: true });
});

test("unsupported ops: one error listing every one with its node name", () => {
  const nodes: NodeProto[] = [
    nodeProto("Erf", ["x"], ["a"], "gate/Erf"),
    nodeProto("Relu", ["a"], ["b"], "ok/Relu"),
    nodeProto("GridSample", ["b"], ["c"], "up/GridSample"),
    nodeProto("Erf", ["c"], ["y"], ""),
  ];
  const bytes = encodeModel({ opset: 13, inputs: [valueInfo("x", ["N", 3, 8, 8])], outputs: [valueInfo("y", null)], nodes });
  throwsAxnn(() => importOnnx(bytes, "m.onnx"), /m\.onnx: unsupported ONNX ops: Erf \(node "gate\/Erf"\), GridSample \(node "up\/GridSample"\), Erf \(node "Erf_3"\)\. Supported: Conv/);
  const custom = encodeModel({ opset: 13, inputs: [valueInfo("x", [1, 3])], outputs: [valueInfo("y", null)], nodes: [{ ...nodeProto("Gelu", ["x"], ["y"], "g"), domain: "com.microsoft" }] });
  throwsAxnn(() => importOnnx(custom), /com\.microsoft::Gelu \(node "g"\)/);
});

test("wrong input shape, missing or extra inputs at run time", () => {
  const model = importOnnx(conv());
  assert.deepEqual(model.inputs, [{ name: "x", shape: [null, 3, 8, 8] }]);
  throwsAxnn(() => runModel(model, { x: randomTensor([1, 3, 9, 8], 1) }), /input "x" has shape \[1,3,9,8\], the model expects \[\?,3,8,8\]/);
  throwsAxnn(() => runModel(model, { x: randomTensor([3, 8, 8], 1) }), /the model expects \[\?,3,8,8\]/);
  throwsAxnn(() => runModel(model, {}), /missing input "x"/);
  throwsAxnn(() => runModel(model, { x: randomTensor([1, 3, 8, 8], 1), z: randomTensor([1], 1) }), /no input "z"/);
  throwsAxnn(() => runModel(model, { x: { shape: [1, 3, 8, 8], data: new Float32Array(5) } }), /needs 192 elements/);
  // Any batch size is accepted.
  assert.deepEqual(runModel(model, { x: randomTensor([5, 3, 8, 8], 1) }).y!.shape, [5, 4, 8, 8]);
});

test("shape mismatches inside the model are caught at import and name the node", () => {
  const bytes = encodeModel({
    opset: 13, inputs: [valueInfo("x", ["N", 5, 8, 8])], outputs: [valueInfo("y", null)],
    nodes: [nodeProto("Conv", ["x", "W"], ["y"], "conv_bad")],
    initializers: [floatTensorProto("W", randomTensor([4, 3, 3, 3], 1))],
  });
  throwsAxnn(() => importOnnx(bytes, "bad.onnx"), /bad\.onnx: node "conv_bad" \(Conv2D\): input has 5 channels/);
});

test("unsupported uses of supported ops are AxnnErrors naming the node", () => {
  const mk = (nodes: NodeProto[], opset = 13, inits = [floatTensorProto("W", randomTensor([4, 3, 3, 3], 1))]) =>
    encodeModel({ opset, inputs: [valueInfo("x", ["N", 3, 8, 8]), valueInfo("w", [4, 3, 3, 3])], outputs: [valueInfo("y", null)], nodes, initializers: inits });
  throwsAxnn(() => importOnnx(mk([nodeProto("Conv", ["x", "w"], ["y"], "dyn")])), /node "dyn" \(Conv\): the weight \(input 1 "w"\) must be a constant/);
  throwsAxnn(() => importOnnx(mk([nodeProto("MatMul", ["x", "w"], ["y"], "mm")])), /node "mm" \(MatMul\): MatMul of two computed tensors/);
  throwsAxnn(() => importOnnx(mk([nodeProto("Squeeze", ["x"], ["y"], "sq", { axes: { ints: [0] } })])), /node "sq" \(Squeeze\): attribute "axes" is an input since opset 13/);
  throwsAxnn(() => importOnnx(mk([nodeProto("Relu", ["x"], ["y"], "r")], 5)), /opset 5 is not supported/);
  const conv1d = encodeModel({
    opset: 13, inputs: [valueInfo("x", ["N", 3, 8])], outputs: [valueInfo("y", null)],
    nodes: [nodeProto("Conv", ["x", "W"], ["y"], "c1d")], initializers: [floatTensorProto("W", randomTensor([4, 3, 3], 1))],
  });
  throwsAxnn(() => importOnnx(conv1d), /node "c1d" \(Conv\): weight of rank 3: only 2-D convolutions/);
  const uint8In = encodeModel({ opset: 13, inputs: [valueInfo("x", [1, 3], 2)], outputs: [valueInfo("y", null)], nodes: [nodeProto("Relu", ["x"], ["y"], "r")] });
  throwsAxnn(() => importOnnx(uint8In), /input "x" has element type uint8; only float32/);
});

test("corrupted bytes: import and run either work or fail with an AxnnError, never another exception", () => {
  const bytes = conv();
  const rng = new Rng(5);
  let failures = 0;
  for (let t = 0; t < 400; t++) {
    const m = Uint8Array.from(bytes);
    for (let k = 0; k < 2; k++) m[Math.floor(rng.uniform() * m.length)] = Math.floor(rng.uniform() * 256);
    try {
      const model = importOnnx(m, "corrupt.onnx");
      const vi = model.inputs[0]!;
      runModel(model, { [vi.name]: randomTensor(vi.shape.map((d) => d ?? 2), 1) });
    } catch (e) {
      assert.ok(e instanceof AxnnError, `corruption ${t}: ${(e as Error).stack}`);
      failures++;
    }
  }
  assert.ok(failures > 0);
  // A corrupt dim can be huge: checked against the stored data before anything is allocated.
  const huge = encodeModel({
    opset: 13, inputs: [valueInfo("x", ["N", 3])], outputs: [valueInfo("y", null)],
    nodes: [nodeProto("Add", ["x", "c"], ["y"], "add")],
    initializers: [{ ...floatTensorProto("c", { shape: [3], data: Float32Array.of(1, 2, 3) }), dims: [1e6, 1e6, 1e6] }],
  });
  throwsAxnn(() => importOnnx(huge, "huge.onnx"), /huge\.onnx: initializer "c": raw data has 12 bytes, dims \[1000000,1000000,1000000\] of float need/);
});
