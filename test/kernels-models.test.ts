// Whole models on every kernel backend (test/backends.ts): quantized inference, QAT's forward and
// backward pass, and an evaluation, each compared with the TypeScript reference backend. Integer
// paths (the quantized engine, QAT's forward) must agree bit for bit; float32 gradients up to
// summation order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ModelBuilder } from "../src/nn/builder.js";
import type { Model } from "../src/nn/graph.js";
import { Rng, type Tensor } from "../src/nn/tensor.js";
import { EXACT_INT8, quantizeModel, type LayerArithmetic } from "../src/quant/index.js";
import { resolveMultiplier } from "../src/multipliers/resolve.js";
import { kernelBackend, type BackendName } from "../src/kernels/index.js";
import { qatLayers, type QatArithmetic } from "../src/train/qat.js";
import { backwardTape, forwardTape } from "../src/train/tape.js";
import { cloneModelForTraining, collectParams } from "../src/train/params.js";
import { evaluatePass, prepareEvaluation, runner } from "../src/eval/index.js";
import { onBackend, onEveryBackend } from "./backends.js";

const onTypescript = <T>(fn: () => T): T => onBackend("typescript", fn);

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Strided, padded, depthwise and dense layers, a BatchNorm folded into the first conv. */
function net(): Model {
  const b = new ModelBuilder("every-backend", { seed: 11 });
  const x = b.input("x", [null, 3, 9, 9]);
  let h = b.relu(b.batchNorm(b.conv2d(x, { outChannels: 6, kernel: 3, padding: 1, stride: 2, bias: false, name: "conv" })));
  h = b.relu(b.conv2d(h, { outChannels: 6, kernel: 3, padding: 1, groups: 6, name: "depthwise" }));
  b.output(b.dense(b.flatten(h), { outFeatures: 5, name: "head" }));
  return b.build();
}

const input = (n: number, seed: number): Tensor => new Rng(seed).uniformTensor([n, 3, 9, 9]);

test("quantized inference (exact int8 and tables, asym and sym per channel) is bit for bit the TypeScript reference's on every backend", async (t) => {
  const model = net();
  const x = input(5, 2);
  const cases: { name: string; q: ReturnType<typeof quantizeModel>; arithmetic: LayerArithmetic }[] = [];
  for (const [scheme, perChannel, mult] of [["asym", false, "drum_k3_u8x8"], ["sym", true, "exact_s8x8"]] as const) {
    const q = quantizeModel(model, [{ x }], { scheme, perChannel, calibration: { method: "minmax" } });
    cases.push({ name: `${scheme} int8`, q, arithmetic: EXACT_INT8 });
    cases.push({ name: `${scheme} ${mult}`, q, arithmetic: { kind: "lut", multiplier: resolveMultiplier(mult).multiplier } });
  }
  const run = (c: (typeof cases)[number]) => c.q.run({ x }, c.arithmetic)[model.outputs[0]!]!.data;
  const want = onTypescript(() => cases.map(run));
  // The table and int8 differ (drum), and the outputs are not degenerate: the comparison can fail.
  assert.notDeepEqual(want[0], want[1]);
  assert.ok(want.every((w) => new Set(w).size > 10));
  const covered = await onEveryBackend(t, () => {
    cases.forEach((c, i) => assert.deepEqual(bits(run(c)), bits(want[i]!), `${kernelBackend()}: ${c.name}`));
  });
  assert.ok(covered.includes("typescript") && covered.length >= 1);
});

test("QAT: the forward pass is bit for bit the reference's on every backend, the STE gradients agree to float32 rounding", async (t) => {
  const model = cloneModelForTraining(net());
  const x = input(4, 3);
  const layers = ["conv", "depthwise", "head"];
  // Calibrated once: the calibration's float forward may round differently on each backend.
  const configs = new Map<QatArithmetic, ReturnType<typeof qatLayers>>();
  const layersFor = (arith: QatArithmetic) => configs.get(arith) ?? configs.set(arith, qatLayers(model, {
    arithmetic: new Map(layers.map((l) => [l, arith])), quant: { scheme: "asym", perChannel: false, calibration: { method: "minmax" } }, calibrationBatches: [{ x }],
  })).get(arith)!;
  const step = (arith: QatArithmetic) => {
    const qat = layersFor(arith);
    const tape = forwardTape(model, { x }, { training: false, qat });
    const out = tape.values.get(model.outputs[0]!)!;
    const params = collectParams(model);
    for (const p of params) p.grad.fill(0);
    backwardTape(tape, new Map([[model.outputs[0]!, Float32Array.from(out.data, (_v, i) => ((i * 7) % 5) - 2)]]), params);
    return { out: out.data.slice(), grads: params.map((p) => p.grad.slice()) };
  };
  const ariths: QatArithmetic[] = [{ kind: "exact", weightBits: 8 }, { kind: "lut", multiplier: resolveMultiplier("drum_k3_u8x8").multiplier }];
  const want = onTypescript(() => ariths.map(step));
  assert.notDeepEqual(want[0]!.out, want[1]!.out);
  await onEveryBackend(t, (name: BackendName) => {
    ariths.forEach((a, i) => {
      const got = step(a);
      assert.deepEqual(bits(got.out), bits(want[i]!.out), `${name}: ${a.kind} forward`);
      got.grads.forEach((g, k) => {
        const w = want[i]!.grads[k]!;
        const scale = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        assert.ok(scale > 0, `parameter ${k} has a gradient`);
        g.forEach((v, j) => assert.ok(Math.abs(v - w[j]!) <= 1e-5 * scale, `${name}: ${a.kind} gradient ${k}[${j}] ${v} vs ${w[j]}`));
      });
    });
  });
});

test("evaluation (MNIST, float, int8 and an approximate multiplier) predicts the same classes on every backend", async (t) => {
  const b = new ModelBuilder("mnist-tiny", { seed: 3 });
  const xi = b.input("x", [null, 1, 28, 28]);
  b.output(b.dense(b.flatten(b.maxPool(b.relu(b.conv2d(xi, { outChannels: 4, kernel: 5, padding: 2, name: "conv" })), { kernel: 4 })), { outFeatures: 10, name: "head" }));
  const p = prepareEvaluation({ model: b.build(), data: "mnist", limit: 48, calibrationSize: 32, mult: "drum_k3_u8x8" });
  const passes = () => [runner(p, p.exact), runner(p, p.approximate)].map((r) => evaluatePass(p.batches, r).predictions);
  const want = onTypescript(passes);
  assert.equal(want[0]!.length, 48);
  await onEveryBackend(t, (name) => {
    passes().forEach((got, i) => assert.deepEqual(got, want[i], `${name}: pass ${i}`));
  });
});
