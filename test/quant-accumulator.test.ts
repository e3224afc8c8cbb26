// The int32 accumulator of the integer kernels: a layer whose K products could wrap it is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ModelBuilder } from "../src/nn/builder.js";
import { makeTensor } from "../src/nn/tensor.js";
import { denseExact } from "../src/kernels/index.js";
import { createMultiplier, exactMultiplier } from "../src/multipliers/multiplier.js";
import { EXACT_INT8, quantizeModel, type QuantConfig } from "../src/quant/index.js";
import { checkAccumulatorFits, largestProduct } from "../src/quant/accumulator.js";
import { qatLayers } from "../src/train/qat.js";
import { AxnnError } from "../src/util/errors.js";

const ASYM: QuantConfig = { scheme: "asym", perChannel: false, calibration: { method: "minmax" } };

/** One dense layer of K inputs and one output, every weight 1: with inputs of 1, every operand quantizes to code 255. */
function wideDense(k: number) {
  const b = new ModelBuilder("wide", { seed: 1 });
  const x = b.input("x", [null, k]);
  b.output(b.dense(x, { outFeatures: 1, weight: makeTensor([1, k], new Float32Array(k).fill(1)), biasValues: makeTensor([1], [0]), name: "wide" }));
  return b.build();
}
const ones = (k: number) => ({ x: makeTensor([1, k], new Float32Array(k).fill(1)) });

test("the kernel's int32 accumulator wraps for K = 40000 products of 255 x 255 (why the check exists)", () => {
  const k = 40000;
  const acc = denseExact(new Uint8Array(k).fill(255), [1, k], new Uint8Array(k).fill(255), [1, k], false).data;
  assert.equal(acc[0], (k * 255 * 255) | 0);
  assert.equal(acc[0], -1693967296);
});

test("a dense layer with K = 40000 and codes of 255 is refused by name when quantized to run; K = 30000 runs and is right", () => {
  const big = quantizeModel(wideDense(40000), [ones(40000)], ASYM);
  assert.throws(() => big.run(ones(40000), EXACT_INT8), (e: unknown) =>
    e instanceof AxnnError && /layer "wide"/.test(e.message) && /K = 40000/.test(e.message) && /65025/.test(e.message) && /32-bit accumulator/.test(e.message));
  assert.throws(() => big.run(ones(40000), { kind: "lut", multiplier: exactMultiplier(false, 8) }), /layer "wide".*K = 40000/);
  // 30000 x 65025 = 1.95e9 fits: the result is the exact sum (1 per input, to the quantization's rounding).
  const ok = quantizeModel(wideDense(30000), [ones(30000)], ASYM);
  const y = ok.run(ones(30000), EXACT_INT8);
  const out = Object.values(y)[0]!.data[0]!;
  assert.ok(Math.abs(out - 30000) < 1e-3 * 30000, `got ${out}`);
});

test("the bound is K x the table's largest magnitude: a table with small products allows a longer reduction", () => {
  // A made-up unsigned table whose entries never exceed 1000 in magnitude (negative ones included).
  const table = new Int32Array(1 << 16);
  for (let i = 0; i < table.length; i++) table[i] = ((i * 7919) % 2001) - 1000;
  const small = createMultiplier({ name: "small_u8x8", signed: false, table });
  assert.equal(largestProduct({ kind: "lut", multiplier: small }), 1000);
  assert.equal(largestProduct({ kind: "exact", signed: false }), 65025);
  assert.equal(largestProduct({ kind: "exact", signed: true }), 16384); // -128 x -128
  assert.equal(largestProduct({ kind: "exact", signed: false, weightBits: 4 }), 255 * 15);
  const node = wideDense(40000).nodes.find((n) => n.name === "wide")!;
  if (node.op !== "Dense") throw new Error("expected a Dense");
  checkAccumulatorFits(node, { kind: "lut", multiplier: small }); // 4e7: fits
  checkAccumulatorFits(node, { kind: "exact", signed: true }); // 40000 x 16384 = 6.6e8: fits
  assert.throws(() => checkAccumulatorFits(node, { kind: "exact", signed: false }), AxnnError); // 40000 x 65025 = 2.6e9: does not
});

test("QAT preparation refuses the same layer", () => {
  assert.throws(() => qatLayers(wideDense(40000), {
    arithmetic: new Map([["wide", { kind: "lut", multiplier: exactMultiplier(false, 8) }]]), quant: ASYM, calibrationBatches: [ones(40000)],
  }), (e: unknown) => e instanceof AxnnError && /layer "wide".*K = 40000/.test(e.message));
});
