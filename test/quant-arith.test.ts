// Quantization arithmetic against hand calculations and slow, obviously-correct references.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ModelBuilder } from "../src/nn/builder.js";
import { makeTensor, Rng, type Tensor } from "../src/nn/tensor.js";
import type { ConvNode, DenseNode } from "../src/nn/graph.js";
import { exactMultiplier, multiplierFromFunction, type Multiplier } from "../src/multipliers/multiplier.js";
import { AxnnError } from "../src/util/errors.js";
import {
  ActivationStats, calibrateActivation, fakeQuantValue, integerLayer, MSE_FACTORS, paramsFromRange, quantizeToCodes, quantizeValue,
  quantizeModel, quantizeWeights, roundHalfAway, EXACT_INT8, type QuantParams, type QuantScheme,
} from "../src/quant/index.js";

test("parameters and rounding by hand", () => {
  assert.equal(roundHalfAway(2.5), 3);
  assert.equal(roundHalfAway(-2.5), -3);
  assert.equal(roundHalfAway(-2.4), -2);
  // asym 8-bit on [-1, 3]: scale 4/255, zero point round(1 / (4/255)) = round(63.75) = 64.
  const a = paramsFromRange(-1, 3, "asym", 8);
  assert.equal(a.scale, 4 / 255);
  assert.equal(a.zeroPoint, 64);
  assert.equal(quantizeValue(0, a), 64);
  assert.equal(quantizeValue(3, a), 255); // round(191.25) + 64
  assert.equal(quantizeValue(-1, a), 0); // -64 + 64
  assert.equal(quantizeValue(10, a), 255);
  // A positive-only range is widened to contain 0: [0, 2] -> zero point 0.
  const pos = paramsFromRange(0.5, 2, "asym", 8);
  assert.equal(pos.zeroPoint, 0);
  assert.equal(pos.scale, 2 / 255);
  // sym 8-bit activations: scale amax / 127, range [-128, 127].
  const s = paramsFromRange(-1, 3, "sym", 8);
  assert.deepEqual([s.scale, s.zeroPoint, s.qmin, s.qmax], [3 / 127, 0, -128, 127]);
  assert.equal(quantizeValue(-3.1, s), -128);
  // sym 4-bit weights, restricted: [-7, 7], scale amax / 7.
  const w4 = paramsFromRange(-0.7, 0.35, "sym", 4, true);
  assert.deepEqual([w4.scale, w4.qmin, w4.qmax], [0.7 / 7, -7, 7]);
  assert.equal(quantizeValue(-0.7, w4), -7);
  assert.equal(quantizeValue(0.25, w4), 3); // 2.5 rounds away from zero
  // asym 2-bit weights: 4 levels on [-0.3, 0.6]: scale 0.3, zero point 1.
  const w2 = paramsFromRange(-0.3, 0.6, "asym", 2, true);
  assert.deepEqual([w2.qmin, w2.qmax, w2.zeroPoint], [0, 3, 1]);
  assert.ok(Math.abs(w2.scale - 0.3) < 1e-15);
  assert.equal(fakeQuantValue(0, w2), 0);
  // quantizeToCodes: two's complement patterns.
  assert.deepEqual(Array.from(quantizeToCodes(Float32Array.from([-3 / 127, 0, 3]), s)), [255, 0, 127]);
  // The fast path rounds exactly like quantizeValue, halves included (scale 1/4 makes x / scale exact).
  for (const scheme of ["sym", "asym"] as QuantScheme[]) {
    const q: QuantParams = { scale: 0.25, zeroPoint: scheme === "sym" ? 0 : 100, qmin: scheme === "sym" ? -128 : 0, qmax: scheme === "sym" ? 127 : 255 };
    const xs = Float32Array.from({ length: 1201 }, (_v, k) => ((k - 600) / 2) * 0.25 + (k % 3 === 0 ? 0.01 : 0));
    assert.deepEqual(Array.from(quantizeToCodes(xs, q)), Array.from(xs, (v) => quantizeValue(v, q) & 255));
  }
});

