// Backward passes against central finite differences of the forward pass. The loss is a fixed
// random projection of the model's output, L = sum r_i y_i (accumulated in float64). In evaluation
// mode the finite differences run the reference float kernels of src/nn (runModel), independent
// of the training code; BatchNorm in training mode and dropout go through the training forward.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ModelBuilder } from "../src/nn/builder.js";
import type { Model } from "../src/nn/graph.js";
import { runModel } from "../src/nn/run.js";
import { makeTensor, Rng, type Tensor } from "../src/nn/tensor.js";
import { uniformRandom } from "../src/util/random.js";
import { buildZooModel } from "../src/zoo/index.js";
import { softmaxCrossEntropy } from "../src/train/backward.js";
import { backwardTape, forwardTape } from "../src/train/tape.js";
import { collectParams } from "../src/train/params.js";

interface CheckOptions {
  training?: boolean;
  dropout?: Record<string, number>;
  seed?: number;
  /** Coordinates checked per tensor. */
  samples?: number;
  /** Finite-difference step (also tried at half of it); default 2e-3. Deep ReLU networks need smaller steps to cross fewer kinks. */
  eps?: number;
  /** Allowed error: rtol * |gradient| + atol * (largest |gradient| of the tensor); defaults 1e-2 and 1e-3. */
  rtol?: number;
  atol?: number;
}

