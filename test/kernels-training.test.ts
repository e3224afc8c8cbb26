// The forward-pass kernels of training (im2col + GEMM conv, BatchNorm moments / apply /
// backward, ReLU forward / backward) against their TypeScript references at every ISA level,
// within bounds derived from float32 rounding (ReLU: bit for bit); and bit-identical results for
// any thread count (training is deterministic for a seed).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  addFloat, availableIsaLevels, batchNormApply, batchNormBackward, channelMoments, conv2dFloatGemm, convGeometry, reluBackwardFloat, reluFloat,
  setKernelIsa, type ConvOptions, type IsaLevel,
} from "../src/kernels/index.js";
import {
  addReference, batchNormApplyReference, batchNormBackwardReference, channelMomentsReference, conv2dFloatReference, reluBackwardReference, reluReference,
} from "../src/kernels/reference.js";
import { AxnnError } from "../src/util/errors.js";
import { digestsPerThreadCount } from "./thread-counts.js";
import { nativeSkip } from "./shared.js";

const levels: IsaLevel[] = availableIsaLevels();
const skip = nativeSkip(levels.length);

/** Deterministic uniform [lo, lo + 2) floats, so that a failure can be replayed. */
function floats(seed: number, n: number, lo = -1): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 2 ** 31 + lo;
  });
}

function atEveryLevel(fn: (level: string) => void): void {
  try {
    for (const level of levels) {
      setKernelIsa(level);
      fn(level);
    }
  } finally {
    setKernelIsa(levels[levels.length - 1]!);
  }
}