test("calibration statistics keep a uniform subsample; percentile and MSE ranges match a brute-force reference", () => {
  // Small tensor: the sample is everything, so percentiles are exact quantiles of the data.
  const st = new ActivationStats();
  const small = Float32Array.from({ length: 1000 }, (_v, i) => i - 100); // -100 .. 899
  st.add(small.subarray(0, 300));
  st.add(small.subarray(300));
  assert.equal(st.min, -100);
  assert.equal(st.max, 899);
  const p = calibrateActivation(st, "asym", { method: "percentile", percentile: 99 });
  // Sorted values v_k = k - 100; quantile q at position q * 999: lo = 9.99 - 100, hi = 989.01 - 100.
  const want = paramsFromRange(9.99 - 100, 989.01 - 100, "asym", 8);
  assert.ok(Math.abs(p.scale - want.scale) < 1e-12 && p.zeroPoint === want.zeroPoint);

  // Large: more values than the cap; the sample must be every s-th element for one power of two s.
  const big = new ActivationStats();
  const n = 400_000;
  const all = Float32Array.from({ length: n }, (_v, i) => i);
  const rng = new Rng(3);
  for (let from = 0; from < n; ) {
    const len = Math.min(n - from, 1 + Math.floor(rng.uniform() * 50_000));
    big.add(all.subarray(from, from + len));
    from += len;
  }
  const sample = big.values();
  const stride = sample[1]! - sample[0]!;
  assert.equal(sample[0], 0);
  assert.ok(Number.isInteger(Math.log2(stride)) && stride > 1);
  assert.equal(sample.length, Math.ceil(n / stride));
  sample.forEach((v, k) => assert.equal(v, k * stride));

  // MSE: the chosen range has the smallest error of all candidates, computed here the slow way.
  const mse = new ActivationStats();
  const data = Float32Array.from({ length: 5000 }, () => rng.normal());
  data[17] = 40; // an outlier min/max would cover
  mse.add(data);
  for (const scheme of ["asym", "sym"] as QuantScheme[]) {
    const chosen = calibrateActivation(mse, scheme, { method: "mse" });
    const err = (q: QuantParams) => data.reduce((s, v) => s + (fakeQuantValue(v, q) - v) ** 2, 0);
    const errors = MSE_FACTORS.map((f) => err(paramsFromRange(mse.min * f, mse.max * f, scheme, 8)));
    assert.ok(Math.abs(err(chosen) - Math.min(...errors)) <= 1e-9 * Math.min(...errors));
    assert.ok(err(chosen) < err(calibrateActivation(mse, scheme, { method: "minmax" })));
  }
});

/** A deliberately irregular table: exact product plus a pattern, so a wrong operand order or index shows. */
function oddTable(signed: boolean, weightBits: number): Multiplier {
  return multiplierFromFunction(`odd_${signed ? "s" : "u"}8x${weightBits}`, (a, w) => a * w + ((a * 7 + w * 13) % 5) - 2, { signed, weightBits });
}

/**
 * Reference of one quantized conv output, straight from the definition (docs/quantization.md):
 * acc = sum T[a][w] - zw * sum a - za * sum w + K * za * zw over the padded receptive field (asym),
 * acc = sum T[a][w] (sym); y = sa * sw[m] * acc + b[m].
 */
function referenceConv(node: ConvNode, x: Tensor, inP: QuantParams, scheme: QuantScheme, perChannel: boolean, m: Multiplier | "exact"): Float32Array {
  const bits = m === "exact" ? 8 : m.weightBits;
  const wq = quantizeWeights(node.weight, scheme, bits, perChannel);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [M, Cg, R, S] = node.weight.shape as [number, number, number, number];
  const [pt, pl, pb, pr] = node.pads;
  const P = Math.floor((H + pt + pb - node.dilations[0] * (R - 1) - 1) / node.strides[0]) + 1;
  const Q = Math.floor((W + pl + pr - node.dilations[1] * (S - 1) - 1) / node.strides[1]) + 1;
  const out = new Float32Array(N * M * P * Q);
  const za = inP.zeroPoint;
  const product = (a: number, w: number) => (m === "exact" ? a * w : m.table[((a & 255) << m.weightBits) | (w & ((1 << m.weightBits) - 1))]!);
  for (let n = 0; n < N; n++) for (let o = 0; o < M; o++) for (let p = 0; p < P; p++) for (let q = 0; q < Q; q++) {
    const g = Math.floor(o / (M / node.groups));
    const zw = wq.params[o]!.zeroPoint;
    let acc = 0;
    for (let c = 0; c < Cg; c++) for (let r = 0; r < R; r++) for (let s = 0; s < S; s++) {
      const y = p * node.strides[0] - pt + r * node.dilations[0];
      const xx = q * node.strides[1] - pl + s * node.dilations[1];
      const inside = y >= 0 && y < H && xx >= 0 && xx < W;
      const a = inside ? quantizeValue(x.data[((n * C + g * Cg + c) * H + y) * W + xx]!, inP) : za;
      const w = wq.values[((o * Cg + c) * R + r) * S + s]!;
      acc += scheme === "asym" ? product(a, w) - zw * a - za * w + za * zw : product(a, w);
    }
    out[((n * M + o) * P + p) * Q + q] = acc * (inP.scale * wq.params[o]!.scale) + (node.bias ? node.bias.data[o]! : 0);
  }
  return out;
}

