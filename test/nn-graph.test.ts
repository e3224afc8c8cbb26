// The float engine against slow, obviously-correct references and hand calculations (no onnxruntime here).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ModelBuilder } from "../src/nn/builder.js";
import { finalizeModel, type ConvNode, type Model } from "../src/nn/graph.js";
import { evalNode } from "../src/nn/ops.js";
import { runModel } from "../src/nn/run.js";
import { foldBatchNorm, removeIdentities } from "../src/nn/passes.js";
import { approximableLayers, macsPerLayer } from "../src/nn/analysis.js";
import { encodeNpy, parseNpy } from "../src/nn/npy.js";
import { makeTensor, Rng, type Tensor } from "../src/nn/tensor.js";
import { AxnnError } from "../src/util/errors.js";

/** Convolution straight from its definition, one output element at a time. */
function naiveConv(x: Tensor, w: Tensor, bias: Tensor | null, s: [number, number], p: [number, number, number, number], d: [number, number], groups: number): Tensor {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [m, cg, kh, kw] = w.shape as [number, number, number, number];
  const oh = Math.floor((h + p[0] + p[2] - (d[0] * (kh - 1) + 1)) / s[0]) + 1;
  const ow = Math.floor((wd + p[1] + p[3] - (d[1] * (kw - 1) + 1)) / s[1]) + 1;
  const out = makeTensor([n, m, oh, ow]);
  const at = (b: number, ch: number, y: number, xx: number): number => (y < 0 || y >= h || xx < 0 || xx >= wd ? 0 : x.data[((b * c + ch) * h + y) * wd + xx]!);
  for (let b = 0; b < n; b++) for (let o = 0; o < m; o++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) {
    const g = Math.floor(o / (m / groups));
    let sum = bias ? bias.data[o]! : 0;
    for (let i = 0; i < cg; i++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      sum += w.data[((o * cg + i) * kh + ky) * kw + kx]! * at(b, g * cg + i, y * s[0] - p[0] + ky * d[0], xx * s[1] - p[1] + kx * d[1]);
    }
    out.data[((b * m + o) * oh + y) * ow + xx] = sum;
  }
  return out;
}

test("Conv2D matches the definition over random strides, pads, dilations and groups", () => {
  const rng = new Rng(42);
  const int = (lo: number, hi: number) => lo + Math.floor(rng.uniform() * (hi - lo + 1));
  for (let trial = 0; trial < 60; trial++) {
    const groups = [1, 1, 2, 3][int(0, 3)]!;
    const cg = int(1, 3), mg = int(1, 6);
    const kh = int(1, 4), kw = int(1, 4);
    const s: [number, number] = [int(1, 3), int(1, 3)];
    const d: [number, number] = [int(1, 2), int(1, 2)];
    const p: [number, number, number, number] = [int(0, 2), int(0, 2), int(0, 2), int(0, 2)];
    const h = int(d[0] * (kh - 1) + 1, 9), w = int(d[1] * (kw - 1) + 1, 9);
    const x = rng.uniformTensor([int(1, 2), cg * groups, h, w]);
    const weight = rng.uniformTensor([mg * groups, cg, kh, kw]);
    const bias = trial % 2 ? rng.uniformTensor([mg * groups]) : null;
    const node: ConvNode = { op: "Conv2D", name: "c", inputs: ["x"], outputs: ["y"], weight, bias, strides: s, pads: p, dilations: d, groups, autoPad: "NOTSET" };
    const got = evalNode(node, [x])[0]!;
    const want = naiveConv(x, weight, bias, s, p, d, groups);
    assert.deepEqual(got.shape, want.shape);
    for (let i = 0; i < want.data.length; i++) assert.ok(Math.abs(got.data[i]! - want.data[i]!) <= 1e-5 * (1 + Math.abs(want.data[i]!)), `trial ${trial} element ${i}`);
  }
});

function smallNet(): Model {
  const b = new ModelBuilder("small");
  const x = b.input("x", [null, 3, 16, 16]);
  let h = b.relu(b.conv2d(x, { outChannels: 8, kernel: 3, padding: 1, name: "conv" }));
  h = b.relu6(b.depthwiseConv2d(h, { kernel: 3, stride: 2, padding: 1, name: "dw" }));
  h = b.conv2d(h, { outChannels: 4, kernel: 1, groups: 2, name: "pw" });
  b.output(b.dense(b.flatten(h), { outFeatures: 10, name: "fc" }));
  return b.build();
}

