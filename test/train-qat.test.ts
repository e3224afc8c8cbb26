// Quantization-aware training (src/train/qat.ts) and `axnn finetune`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Dataset } from "../src/data/datasets.js";
import { ModelBuilder } from "../src/nn/builder.js";
import type { Model } from "../src/nn/graph.js";
import { createMultiplier, exactMultiplier, type Multiplier } from "../src/multipliers/multiplier.js";
import { writeOnnx } from "../src/onnx/index.js";
import { uniformRandom } from "../src/util/random.js";
import { trainModel } from "../src/train/loop.js";
import { collectParams, backwardTape, forwardTape } from "../src/train/tape.js";
import { qatLayers, type QatArithmetic, type QatGradient } from "../src/train/qat.js";
import type { QuantScheme } from "../src/quant/params.js";
import { registerFinetune } from "../src/cli/finetune.js";
import { runCommand } from "./cli-inprocess.js";

/** 3 classes of 8x8 images: a bright band at the top, middle or bottom, with noise. */
function bandDataset(n: number, seed: number): Dataset {
  const rand = uniformRandom(seed);
  const images = new Uint8Array(n * 64), labels = new Uint8Array(n);
  for (let s = 0; s < n; s++) {
    const c = s % 3;
    labels[s] = c;
    for (let p = 0; p < 64; p++) {
      const row = Math.floor(p / 8);
      images[s * 64 + p] = Math.floor((Math.floor(row / 3) === c ? 140 : 20) + rand() * 110);
    }
  }
  return { name: "bands", split: "train", shape: [n, 1, 8, 8], images, labels, classes: 3 };
}

function tinyModel(): Model {
  const b = new ModelBuilder("tiny", { seed: 5 });
  const x = b.input("x", [null, 1, 8, 8]);
  b.output(b.softmax(b.dense(b.flatten(b.relu(b.conv2d(x, { outChannels: 4, kernel: 3, padding: 1 }))), { outFeatures: 3 })));
  return b.build();
}

function calibration(ds: Dataset, count: number): Record<string, { shape: number[]; data: Float32Array }>[] {
  const data = new Float32Array(count * 64);
  for (let i = 0; i < data.length; i++) data[i] = ds.images[i]! / 255;
  return [{ x: { shape: [count, 1, 8, 8], data } }];
}

function qatRun(model: Model, ds: Dataset, arith: QatArithmetic, scheme: QuantScheme, perChannel: boolean): Float32Array[] {
  const layers = model.nodes.filter((n) => n.op === "Conv2D" || n.op === "Dense").map((n) => n.name);
  const r = trainModel(model, ds, null, {
    epochs: 2, batchSize: 16, lr: 0.05, seed: 3, quiet: true,
    qat: { arithmetic: new Map(layers.map((l) => [l, arith])), quant: { scheme, perChannel, calibration: { method: "minmax" } }, calibrationBatches: calibration(ds, 32) },
  });
  return collectParams(r.model).map((p) => p.data);
}

test("QAT through the exact multiplier's table equals exact int8 QAT bit for bit", () => {
  const ds = bandDataset(96, 1);
  const model = tinyModel();
  const float = trainModel(model, ds, null, { epochs: 2, batchSize: 16, lr: 0.05, seed: 3, quiet: true });
  for (const [scheme, perChannel, signed] of [["asym", false, false], ["sym", true, true]] as const) {
    const viaTable = qatRun(model, ds, { kind: "lut", multiplier: exactMultiplier(signed, 8) }, scheme, perChannel);
    const viaExact = qatRun(model, ds, { kind: "exact", weightBits: 8 }, scheme, perChannel);
    viaTable.forEach((t, i) => assert.deepEqual(Buffer.from(t.buffer, t.byteOffset, t.byteLength), Buffer.from(viaExact[i]!.buffer, viaExact[i]!.byteOffset, viaExact[i]!.byteLength), `${scheme} tensor ${i}`));
    // And QAT is not float training in disguise: the quantized forward changes the trajectory.
    const floatParams = collectParams(float.model).map((p) => p.data);
    assert.ok(viaExact.some((t, i) => t.some((v, k) => v !== floatParams[i]![k])), `${scheme}: QAT weights differ from float training`);
  }
});