test("a quantized conv layer (groups, stride, dilation, uneven padding) equals the reference, asym and sym, per-tensor and per-channel, 8x8 and 8x4 tables", () => {
  const b = new ModelBuilder("c", { seed: 11 });
  const x = b.input("x", [null, 4, 9, 8]);
  b.output(b.conv2d(x, { outChannels: 6, kernel: [3, 2], stride: [2, 1], padding: [1, 0, 2, 1], dilation: [1, 2], groups: 2 }));
  const node = b.build().nodes[0] as ConvNode;
  const input = new Rng(5).uniformTensor([2, 4, 9, 8], -1, 2);
  for (const scheme of ["asym", "sym"] as QuantScheme[]) {
    const inP = paramsFromRange(-1, 2, scheme, 8);
    for (const perChannel of [false, true]) {
      for (const mult of [oddTable(scheme === "sym", 8), oddTable(scheme === "sym", 4), "exact" as const]) {
        const w = quantizeWeights(node.weight, scheme, mult === "exact" ? 8 : mult.weightBits, perChannel);
        const layer = { name: node.name, node, input: inP };
        const got = integerLayer(layer, w, input, mult === "exact" ? { kind: "exact" } : { kind: "lut", multiplier: mult });
        assert.deepEqual(got.shape, [2, 6, 5, 7]);
        assert.deepEqual(got.data, referenceConv(node, input, inP, scheme, perChannel, mult), `${scheme} perChannel=${perChannel} ${mult === "exact" ? mult : mult.name}`);
      }
    }
  }
});

test("a quantized depthwise layer (channel multiplier 2, stride 2) through an approximate table equals the reference", () => {
  const b = new ModelBuilder("dw", { seed: 13 });
  const x = b.input("x", [null, 4, 7, 7]);
  b.output(b.depthwiseConv2d(x, { kernel: 3, multiplier: 2, stride: 2, padding: 1 }));
  const node = b.build().nodes[0] as ConvNode;
  assert.equal(node.op, "DepthwiseConv2D");
  const input = new Rng(7).uniformTensor([2, 4, 7, 7], 0, 3);
  for (const scheme of ["asym", "sym"] as QuantScheme[]) {
    const inP = paramsFromRange(0, 3, scheme, 8);
    const mult = oddTable(scheme === "sym", 8);
    const w = quantizeWeights(node.weight, scheme, 8, true);
    const got = integerLayer({ name: node.name, node, input: inP }, w, input, { kind: "lut", multiplier: mult });
    assert.deepEqual(got.shape, [2, 8, 4, 4]);
    assert.deepEqual(got.data, referenceConv(node, input, inP, scheme, true, mult), scheme);
  }
});

