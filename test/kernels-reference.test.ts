// The TypeScript reference kernels against hand-computed cases, the public API on the
// TypeScript fallback (AXNN_NO_NATIVE=1), and the shape checks.
// Imports are hoisted, but the addon loads on the first kernel call, after this line.
process.env.AXNN_NO_NATIVE = "1";
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  conv2dExact, conv2dFloat, conv2dLut, denseExact, denseFloat, denseLut, depthwiseLut, kernelBackend, setKernelIsa, type LutTable,
} from "../src/kernels/index.js";
import { conv2dIntReference, denseIntReference, exactProduct, lutProduct } from "../src/kernels/reference.js";
import { convGeometry, denseGeometry } from "../src/kernels/geometry.js";
import { exactMultiplier } from "../src/multipliers/multiplier.js";
import { AxnnError } from "../src/util/errors.js";

const exactU8: LutTable = exactMultiplier(false, 8);

test("with AXNN_NO_NATIVE=1 the kernels run on the TypeScript reference", () => {
  assert.equal(kernelBackend(), "typescript");
  assert.throws(() => setKernelIsa("avx2"), AxnnError);
});

test("conv2d 3x3 input, 2x2 kernel, no padding: hand-computed", () => {
  // x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,0],[0,2]]: out[p][q] = x[p][q] + 2 x[p+1][q+1]
  const x = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const w = Uint8Array.from([1, 0, 0, 2]);
  const r = conv2dLut(x, [1, 1, 3, 3], w, [1, 1, 2, 2], exactU8);
  assert.deepEqual(r.shape, [1, 1, 2, 2]);
  assert.deepEqual([...r.data], [1 + 10, 2 + 12, 4 + 16, 5 + 18]);
});

test("conv2d with padding (pad code 1) and stride 2: padding positions go through the table", () => {
  // Padded with 1 on every side; windows at (-1,-1), (-1,1), (1,-1), (1,1) of the 2x2 kernel.
  const x = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const w = Uint8Array.from([1, 0, 0, 2]);
  const r = conv2dLut(x, [1, 1, 3, 3], w, [1, 1, 2, 2], exactU8, { padding: [1, 1, 1, 1], stride: [2, 2], padCode: 1 });
  assert.deepEqual(r.shape, [1, 1, 2, 2]);
  assert.deepEqual([...r.data], [1 * 1 + 1 * 2, 1 * 1 + 3 * 2, 1 * 1 + 7 * 2, 5 * 1 + 9 * 2]);
});

test("grouped conv2d with horizontal dilation 2: hand-computed", () => {
  // Group 0: channel 0 with weights [1, 1] two apart; group 1: channel 1 with [2, 0].
  const x = Uint8Array.from([1, 2, 3, 4, 10, 20, 30, 40]);
  const w = Uint8Array.from([1, 1, 2, 0]);
  const r = conv2dExact(x, [1, 2, 1, 4], w, [2, 1, 1, 2], false, { groups: 2, dilation: [1, 2] });
  assert.deepEqual(r.shape, [1, 2, 1, 2]);
  assert.deepEqual([...r.data], [1 + 3, 2 + 4, 20, 40]);
});

test("the table is read as table[(act << N) | w]: an asymmetric 8x2 table", () => {
  // table(a, w) = 10a + w tells the operands apart: 3*10+1 + 5*10+2 = 83.
  const table = new Int32Array(256 << 2).map((_, i) => 10 * (i >> 2) + (i & 3));
  const r = denseLut(Uint8Array.from([3, 5]), [1, 2], Uint8Array.from([1, 2]), [1, 2], { table, weightBits: 2 });
  assert.deepEqual([...r.data], [83]);
  const c = conv2dLut(Uint8Array.from([3, 5]), [1, 2, 1, 1], Uint8Array.from([1, 2]), [1, 2, 1, 1], { table, weightBits: 2 });
  assert.deepEqual([...c.data], [83]);
});

