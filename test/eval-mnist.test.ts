// End to end: a small MNIST model (random conv features, last layer fitted by least squares),
// evaluated in float, exact int8 and through tables; the CLI and its errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { ModelBuilder } from "../src/nn/builder.js";
import { makeTensor } from "../src/nn/tensor.js";
import { runModel } from "../src/nn/run.js";
import type { ConvNode, Model } from "../src/nn/graph.js";
import { exportOnnx } from "../src/onnx/export.js";
import { encodeModel, nodeProto, valueInfo } from "../src/onnx/proto.js";
import { batchTensor, loadMnist, subsetIndices } from "../src/data/datasets.js";
import { AccuracyCounter, labelRank, prepareBatches } from "../src/eval/accuracy.js";
import { registerEval, registerSensitivity } from "../src/cli/eval.js";
import { runEvaluation } from "../src/eval/evaluate.js";
import { sensitivityChart, type SensitivityReport } from "../src/eval/sensitivity.js";
import { chartSvg } from "../src/report/charts.js";
import { AxnnError } from "../src/util/errors.js";

test("top-k ranks by hand, ties broken by class index", () => {
  const s = [0.1, 0.5, 0.5, 0.2, 0.9, 0.0];
  assert.equal(labelRank(s, 0, 6, 4), 0);
  assert.equal(labelRank(s, 0, 6, 1), 1);
  assert.equal(labelRank(s, 0, 6, 2), 2); // tied with class 1, which comes first
  assert.equal(labelRank(s, 0, 6, 5), 5);
  assert.equal(labelRank([NaN, NaN, 0.3], 0, 3, 0), 3);
  const c = new AccuracyCounter();
  c.add(makeTensor([2, 6], [...s, ...s]), [4, 0]); // rank 0 and rank 4
  assert.deepEqual(c.result(), { top1: 0.5, top5: 1, count: 2 });
});

/** Solves (A + lambda I) x = b for symmetric positive definite A by Cholesky (n x n, row-major). */
function solveSpd(a: Float64Array, n: number, rhs: Float64Array[], lambda: number): Float64Array[] {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]! + (i === j ? lambda : 0);
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = i === j ? Math.sqrt(s) : s / l[j * n + j]!;
    }
  }
  return rhs.map((b) => {
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = b[i]!;
      for (let k = 0; k < i; k++) s -= l[i * n + k]! * y[k]!;
      y[i] = s / l[i * n + i]!;
    }
    const x = new Float64Array(n);
    for (let i = n - 1; i >= 0; i--) {
      let s = y[i]!;
      for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * x[k]!;
      x[i] = s / l[i * n + i]!;
    }
    return x;
  });
}

/** Random 5x5 conv features, ReLU, 4x4 max pooling (392 features); a Dense head fitted by ridge regression on one-hot targets. */
function fittedMnistModel(): Model {
  const fb = new ModelBuilder("features", { seed: 7 });
  const x = fb.input("x", [null, 1, 28, 28]);
  fb.output(fb.flatten(fb.maxPool(fb.relu(fb.conv2d(x, { outChannels: 8, kernel: 5, padding: 2, name: "conv" })), { kernel: 4 })));
  const features = fb.build();
  const conv = features.nodes.find((n) => n.name === "conv") as ConvNode;
  const train = loadMnist("train");
  const idx = subsetIndices(train.shape[0], 3000, 99);
  const f = runModel(features, { x: batchTensor(train, idx, 0, idx.length) })[features.outputs[0]!]!;
  const n = f.shape[1]! + 1; // features and a constant 1 for the bias
  const ata = new Float64Array(n * n);
  const atb = Array.from({ length: 10 }, () => new Float64Array(n));
  const row = new Float64Array(n);
  for (let s = 0; s < idx.length; s++) {
    for (let k = 0; k < n - 1; k++) row[k] = f.data[s * (n - 1) + k]!;
    row[n - 1] = 1;
    for (let i = 0; i < n; i++) {
      const ri = row[i]!;
      if (ri === 0) continue;
      for (let j = 0; j <= i; j++) ata[i * n + j] += ri * row[j]!;
    }
    const label = train.labels[idx[s]!]!;
    for (let c = 0; c < 10; c++) for (let i = 0; i < n; i++) atb[c]![i] += (c === label ? 1 : 0) * row[i]!;
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) ata[j * n + i] = ata[i * n + j]!;
  const sol = solveSpd(ata, n, atb, 1);
  const weight = makeTensor([10, n - 1]), bias = makeTensor([10]);
  for (let c = 0; c < 10; c++) {
    for (let k = 0; k < n - 1; k++) weight.data[c * (n - 1) + k] = sol[c]![k]!;
    bias.data[c] = sol[c]![n - 1]!;
  }
  const b = new ModelBuilder("mnist-ls", { seed: 7 });
  const xi = b.input("x", [null, 1, 28, 28]);
  const h = b.flatten(b.maxPool(b.relu(b.conv2d(xi, { outChannels: 8, kernel: 5, padding: 2, name: "conv", weight: conv.weight, biasValues: conv.bias! })), { kernel: 4 }));
  b.output(b.dense(h, { outFeatures: 10, weight, biasValues: bias, name: "head" }));
  return b.build();
}