test("a quantized dense layer on a rank-3 input equals the reference", () => {
  const b = new ModelBuilder("d", { seed: 12 });
  const x = b.input("x", [null, 3, 7]);
  b.output(b.dense(x, { outFeatures: 5 }));
  const node = b.build().nodes[0] as DenseNode;
  const input = new Rng(6).uniformTensor([2, 3, 7], -0.5, 1.5);
  for (const scheme of ["asym", "sym"] as QuantScheme[]) {
    const inP = paramsFromRange(-0.5, 1.5, scheme, 8);
    const mult = oddTable(scheme === "sym", 6);
    const w = quantizeWeights(node.weight, scheme, 6, true);
    const got = integerLayer({ name: node.name, node, input: inP }, w, input, { kind: "lut", multiplier: mult });
    assert.deepEqual(got.shape, [2, 3, 5]);
    const want = new Float32Array(30);
    for (let r = 0; r < 6; r++) for (let o = 0; o < 5; o++) {
      const zw = w.params[o]!.zeroPoint, za = inP.zeroPoint;
      let acc = 0;
      for (let k = 0; k < 7; k++) {
        const a = quantizeValue(input.data[r * 7 + k]!, inP), wv = w.values[o * 7 + k]!;
        const t = mult.table[((a & 255) << 6) | (wv & 63)]!;
        acc += scheme === "asym" ? t - zw * a - za * wv + za * zw : t;
      }
      want[r * 5 + o] = acc * (inP.scale * w.params[o]!.scale) + node.bias!.data[o]!;
    }
    assert.deepEqual(got.data, want);
  }
});

function testNetwork(seed: number) {
  const b = new ModelBuilder("net", { seed });
  const x = b.input("x", [null, 3, 12, 12]);
  let h = b.relu(b.batchNorm(b.conv2d(x, { outChannels: 8, kernel: 3, padding: 1, bias: false }), {
    scale: new Rng(seed).uniformTensor([8], 0.5, 1.5), bias: new Rng(seed + 1).uniformTensor([8], -0.2, 0.2),
    mean: new Rng(seed + 2).uniformTensor([8], -0.1, 0.1), variance: new Rng(seed + 3).uniformTensor([8], 0.5, 1.5),
  }));
  const d = b.relu6(b.depthwiseConv2d(h, { kernel: 3, padding: "same" }));
  h = b.add(h, b.conv2d(d, { outChannels: 8, kernel: 1, groups: 2 }));
  h = b.relu(b.conv2d(b.maxPool(h, { kernel: 2 }), { outChannels: 12, kernel: 3, stride: 2, padding: 1 }));
  b.output(b.dense(b.flatten(b.globalAvgPool(h)), { outFeatures: 10 }));
  return b.build();
}

test("the exact multiplier's table through the LUT kernels equals the exact integer path bit for bit (whole network)", () => {
  const model = testNetwork(21);
  const rng = new Rng(9);
  const calib = [{ x: rng.uniformTensor([8, 3, 12, 12], -1, 1) }];
  const input = { x: rng.uniformTensor([6, 3, 12, 12], -1, 1) };
  for (const scheme of ["asym", "sym"] as QuantScheme[]) {
    for (const perChannel of [false, true]) {
      const q = quantizeModel(model, calib, { scheme, perChannel, calibration: { method: "minmax" } });
      assert.equal(q.layerNames().length, 5);
      for (const bits of [8, 4]) {
        const exact = q.run(input, { kind: "exact", weightBits: bits })[model.outputs[0]!]!;
        const lut = q.run(input, { kind: "lut", multiplier: exactMultiplier(scheme === "sym", bits) })[model.outputs[0]!]!;
        assert.deepEqual(lut.data, exact.data, `${scheme} perChannel=${perChannel} 8x${bits}`);
      }
      // int8 stays close to float: within 5% of the output range on this small network.
      const fl = q.run(input, { kind: "float" })[model.outputs[0]!]!.data;
      const i8 = q.run(input, EXACT_INT8)[model.outputs[0]!]!.data;
      const range = Math.max(...fl) - Math.min(...fl);
      const worst = Math.max(...fl.map((v, i) => Math.abs(v - i8[i]!)));
      assert.ok(worst < 0.05 * range, `${scheme} perChannel=${perChannel}: int8 differs from float by ${worst} (range ${range})`);
      // An approximate table changes the result (the table is really used).
      const odd = q.run(input, { kind: "lut", multiplier: oddTable(scheme === "sym", 8) })[model.outputs[0]!]!.data;
      assert.notDeepEqual(odd, i8);
    }
  }
});

test("a multiplier whose signedness does not fit the quantization is refused", () => {
  const model = testNetwork(3);
  const calib = [{ x: new Rng(1).uniformTensor([2, 3, 12, 12]) }];
  const asym = quantizeModel(model, calib, { scheme: "asym", perChannel: false, calibration: { method: "minmax" } });
  const sym = quantizeModel(model, calib, { scheme: "sym", perChannel: false, calibration: { method: "minmax" } });
  assert.throws(() => asym.run(calib[0]!, { kind: "lut", multiplier: exactMultiplier(true, 8) }), (e: unknown) => e instanceof AxnnError && /is signed: .*asymmetric.*--quant sym/.test(e.message));
  assert.throws(() => sym.run(calib[0]!, { kind: "lut", multiplier: exactMultiplier(false, 8) }), (e: unknown) => e instanceof AxnnError && /is unsigned: .*symmetric.*--quant asym/.test(e.message));
});

