// The WebGPU backend's kernels against the TypeScript reference, bit for bit for the integer
// kernels: random shapes, strides, paddings, dilations, groups, depthwise, dense, adversarial
// tables (every product width, int32 extremes) and sums that overflow int32. Skips with a message
// when no WebGPU adapter can be created, unless AXNN_REQUIRE_GPU=1 (CI), where that fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  conv2dBackwardFloat, conv2dExact, conv2dFloat, conv2dLut, denseBackwardFloat, denseExact, denseFloat, denseLut, depthwiseExact, depthwiseLut, gemmFloat,
  kernelBackend, setBackend, type LutTable,
} from "../src/kernels/index.js";
import {
  conv2dBackwardFloatReference, conv2dFloatReference, conv2dIntReference, denseBackwardFloatReference, denseFloatReference, denseIntReference,
  dequantizeAccReference, exactProduct, gemmFloatReference, lutProduct,
} from "../src/kernels/reference.js";
import { convGeometry, denseGeometry, type ConvOptions } from "../src/kernels/geometry.js";
import { webGpuAdapter, webGpuDequantize } from "../src/kernels/webgpu/backend.js";
import { exactMultiplier } from "../src/multipliers/multiplier.js";

const adapter = webGpuAdapter();
if (!adapter.info && process.env.AXNN_REQUIRE_GPU === "1") {
  throw new Error(`AXNN_REQUIRE_GPU=1 but no WebGPU adapter: ${adapter.why} (CI installs SwiftShader: chromium-common, VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json)`);
}
const skip = !adapter.info && `${adapter.why}; set VK_ICD_FILENAMES to a Vulkan driver, e.g. SwiftShader's`;
if (adapter.info) console.log(`WebGPU adapter: ${adapter.info.description} (${adapter.info.vendor} ${adapter.info.architecture})`);

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
}
const codes = (rand: (n: number) => number, n: number, max: number) => Uint8Array.from({ length: n }, () => rand(max));

function tables(rand: (n: number) => number): { name: string; lut: LutTable }[] {
  const random = (bits: number, lo: number, hi: number) => ({ table: Int32Array.from({ length: 256 << bits }, () => lo + rand(hi - lo + 1)), weightBits: bits });
  return [
    { name: "exact s8x8", lut: exactMultiplier(true, 8) },
    { name: "exact u8x2", lut: exactMultiplier(false, 2) },
    { name: "random 8x4, 3 bytes", lut: random(4, -5_000_000, 5_000_000) },
    { name: "random 8x8, int32", lut: { table: Int32Array.from({ length: 65536 }, () => (rand(65536) << 16) | rand(65536)), weightBits: 8 } },
    // int32 extremes: every sum of more than one product overflows.
    { name: "extremes 8x8", lut: { table: Int32Array.from({ length: 65536 }, (_v, i) => (i % 3 === 0 ? -0x80000000 : 0x7fffffff)), weightBits: 8 } },
  ];
}

/** Runs fn on the GPU and then restores the backend in use before. */
function onGpu<T>(fn: () => T): T {
  const before = kernelBackend();
  setBackend("webgpu");
  try {
    return fn();
  } finally {
    setBackend(before);
  }
}

function randomConv(rand: (n: number) => number): { inputShape: number[]; weightShape: number[]; options: ConvOptions & { padCode: number } } {
  const groups = 1 + rand(3);
  const C = groups * (1 + rand(4)), M = groups * (1 + rand(3));
  const R = 1 + rand(4), S = 1 + rand(4);
  const dilation: [number, number] = [1 + rand(2), 1 + rand(2)];
  const stride: [number, number] = [1 + rand(3), 1 + rand(3)];
  const padding: [number, number, number, number] = [rand(3), rand(3), rand(3), rand(3)];
  const H = Math.max(1, (R - 1) * dilation[0] + 1 - padding[0] - padding[2]) + rand(12);
  const W = Math.max(1, (S - 1) * dilation[1] + 1 - padding[1] - padding[3]) + rand(15);
  return { inputShape: [1 + rand(3), C, H, W], weightShape: [M, C / groups, R, S], options: { groups, stride, padding, dilation, padCode: rand(256) } };
}

