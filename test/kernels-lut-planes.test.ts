// The two LUT convolution algorithms of the native kernels ("direct": a lookup per product;
// "planes": each input channel mapped once through the row of each distinct weight code, then
// sums of shifted transformed planes) against the TypeScript reference, bit for bit, at every ISA
// level this CPU runs, forced and as chosen per layer ("auto"); and a compiled plan's fused LUT
// layers on both against the reference engine on the TypeScript backend.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  availableIsaLevels, conv2dLut, kernelThreads, setBackend, setKernelIsa, setLutAlgorithm, type IsaLevel, type LutAlgorithm, type LutTable,
} from "../src/kernels/index.js";
import { conv2dIntReference, lutProduct } from "../src/kernels/reference.js";
import { convGeometry, type ConvOptions } from "../src/kernels/geometry.js";
import { exactMultiplier } from "../src/multipliers/multiplier.js";
import { generateByName } from "../src/multipliers/generators/index.js";
import { buildZooModel } from "../src/zoo/index.js";
import { quantizeModel, type LayerArithmetic } from "../src/quant/index.js";
import { compilePlan } from "../src/plan/index.js";
import { Rng } from "../src/nn/tensor.js";
import { AxnnError } from "../src/util/errors.js";
import { nativeSkip } from "./shared.js";

const levels: IsaLevel[] = availableIsaLevels();
const skip = nativeSkip(levels.length);
const ALGORITHMS: LutAlgorithm[] = ["direct", "planes", "auto"];

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
}

/** Runs fn at every ISA level with every algorithm; restores the defaults (also on failure). */
function everyWay(fn: (what: string) => void): void {
  try {
    for (const level of levels) {
      setKernelIsa(level);
      for (const algorithm of ALGORITHMS) {
        setLutAlgorithm(algorithm);
        fn(`${level}/${algorithm}`);
      }
    }
  } finally {
    setLutAlgorithm("auto");
    setKernelIsa(levels[levels.length - 1]!);
  }
}

function firstDifference(got: Int32Array, want: Int32Array): string {
  const i = got.findIndex((v, k) => v !== want[k]);
  return i < 0 ? "" : `element ${i}: ${got[i]} instead of ${want[i]}`;
}

const randomTable = (rand: (n: number) => number, bits: number, lo: number, hi: number): LutTable =>
  ({ table: Int32Array.from({ length: 256 << bits }, () => lo + rand(hi - lo + 1)), weightBits: bits });

test("both LUT algorithms equal the reference at every level: strides, dilations, groups, padding, 8x8 and 8x4 tables, wrapping sums", { skip }, () => {
  const rand = rng(7);
  const tables: { name: string; lut: LutTable }[] = [
    { name: "drum s8x8", lut: generateByName("drum_k4_s8x8").multiplier },
    { name: "exact u8x4", lut: exactMultiplier(false, 4) },
    { name: "random 8x4", lut: randomTable(rand, 4, -40000, 40000) },
    // Products near +-2^30: sums of a few wrap modulo 2^32 (int32 arithmetic), on both algorithms alike.
    { name: "int32 8x8", lut: { table: Int32Array.from({ length: 65536 }, () => (rand(65536) << 16) | rand(65536)), weightBits: 8 } },
  ];
  for (const { name, lut } of tables) {
    for (let i = 0; i < 5; i++) {
      const groups = 1 + rand(2);
      const C = groups * (1 + rand(10)), M = groups * (1 + rand(24));
      const R = 1 + rand(3), S = 1 + rand(4);
      const options: ConvOptions & { padCode: number } = {
        groups, stride: [1 + rand(2), 1 + rand(2)], dilation: [1 + rand(2), 1], padding: [rand(2), rand(3), rand(2), rand(2)], padCode: rand(256),
      };
      const inputShape = [1 + rand(3), C, (R - 1) * 2 + 1 + rand(20), (S - 1) + 1 + rand(40)], weightShape = [M, C / groups, R, S];
      const x = Uint8Array.from({ length: inputShape.reduce((a, b) => a * b) }, () => rand(256));
      // Few distinct codes on some layers (many taps share a transformed plane), all codes on others.
      const codeRange = i % 2 ? 1 << lut.weightBits : Math.min(3, 1 << lut.weightBits);
      const w = Uint8Array.from({ length: weightShape.reduce((a, b) => a * b) }, () => rand(codeRange));
      const want = conv2dIntReference(x, w, convGeometry("t", inputShape, weightShape, options), lutProduct(lut.table, lut.weightBits), options.padCode);
      everyWay((what) => {
        const got = conv2dLut(x, inputShape, w, weightShape, lut, options).data;
        assert.equal(firstDifference(got, want), "", `${what}, ${name}, ${JSON.stringify({ inputShape, weightShape, options })}`);
      });
    }
  }
});

test("the plane algorithm over several position blocks and a 64-channel layer with every weight code", { skip }, () => {
  const rand = rng(8);
  const lut = generateByName("drum_k4_u8x8").multiplier;
  const inputShape = [2, 6, 20, 30], weightShape = [64, 6, 3, 3];
  const options = { padding: [1, 1, 1, 1] as const, padCode: 5 };
  const x = Uint8Array.from({ length: 2 * 6 * 20 * 30 }, () => rand(256));
  const w = Uint8Array.from({ length: 64 * 6 * 9 }, (_, k) => (k * 7 + rand(3)) & 255);
  const want = conv2dIntReference(x, w, convGeometry("t", inputShape, weightShape, options), lutProduct(lut.table, 8), 5);
  everyWay((what) => assert.equal(firstDifference(conv2dLut(x, inputShape, w, weightShape, lut, options).data, want), "", what));
});