const roundHalfAway = (v: number) => Math.sign(v) * Math.floor(Math.abs(v) + 0.5);

test("STE: the float gradient at the fake-quantized operands, zero where the input was clipped", () => {
  const b = new ModelBuilder("dense", { seed: 9 });
  const x = b.input("x", [null, 4]);
  b.output(b.dense(x, { outFeatures: 2 }));
  const model = b.build();
  const dense = model.nodes.find((n) => n.op === "Dense")!;
  // Calibrated on [0, 1] (asym, per tensor): a = 0.2 and 0.9 are inside, -0.5 and 1.7 are clipped.
  const calib = [{ x: { shape: [2, 4], data: Float32Array.from([0, 0.3, 0.6, 1, 1, 0.5, 0.2, 0]) } }];
  const layers = qatLayers(model, { arithmetic: new Map([[dense.name, { kind: "exact", weightBits: 8 }]]), quant: { scheme: "asym", perChannel: false, calibration: { method: "minmax" } }, calibrationBatches: calib });
  const input = { shape: [1, 4], data: Float32Array.from([0.2, -0.5, 0.9, 1.7]) };
  const tape = forwardTape(model, { x: input }, { training: true, qat: layers });
  const params = collectParams(model);
  const dy = Float32Array.from([1, -2]);
  const grads = backwardTape(tape, new Map([[model.outputs[0]!, dy]]), params, { inputGradients: true });
  const dx = grads.get("x")!;
  // Hand arithmetic of docs/quantization.md: weights per tensor, asym 8-bit over [min(w, 0), max(w, 0)].
  const w = (dense.op === "Dense" ? dense.weight.data : new Float32Array());
  const lo = Math.min(0, ...w), hi = Math.max(0, ...w);
  const s = (hi - lo) / 255, z = Math.min(255, Math.max(0, roundHalfAway(-lo / s)));
  const wq = Array.from(w, (v) => s * (Math.min(255, Math.max(0, roundHalfAway(v / s) + z)) - z));
  const sa = 1 / 255;
  const xq = [0.2, 0, 0.9, 1].map((v) => sa * roundHalfAway(Math.fround(v) / sa)); // the input is float32
  for (let i = 0; i < 4; i++) {
    const want = i === 1 || i === 3 ? 0 : dy[0]! * wq[i]! + dy[1]! * wq[4 + i]!;
    assert.ok(Math.abs(dx[i]! - want) < 1e-6, `dx[${i}] ${dx[i]} vs ${want}`);
  }
  const dw = params.find((p) => p.name.endsWith(".weight"))!.grad;
  for (let o = 0; o < 2; o++) for (let i = 0; i < 4; i++) assert.ok(Math.abs(dw[o * 4 + i]! - dy[o]! * xq[i]!) < 1e-6, `dw[${o}][${i}] ${dw[o * 4 + i]} vs ${dy[o]! * xq[i]!}`);
  // The forward value is the integer dot product of the quantized operands (plus the float bias).
  const bias = dense.op === "Dense" && dense.bias ? dense.bias.data : new Float32Array(2);
  const y = tape.values.get(model.outputs[0]!)!.data;
  for (let o = 0; o < 2; o++) {
    let acc = 0;
    for (let i = 0; i < 4; i++) acc += xq[i]! * wq[o * 4 + i]!;
    assert.ok(Math.abs(y[o]! - (acc + bias[o]!)) < 1e-5, `y[${o}] ${y[o]} vs ${acc + bias[o]!}`);
  }
});

const axnnFinetune = (args: string[]): Promise<string> => runCommand(registerFinetune, ["finetune", ...args]);