test("WebGPU conv2d through tables and exact products equals the reference bit for bit (odd shapes, every table width, overflowing sums)", { skip }, () => {
  const rand = rng(21);
  for (const { name, lut } of tables(rand)) {
    for (let i = 0; i < 4; i++) {
      const c = randomConv(rand);
      const x = codes(rand, c.inputShape.reduce((a, b) => a * b), 256), w = codes(rand, c.weightShape.reduce((a, b) => a * b), 1 << lut.weightBits);
      const g = convGeometry("t", c.inputShape, c.weightShape, c.options);
      const want = conv2dIntReference(x, w, g, lutProduct(lut.table, lut.weightBits), c.options.padCode);
      const signed = i % 2 === 0;
      const wantExact = conv2dIntReference(x, w, g, exactProduct(signed), c.options.padCode);
      const [got, gotExact] = onGpu(() => [conv2dLut(x, c.inputShape, w, c.weightShape, lut, c.options).data, conv2dExact(x, c.inputShape, w, c.weightShape, signed, c.options).data]);
      assert.deepEqual(got, want, `${name}, ${JSON.stringify(c)}`);
      assert.deepEqual(gotExact, wantExact, `exact signed=${signed}, ${JSON.stringify(c)}`);
    }
  }
});

test("WebGPU: long reductions wrap like int32; depthwise and dense equal the reference", { skip }, () => {
  const rand = rng(22);
  const extremes = tables(rand)[4]!.lut;
  // 40 x 3 x 3 = 360 taps of +-2^31: the sums wrap many times.
  const inputShape = [1, 40, 7, 9], weightShape = [3, 40, 3, 3], options = { padding: [1, 1, 1, 1] as const, padCode: 5 };
  const x = codes(rand, 40 * 63, 256), w = codes(rand, 3 * 360, 256);
  const g = convGeometry("t", inputShape, weightShape, options);
  const want = conv2dIntReference(x, w, g, lutProduct(extremes.table, 8), 5);
  assert.ok(new Set(want).size > 5, "the wrapped sums are varied");
  assert.deepEqual(onGpu(() => conv2dLut(x, inputShape, w, weightShape, extremes, options).data), want);

  for (const { name, lut } of tables(rand)) {
    const C = 1 + rand(5), mult = 1 + rand(2);
    const dShape = [2, C, 6 + rand(8), 5 + rand(9)], dwShape = [C * mult, 1, 3, 3], dOptions = { stride: [2, 1] as [number, number], padding: [1, 0, 2, 1] as [number, number, number, number], padCode: rand(256) };
    const dx = codes(rand, dShape.reduce((a, b) => a * b), 256), dw = codes(rand, C * mult * 9, 1 << lut.weightBits);
    const dg = convGeometry("t", dShape, dwShape, { ...dOptions, groups: C });
    assert.deepEqual(onGpu(() => depthwiseLut(dx, dShape, dw, dwShape, lut, dOptions).data), conv2dIntReference(dx, dw, dg, lutProduct(lut.table, lut.weightBits), dOptions.padCode), `depthwise ${name}`);
    assert.deepEqual(onGpu(() => depthwiseExact(dx, dShape, dw, dwShape, true, dOptions).data), conv2dIntReference(dx, dw, dg, exactProduct(true), dOptions.padCode), `depthwise exact ${name}`);
    const B = 1 + rand(4), K = 1 + rand(700), M = 1 + rand(20);
    const ix = codes(rand, B * K, 256), iw = codes(rand, M * K, 1 << lut.weightBits);
    const gd = denseGeometry("t", [B, K], [M, K]);
    assert.deepEqual(onGpu(() => denseLut(ix, [B, K], iw, [M, K], lut).data), denseIntReference(ix, iw, gd, lutProduct(lut.table, lut.weightBits)), `dense ${name}`);
    assert.deepEqual(onGpu(() => denseExact(ix, [B, K], iw, [M, K], false).data), denseIntReference(ix, iw, gd, exactProduct(false)), `dense exact ${name}`);
  }
});

test("WebGPU float32 conv2d and dense agree with the reference to float32 rounding", { skip }, () => {
  const rand = rng(23);
  const f = (n: number) => Float32Array.from({ length: n }, () => rand(2048) / 1024 - 1);
  for (let i = 0; i < 4; i++) {
    const c = randomConv(rand);
    const x = f(c.inputShape.reduce((a, b) => a * b)), w = f(c.weightShape.reduce((a, b) => a * b));
    const options = { ...c.options, padValue: 0.25 };
    const g = convGeometry("t", c.inputShape, c.weightShape, options);
    const want = conv2dFloatReference(x, w, g, 0.25);
    const got = onGpu(() => conv2dFloat(x, c.inputShape, w, c.weightShape, options).data);
    const taps = (c.weightShape[1]! * c.weightShape[2]! * c.weightShape[3]!);
    got.forEach((v, k) => assert.ok(Math.abs(v - want[k]!) <= taps * 2 ** -22, `conv ${k}: ${v} vs ${want[k]}`));
  }
  const B = 3, K = 300, M = 17;
  const x = f(B * K), w = f(M * K);
  const want = denseFloatReference(x, w, denseGeometry("t", [B, K], [M, K]));
  onGpu(() => denseFloat(x, [B, K], w, [M, K]).data).forEach((v, k) => assert.ok(Math.abs(v - want[k]!) <= K * 2 ** -22, `dense ${k}`));
});