test("a compiled plan's LUT layers give the reference engine's outputs on both algorithms", { skip }, () => {
  const model = buildZooModel("resnet8", { width: 0.5, inputShape: [3, 12, 12] });
  const shape = [2, 3, 12, 12];
  const x = new Rng(17).uniformTensor(shape, -1, 1);
  for (const [scheme, table] of [["asym", "drum_k4_u8x8"], ["sym", "exact_s8x4"]] as const) {
    const q = quantizeModel(model, [{ input: x }], { scheme, perChannel: true, calibration: { method: "minmax" } });
    const arith: LayerArithmetic = { kind: "lut", multiplier: generateByName(table).multiplier };
    setBackend("typescript");
    let want: Float32Array;
    try {
      want = q.run({ input: x }, arith)[model.outputs[0]!]!.data as Float32Array;
    } finally {
      setKernelIsa(levels[levels.length - 1]!);
    }
    everyWay((what) => {
      const got = compilePlan(q, arith, { input: shape }).run({ input: x })[model.outputs[0]!]!.data;
      assert.deepEqual(new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(want.buffer, want.byteOffset, want.length), `${what} ${scheme} ${table}`);
    });
  }
});

// With at least 4 images per thread, the plane algorithm's position blocks grow past the direct
// cores' 256 (whole images here: native/conv_layout.h splitTasks), and a plan's rows of more than
// 256 outputs go through its epilogue in pieces.
test("the plane algorithm on position blocks longer than 256 (whole images), in conv2dLut and a compiled plan with 300-wide rows", { skip }, () => {
  const rand = rng(10);
  const images = 4 * kernelThreads();
  const lut = generateByName("drum_k4_u8x8").multiplier;
  const inputShape = [images, 4, 20, 40], weightShape = [8, 4, 3, 3];
  const options = { padding: [1, 1, 1, 1] as const, padCode: 9 };
  const x = Uint8Array.from({ length: inputShape.reduce((a, b) => a * b) }, () => rand(256));
  const w = Uint8Array.from({ length: 8 * 4 * 9 }, () => rand(256));
  const want = conv2dIntReference(x, w, convGeometry("t", inputShape, weightShape, options), lutProduct(lut.table, 8), options.padCode);
  everyWay((what) => assert.equal(firstDifference(conv2dLut(x, inputShape, w, weightShape, lut, options).data, want), "", what));

  const model = buildZooModel("resnet8", { width: 0.5, inputShape: [3, 4, 300] });
  const shape = [images, 3, 4, 300];
  const xs = new Rng(18).uniformTensor(shape, -1, 1);
  const q = quantizeModel(model, [{ input: xs }], { scheme: "asym", perChannel: true, calibration: { method: "minmax" } });
  const arith: LayerArithmetic = { kind: "lut", multiplier: lut };
  setBackend("typescript");
  let reference: Float32Array;
  try {
    reference = q.run({ input: xs }, arith)[model.outputs[0]!]!.data as Float32Array;
  } finally {
    setKernelIsa(levels[levels.length - 1]!);
  }
  everyWay((what) => {
    const got = compilePlan(q, arith, { input: shape }).run({ input: xs })[model.outputs[0]!]!.data;
    assert.deepEqual(new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(reference.buffer, reference.byteOffset, reference.length), what);
  });
});

test("an unknown LUT algorithm is refused", { skip }, () => {
  assert.throws(() => setLutAlgorithm("fast" as LutAlgorithm), (e: unknown) => e instanceof AxnnError && /unknown LUT algorithm "fast"/.test(e.message));
});

test("the 16-bit plane path: products spanning 2^16 - 1 (taken) and 2^16 (not), channels with few codes beside the layer's largest, 2-bit weights", { skip }, () => {
  const rand = rng(9);
  // rows x 256 products spanning exactly `span` (both ends present), min far from 0.
  const spanning = (bits: number, span: number): LutTable => {
    const table = Int32Array.from({ length: 256 << bits }, () => -30000 + rand(span + 1));
    table[rand(table.length)] = -30000;
    table[rand(table.length)] = -30000 + span;
    return { table, weightBits: bits };
  };
  const tables = [spanning(8, 65535), spanning(8, 65536), spanning(2, 65535)];
  const options = { padding: [1, 0, 1, 2] as const, padCode: 200 };
  for (const lut of tables) {
    const rows = 1 << lut.weightBits;
    const inputShape = [2, 5, 11, 37], weightShape = [40, 5, 3, 3];
    const x = Uint8Array.from({ length: 2 * 5 * 11 * 37 }, () => rand(256));
    // Channel 0: every code; channels 1-4: two or three codes (their own small table), the layer
    // still using the largest code (so its table by activation has every row).
    const w = Uint8Array.from({ length: 40 * 5 * 9 }, (_, k) => (Math.floor(k / 9) % 5 === 0 ? rand(rows) : rand(3)));
    w[w.length - 1] = rows - 1;
    const want = conv2dIntReference(x, w, convGeometry("t", inputShape, weightShape, options), lutProduct(lut.table, lut.weightBits), options.padCode);
    everyWay((what) => assert.equal(firstDifference(conv2dLut(x, inputShape, w, weightShape, lut, options).data, want), "", `${what}, ${lut.weightBits}-bit weights`));
  }
});