test("MACs per sample by hand: conv, depthwise, grouped 1x1, dense", () => {
  const m = smallNet();
  assert.deepEqual(approximableLayers(m), [
    { name: "conv", kind: "Conv2D", macs: 16 * 16 * 8 * 3 * 3 * 3 }, // 55296
    { name: "dw", kind: "DepthwiseConv2D", macs: 8 * 8 * 8 * 3 * 3 }, // 4608
    { name: "pw", kind: "Conv2D", macs: 8 * 8 * 4 * 4 }, // 4 outputs, each over 8/2 input channels
    { name: "fc", kind: "Dense", macs: 4 * 8 * 8 * 10 },
  ]);
  // Same figures per sample whatever the batch; other spatial sizes change them.
  assert.deepEqual(macsPerLayer(m, [4, 3, 16, 16]).map((r) => r.macs), macsPerLayer(m).map((r) => r.macs));
  assert.throws(() => macsPerLayer(m, [1, 3, 32, 32]), AxnnError);
});

test("foldBatchNorm: hand-computed weights; BatchNorms after other layers or on shared outputs stay", () => {
  const b = new ModelBuilder("bn");
  const x = b.input("x", [null, 1, 2, 2]);
  const c = b.conv2d(x, { outChannels: 1, kernel: 1, weight: makeTensor([1, 1, 1, 1], [2]), biasValues: makeTensor([1], [1]), name: "c" });
  const t = (v: number) => makeTensor([1], [v]);
  const bn = b.batchNorm(c, { scale: t(3), bias: t(0.5), mean: t(1), variance: t(3), epsilon: 1, name: "bn" });
  const sum = b.add(bn, x, "sum");
  const bn2 = b.batchNorm(sum, { scale: t(2), bias: t(0), mean: t(0), variance: t(1), epsilon: 0, name: "bn2" });
  b.output(bn2);
  const model = b.build();
  const folded = foldBatchNorm(model);
  assert.deepEqual(folded.nodes.map((n) => n.name), ["c", "sum", "bn2"]);
  const conv = folded.nodes[0] as ConvNode;
  // s = 3 / sqrt(3 + 1) = 1.5; w' = 2 * 1.5; b' = (1 - 1) * 1.5 + 0.5.
  assert.deepEqual(Array.from(conv.weight.data), [3]);
  assert.deepEqual(Array.from(conv.bias!.data), [0.5]);
  assert.equal(conv.outputs[0], "bn");
  const input = { x: makeTensor([1, 1, 2, 2], [1, -1, 0.5, 2]) };
  // y = 2 * ((3x + 0.5) + x)
  assert.deepEqual(Array.from(runModel(folded, input).bn2!.data), [1, -1, 0.5, 2].map((v) => 2 * (4 * v + 0.5)));
  assert.deepEqual(Array.from(runModel(model, input).bn2!.data), Array.from(runModel(folded, input).bn2!.data));

  // A conv whose output is also read elsewhere keeps its BatchNorm.
  const b2 = new ModelBuilder("shared");
  const x2 = b2.input("x", [null, 1, 2, 2]);
  const c2 = b2.conv2d(x2, { outChannels: 1, kernel: 1 });
  b2.output(b2.add(b2.batchNorm(c2), c2));
  assert.equal(foldBatchNorm(b2.build()).nodes.filter((n) => n.op === "BatchNorm").length, 1);
});

test("finalizeModel sorts a shuffled DAG and rejects cycles, undefined values and duplicate names", () => {
  const m = smallNet();
  const shuffled: Model = { ...m, nodes: [...m.nodes].reverse() };
  const sorted = finalizeModel(shuffled);
  assert.deepEqual(sorted.nodes.map((n) => n.name), m.nodes.map((n) => n.name));
  const x = makeTensor([2, 3, 16, 16], new Rng(1).uniformTensor([2, 3, 16, 16]).data);
  assert.deepEqual(runModel(sorted, { x }), runModel(m, { x }));

  const relu = (name: string, i: string, o: string) => ({ op: "Relu" as const, name, inputs: [i], outputs: [o] });
  const base = { name: "g", inputs: [{ name: "x", shape: [1] }], outputs: ["b"], constants: new Map() };
  assert.throws(() => finalizeModel({ ...base, nodes: [relu("r1", "b", "a"), relu("r2", "a", "b")] }), /cycle through r1, r2/);
  assert.throws(() => finalizeModel({ ...base, nodes: [relu("r1", "nope", "b")] }), /reads "nope", which nothing defines/);
  assert.throws(() => finalizeModel({ ...base, nodes: [relu("r", "x", "a"), relu("r", "a", "b")] }), /two nodes are named "r"/);
  assert.throws(() => finalizeModel({ ...base, nodes: [relu("r1", "x", "b"), relu("r2", "x", "b")] }), /defined twice/);
  assert.throws(() => finalizeModel({ ...base, outputs: ["zz"], nodes: [] }), /output "zz" is not produced/);
});