test("signed exact products decode two's complement codes", () => {
  // 255 = -1, 128 = -128: (-1)(2) + (-128)(1) = -130; unsigned: 255*2 + 128 = 638.
  assert.deepEqual([...denseExact(Uint8Array.from([255, 128]), [1, 2], Uint8Array.from([2, 1]), [1, 2], true).data], [-130]);
  assert.deepEqual([...denseExact(Uint8Array.from([255, 128]), [1, 2], Uint8Array.from([2, 1]), [1, 2], false).data], [638]);
});

test("sums wrap to int32 like hardware accumulators", () => {
  const table = new Int32Array(65536).fill(2 ** 30);
  const g = denseGeometry("t", [1, 4], [2, 4]);
  const four = denseIntReference(new Uint8Array(4), new Uint8Array(8), g, lutProduct(table, 8));
  assert.deepEqual([...four], [0, 0]); // 4 * 2^30 = 2^32
  const three = denseIntReference(new Uint8Array(3), new Uint8Array(6), denseGeometry("t", [1, 3], [2, 3]), lutProduct(table, 8));
  assert.deepEqual([...three], [-(2 ** 30), -(2 ** 30)]); // 3 * 2^30 - 2^32
});

test("depthwise with channel multiplier 2 uses each input channel for two outputs", () => {
  const x = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]); // 2 channels of 2x2
  const w = Uint8Array.from([1, 2, 3, 4]); // 1x1 kernels: outputs 0,1 from channel 0; 2,3 from channel 1
  const r = depthwiseLut(x, [1, 2, 2, 2], w, [4, 1, 1, 1], exactU8);
  assert.deepEqual(r.shape, [1, 4, 2, 2]);
  assert.deepEqual([...r.data], [1, 2, 3, 4, 2, 4, 6, 8, 15, 18, 21, 24, 20, 24, 28, 32]);
});

test("float conv2d and dense: hand-computed", () => {
  const x = Float32Array.from([0.5, -1, 2, 4]);
  const c = conv2dFloat(x, [1, 1, 2, 2], Float32Array.from([2, 1]), [1, 1, 1, 2], { padding: [0, 1, 0, 0], padValue: 3 });
  assert.deepEqual([...c.data], [3 * 2 + 0.5, 0.5 * 2 - 1, 3 * 2 + 2, 2 * 2 + 4]);
  const d = denseFloat(x, [2, 2], Float32Array.from([1, 1, 1, -1]), [2, 2]);
  assert.deepEqual([...d.data], [-0.5, 1.5, 6, -2]);
});

test("the exact table through the LUT path equals the exact kernel on random data", () => {
  let s = 12345;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 16) & 255;
  const x = Uint8Array.from({ length: 2 * 3 * 5 * 6 }, next);
  const w = Uint8Array.from({ length: 4 * 3 * 3 * 2 }, next);
  const opts = { padding: [1, 0, 2, 1] as const, stride: [2, 1] as const, padCode: 9 };
  for (const signed of [false, true]) {
    const viaTable = conv2dLut(x, [2, 3, 5, 6], w, [4, 3, 3, 2], exactMultiplier(signed, 8), opts);
    const exact = conv2dExact(x, [2, 3, 5, 6], w, [4, 3, 3, 2], signed, opts);
    assert.deepEqual(viaTable, exact);
    const g = convGeometry("t", [2, 3, 5, 6], [4, 3, 3, 2], opts);
    assert.deepEqual(exact.data, conv2dIntReference(x, w, g, exactProduct(signed), 9));
  }
});

const isShapeError = (...words: string[]) => (e: unknown) => e instanceof AxnnError && words.every((w) => e.message.includes(w));