let cached: Model | undefined;
const mnistModel = () => (cached ??= fittedMnistModel());

test("MNIST: the fitted model classifies; exact int8 stays within 2 points of float; the exact table predicts exactly as int8", () => {
  const model = mnistModel();
  for (const quant of ["asym", "sym"] as const) {
    const r = runEvaluation({ model, data: "mnist", limit: 600, calibrationSize: 128, quant, perChannel: quant === "sym", mult: quant === "asym" ? "exact_u8x8" : "exact_s8x8" });
    assert.equal(r.samples, 600);
    assert.ok(r.float_top1 > 0.8, `float top-1 ${r.float_top1}`); // random features + least squares: a working data pipeline
    assert.ok(Math.abs(r.int8_top1 - r.float_top1) <= 0.02, `${quant}: int8 ${r.int8_top1} vs float ${r.float_top1}`);
    assert.equal(r.approx_vs_int8_disagreement, 0);
    assert.equal(r.approx_top1, r.int8_top1);
    assert.equal(r.approx_top5, r.int8_top5);
    assert.ok(r.float_top5 >= r.float_top1 && r.int8_top5 >= r.int8_top1);
    // MACs: conv 8 * 28 * 28 * 25, head 10 * 392.
    assert.deepEqual(r.layers.map((l) => [l.name, l.macs]), [["conv", 8 * 28 * 28 * 25], ["head", 3920]]);
  }
});

async function cli(register: (p: Command) => void, args: string[]): Promise<string> {
  const program = new Command();
  program.exitOverride();
  program.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  register(program);
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => (chunks.push(String(s)), true)) as typeof process.stdout.write;
  try {
    await program.parseAsync(["node", "axnn", ...args]);
  } finally {
    process.stdout.write = write;
  }
  return chunks.join("");
}

const isAxnn = (pattern: RegExp) => (e: unknown) => e instanceof AxnnError && pattern.test(e.message);

