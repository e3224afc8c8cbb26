// The one-pass quantizers of QAT (fakeQuantize in src/train/qat.ts, quantizeWeights' clip mask and
// integerLayer's precomputed codes in src/quant/model.ts) against the element-wise definitions of
// src/quant/params.ts, bit for bit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fakeQuantize } from "../src/train/qat.js";
import { integerLayer, quantizeWeights, windowCodeSums } from "../src/quant/model.js";
import { windowGeometry } from "../src/nn/shapes.js";
import { paramsFromRange, quantizeToCodes, quantizeValue, roundHalfAway, type QuantParams, type QuantScheme } from "../src/quant/params.js";
import { uniformRandom } from "../src/util/random.js";
import { ModelBuilder } from "../src/nn/builder.js";
import { isApproximable, type ApproximableNode, type ConvNode } from "../src/nn/graph.js";
import { multiplierFromFunction } from "../src/multipliers/multiplier.js";
import { conv2dExact, dequantizeAcc, fakeQuantizeFloat, minMaxFloat } from "../src/kernels/index.js";
import { dequantizeAccReference, fakeQuantizeReference, minMaxReference } from "../src/kernels/reference.js";
import { AxnnError } from "../src/util/errors.js";

/** Values around and beyond the range, including exact half-steps (rounding ties) on both sides of zero. */
function probeValues(p: QuantParams, n: number, seed: number): Float32Array {
  const rand = uniformRandom(seed);
  const lo = p.scale * (p.qmin - p.zeroPoint), hi = p.scale * (p.qmax - p.zeroPoint);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    if (kind === 0) out[i] = lo - 0.3 * (hi - lo) + rand() * 1.6 * (hi - lo);
    else if (kind === 1) out[i] = p.scale * (Math.floor(rand() * (p.qmax - p.qmin + 6)) + p.qmin - 3 - p.zeroPoint + 0.5);
    else if (kind === 2) out[i] = -out[i - 1]!;
    else out[i] = rand() < 0.5 ? 0 : p.scale * (p.qmax - p.zeroPoint + 0.5);
  }
  return out;
}

function clippedReference(v: number, p: QuantParams): boolean {
  const q = roundHalfAway(v / p.scale) + p.zeroPoint;
  return q < p.qmin || q > p.qmax;
}

for (const scheme of ["sym", "asym"] as QuantScheme[]) {
  test(`fakeQuantize (${scheme}): the codes of quantizeToCodes, scale * (quantizeValue - zeroPoint) and the clipping mask, bit for bit`, () => {
    for (const [lo, hi, seed] of [[-1.3, 2.7, 1], [0, 6.1, 2], [-0.02, 0.011, 3]] as const) {
      const p = paramsFromRange(lo, hi, scheme, 8);
      const x = probeValues(p, 4000, seed);
      const r = fakeQuantize(x, p);
      assert.deepEqual(r.codes, quantizeToCodes(x, p));
      let clippedCount = 0;
      for (let i = 0; i < x.length; i++) {
        assert.equal(r.fake[i], Math.fround(p.scale * (quantizeValue(x[i]!, p) - p.zeroPoint)), `value ${x[i]}`);
        const clipped = clippedReference(x[i]!, p);
        assert.equal(r.mask[i], clipped ? 0 : 1, `mask of ${x[i]}`);
        if (clipped) clippedCount++;
      }
      assert.ok(clippedCount > 0 && clippedCount < x.length, "the probe values clip some, not all");
    }
  });

  test(`quantizeWeights (${scheme}): values, codes and the clip mask as quantizeValue gives them`, () => {
    const rand = uniformRandom(7);
    const shape = [6, 3, 3, 3];
    const w = new Float32Array(6 * 27).map(() => (rand() - 0.3) * 2);
    for (const bits of [8, 4]) {
      for (const [perChannel, method] of [[true, "minmax"], [false, "mse"], [true, "mse"]] as const) {
        const mask = new Uint8Array(w.length);
        const q = quantizeWeights({ shape, data: w }, scheme, bits, perChannel, method, mask);
        const plain = quantizeWeights({ shape, data: w }, scheme, bits, perChannel, method);
        assert.deepEqual(plain.values, q.values);
        for (let m = 0; m < 6; m++) {
          const p = q.params[m]!;
          let sum = 0;
          for (let i = m * 27; i < (m + 1) * 27; i++) {
            const v = quantizeValue(w[i]!, p);
            assert.equal(q.values[i], v);
            assert.equal(q.codes[i], v & ((1 << bits) - 1));
            assert.equal(q.codes8[i], v & 0xff);
            assert.equal(mask[i], clippedReference(w[i]!, p) ? 0 : 1);
            sum += v;
          }
          assert.equal(q.channelSums[m], sum);
        }
        if (method === "mse" && bits === 4) assert.ok(mask.includes(0), "MSE ranges clip some weights");
      }
    }
  });
}