/**
 * |got - want| <= (n + 2) 2^-24 sum|terms| elementwise: the error bound of any float32 summation
 * order of n products of float32 operands (the reference sums in float64). sumAbs: the same
 * reduction of the absolute values.
 */
function withinSummationBound(got: Float32Array, want: Float32Array, sumAbs: Float32Array, n: number, what: string): void {
  assert.equal(got.length, want.length, what);
  let nonzero = 0;
  got.forEach((v, k) => {
    const bound = (n + 2) * 2 ** -24 * sumAbs[k]! + 2 ** -126;
    assert.ok(Math.abs(v - want[k]!) <= bound, `${what} ${k}: ${v} vs ${want[k]} (bound ${bound})`);
    if (want[k] !== 0) nonzero++;
  });
  // (Strides larger than the kernel leave some inputs without a gradient.)
  assert.ok(nonzero > 0, `${what}: nonzero results (the comparison can fail)`);
}

test("WebGPU training kernels: conv and dense backward passes and the GEMM (every transposition, accumulate) within float32 summation error of the reference", { skip }, () => {
  const rand = rng(31);
  const f = (n: number) => Float32Array.from({ length: n }, () => rand(2048) / 1024 - 1);
  const abs = (a: Float32Array) => a.map(Math.abs);
  for (let i = 0; i < 4; i++) {
    const c = randomConv(rand);
    const g = convGeometry("t", c.inputShape, c.weightShape, c.options);
    const x = f(c.inputShape.reduce((a, b) => a * b)), w = f(c.weightShape.reduce((a, b) => a * b)), dy = f(g.N * g.M * g.P * g.Q);
    const want = conv2dBackwardFloatReference(x, w, dy, g), mag = conv2dBackwardFloatReference(abs(x), abs(w), abs(dy), g);
    const got = onGpu(() => conv2dBackwardFloat(x, c.inputShape, w, c.weightShape, dy, { ...c.options, needBias: true }));
    withinSummationBound(got.dInput!, want.dInput, mag.dInput, (g.M / g.groups) * g.R * g.S, `conv ${i} dInput`);
    withinSummationBound(got.dWeights!, want.dWeights, mag.dWeights, g.N * g.P * g.Q, `conv ${i} dWeights`);
    withinSummationBound(got.dBias!, want.dBias, mag.dBias, g.N * g.P * g.Q, `conv ${i} dBias`);
    // Only the weight gradient: the others stay unwritten (null).
    const only = onGpu(() => conv2dBackwardFloat(x, c.inputShape, w, c.weightShape, dy, { ...c.options, needInput: false, needBias: false }));
    assert.equal(only.dInput, null);
    assert.deepEqual(only.dWeights, got.dWeights);
  }
  const B = 5, K = 130, M = 9;
  const x = f(B * K), w = f(M * K), dy = f(B * M);
  const dg = denseGeometry("t", [B, K], [M, K]);
  const want = denseBackwardFloatReference(x, w, dy, dg), mag = denseBackwardFloatReference(abs(x), abs(w), abs(dy), dg);
  const got = onGpu(() => denseBackwardFloat(x, [B, K], w, [M, K], dy, { needBias: true }));
  withinSummationBound(got.dInput!, want.dInput, mag.dInput, M, "dense dInput");
  withinSummationBound(got.dWeights!, want.dWeights, mag.dWeights, B, "dense dWeights");
  withinSummationBound(got.dBias!, want.dBias, mag.dBias, B, "dense dBias");
  const m = 7, n = 11, k = 93;
  for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    const a = f(m * k), b = f(k * n), c0 = f(m * n);
    for (const accumulate of [false, true]) {
      const ref = gemmFloatReference(a, b, m, n, k, transA, transB, accumulate ? c0 : null);
      const refAbs = gemmFloatReference(abs(a), abs(b), m, n, k, transA, transB, accumulate ? abs(c0) : null);
      const out = accumulate ? c0.slice() : new Float32Array(m * n);
      onGpu(() => gemmFloat(a, b, { m, n, k }, { transA, transB, accumulate, out }));
      withinSummationBound(out, ref, refAbs, k + 1, `gemm transA=${transA} transB=${transB} accumulate=${accumulate}`);
    }
  }
});