function assertWithin(got: ArrayLike<number>, want: ArrayLike<number>, bound: (i: number) => number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const b = bound(i) + 1e-30;
    if (!(Math.abs(got[i]! - want[i]!) <= b)) assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (within ${b})`);
  }
}

const convCases: { name: string; inputShape: number[]; weightShape: number[]; options: ConvOptions }[] = [
  { name: "3x3 same", inputShape: [5, 6, 9, 8], weightShape: [16, 6, 3, 3], options: { padding: [1, 1, 1, 1] } },
  { name: "stride 2, asymmetric padding", inputShape: [3, 5, 11, 10], weightShape: [13, 5, 3, 3], options: { stride: [2, 2], padding: [0, 1, 2, 1] } },
  { name: "dilation, groups", inputShape: [2, 8, 12, 12], weightShape: [24, 4, 3, 3], options: { dilation: [2, 1], padding: [2, 1, 2, 1], groups: 2 } },
  { name: "one input channel (first layer)", inputShape: [7, 1, 14, 14], weightShape: [16, 1, 3, 3], options: { padding: [1, 1, 1, 1] } },
  { name: "1x1 stride 2, one image", inputShape: [1, 12, 9, 9], weightShape: [20, 12, 1, 1], options: { stride: [2, 2] } },
  { name: "many small images (chunks of several)", inputShape: [40, 16, 4, 4], weightShape: [32, 16, 3, 3], options: { padding: [1, 1, 1, 1] } },
];

test("conv2dFloatGemm matches the reference convolution: strides, dilations, asymmetric padding, groups, batches", { skip }, () => {
  convCases.forEach((c, i) => {
    const g = convGeometry("case", c.inputShape, c.weightShape, c.options);
    const x = floats(10 + i, g.N * g.C * g.H * g.W), w = floats(20 + i, c.weightShape.reduce((a, b) => a * b, 1));
    const want = conv2dFloatReference(x, w, g);
    const magnitude = conv2dFloatReference(x.map(Math.abs), w.map(Math.abs), g);
    // float32 sums of k terms are within k 2^-24 sum |a||b| of the exact one; 4x margin, plus the reference's own rounding.
    const terms = (g.C / g.groups) * g.R * g.S;
    atEveryLevel((level) => {
      const got = conv2dFloatGemm(x, c.inputShape, w, c.weightShape, c.options);
      assert.deepEqual(got.shape, [g.N, g.M, g.P, g.Q]);
      assertWithin(got.data, want, (e) => terms * 2 ** -22 * magnitude[e]! + 2 ** -23 * Math.abs(want[e]!), `${level} ${c.name}`);
    });
  });
});

test("conv2dFloatGemm gives a batch the same bits as its images one by one (chunking does not change the sums)", { skip }, () => {
  const cases: [number[], number[], ConvOptions][] = [
    [[40, 16, 28, 28], [16, 16, 3, 3], { padding: [1, 1, 1, 1] }],
    [[40, 8, 5, 5], [24, 4, 3, 3], { groups: 2, stride: [2, 2], padding: [1, 1, 1, 1] }],
  ];
  cases.forEach(([inputShape, weightShape, options], i) => {
    const [n, c, h, w] = inputShape as [number, number, number, number];
    const x = floats(70 + i, n * c * h * w), wt = floats(80 + i, weightShape.reduce((a, b) => a * b, 1));
    const all = conv2dFloatGemm(x, inputShape, wt, weightShape, options);
    const per = all.data.length / n;
    for (const img of [0, 17, n - 1]) {
      const one = conv2dFloatGemm(x.subarray(img * c * h * w, (img + 1) * c * h * w), [1, c, h, w], wt, weightShape, options);
      assert.deepEqual(one.data, all.data.subarray(img * per, (img + 1) * per), `case ${i}, image ${img}`);
    }
  });
});

test("BatchNorm kernels match their references: moments, normalisation, gradients with batch and running statistics", { skip }, () => {
  for (const [n, c, inner] of [[4, 3, 37], [16, 8, 49], [2, 5, 1], [1, 2, 300]] as [number, number, number][]) {
    const dims = { n, c, inner }, size = n * c * inner, count = n * inner;
    // Shifted data (mean far from 0) makes the variance's cancellation visible.
    const x = floats(n * 7 + c, size, 2), dy = floats(n + inner, size), scale = floats(3, c, -0.5), bias = floats(4, c);
    const want = channelMomentsReference(x, n, c, inner);
    const sumAbs = new Float64Array(c);
    for (let i = 0; i < size; i++) sumAbs[Math.floor(i / inner) % c]! += Math.abs(x[i]!);
    const invStd = want.variance.map((v) => 1 / Math.sqrt(v + 1e-5));
    atEveryLevel((level) => {
      const what = `${level} [${n}, ${c}, ${inner}]`;
      const got = channelMoments(x, dims);
      assertWithin(got.mean, want.mean, (ch) => inner * 2 ** -22 * (sumAbs[ch]! / count), `${what} mean`);
      // The deviations are taken from the float32-rounded mean: one more rounding of the mean, squared.
      assertWithin(got.variance, want.variance, (ch) => inner * 2 ** -22 * want.variance[ch]! + 2 ** -40 * (sumAbs[ch]! / count) ** 2, `${what} variance`);

      const out = batchNormApply(x, dims, want.mean, invStd, scale, bias);
      const outWant = batchNormApplyReference(x, n, c, inner, want.mean, invStd, scale, bias);
      assertWithin(out, outWant, (i) => {
        const ch = Math.floor(i / inner) % c, a = Math.abs(scale[ch]! * invStd[ch]!);
        return 2 ** -21 * (Math.abs(x[i]!) * a + Math.abs(want.mean[ch]!) * a + Math.abs(bias[ch]!));
      }, `${what} apply`);

      for (const batchStats of [true, false]) {
        const r = batchNormBackward(x, dy, dims, want.mean, invStd, scale, { batchStats });
        const ref = batchNormBackwardReference(x, dy, n, c, inner, want.mean, invStd, scale, batchStats);
        // Per channel: sum |dy| and sum |dy| |xhat| with xhat's own float32 rounding error.
        const sDy = new Float64Array(c), sDx = new Float64Array(c);
        const xhatAbs = (i: number, ch: number): number => (Math.abs(x[i]!) + Math.abs(want.mean[ch]!)) * invStd[ch]!;
        for (let i = 0; i < size; i++) {
          const ch = Math.floor(i / inner) % c;
          sDy[ch]! += Math.abs(dy[i]!);
          sDx[ch]! += Math.abs(dy[i]!) * xhatAbs(i, ch);
        }
        const biasBound = (ch: number): number => inner * 2 ** -22 * sDy[ch]!;
        const scaleBound = (ch: number): number => (inner + 4) * 2 ** -22 * sDx[ch]!;
        assertWithin(r.dBias, ref.dBias, biasBound, `${what} dBias`);
        assertWithin(r.dScale, ref.dScale, scaleBound, `${what} dScale`);
        assertWithin(r.dInput!, ref.dInput, (i) => {
          const ch = Math.floor(i / inner) % c, k1 = Math.abs(scale[ch]! * invStd[ch]!);
          if (!batchStats) return 2 ** -21 * k1 * Math.abs(dy[i]!);
          const mb = sDy[ch]! / count, mg = sDx[ch]! / count, xa = xhatAbs(i, ch);
          return k1 * (2 ** -20 * (Math.abs(dy[i]!) + mb + xa * mg) + biasBound(ch) / count + xa * scaleBound(ch) / count);
        }, `${what} dInput (batchStats ${batchStats})`);
        assert.equal(batchNormBackward(x, dy, dims, want.mean, invStd, scale, { batchStats, needInput: false }).dInput, null);
      }
    });
  }
});

test("ReLU forward and backward, and Add, are bit-identical to the reference, zeros and NaN included", { skip }, () => {
  const x = floats(5, 100_003);
  x[0] = 0; x[1] = -0; x[2] = NaN; x[3] = Infinity; x[4] = -Infinity;
  const dy = floats(6, x.length);
  atEveryLevel((level) => {
    assert.deepEqual(reluFloat(x), reluReference(x), `${level} relu`);
    assert.deepEqual(reluBackwardFloat(x, dy), reluBackwardReference(x, dy), `${level} relu backward`);
    assert.deepEqual(addFloat(x, dy), addReference(x, dy), `${level} add`);
  });
  assert.ok(Object.is(reluFloat(x)[1], 0));
});

test("training forward kernels are bit-identical for 1, 2 and 3 threads", { skip }, () => {
  const digests = digestsPerThreadCount(`
    for (const [xs, ws, o] of [[[9, 16, 12, 12], [24, 16, 3, 3], { padding: [1, 1, 1, 1] }], [[3, 8, 20, 20], [32, 8, 3, 3], { stride: [2, 2] }], [[64, 16, 5, 5], [16, 16, 3, 3], { padding: [1, 1, 1, 1] }]]) {
      const n = (s) => s.reduce((a, b) => a * b, 1);
      add(k.conv2dFloatGemm(rand(n(xs)), xs, rand(n(ws)), ws, o).data);
    }
    const dims = { n: 12, c: 24, inner: 200 }, x = rand(12 * 24 * 200), dy = rand(x.length);
    const m = k.channelMoments(x, dims);
    add(m.mean); add(m.variance);
    const invStd = m.variance.map((v) => 1 / Math.sqrt(v + 1e-5));
    add(k.batchNormApply(x, dims, m.mean, invStd, rand(24), rand(24)));
    const g = k.batchNormBackward(x, dy, dims, m.mean, invStd, rand(24), { batchStats: true });
    add(g.dInput); add(g.dScale); add(g.dBias);
    add(k.reluFloat(x)); add(k.reluBackwardFloat(x, dy)); add(k.addFloat(x, dy));
  `);
  assert.equal(new Set(digests).size, 1, `digests differ: ${digests.join(", ")}`);
});

test("training forward kernels reject wrong arguments with AxnnError naming them", () => {
  const field = (name: string) => (e: unknown) => e instanceof AxnnError && e.message.includes(name);
  const dims = { n: 2, c: 3, inner: 4 };
  const x = new Float32Array(24), m = new Float64Array(3), f3 = new Float32Array(3);
  assert.throws(() => conv2dFloatGemm(x, [2, 3, 2, 2], new Float32Array(5), [4, 3, 3, 3]), field("conv2dFloatGemm weights"));
  assert.throws(() => channelMoments(new Float32Array(23), dims), field("channelMoments input"));
  assert.throws(() => channelMoments(x, { n: 2, c: 0, inner: 12 }), field("channelMoments dims"));
  assert.throws(() => batchNormApply(x, dims, m, new Float64Array(2), f3, f3), field("batchNormApply invStd"));
  assert.throws(() => batchNormApply(x, dims, m, m, new Float64Array(3) as unknown as Float32Array, f3), field("batchNormApply scale"));
  assert.throws(() => batchNormBackward(x, new Float32Array(20), dims, m, m, f3, { batchStats: true }), field("batchNormBackward outputGrad"));
  assert.throws(() => reluBackwardFloat(x, new Float32Array(3)), field("reluBackwardFloat outputGrad"));
  assert.throws(() => reluFloat(x, { out: new Float32Array(3) }), field("reluFloat out"));
  assert.throws(() => addFloat(x, new Float32Array(5)), field("addFloat b"));
});