test("integerLayer with the caller's input codes equals integerLayer quantizing its input", () => {
  const rand = uniformRandom(11);
  const b = new ModelBuilder("conv", { seed: 5 });
  b.output(b.conv2d(b.input("x", [null, 3, 7, 7]), { outChannels: 4, kernel: 3, padding: 1 }));
  const node = b.build().nodes.find(isApproximable) as ApproximableNode;
  const x = { shape: [2, 3, 7, 7], data: new Float32Array(2 * 147).map(() => rand() * 3 - 1) };
  const input = paramsFromRange(-0.8, 1.9, "asym", 8);
  const w = quantizeWeights(node.weight, "asym", 8, true);
  const m = multiplierFromFunction("trunc_u8x8", (a, v) => (a * v) & ~0x3f);
  const layer = { name: node.name, node, input };
  for (const arith of [{ kind: "exact" as const }, { kind: "lut" as const, multiplier: m }]) {
    const own = integerLayer(layer, w, x, arith);
    const shared = integerLayer(layer, w, x, arith, undefined, fakeQuantize(x.data, input).codes);
    assert.deepEqual(shared, own);
  }
});

test("fakeQuantizeFloat (native when built) equals fakeQuantizeReference bit for bit, NaN and infinities included, over several thread blocks", () => {
  const rand = uniformRandom(21);
  for (const scheme of ["sym", "asym"] as QuantScheme[]) {
    const p = paramsFromRange(-0.7, 1.4, scheme, 8);
    const n = 100_003;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = i % 5 === 0 ? p.scale * (Math.floor(rand() * 300) - 150 + 0.5) : (rand() - 0.4) * 3;
    x[7] = NaN; x[8] = Infinity; x[9] = -Infinity; x[10] = -0;
    const codes = new Uint8Array(n), fake = new Float32Array(n), mask = new Uint8Array(n);
    fakeQuantizeReference(x, p.scale, p.zeroPoint, p.qmin, p.qmax, codes, fake, mask);
    const r = fakeQuantizeFloat(x, p);
    assert.deepEqual(r.codes, codes);
    assert.deepEqual(new Uint32Array(r.fake.buffer), new Uint32Array(fake.buffer));
    assert.deepEqual(r.mask, mask);
    assert.equal(mask[7], 0);
    assert.equal(mask[8], 0);
    assert.equal(codes[9], p.qmin & 0xff);
  }
  assert.throws(() => fakeQuantizeFloat(new Float32Array(3), { scale: 0, zeroPoint: 0, qmin: -128, qmax: 127 }), AxnnError);
});

test("minMaxFloat (native when built) equals minMaxReference: NaN skipped, the first of equal zeros kept", () => {
  const rand = uniformRandom(31);
  const x = new Float32Array(70_001).map(() => rand() * 4 - 1.5);
  x[3] = NaN;
  x[500] = 7.25;
  x[60_000] = -3.5;
  assert.deepEqual(minMaxFloat(x), minMaxReference(x));
  assert.deepEqual(minMaxFloat(x), [-3.5, 7.25]);
  for (const zeros of [Float32Array.of(NaN, -0, 0), Float32Array.of(0, -0), Float32Array.of(NaN)]) {
    const [lo, hi] = minMaxFloat(zeros);
    const [rlo, rhi] = minMaxReference(zeros);
    assert.ok(Object.is(lo, rlo) && Object.is(hi, rhi), `${lo}, ${hi} vs ${rlo}, ${rhi}`);
  }
  assert.deepEqual(minMaxFloat(Float32Array.of(NaN)), [Infinity, -Infinity]);
});