test("axnn eval --json and axnn sensitivity (JSON, chart) on an ONNX file; bad input gives clear errors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-eval-"));
  const file = join(dir, "m.onnx");
  writeFileSync(file, exportOnnx(mnistModel()));
  const base = ["--model", file, "--data", "mnist", "--limit", "200", "--calib-size", "64"];
  const r = JSON.parse(await cli(registerEval, ["eval", ...base, "--mult", "drum_k4_u8x8", "--json"]));
  // The CLI reports what the library computes for the same file and settings, and the values are those of a working model.
  const lib = runEvaluation({ model: file, data: "mnist", limit: 200, calibrationSize: 64, mult: "drum_k4_u8x8" }) as unknown as Record<string, number>;
  for (const k of ["float_top1", "int8_top1", "approx_top1", "float_top5", "int8_top5", "approx_top5"]) assert.equal(r[k], lib[k], k);
  assert.ok(r.float_top1 > 0.8 && Math.abs(r.int8_top1 - r.float_top1) <= 0.03, `float ${r.float_top1}, int8 ${r.int8_top1}`);
  assert.ok(r.float_top5 >= r.float_top1 && Math.abs(r.approx_top1 * 200 - Math.round(r.approx_top1 * 200)) < 1e-9, "counts of 200 images");
  assert.equal(r.quant.scheme, "asym"); // from the unsigned multiplier
  assert.deepEqual(r.layers.map((l: { multiplier: string }) => l.multiplier), ["drum_k4_u8x8", "drum_k4_u8x8"]);

  writeFileSync(join(dir, "layers.json"), JSON.stringify({ layers: { head: "drum_k3_u8x8" } }));
  const m = JSON.parse(await cli(registerEval, ["eval", ...base, "--mult-config", join(dir, "layers.json"), "--json"]));
  assert.deepEqual(m.layers.map((l: { multiplier: string }) => l.multiplier), ["exact", "drum_k3_u8x8"]);
  assert.equal(m.int8_top1, r.int8_top1);

  const s = JSON.parse(await cli(registerSensitivity, ["sensitivity", ...base, "--mult", "drum_k3_u8x8", "--json", "-o", join(dir, "s.json"), "--chart", join(dir, "s.svg")]));
  assert.deepEqual(s.layers.map((l: { name: string }) => l.name), ["conv", "head"]);
  // Only the head approximate: the same run as the --mult-config one above.
  assert.equal(s.layers[1].top1, m.approx_top1);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "s.json"), "utf8")), s);
  assert.match(readFileSync(join(dir, "s.svg"), "utf8"), /^<svg/);

  await assert.rejects(cli(registerEval, ["eval", ...base, "--mult", "drum_k4_u8x9"]), isAxnn(/unknown multiplier "drum_k4_u8x9"|not a valid/));
  await assert.rejects(cli(registerEval, ["eval", ...base, "--mult", "nosuchmult"]), isAxnn(/--mult: unknown multiplier "nosuchmult"/));
  await assert.rejects(cli(registerEval, ["eval", ...base, "--mult", "drum_k4_s8x8", "--quant", "asym"]), isAxnn(/--mult: multiplier "drum_k4_s8x8" is signed/));
  await assert.rejects(cli(registerEval, ["eval", ...base, "--mult", "drum_k4_u8x8", "--quant", "sym"]), isAxnn(/--mult: multiplier "drum_k4_u8x8" is unsigned/));
  await assert.rejects(cli(registerEval, ["eval", ...base, "--quant", "both"]), isAxnn(/--quant: expected sym or asym/));
  writeFileSync(join(dir, "cut.onnx"), readFileSync(file).subarray(0, 300));
  await assert.rejects(cli(registerEval, ["eval", "--model", join(dir, "cut.onnx"), "--data", "mnist", "--limit", "10"]), isAxnn(/cut\.onnx: .*(truncated|corrupt)/));
  const b = new ModelBuilder("rgb", { seed: 1 });
  b.output(b.dense(b.flatten(b.input("x", [null, 3, 32, 32])), { outFeatures: 10 }));
  writeFileSync(join(dir, "rgb.onnx"), exportOnnx(b.build()));
  await assert.rejects(cli(registerEval, ["eval", "--model", join(dir, "rgb.onnx"), "--data", "mnist", "--limit", "10"]), isAxnn(/--data: the model expects samples of shape \[3, 32, 32\] \(3072 values\); dataset mnist has samples \[1, 28, 28\] \(784 values\)/));
  writeFileSync(join(dir, "sig.onnx"), encodeModel({ opset: 13, inputs: [valueInfo("x", ["N", 1, 28, 28])], outputs: [valueInfo("y", null)], nodes: [nodeProto("Erf", ["x"], ["y"], "s")] }));
  await assert.rejects(cli(registerEval, ["eval", "--model", join(dir, "sig.onnx"), "--data", "mnist", "--limit", "10"]), isAxnn(/sig\.onnx: unsupported ONNX ops?: Erf/));
  rmSync(dir, { recursive: true, force: true });
});


test("batches follow the model's declared layout: NCHW reshaped, NHWC ([H, W, C], C > 1) transposed", () => {
  // 1 image, 2 channels, 1x2 pixels: channel 0 = [0, 51], channel 1 = [102, 255].
  const ds = { name: "toy", split: "test" as const, shape: [1, 2, 1, 2] as [number, number, number, number], images: Uint8Array.from([0, 51, 102, 255]), labels: Uint8Array.from([1]), classes: 2 };
  const nchw = prepareBatches(ds, Int32Array.from([0]), 8, { mean: [0], std: [1] }, [2, 1, 2]);
  assert.deepEqual(Array.from(nchw.batches[0]!.input.data), [0, 0.2, 0.4, 1].map(Math.fround));
  const nhwc = prepareBatches(ds, Int32Array.from([0]), 8, { mean: [0], std: [1] }, [1, 2, 2]);
  assert.deepEqual(nhwc.batches[0]!.input.shape, [1, 1, 2, 2]);
  // Pixel (0, 0): channels 0 and 1; pixel (0, 1): channels 0 and 1.
  assert.deepEqual(Array.from(nhwc.batches[0]!.input.data), [0, 0.4, 0.2, 1].map(Math.fround));
  assert.deepEqual(Array.from(nhwc.batches[0]!.labels), [1]);
});