test("WebGPU: weights changed in place after a call are uploaded again, never served stale", { skip }, () => {
  const lut = exactMultiplier(false, 8);
  const x = Uint8Array.from({ length: 2 * 10 }, (_v, i) => i * 7), w = Uint8Array.from({ length: 3 * 10 }, (_v, i) => i);
  const first = onGpu(() => denseLut(x, [2, 10], w, [3, 10], lut).data.slice());
  w[4] = 200;
  const second = onGpu(() => denseLut(x, [2, 10], w, [3, 10], lut).data);
  assert.notDeepEqual(second, first);
  assert.deepEqual(second, denseIntReference(x, w, denseGeometry("t", [2, 10], [3, 10]), lutProduct(lut.table, 8)));
});

test("WebGPU dequantization equals the CPU's double arithmetic bit for bit: ties, double rounding, cancellation, subnormal and overflowing float32 results, clamps", { skip }, () => {
  const rand = rng(77);
  const f64 = (lo: number, hi: number) => lo + ((rand(1 << 30) * 2 ** 22 + rand(1 << 22)) / 2 ** 52) * (hi - lo);
  // Scales: powers of two (exact products: ties of the float32 rounding are frequent), full 53-bit
  // significands (the double product rounds), and extremes whose results are float32 subnormals or overflow.
  const scales = [2 ** -20, 2 ** -7, 1, f64(1e-6, 1e-3), f64(1e-9, 1e-8), 1 + 2 ** -52, 0.1, 1e-45, 3e-42, 1e30, 2 ** 97 * 1.5, Math.PI * 1e-4];
  const M = scales.length * 2, groups = 2, inner = 37, batch = 3;
  const total = batch * M * inner;
  const acc = new Int32Array(total);
  for (let i = 0; i < total; i++) {
    const kind = rand(6);
    acc[i] = kind === 0 ? (rand(2) ? 0x7fffffff : -0x80000000) : kind === 1 ? rand(65) - 32 : kind === 2 ? 0 : (rand(1 << 16) << 16) | rand(1 << 16);
  }
  const constant = new Float64Array(M), scale = new Float64Array(M), bias = new Float64Array(M), zw = new Int32Array(M);
  for (let m = 0; m < M; m++) {
    scale[m] = scales[m % scales.length]!;
    constant[m] = m % 3 === 0 ? 0 : (rand(2) ? 1 : -1) * (rand(1 << 20) * 2 ** 20 + rand(1 << 20));
    const b = m % 4 === 0 ? 0 : m % 4 === 1 ? Math.fround(f64(-3, 3)) : m % 4 === 2 ? f64(-1e-3, 1e-3) : -scale[m]! * (acc[m * inner]! + constant[m]!);
    bias[m] = b; // the last kind cancels the first position's product (up to rounding)
    zw[m] = m % 5 === 0 ? 0 : rand(511) - 255;
  }
  const sums = Int32Array.from({ length: batch * groups * inner }, () => rand(3) === 0 ? rand(1 << 30) : rand(255 * 27));
  const channels = { constant, scale, bias, zw };
  const dims = { batch, channels: M, inner, groups };
  for (const withSums of [false, true]) {
    for (const hi of [undefined, Infinity, 6]) {
      const want = new Float32Array(total);
      dequantizeAccReference(acc, batch, M, inner, groups, constant, scale, bias, zw, withSums ? sums : null, hi ?? -1, want);
      const got = new Float32Array(total);
      assert.ok(webGpuDequantize(acc, dims, channels, withSums ? sums : null, hi ?? -1, got), "the terms are within what the shader emulates");
      const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
      // Compared as bit patterns: -0 and +0 differ.
      const wrong = [...bits(got).keys()].filter((i) => bits(got)[i] !== bits(want)[i]!);
      assert.equal(wrong.length, 0, `sums ${withSums}, clamp ${hi}: ${wrong.length} of ${total} differ, e.g. [${wrong[0]}] ${got[wrong[0]!]} vs ${want[wrong[0]!]} (scale ${scale[Math.floor(wrong[0]! / inner) % M]})`);
    }
  }
  // Terms outside what the shader emulates exactly are refused (the caller dequantizes on the CPU).
  const untouched = new Float32Array(total).fill(7);
  assert.equal(webGpuDequantize(acc, dims, { ...channels, constant: Float64Array.from(constant, (c) => c + 0.5) }, sums, -1, untouched), false, "a fractional constant");
  assert.equal(webGpuDequantize(acc, dims, { ...channels, scale: Float64Array.from(scale, (s, m) => (m === 3 ? -s : s)) }, sums, -1, untouched), false, "a negative scale");
  assert.equal(webGpuDequantize(acc, dims, { ...channels, zw: Int32Array.from(zw, (z, m) => (m === 1 ? 1 << 20 : z)) }, sums, -1, untouched), false, "a weight zero point beyond 2^16");
  assert.ok(untouched.every((v) => v === 7));
});