test("shape errors name the layer argument and the expected shape", () => {
  const x = new Uint8Array(1 * 4 * 5 * 5);
  assert.throws(() => conv2dLut(x, [1, 4, 5], new Uint8Array(36), [1, 4, 3, 3], exactU8), isShapeError("conv2dLut input shape", "batch, channels, height, width"));
  assert.throws(() => conv2dLut(x, [1, 4, 5, 6], new Uint8Array(36), [1, 4, 3, 3], exactU8), isShapeError("conv2dLut input", "120 elements", "got 100"));
  assert.throws(() => conv2dLut(x, [1, 4, 5, 5], new Uint8Array(72), [2, 4, 3, 3], exactU8, { groups: 2 }), isShapeError("conv2dLut weights", "2 input channels per group"));
  assert.throws(() => conv2dLut(x, [1, 4, 5, 5], new Uint8Array(36), [1, 4, 3, 3], exactU8, { groups: 3 }), isShapeError("conv2dLut groups", "divide"));
  assert.throws(() => conv2dLut(x, [1, 4, 5, 5], new Uint8Array(35), [1, 4, 3, 3], exactU8), isShapeError("conv2dLut weights", "36 elements"));
  assert.throws(() => conv2dLut(x, [1, 4, 5, 5], new Uint8Array(4 * 36), [1, 4, 6, 6], exactU8), isShapeError("conv2dLut weights", "larger than the padded input"));
  assert.throws(() => conv2dLut(x, [1, 4, 5, 5], new Uint8Array(36), [1, 4, 3, 3], exactU8, { stride: [0, 1] }), isShapeError("conv2dLut stride"));
  assert.throws(() => conv2dLut(x, [1, 4, 5, 5], new Uint8Array(36), [1, 4, 3, 3], exactU8, { padding: [1, 1, 1] as unknown as [number, number, number, number] }), isShapeError("conv2dLut padding", "top, left, bottom, right"));
  assert.throws(() => conv2dLut(x, [1, 4, 5, 5], new Uint8Array(36), [1, 4, 3, 3], exactU8, { padCode: 256 }), isShapeError("conv2dLut padCode"));
  assert.throws(() => conv2dLut(x, [1, 4, 5, 5], new Uint8Array(36).fill(16), [1, 4, 3, 3], exactMultiplier(false, 4)), isShapeError("conv2dLut weights", "4-bit weight code"));
  assert.throws(() => conv2dLut(x, [1, 4, 5, 5], new Uint8Array(36), [1, 4, 3, 3], { table: new Int32Array(100), weightBits: 8 }), isShapeError("conv2dLut lut", "65536 entries"));
  assert.throws(() => conv2dLut(Array.from(x) as unknown as Uint8Array, [1, 4, 5, 5], new Uint8Array(36), [1, 4, 3, 3], exactU8), isShapeError("conv2dLut input", "Uint8Array"));
  assert.throws(() => depthwiseLut(x, [1, 4, 5, 5], new Uint8Array(72), [4, 2, 3, 3], exactU8), isShapeError("depthwiseLut weights", "[channels * multiplier, 1, kernelHeight, kernelWidth]"));
  assert.throws(() => denseLut(new Uint8Array(6), [2, 3], new Uint8Array(8), [2, 4], exactU8), isShapeError("denseLut weights", "[outFeatures, 3]"));
  assert.throws(() => denseExact(new Uint8Array(6), [2, 3, 1], new Uint8Array(6), [2, 3], true), isShapeError("denseExact input shape", "batch, inFeatures"));
  assert.throws(() => conv2dFloat(new Float32Array(4), [1, 1, 2, 2], new Float32Array(1), [1, 1, 1, 1], { padValue: NaN }), isShapeError("conv2dFloat padValue"));
});

test("options.out receives the result; an out of the wrong size or type is refused", () => {
  const x = Uint8Array.from([1, 2, 3, 4]);
  const out = new Int32Array(4).fill(-7);
  const r = conv2dExact(x, [1, 1, 2, 2], Uint8Array.from([3]), [1, 1, 1, 1], false, { out });
  assert.equal(r.data, out);
  assert.deepEqual([...out], [3, 6, 9, 12]);
  assert.throws(() => conv2dExact(x, [1, 1, 2, 2], Uint8Array.from([3]), [1, 1, 1, 1], false, { out: new Int32Array(5) }), isShapeError("conv2dExact out", "4 elements"));
  assert.throws(() => denseFloat(new Float32Array(2), [1, 2], new Float32Array(2), [1, 2], { out: new Int32Array(1) as unknown as Float32Array }), isShapeError("denseFloat out", "Float32Array"));
});
