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
import { trainModel, type TrainConfig } from "../src/train/loop.js";
import { backwardTape, forwardTape } from "../src/train/tape.js";
import { cloneModelForTraining, collectBuffers, collectParams } from "../src/train/params.js";
import { qatLayers, QatRangeState, RANGE_MOMENTUM, type QatArithmetic, type QatConfig, type QatGradient } from "../src/train/qat.js";
import { resolveMultiplier } from "../src/multipliers/resolve.js";
import { quantizeModel } from "../src/quant/model.js";
import { AxnnError } from "../src/util/errors.js";
import { loadSidecar } from "../src/zoo/sidecar.js";
import { runEvaluation } from "../src/eval/evaluate.js";
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

function qatRun(model: Model, ds: Dataset, arith: QatArithmetic, scheme: QuantScheme, perChannel: boolean, extra: Partial<QatConfig> = {}): Float32Array[] {
  const layers = model.nodes.filter((n) => n.op === "Conv2D" || n.op === "Dense").map((n) => n.name);
  const r = trainModel(model, ds, null, {
    epochs: 2, batchSize: 16, lr: 0.05, seed: 3, quiet: true,
    qat: { arithmetic: new Map(layers.map((l) => [l, arith])), quant: { scheme, perChannel, calibration: { method: "minmax" } }, calibrationBatches: calibration(ds, 32), ...extra },
  });
  return [...collectParams(r.model).map((p) => p.data), ...collectBuffers(r.model).map((b) => b.data), ...Object.values(r.qatInputs ?? {}).map((p) => Float32Array.of(p.scale, p.zeroPoint))];
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
  // Also with a BatchNorm after the conv (QAT through the folded weights) and tracked or learned ranges.
  for (const ranges of ["track", "learn"] as const) {
    const viaTable = qatRun(bnModel(), ds, { kind: "lut", multiplier: exactMultiplier(false, 8) }, "asym", false, { ranges });
    const viaExact = qatRun(bnModel(), ds, { kind: "exact", weightBits: 8 }, "asym", false, { ranges });
    viaTable.forEach((t, i) => assert.deepEqual(Buffer.from(t.buffer, t.byteOffset, t.byteLength), Buffer.from(viaExact[i]!.buffer, viaExact[i]!.byteOffset, viaExact[i]!.byteLength), `BatchNorm, ${ranges}: tensor ${i}`));
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

test("axnn finetune --json: a crude multiplier's MNIST accuracy improves after one short QAT epoch", async () => {
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
    // Strictly better: a retraining that changed nothing would fail here.
    assert.ok(r.after_top1! > r.before_top1! + 0.02, `after ${r.after_top1} before ${r.before_top1}`);
    assert.equal((r as unknown as { worse_than_input: boolean }).worse_than_input, false);
    // The written model and its sidecar (tracked ranges, the default) evaluate to the reported accuracy.
    const side = loadSidecar(join(dir, "ft.onnx"));
    assert.ok(side?.sidecar.quantization?.activations, "the sidecar holds the tracked input ranges");
    const again = runEvaluation({ model: join(dir, "ft.onnx"), data: "mnist", mult: "drum_k3_u8x8", limit: 500, calibrationSize: 128 });
    assert.equal(again.approx_top1, r.after_top1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Gradients (input, then each parameter) of one QAT step of `model` with every approximable layer through `m`. */
function qatGradients(original: Model, m: Multiplier, gradient: QatGradient, calib: Record<string, { shape: number[]; data: Float32Array }>[], input: { shape: number[]; data: Float32Array }, dy: Float32Array): Float32Array[] {
  // A copy: a training forward moves BatchNorm's running statistics, hence the folded weights of the next call.
  const model = cloneModelForTraining(original);
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
  // The same conv with a BatchNorm after it (QAT through the weights folded with k = gamma / sqrt(var + eps), one k < 0).
  const bn = new ModelBuilder("conv-bn", { seed: 12 });
  const t = (v: number[]) => ({ shape: [3], data: Float32Array.from(v) });
  bn.output(bn.batchNorm(bn.conv2d(bn.input("x", [null, 2, 5, 5]), { outChannels: 3, kernel: 3, padding: 1, stride: 2 }), { scale: t([0.5, -2, 3]), bias: t([0.1, 0, -0.2]), mean: t([0.3, -0.1, 0]), variance: t([4, 0.25, 1]) }));
  for (const [model, calib, input, outs] of [[bd.build(), calibDense, xDense, 6], [bc.build(), calibConv, xConv, 2 * 3 * 3 * 3], [bn.build(), calibConv, xConv, 2 * 3 * 3 * 3]] as const) {
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

test("axnn finetune --grad accepts only ste or table, --ranges only calibrate, track or learn", async () => {
  await assert.rejects(axnnFinetune(["--model", "absent.onnx", "--data", "mnist", "--mult", "drum_k3_u8x8", "--epochs", "1", "-o", "x.onnx", "--grad", "finite"]), /--grad must be ste or table/);
  await assert.rejects(axnnFinetune(["--model", "absent.onnx", "--data", "mnist", "--mult", "drum_k3_u8x8", "--epochs", "1", "-o", "x.onnx", "--ranges", "guess"]), /--ranges must be one of calibrate, track, learn/);
  await assert.rejects(axnnFinetune(["--model", "absent.onnx", "--data", "mnist", "--mult", "drum_k3_u8x8", "--epochs", "1", "-o", "x.onnx", "--bn-freeze", "2"]), /from 0 to 1/);
});

/** A conv + BatchNorm + ReLU network (the BatchNorm is folded by eval, kept by QAT). */
function bnModel(seed = 21): Model {
  const b = new ModelBuilder("bn", { seed });
  const x = b.input("x", [null, 1, 8, 8]);
  const h = b.maxPool(b.relu(b.batchNorm(b.conv2d(x, { outChannels: 4, kernel: 3, padding: 1 }))), { kernel: 2 });
  b.output(b.softmax(b.dense(b.flatten(h), { outFeatures: 3 })));
  return b.build();
}

function qatConfig(model: Model, m: Multiplier, ds: Dataset, extra: Partial<QatConfig> = {}): QatConfig {
  const layers = model.nodes.filter((n) => n.op === "Conv2D" || n.op === "Dense").map((n) => n.name);
  return {
    arithmetic: new Map(layers.map((l) => [l, { kind: "lut", multiplier: m }])), quant: { scheme: "asym", perChannel: false, calibration: { method: "minmax" } },
    calibrationBatches: calibration(ds, 32), ...extra,
  };
}

test("BatchNorm after a QAT layer: with running statistics the QAT forward is the folded model the quantized engine runs", () => {
  const ds = bandDataset(48, 4);
  // Non-trivial running statistics (one short float epoch), then QAT layers on the unfolded model.
  const model = trainModel(bnModel(), ds, null, { epochs: 1, batchSize: 16, lr: 0.05, seed: 2, quiet: true }).model;
  const m = resolveMultiplier("drum_k4_u8x8").multiplier;
  const config = qatConfig(model, m, ds);
  const layers = qatLayers(model, config);
  assert.ok(layers.get(model.nodes.find((n) => n.op === "Conv2D")!.name)!.batchNorm, "the conv's BatchNorm is found");
  const x = calibration(ds, 16)[0]!;
  const tape = forwardTape(model, x, { training: true, frozenBatchNorm: true, qat: layers });
  const q = quantizeModel(model, config.calibrationBatches, config.quant);
  const deployed = q.run(x, { kind: "lut", multiplier: m })[model.outputs[0]!]!;
  const got = tape.values.get(model.outputs[0]!)!;
  // Equal up to float32 rounding: QAT computes (u / k + b - mean) * k + beta, the engine u + b'.
  got.data.forEach((v, i) => assert.ok(Math.abs(v - deployed.data[i]!) < 1e-4, `output ${i}: QAT ${v}, engine ${deployed.data[i]}`));
  // The running statistics are unchanged by a frozen forward, and a training forward changes them.
  const bn = model.nodes.find((n) => n.op === "BatchNorm")!;
  const mean = bn.op === "BatchNorm" ? Float32Array.from(bn.mean.data) : new Float32Array();
  assert.deepEqual(bn.op === "BatchNorm" ? bn.mean.data : null, mean);
  forwardTape(model, x, { training: true, qat: layers });
  assert.notDeepEqual(bn.op === "BatchNorm" ? bn.mean.data : null, mean);
});

test("tracked ranges: an exponential moving average of each batch's min and max, from the calibrated range", () => {
  const b = new ModelBuilder("dense", { seed: 9 });
  b.output(b.dense(b.input("x", [null, 2]), { outFeatures: 1 }));
  const model = b.build();
  const name = model.nodes[0]!.name;
  const config: QatConfig = {
    arithmetic: new Map([[name, { kind: "exact", weightBits: 8 }]]), quant: { scheme: "asym", perChannel: false, calibration: { method: "minmax" } },
    calibrationBatches: [{ x: { shape: [1, 2], data: Float32Array.from([0, 2.55]) } }], ranges: "track",
  };
  const layers = qatLayers(model, config);
  const state = QatRangeState.initial("track", "asym", layers);
  state.attach(layers);
  // The calibrated range [0, 2.55] (as float32, the calibration data's type).
  const hi0 = state.tracked.get(name)!.hi;
  assert.equal(state.tracked.get(name)!.lo, 0);
  assert.ok(Math.abs(hi0 - Math.fround(2.55)) < 1e-12, `initial hi ${hi0}`);
  forwardTape(model, { x: { shape: [2, 2], data: Float32Array.from([-1, 3, 0.5, 1]) } }, { training: true, qat: layers });
  const want = { lo: RANGE_MOMENTUM * -1, hi: hi0 + RANGE_MOMENTUM * (3 - hi0) };
  const t = state.tracked.get(name)!;
  assert.ok(Math.abs(t.lo - want.lo) < 1e-12 && Math.abs(t.hi - want.hi) < 1e-12, `tracked ${JSON.stringify(t)}, want ${JSON.stringify(want)}`);
  // The layer now quantizes with minmax parameters of the tracked range (asym: [lo, hi] over 255 steps).
  const p = layers.get(name)!.input;
  assert.ok(Math.abs(p.scale - (want.hi - want.lo) / 255) < 1e-12, `scale ${p.scale}`);
  assert.equal(p.zeroPoint, roundHalfAway(-want.lo / p.scale));
});

test("learned ranges: LSQ's gradient of the input scale, by hand", () => {
  const b = new ModelBuilder("dense", { seed: 13 });
  b.output(b.dense(b.input("x", [null, 4]), { outFeatures: 2 }));
  const model = b.build();
  const dense = model.nodes[0]!;
  const config: QatConfig = {
    arithmetic: new Map([[dense.name, { kind: "exact", weightBits: 8 }]]), quant: { scheme: "asym", perChannel: false, calibration: { method: "minmax" } },
    calibrationBatches: [{ x: { shape: [1, 4], data: Float32Array.from([0, 0.3, 0.6, 1]) } }], ranges: "learn",
  };
  const layers = qatLayers(model, config);
  const state = QatRangeState.initial("learn", "asym", layers);
  state.attach(layers);
  const scale = state.params()[0]!;
  assert.equal(scale.name, `${dense.name}.input_scale`);
  const s = scale.data[0]!;
  // 0.2 and 0.9 inside (0.9 / s is not an integer), -0.5 below and 1.7 above the range [0, 255 s].
  const x = [0.2, -0.5, 0.9, 1.7];
  const tape = forwardTape(model, { x: { shape: [1, 4], data: Float32Array.from(x) } }, { training: true, qat: layers });
  const params = collectParams(model);
  const dy = Float32Array.from([1, -2]);
  backwardTape(tape, new Map([[model.outputs[0]!, dy]]), params);
  const w = dense.op === "Dense" ? dense.weight.data : new Float32Array();
  const lo = Math.min(0, ...w), hi = Math.max(0, ...w);
  const sw = (hi - lo) / 255, zw = Math.min(255, Math.max(0, roundHalfAway(-lo / sw)));
  const wq = Array.from(w, (v) => sw * (Math.min(255, Math.max(0, roundHalfAway(v / sw) + zw)) - zw));
  let want = 0;
  for (let i = 0; i < 4; i++) {
    const v = Math.fround(x[i]!);
    const code = Math.min(255, Math.max(0, roundHalfAway(v / s)));
    const dxq = dy[0]! * wq[i]! + dy[1]! * wq[4 + i]!;
    want += dxq * (code === 0 || code === 255 ? code : code - v / s);
  }
  want /= Math.sqrt(4 * 255);
  assert.ok(want !== 0);
  assert.ok(Math.abs(scale.grad[0]! - want) < 1e-6 * (1 + Math.abs(want)), `scale gradient ${scale.grad[0]} vs ${want}`);
});

test("resuming a QAT run (BatchNorm, tracked or learned ranges) equals the uninterrupted run; other QAT settings are refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-qat-resume-"));
  try {
    const ds = bandDataset(48, 6);
    const m = resolveMultiplier("drum_k4_u8x8").multiplier;
    const start = trainModel(bnModel(), ds, null, { epochs: 1, batchSize: 16, lr: 0.05, seed: 2, quiet: true }).model;
    const weights = (model: Model) => [...collectParams(model).map((p) => p.data), ...collectBuffers(model).map((b) => b.data)];
    for (const ranges of ["track", "learn"] as const) {
      const config: TrainConfig = { epochs: 3, batchSize: 16, lr: 0.02, seed: 5, quiet: true, schedule: { kind: "cosine" }, qat: qatConfig(start, m, ds, { ranges, reestimateBatches: 2 }) };
      const full = trainModel(start, ds, null, config);
      const ckpt = join(dir, ranges);
      assert.throws(() => trainModel(start, ds, null, { ...config, checkpointDir: ckpt, onEpoch: (e) => {
        if (e.epoch === 2) throw new Error("interrupted");
      } }), /interrupted/);
      const resumed = trainModel(start, ds, null, { ...config, checkpointDir: ckpt, resume: true });
      assert.equal(resumed.startEpoch, 2);
      assert.deepEqual(weights(resumed.model), weights(full.model), ranges);
      assert.deepEqual(resumed.qatInputs, full.qatInputs, `${ranges}: input parameters`);
      assert.deepEqual(resumed.history.map((h) => h.trainLoss), full.history.map((h) => h.trainLoss));
      // The ranges did move: they are not the calibration of the final weights.
      assert.notDeepEqual(full.qatInputs, Object.fromEntries([...qatLayers(full.model, config.qat!)].map(([n, l]) => [n, l.input])), `${ranges}: ranges moved`);

      const refused = (qat: Partial<QatConfig>, pattern: RegExp) => assert.throws(
        () => trainModel(start, ds, null, { ...config, qat: { ...config.qat!, ...qat }, checkpointDir: ckpt, resume: true }),
        (e: unknown) => e instanceof AxnnError && pattern.test(e.message), String(pattern));
      refused({ gradient: "table" }, /QAT run with gradient "ste"/);
      refused({ ranges: ranges === "track" ? "learn" : "track" }, new RegExp(`ranges "${ranges}"`));
      refused({ arithmetic: new Map([...config.qat!.arithmetic].map(([n]) => [n, { kind: "exact", weightBits: 8 }])) }, /layers .*drum_k4_u8x8/);
      refused({ calibrationBatches: calibration(bandDataset(48, 7), 32) }, /calibration/);
      assert.throws(() => trainModel(start, ds, null, { ...config, qat: undefined, checkpointDir: ckpt, resume: true }), (e: unknown) => e instanceof AxnnError && /quantization-aware training run, this one is float/.test(e.message));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