/** What `fn` writes to stderr while stderr claims to be a terminal. */
async function stderrOnTerminal(fn: () => Promise<unknown>): Promise<string> {
  const wasTty = process.stderr.isTTY;
  const write = process.stderr.write.bind(process.stderr);
  let text = "";
  Object.defineProperty(process.stderr, "isTTY", { value: true, configurable: true });
  process.stderr.write = ((chunk: string | Uint8Array) => ((text += String(chunk)), true)) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = write;
    Object.defineProperty(process.stderr, "isTTY", { value: wasTty, configurable: true });
  }
  return text;
}

test("eval and sensitivity show a progress bar (images, rate, time left) on a terminal; none with --json or --quiet", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-eval-progress-"));
  const file = join(dir, "m.onnx");
  writeFileSync(file, exportOnnx(mnistModel()));
  const base = ["--model", file, "--data", "mnist", "--limit", "100", "--calib-size", "32"];
  // float, int8 and approximate: three passes over 100 images.
  const evalBar = await stderrOnTerminal(() => cli(registerEval, ["eval", ...base, "--mult", "drum_k4_u8x8"]));
  assert.match(evalBar, /eval \[[^\]]*\] 100% \| 300\/300 img \| [\d.]+\/s \| ETA/);
  // Without a multiplier table: float and int8 only.
  assert.match(await stderrOnTerminal(() => cli(registerEval, ["eval", ...base])), /200\/200 img/);
  // float, int8, every layer approximate, then one pass per layer (2 layers).
  const sensBar = await stderrOnTerminal(() => cli(registerSensitivity, ["sensitivity", ...base, "--mult", "drum_k4_u8x8"]));
  assert.match(sensBar, /sensitivity \(2 layers\) \[[^\]]*\] 100% \| 500\/500 img \| [\d.]+\/s \| ETA/);
  for (const flag of ["--json", "--quiet"]) {
    assert.equal(await stderrOnTerminal(() => cli(registerEval, ["eval", ...base, "--mult", "drum_k4_u8x8", flag])), "", flag);
    assert.equal(await stderrOnTerminal(() => cli(registerSensitivity, ["sensitivity", ...base, "--mult", "drum_k4_u8x8", flag])), "", flag);
  }
  // The library is quiet unless asked.
  assert.equal(await stderrOnTerminal(async () => runEvaluation({ model: file, data: "mnist", limit: 100, calibrationSize: 32 })), "");
  rmSync(dir, { recursive: true, force: true });
});

test("sensitivity chart: each layer's top-1 drop in points, on an axis spanning the drops (not 0-100 %)", async () => {
  const layer = (name: string, delta: number) => ({ name, kind: "conv", macs: 1000, top1: 0.985 + delta, top5: 1, delta_top1: delta });
  const report: SensitivityReport = {
    model: "m.onnx", data: "mnist", samples: 1000, multiplier: "drum_k3_u8x8", quant: {} as SensitivityReport["quant"],
    float_top1: 0.99, int8_top1: 0.985, int8_top5: 1, all_approx_top1: 0.95,
    layers: [layer("conv1", -0.002), layer("conv2", -0.025), layer("fc", 0.001)],
  };
  const spec = sensitivityChart(report) as unknown as { data: { values: { layer: string; drop: number }[] }; layer: { encoding: { y: { field: string; title?: string } } }[] };
  assert.deepEqual(spec.data.values.map((v) => [v.layer, v.drop.toFixed(6)]), [["conv1", "0.200000"], ["conv2", "2.500000"], ["fc", "-0.100000"]]);
  assert.equal(spec.layer[0]!.encoding.y.field, "drop");
  const svg = await chartSvg(sensitivityChart(report));
  assert.match(svg, /top-1 drop \(points\)/);
  assert.match(svg, /every layer approximate at once: 3\.50 points/);
  // Bar labels, and axis ticks inside the drops' range: no 0-100 % axis.
  // (Vega writes negative numbers with U+2212, the typographic minus.)
  for (const label of ["0.20", "2.50", "\u22120.10", "2.0", "1.0"]) assert.ok(svg.includes(`>${label}</text>`), label);
  assert.doesNotMatch(svg, />(50|100)(\.0)?%?<\/text>/);
});