test("axnn finetune --json: a crude multiplier's MNIST accuracy does not get worse after one short QAT epoch", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-qat-"));
  try {
    const b = new ModelBuilder("mnist-small", { seed: 4 });
    const x = b.input("x", [null, 1, 28, 28]);
    const c = b.maxPool(b.relu(b.conv2d(x, { outChannels: 6, kernel: 5 })), { kernel: 2, stride: 2 });
    b.output(b.softmax(b.dense(b.flatten(c), { outFeatures: 10 })));
    const { loadDataset } = await import("../src/data/datasets.js");
    const trained = trainModel(b.build(), loadDataset("mnist", "train"), null, { epochs: 1, batchSize: 32, lr: 0.05, seed: 1, trainSamples: 2000, quiet: true });
    const file = join(dir, "m.onnx");
    writeOnnx(file, trained.model);
    const out = await axnnFinetune(["--model", file, "--data", "mnist", "--mult", "drum_k3_u8x8", "--epochs", "1", "--train-samples", "1000",
      "--limit", "500", "--calib-size", "128", "--lr", "0.01", "-o", join(dir, "ft.onnx"), "--json"]);
    const r = JSON.parse(out) as Record<string, number>;
    for (const k of ["before_top1", "after_top1", "before_int8_top1", "after_int8_top1"]) assert.equal(typeof r[k], "number", k);
    assert.ok(r.after_top1! >= r.before_top1!, `after ${r.after_top1} before ${r.before_top1}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Gradients (input, then each parameter) of one QAT step of `model` with every approximable layer through `m`. */
function qatGradients(model: Model, m: Multiplier, gradient: QatGradient, calib: Record<string, { shape: number[]; data: Float32Array }>[], input: { shape: number[]; data: Float32Array }, dy: Float32Array): Float32Array[] {
  const names = model.nodes.filter((n) => n.op === "Conv2D" || n.op === "Dense").map((n) => n.name);
  const layers = qatLayers(model, { arithmetic: new Map(names.map((n) => [n, { kind: "lut", multiplier: m }])), quant: { scheme: "asym", perChannel: false, calibration: { method: "minmax" } }, calibrationBatches: calib, gradient });
  const tape = forwardTape(model, { x: input }, { training: true, qat: layers });
  const params = collectParams(model);
  const grads = backwardTape(tape, new Map([[model.outputs[0]!, dy]]), params, { inputGradients: true });
  return [grads.get("x")!, ...params.map((p) => p.grad)];
}

test("table gradients through the exact multiplier equal STE's (its one-sided differences at the ends are exact too)", () => {
  const exact = exactMultiplier(false, 8);
  // Dense: inputs at both ends of the code range (0 and 1 -> codes 0 and 255), inside, and clipped;
  // minmax weights take codes 0 and 255 as well.
  const bd = new ModelBuilder("dense", { seed: 11 });
  bd.output(bd.dense(bd.input("x", [null, 5]), { outFeatures: 3 }));
  const calibDense = [{ x: { shape: [2, 5], data: Float32Array.from([0, 0.3, 0.6, 1, 0.1, 1, 0.5, 0.2, 0, 0.9]) } }];
  const xDense = { shape: [2, 5], data: Float32Array.from([0, 0.2, 0.5, 1, -0.5, 1.3, 0.7, 0.01, 0.99, 0.4]) };
  // Conv with padding (padded positions hold the zero point) and stride 2.
  const bc = new ModelBuilder("conv", { seed: 12 });
  bc.output(bc.conv2d(bc.input("x", [null, 2, 5, 5]), { outChannels: 3, kernel: 3, padding: 1, stride: 2 }));
  const rand = uniformRandom(7);
  const xConv = { shape: [2, 2, 5, 5], data: Float32Array.from({ length: 100 }, () => rand() * 1.2 - 0.1) };
  const calibConv = [{ x: { shape: [2, 2, 5, 5], data: Float32Array.from({ length: 100 }, () => rand()) } }];
  for (const [model, calib, input, outs] of [[bd.build(), calibDense, xDense, 6], [bc.build(), calibConv, xConv, 2 * 3 * 3 * 3]] as const) {
    const dy = Float32Array.from({ length: outs }, () => rand() * 2 - 1);
    const ste = qatGradients(model, exact, "ste", calib, input, dy);
    const table = qatGradients(model, exact, "table", calib, input, dy);
    ste.forEach((g, t) => g.forEach((v, i) => assert.ok(Math.abs(v - table[t]![i]!) < 1e-5 * (1 + Math.abs(v)), `${model.name} tensor ${t}[${i}]: ste ${v} table ${table[t]![i]}`)));
    assert.ok(ste[0]!.some((v) => v !== 0) && ste[1]!.some((v) => v !== 0), "non-trivial gradients");
  }
});

test("table gradients: the hand-known finite differences of a made-up table", () => {
  // T[a][w] = a(a-1)/2 + w(w-1)/2: central difference along a is a - 1/2, one-sided 0 at a = 0 and
  // 254 at a = 255 (likewise along w).
  const table = new Int32Array(65536);
  for (let a = 0; a < 256; a++) for (let w = 0; w < 256; w++) table[(a << 8) | w] = (a * (a - 1)) / 2 + (w * (w - 1)) / 2;
  const m = createMultiplier({ name: "triangular", signed: false, table });
  const slope = (v: number) => (v === 0 ? 0 : v === 255 ? 254 : v - 0.5);
  const b = new ModelBuilder("dense", { seed: 13 });
  b.output(b.dense(b.input("x", [null, 5]), { outFeatures: 2 }));
  const model = b.build();
  const dense = model.nodes.find((n) => n.op === "Dense")!;
  const calib = [{ x: { shape: [2, 5], data: Float32Array.from([0, 0.3, 0.6, 1, 0.1, 1, 0.5, 0.2, 0, 0.9]) } }];
  const x = [0, 0.2, 0.5, 1, -0.5];
  const dy = Float32Array.from([1, -2]);
  const [dx, dw] = qatGradients(model, m, "table", calib, { shape: [1, 5], data: Float32Array.from(x) }, dy);
  // Hand quantization (as the STE test above): input over [0, 1], weights asym per tensor over [min(w, 0), max(w, 0)].
  const sa = 1 / 255;
  const aCode = x.map((v) => Math.min(255, Math.max(0, roundHalfAway(Math.fround(v) / sa))));
  const w = dense.op === "Dense" ? dense.weight.data : new Float32Array();
  const lo = Math.min(0, ...w), hi = Math.max(0, ...w);
  const sw = (hi - lo) / 255, zw = Math.min(255, Math.max(0, roundHalfAway(-lo / sw)));
  const wCode = Array.from(w, (v) => Math.min(255, Math.max(0, roundHalfAway(v / sw) + zw)));
  for (let i = 0; i < 5; i++) {
    // d y_o / d x_i = sw * (dT/da - zw); zero for the clipped -0.5.
    const want = i === 4 ? 0 : dy[0]! * sw * (slope(aCode[i]!) - zw) + dy[1]! * sw * (slope(aCode[i]!) - zw);
    assert.ok(Math.abs(dx![i]! - want) < 1e-5 * (1 + Math.abs(want)), `dx[${i}] ${dx![i]} vs ${want}`);
  }
  for (let o = 0; o < 2; o++) {
    for (let i = 0; i < 5; i++) {
      // d y_o / d w_oi = sa * (dT/dw - za), za = 0.
      const want = dy[o]! * sa * slope(wCode[o * 5 + i]!);
      assert.ok(Math.abs(dw![o * 5 + i]! - want) < 1e-5 * (1 + Math.abs(want)), `dw[${o}][${i}] ${dw![o * 5 + i]} vs ${want}`);
    }
  }
  assert.ok(wCode.includes(0) && wCode.includes(255) && aCode.includes(0) && aCode.includes(255), "both ends exercised");
});

test("axnn finetune --grad accepts only ste or table", async () => {
  await assert.rejects(axnnFinetune(["--model", "absent.onnx", "--data", "mnist", "--mult", "drum_k3_u8x8", "--epochs", "1", "-o", "x.onnx", "--grad", "finite"]), /--grad must be ste or table/);
});