test("a ReLU / ReLU6 fused into the layer before it gives what the separate op gives", () => {
  const b = new ModelBuilder("fuse", { seed: 8 });
  const x = b.input("x", [null, 2, 6, 6]);
  const c = b.conv2d(x, { outChannels: 3, kernel: 3, padding: 1, name: "c" });
  const r6 = b.relu6(b.conv2d(b.relu(c), { outChannels: 3, kernel: 1, name: "d" }));
  const shift = b.constant("shift", makeTensor([1, 3, 1, 1], [0.5, -2, 1]));
  const res = b.relu(b.add(b.relu(b.add(r6, shift)), r6)); // a broadcasting Add and a same-shape Add, each fused with its ReLU
  b.output(b.dense(b.flatten(res), { outFeatures: 4, name: "e" }));
  const model = b.build();
  const input = { x: new Rng(2).uniformTensor([3, 2, 6, 6], -3, 3) };
  const q = quantizeModel(model, [input], { scheme: "asym", perChannel: false, calibration: { method: "minmax" } });
  // Layer by layer with the separate reference ops in between.
  const relu = (t: Tensor, hi: number): Tensor => ({ shape: t.shape, data: t.data.map((v) => (v > 0 ? Math.min(v, hi) : 0)) });
  const layer = (name: string) => q.layers.get(name)!;
  const h1 = relu(integerLayer(layer("c"), q.weights("c", 8), input.x, { kind: "exact" }), Infinity);
  const h2 = relu(integerLayer(layer("d"), q.weights("d", 8), h1, { kind: "exact" }), 6);
  const shifted = relu({ shape: h2.shape, data: h2.data.map((v, i) => v + [0.5, -2, 1][Math.floor(i / 36) % 3]!) }, Infinity);
  const summed = relu({ shape: h2.shape, data: shifted.data.map((v, i) => v + h2.data[i]!) }, Infinity);
  const flat = { shape: [3, 3 * 36], data: summed.data };
  const want = integerLayer(layer("e"), q.weights("e", 8), flat, { kind: "exact" });
  assert.deepEqual(q.run(input, EXACT_INT8)[model.outputs[0]!]!.data, want.data);
});

test("MSE weight ranges: per channel, the smallest error of all candidate ranges (computed the slow way), never worse than min/max", () => {
  const rng = new Rng(17);
  const weight = makeTensor([3, 200], Float32Array.from({ length: 600 }, () => rng.normal()));
  let clipped = 0;
  for (const scheme of ["sym", "asym"] as QuantScheme[]) {
    for (const bits of [3, 4]) {
      const mse = quantizeWeights(weight, scheme, bits, true, "mse");
      const minmax = quantizeWeights(weight, scheme, bits, true, "minmax");
      for (let m = 0; m < 3; m++) {
        const ch = Array.from(weight.data.subarray(m * 200, (m + 1) * 200));
        const err = (p: QuantParams) => ch.reduce((s, v) => s + (fakeQuantValue(v, p) - v) ** 2, 0);
        const lo = Math.min(...ch), hi = Math.max(...ch);
        const best = Math.min(...MSE_FACTORS.map((f) => err(paramsFromRange(lo * f, hi * f, scheme, bits, true))));
        assert.ok(Math.abs(err(mse.params[m]!) - best) <= 1e-12 * Math.max(1, best), `${scheme} ${bits} bits channel ${m}`);
        assert.ok(err(mse.params[m]!) <= err(minmax.params[m]!));
        // The integers are those of the chosen parameters.
        ch.forEach((v, k) => assert.equal(mse.values[m * 200 + k], quantizeValue(v, mse.params[m]!)));
        if (mse.params[m]!.scale < minmax.params[m]!.scale) clipped++;
      }
    }
  }
  // Gaussian weights at 3-4 bits: the search does clip (it is not min/max in disguise).
  assert.ok(clipped > 0);
});