function gradCheck(model: Model, xShape: number[], opts: CheckOptions = {}): { checked: number } {
  const rng = new Rng(opts.seed ?? 3);
  const x = rng.uniformTensor(xShape, -1, 1);
  const out = model.outputs[0]!;
  const inName = model.inputs[0]!.name;
  const viaTape = opts.training === true || opts.dropout !== undefined;
  const forward = (): Float32Array => {
    if (viaTape) {
      // The same dropout mask on every call: a fresh generator with the same seed.
      return forwardTape(model, { [inName]: x }, { training: opts.training ?? false, dropout: opts.dropout, random: uniformRandom(11) }).values.get(out)!.data;
    }
    return runModel(model, { [inName]: x })[out]!.data;
  };
  const y0 = forward();
  const r = new Float64Array(y0.length);
  for (let i = 0; i < r.length; i++) r[i] = rng.uniform() * 2 - 1;
  const loss = (): number => {
    const y = forward();
    let s = 0;
    for (let i = 0; i < y.length; i++) s += r[i]! * y[i]!;
    return s;
  };
  const params = collectParams(model);
  const tape = forwardTape(model, { [inName]: x }, { training: opts.training ?? false, dropout: opts.dropout, random: uniformRandom(11) });
  const inputGrads = backwardTape(tape, new Map([[out, Float32Array.from(r)]]), params, { inputGradients: true });
  const targets: { name: string; data: Float32Array; grad: Float32Array }[] = [
    { name: `input ${inName}`, data: x.data, grad: inputGrads.get(inName)! },
    ...params.map((p) => ({ name: p.name, data: p.data, grad: p.grad })),
  ];
  let checked = 0, skipped = 0;
  for (const t of targets) {
    assert.ok(t.grad, `no gradient for ${t.name}`);
    assert.equal(t.grad.length, t.data.length, `${t.name}: gradient length`);
    let scale = 0;
    for (const g of t.grad) scale = Math.max(scale, Math.abs(g));
    const count = Math.min(opts.samples ?? 10, t.data.length);
    for (let s = 0; s < count; s++) {
      const i = count === t.data.length ? s : Math.floor(rng.uniform() * t.data.length);
      const orig = t.data[i]!;
      const central = (eps: number): number => {
        t.data[i] = orig + eps;
        const hi = t.data[i]!;
        const lp = loss();
        t.data[i] = orig - eps;
        const lo = t.data[i]!;
        const lm = loss();
        t.data[i] = orig;
        return (lp - lm) / (hi - lo);
      };
      const eps = opts.eps ?? 2e-3;
      const n1 = central(eps), n2 = central(eps / 2);
      // Two step sizes that disagree mean a kink (ReLU, max, clip) inside the step: no derivative to compare.
      if (Math.abs(n1 - n2) > 0.02 * Math.max(Math.abs(n1), Math.abs(n2)) + 1e-3 * scale) {
        skipped++;
        continue;
      }
      const a = t.grad[i]!;
      const tol = (opts.rtol ?? 1e-2) * Math.max(Math.abs(a), Math.abs(n1)) + (opts.atol ?? 1e-3) * Math.max(scale, 1e-3);
      assert.ok(Math.abs(a - n1) <= tol, `${t.name}[${i}]: backward ${a}, finite difference ${n1} (tolerance ${tol})`);
      checked++;
    }
  }
  assert.ok(skipped <= 0.25 * (checked + skipped), `too many coordinates at kinks: ${skipped} of ${checked + skipped}`);
  return { checked };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test("Conv2D gradients: random strides, asymmetric padding, dilations and groups; native kernels and TypeScript loops", () => {
  const rng = new Rng(42);
  const pick = (lo: number, hi: number): number => lo + Math.floor(rng.uniform() * (hi - lo + 1));
  type Geometry = { groups: number; inC: number; outC: number; k: [number, number]; stride: [number, number]; dilation: [number, number]; padding: [number, number, number, number]; h: number; w: number };
  const geometries: Geometry[] = [];
  for (let trial = 0; trial < 6; trial++) {
    const groups = pick(1, 3);
    geometries.push({
      groups, inC: groups * pick(1, 2), outC: groups * pick(1, 6), // up to 6 per group: blocks of 4 and a remainder
      k: [pick(1, 3), pick(1, 3)], stride: [pick(1, 2), pick(1, 2)], dilation: [pick(1, 2), pick(1, 2)],
      padding: [pick(0, 2), pick(0, 2), pick(0, 2), pick(0, 2)], h: pick(5, 8), w: pick(5, 8),
    });
  }
  // Stride 1 with one group: dilated with asymmetric pads, and a 1x1 kernel padded by more than its extent.
  geometries.push({ groups: 1, inC: 3, outC: 5, k: [3, 2], stride: [1, 1], dilation: [2, 1], padding: [1, 0, 3, 1], h: 7, w: 6 });
  geometries.push({ groups: 1, inC: 2, outC: 4, k: [1, 1], stride: [1, 1], dilation: [1, 1], padding: [1, 1, 0, 1], h: 4, w: 5 });
  geometries.forEach((g, trial) => {
    const b = new ModelBuilder("conv", { seed: trial + 1 });
    const x = b.input("x", [null, g.inC, g.h, g.w]);
    b.output(b.conv2d(x, { outChannels: g.outC, kernel: g.k, stride: g.stride, dilation: g.dilation, padding: g.padding, groups: g.groups, bias: trial % 2 === 0 ? undefined : false }));
    const model = b.build();
    // The training forward (fast kernels) agrees with the reference forward.
    const xt = new Rng(trial).uniformTensor([2, g.inC, g.h, g.w]);
    const ref = runModel(model, { x: xt })[model.outputs[0]!]!;
    const mine = forwardTape(model, { x: xt }, { training: false }).values.get(model.outputs[0]!)!;
    assert.deepEqual(mine.shape, ref.shape);
    assert.ok(maxAbsDiff(mine.data, ref.data) < 1e-4, `trial ${trial}: forward differs`);
    gradCheck(model, [2, g.inC, g.h, g.w], { seed: trial });
  });
});

test("DepthwiseConv2D gradients (multiplier 2, stride 2, same padding) and Dense on rank 2 and 3", () => {
  let b = new ModelBuilder("dw", { seed: 2 });
  let x = b.input("x", [null, 3, 7, 6]);
  b.output(b.depthwiseConv2d(x, { kernel: 3, multiplier: 2, stride: 2, padding: "same" }));
  gradCheck(b.build(), [2, 3, 7, 6]);

  b = new ModelBuilder("dense", { seed: 3 });
  x = b.input("x", [null, 7]);
  b.output(b.dense(x, { outFeatures: 5 }));
  gradCheck(b.build(), [3, 7], { samples: 40 });

  b = new ModelBuilder("dense3", { seed: 4 });
  x = b.input("x", [null, 3, 6]);
  b.output(b.dense(b.dense(x, { outFeatures: 4, bias: false }), { outFeatures: 2 }));
  gradCheck(b.build(), [2, 3, 6], { samples: 30 });
});

test("BatchNorm gradients in training mode (batch statistics) and evaluation mode (running statistics)", () => {
  const rng = new Rng(9);
  const c = 3;
  const tensor = (lo: number, hi: number): Tensor => rng.uniformTensor([c], lo, hi);
  const build = (): Model => {
    const b = new ModelBuilder("bn", { seed: 5 });
    const x = b.input("x", [null, 2, 5, 5]);
    const h = b.conv2d(x, { outChannels: c, kernel: 3, padding: 1 });
    b.output(b.batchNorm(h, { scale: tensor(0.5, 1.5), bias: tensor(-0.5, 0.5), mean: tensor(-0.2, 0.2), variance: tensor(0.5, 2) }));
    return b.build();
  };
  gradCheck(build(), [3, 2, 5, 5], { training: true, samples: 15 });
  gradCheck(build(), [3, 2, 5, 5], { training: false, samples: 15 });
});

test("BatchNorm training forward normalises with batch statistics and updates the running averages", () => {
  const b = new ModelBuilder("bn", { seed: 1 });
  const x = b.input("x", [null, 2, 2, 2]);
  b.output(b.batchNorm(x, { epsilon: 0 }));
  const model = b.build();
  // Channel 0 holds 1..8 (mean 4.5, biased variance 5.25, unbiased 6), channel 1 holds 2 everywhere but one 10.
  const data = [1, 2, 3, 4, 2, 2, 2, 2, 5, 6, 7, 8, 2, 2, 2, 10];
  const out = forwardTape(model, { x: makeTensor([2, 2, 2, 2], data) }, { training: true }).values.get(model.outputs[0]!)!;
  assert.ok(Math.abs(out.data[0]! - (1 - 4.5) / Math.sqrt(5.25)) < 1e-6);
  assert.ok(Math.abs(out.data[11]! - (8 - 4.5) / Math.sqrt(5.25)) < 1e-6);
  const bn = model.nodes.find((n) => n.op === "BatchNorm")!;
  assert.ok(bn.op === "BatchNorm");
  // PyTorch convention, momentum 0.1: running = 0.9 old + 0.1 batch, with the unbiased variance.
  assert.ok(Math.abs(bn.mean.data[0]! - 0.45) < 1e-6);
  assert.ok(Math.abs(bn.variance.data[0]! - (0.9 + 0.6)) < 1e-6);
  assert.ok(Math.abs(bn.mean.data[1]! - 0.1 * 3) < 1e-6);
  assert.ok(Math.abs(bn.variance.data[1]! - (0.9 + 0.1 * (7 * 1 + 49) / 7)) < 1e-5);
});

test("activation and pooling gradients: Relu, Relu6, Clip, MaxPool, AvgPool, GlobalAvgPool", () => {
  const b = new ModelBuilder("act", { seed: 6 });
  const x = b.input("x", [null, 2, 9, 9]);
  const h = b.conv2d(x, { outChannels: 4, kernel: 3, padding: 1 });
  const a = b.maxPool(b.relu(h), { kernel: 3, stride: 2, padding: 1, dilation: [1, 2] });
  const c = b.avgPool(b.clip(h, -0.3, 0.4), { kernel: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false });
  const d = b.avgPool(b.relu6(b.binary("Mul", h, b.constant("k", makeTensor([1], [4])))), { kernel: 2, stride: 2, padding: [1, 1, 0, 0], countIncludePad: true });
  b.output(b.concat([b.flatten(a), b.flatten(c), b.flatten(d), b.flatten(b.globalAvgPool(h))], 1));
  gradCheck(b.build(), [2, 2, 9, 9], { samples: 30 });
});

test("element-wise ops with broadcasting, Concat, Transpose, Reshape, Softmax, Pad and ReduceMean", () => {
  const b = new ModelBuilder("misc", { seed: 7 });
  const x = b.input("x", [null, 2, 5, 4]);
  const h = b.conv2d(x, { outChannels: 3, kernel: 3, padding: 1 });
  const g = b.globalAvgPool(b.conv2d(x, { outChannels: 3, kernel: 1 })); // [N, 3, 1, 1], broadcast over H, W
  const k = b.constant("k", new Rng(1).uniformTensor([1, 3, 1, 1]));
  const sum = b.add(h, g);
  const diff = b.binary("Sub", k, h);
  const prod = b.binary("Mul", h, g);
  const denominator = b.add(b.relu(g), b.constant("two", makeTensor([1], [2])));
  const quot = b.binary("Div", h, denominator);
  const cat = b.concat([sum, diff, prod, quot], 1); // [N, 12, 5, 4]
  const t = b.transpose(cat, [0, 2, 3, 1]); // [N, 5, 4, 12]
  const s = b.softmax(b.reshape(t, [0, 20, 12]), -1);
  const p = b.pad(b.reshape(s, [0, 1, 20, 12]), [0, 0, 1, 2, 0, 0, 2, 1]);
  const m = b.reduceMean(p, [3], true);
  b.output(b.concat([b.flatten(m), b.flatten(b.dense(b.flatten(p), { outFeatures: 3 }))], 1));
  gradCheck(b.build(), [2, 2, 5, 4], { samples: 25 });
});

test("dropout (an Identity marked by name) in training mode: seeded mask, gradient through it", () => {
  const b = new ModelBuilder("drop", { seed: 8 });
  const x = b.input("x", [null, 10]);
  b.output(b.dense(b.dropout(b.dense(x, { outFeatures: 12 }), "drop"), { outFeatures: 3 }));
  const model = b.build();
  gradCheck(model, [4, 10], { dropout: { drop: 0.5 }, samples: 30 });
  const xt = new Rng(1).uniformTensor([4, 10]);
  const hidden = (training: boolean): Float32Array => forwardTape(model, { x: xt }, { training, dropout: { drop: 0.5 }, random: uniformRandom(5) }).values.get("drop")!.data;
  const before = forwardTape(model, { x: xt }, { training: false }).values.get("dense1")!.data;
  const dropped = hidden(true);
  let zeros = 0;
  for (let i = 0; i < dropped.length; i++) {
    if (dropped[i] === 0) zeros++;
    else assert.ok(Math.abs(dropped[i]! - 2 * before[i]!) < 1e-6, "kept units are scaled by 1 / (1 - rate)");
  }
  assert.ok(zeros > 8 && zeros < 40, `${zeros} of 48 dropped`);
  assert.deepEqual(hidden(false), before);
});

test("softmax cross-entropy: loss by hand and gradient against finite differences", () => {
  const logits = makeTensor([2, 3], [1, 2, 3, 0, 0, 0]);
  const r = softmaxCrossEntropy(logits, [2, 1]);
  const e = Math.exp(1) + Math.exp(2) + Math.exp(3);
  const expected = (-Math.log(Math.exp(3) / e) + Math.log(3)) / 2;
  assert.ok(Math.abs(r.loss - expected) < 1e-9);
  assert.equal(r.correct, 1); // row 0 predicts 2 (right); row 1 ties, argmax 0 (wrong)
  const rng = new Rng(4);
  const big = rng.uniformTensor([4, 5], -3, 3);
  const labels = [0, 4, 2, 2];
  const g = softmaxCrossEntropy(big, labels).grad;
  for (let i = 0; i < big.data.length; i++) {
    const orig = big.data[i]!;
    big.data[i] = orig + 1e-3;
    const up = softmaxCrossEntropy(big, labels).loss;
    big.data[i] = orig - 1e-3;
    const down = softmaxCrossEntropy(big, labels).loss;
    big.data[i] = orig;
    assert.ok(Math.abs((up - down) / 2e-3 - g[i]!) < 1e-4, `logit ${i}`);
  }
});

// A deep float32 network: the finite differences carry rounding noise of the order of 1e-3 of the
// gradients, hence looser tolerances than the per-op checks above. (MobileNetV2 with identity
// BatchNorms has so many ReLU6 units near a kink that no float32 step gives a clean difference.)
test("a whole network from the zoo: ResNet-8 gradients in training mode", () => {
  const resnet = buildZooModel("resnet8", { width: 0.25, inputShape: [3, 12, 12], classes: 3, seed: 2 });
  gradCheck(resnet, [2, 3, 12, 12], { training: true, samples: 4, eps: 2e-4, rtol: 5e-2, atol: 2e-2 });
});