test("removeIdentities keeps output names: an Identity on a model output hands its name to the producer", () => {
  const b = new ModelBuilder("id");
  const x = b.input("x", [null, 2]);
  const r = b.relu(b.dropout(x));
  b.output(b.dropout(r, "out"));
  const m = removeIdentities(b.build());
  assert.deepEqual(m.nodes.map((n) => n.op), ["Relu"]);
  assert.deepEqual(m.outputs, ["out"]);
  assert.deepEqual(Array.from(runModel(m, { x: makeTensor([1, 2], [-1, 2]) }).out!.data), [0, 2]);
});

test("ModelBuilder rejects reused names and impossible layers", () => {
  const b = new ModelBuilder("bad");
  const x = b.input("x", [null, 3, 8, 8]);
  assert.throws(() => b.input("x", [1]), /already used/);
  assert.throws(() => b.conv2d(x, { outChannels: 4, kernel: 3, groups: 2 }), /groups 2 must divide/);
  assert.throws(() => b.conv2d(x, { outChannels: 4, kernel: 9 }), /does not fit/);
  assert.throws(() => b.add(x, b.conv2d(x, { outChannels: 5, kernel: 1 })), /do not broadcast/);
  assert.throws(() => b.build(), /no outputs/);
});

test(".npy: writer output parses back; hand-made float64 and uint8 files; bad files are AxnnErrors", () => {
  const t = new Rng(3).uniformTensor([2, 3, 4]);
  const bytes = encodeNpy(t);
  const preamble = bytes.length - 24 * 4;
  assert.equal(preamble % 64, 0); // NumPy pads magic + header to a multiple of 64 bytes
  assert.equal(bytes[preamble - 1], 0x0a);
  assert.equal(new TextDecoder().decode(bytes.subarray(10, preamble)).trim(), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }");
  assert.deepEqual(parseNpy(bytes), t);
  assert.deepEqual(parseNpy(encodeNpy(makeTensor([3], [1, 2, 3]))).shape, [3]);

  const handMade = (descr: string, shape: string, payload: Uint8Array): Uint8Array => {
    const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }\n`;
    const out = new Uint8Array(10 + header.length + payload.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 255, header.length >> 8]);
    out.set(new TextEncoder().encode(header), 10);
    out.set(payload, 10 + header.length);
    return out;
  };
  const f8 = new Uint8Array(new Float64Array([1.5, -2.25]).buffer);
  assert.deepEqual(parseNpy(handMade("<f8", "(2,)", f8)), makeTensor([2], [1.5, -2.25]));
  assert.deepEqual(parseNpy(handMade("|u1", "(1, 3)", Uint8Array.of(0, 128, 255))), makeTensor([1, 3], [0, 128, 255]));
  assert.throws(() => parseNpy(handMade("<f4", "(2, 2)", new Uint8Array(12)), "x.npy"), /x\.npy: truncated data/);
  assert.throws(() => parseNpy(handMade("<c8", "(1,)", new Uint8Array(8))), /unsupported dtype '<c8'/);
  assert.throws(() => parseNpy(handMade(">f4", "(1,)", new Uint8Array(4))), /unsupported dtype '>f4'/);
  assert.throws(() => parseNpy(new TextEncoder().encode("hello world")), /not a NumPy .npy file/);
});

test("runModel options: a kernel override for approximable layers, every value observed, intermediates kept", () => {
  const b = new ModelBuilder("hooks");
  const x = b.input("x", [null, 1, 1, 2]);
  const c = b.conv2d(x, { outChannels: 1, kernel: 1, weight: makeTensor([1, 1, 1, 1], [2]), bias: false, name: "c" });
  b.output(b.relu(c, "r"));
  const m = b.build();
  const input = { x: makeTensor([1, 1, 1, 2], [1, -3]) };
  assert.deepEqual(Array.from(runModel(m, input).r!.data), [2, 0]);
  const seen: string[] = [];
  const res = runModel(m, input, {
    // A stand-in "approximate" conv: negates instead of doubling.
    kernel: (node, ins) => (node.op === "Conv2D" ? [{ shape: ins[0]!.shape, data: ins[0]!.data.map((v) => -v) }] : undefined),
    onValue: (name, _t, node) => seen.push(`${node.name}:${name}`),
    keep: ["c"],
  });
  assert.deepEqual(Array.from(res.c!.data), [-1, 3]);
  assert.deepEqual(Array.from(res.r!.data), [0, 3]);
  assert.deepEqual(seen, ["c:c", "r:r"]);
  assert.throws(() => runModel(m, input, { keep: ["nope"] }), /no value "nope"/);
});