test("dequantizeAcc (native when built) equals dequantizeAccReference bit for bit: zero-point sums, groups, fused ReLU / ReLU6, in place", () => {
  const rand = uniformRandom(41);
  const batch = 3, M = 8, inner = 1500, groups = 2;
  const acc = new Int32Array(batch * M * inner).map(() => Math.floor(rand() * 400_000) - 200_000);
  const sums = new Int32Array(batch * groups * inner).map(() => Math.floor(rand() * 9000));
  const channels = {
    constant: new Float64Array(M).map(() => Math.floor(rand() * 2e5) - 1e5),
    scale: new Float64Array(M).map(() => rand() * 1e-4),
    bias: new Float64Array(M).map(() => Math.fround(rand() - 0.5)),
    zw: Int32Array.from({ length: M }, (_v, m) => (m % 3 === 0 ? 0 : 100 + m)),
  };
  for (const hi of [undefined, Infinity, 6]) {
    for (const withSums of [true, false]) {
      const s = withSums ? sums : null;
      const want = new Float32Array(acc.length);
      dequantizeAccReference(acc, batch, M, inner, groups, channels.constant, channels.scale, channels.bias, channels.zw, s, hi ?? -1, want);
      const copy = acc.slice();
      const inPlace = new Float32Array(copy.buffer);
      dequantizeAcc(copy, { batch, channels: M, inner, groups }, channels, s, hi, inPlace);
      assert.deepEqual(new Uint32Array(inPlace.buffer), new Uint32Array(want.buffer));
      if (hi === 6) assert.ok(want.some((v) => v === 6) && want.some((v) => v === 0), "the clamp is exercised");
    }
  }
});

test("windowCodeSums equals the exact convolution of the codes with all-ones weights (strides, dilations, padding, groups)", () => {
  const rand = uniformRandom(51);
  const cases = [
    { c: 3, groups: 1, kernel: 3, stride: 1, dilation: 1, padding: 1 },
    { c: 4, groups: 2, kernel: 3, stride: 2, dilation: 1, padding: 1 },
    { c: 4, groups: 4, kernel: 3, stride: 1, dilation: 2, padding: 2 },
    { c: 2, groups: 1, kernel: 1, stride: 2, dilation: 1, padding: 0 },
    { c: 3, groups: 1, kernel: 5, stride: 1, dilation: 1, padding: "same" as const },
  ];
  for (const t of cases) {
    const b = new ModelBuilder("conv", { seed: 2 });
    b.output(b.conv2d(b.input("x", [null, t.c, 9, 8]), { outChannels: 2 * t.groups, kernel: t.kernel, stride: t.stride, dilation: t.dilation, padding: t.padding, groups: t.groups }));
    const node = b.build().nodes.find((n) => n.op === "Conv2D") as ConvNode;
    const shape = [2, t.c, 9, 8];
    const codes = new Uint8Array(2 * t.c * 72).map(() => Math.floor(rand() * 256));
    const [, cg, kh, kw] = node.weight.shape as [number, number, number, number];
    const pads = windowGeometry(9, 8, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false).pads;
    for (const padCode of [0, 37]) {
      const want = conv2dExact(codes, shape, new Uint8Array(t.groups * cg * kh * kw).fill(1), [t.groups, cg, kh, kw], false,
        { stride: node.strides, dilation: node.dilations, groups: t.groups, padding: pads, padCode });
      assert.deepEqual(windowCodeSums(codes, shape, node, pads, padCode, want.shape[2]!, want.shape[3]!), want.data, JSON.stringify({ ...t, padCode }));
    }
  }
});
