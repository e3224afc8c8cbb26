// Native kernels against the TypeScript reference, bit for bit, at every ISA level this CPU
// runs: random shapes, strides, paddings, dilations, groups, depthwise, batches, and tables of
// every width the native code distinguishes (products spanning 1, 2, 3 or 4 bytes).
import { test } from "node:test";
import { spawnSync } from "node:child_process";
import assert from "node:assert/strict";
import {
  availableIsaLevels, conv2dExact, conv2dFloat, conv2dLut, denseExact, denseFloat, denseLut, depthwiseExact, depthwiseLut,
  kernelBackend, setKernelIsa, type IsaLevel, type LutTable,
} from "../src/kernels/index.js";
import { conv2dFloatReference, conv2dIntReference, denseFloatReference, denseIntReference, exactProduct, lutProduct } from "../src/kernels/reference.js";
import { convGeometry, denseGeometry, type ConvOptions } from "../src/kernels/geometry.js";
import { exactMultiplier } from "../src/multipliers/multiplier.js";
import { AxnnError } from "../src/util/errors.js";
import { nativeSkip } from "./shared.js";

const levels: IsaLevel[] = availableIsaLevels();
const skip = nativeSkip(levels.length);

/** Deterministic generator, so that a failure can be replayed. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
}

function codes(rand: (n: number) => number, n: number, max: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => rand(max));
}

/** Tables whose products span < 2^8, < 2^16 (negative too), < 2^24 and the full int32 range. */
function tables(rand: (n: number) => number): { name: string; lut: LutTable }[] {
  const random = (bits: number, lo: number, hi: number) => ({ table: Int32Array.from({ length: 256 << bits }, () => lo + rand(hi - lo + 1)), weightBits: bits });
  return [
    { name: "exact u8x8", lut: exactMultiplier(false, 8) },
    { name: "exact s8x8", lut: exactMultiplier(true, 8) },
    { name: "exact s8x4", lut: exactMultiplier(true, 4) },
    { name: "exact u8x2", lut: exactMultiplier(false, 2) },
    { name: "random 8x8, 1 byte", lut: random(8, -100, 150) },
    { name: "random 8x8, int16", lut: random(8, -32768, 32767) },
    { name: "random 8x4, 3 bytes", lut: random(4, -5_000_000, 5_000_000) },
    { name: "random 8x8, int32", lut: { table: Int32Array.from({ length: 65536 }, () => (rand(65536) << 16) | rand(65536)), weightBits: 8 } },
    // Every byte of (product - min) is 255: the 16-bit partial sums are at their limit at each flush.
    { name: "saturating 8x8", lut: { table: new Int32Array(65536).fill(65535).fill(0, 0, 1), weightBits: 8 } },
  ];
}

function eachLevel(fn: (level: IsaLevel) => void): void {
  for (const level of levels) {
    setKernelIsa(level);
    fn(level);
  }
  setKernelIsa(levels[levels.length - 1]!);
}

interface ConvCase { inputShape: number[]; weightShape: number[]; options: ConvOptions & { padCode: number } }

function randomConv(rand: (n: number) => number, maxChannels: number): ConvCase {
  const groups = 1 + rand(3);
  const C = groups * (1 + rand(Math.max(1, Math.floor(maxChannels / groups))));
  const M = groups * (1 + rand(3));
  const R = 1 + rand(4), S = 1 + rand(4);
  const dilation: [number, number] = [1 + rand(2), 1 + rand(2)];
  const stride: [number, number] = [1 + rand(3), 1 + rand(3)];
  const padding: [number, number, number, number] = [rand(3), rand(3), rand(3), rand(3)];
  const H = Math.max(1, (R - 1) * dilation[0] + 1 - padding[0] - padding[2]) + rand(18);
  const W = Math.max(1, (S - 1) * dilation[1] + 1 - padding[1] - padding[3]) + rand(24);
  return { inputShape: [1 + rand(3), C, H, W], weightShape: [M, C / groups, R, S], options: { groups, stride, padding, dilation, padCode: rand(256) } };
}

test("conv2d LUT kernels equal the reference at every ISA level, for every table width", { skip }, () => {
  const rand = rng(1);
  for (const { name, lut } of tables(rand)) {
    for (let i = 0; i < 6; i++) {
      const c = randomConv(rand, 12);
      const n = c.inputShape.reduce((a, b) => a * b), nw = c.weightShape.reduce((a, b) => a * b);
      const x = codes(rand, n, 256), w = codes(rand, nw, 1 << lut.weightBits);
      const expected = conv2dIntReference(x, w, convGeometry("t", c.inputShape, c.weightShape, c.options), lutProduct(lut.table, lut.weightBits), c.options.padCode);
      eachLevel((level) => {
        const got = conv2dLut(x, c.inputShape, w, c.weightShape, lut, c.options);
        assert.deepEqual(got.data, expected, `${level}, ${name}, ${JSON.stringify(c)}`);
      });
    }
  }
});

test("long reductions (> 256 taps per output) and many positions (> 256 per plane) stay exact", { skip }, () => {
  const rand = rng(2);
  // 40 channels x 3 x 3 = 360 taps crosses a 16-bit flush; 22 x 30 outputs span several position blocks.
  const inputShape = [2, 40, 22, 30], weightShape = [3, 40, 3, 3];
  const options = { padding: [1, 1, 1, 1] as const, padCode: 3 };
  const x = codes(rand, 2 * 40 * 22 * 30, 256), w = codes(rand, 3 * 40 * 9, 256);
  const g = convGeometry("t", inputShape, weightShape, options);
  for (const { name, lut } of tables(rand).filter((t) => t.lut.weightBits === 8)) {
    const expected = conv2dIntReference(x, w, g, lutProduct(lut.table, 8), 3);
    eachLevel((level) => assert.deepEqual(conv2dLut(x, inputShape, w, weightShape, lut, options).data, expected, `${level}, ${name}`));
  }
});

test("depthwise LUT and exact kernels equal the reference (multipliers 1 and 2, strides, batches)", { skip }, () => {
  const rand = rng(3);
  const all = tables(rand);
  for (let i = 0; i < 10; i++) {
    const { lut } = all[i % all.length]!;
    const C = 1 + rand(6), mult = 1 + rand(2), R = 1 + rand(5), S = 1 + rand(5);
    const stride: [number, number] = [1 + rand(2), 1 + rand(2)];
    const padding: [number, number, number, number] = [rand(3), rand(3), rand(3), rand(3)];
    const inputShape = [1 + rand(3), C, R + rand(20), S + rand(40)], weightShape = [C * mult, 1, R, S];
    const options = { stride, padding, padCode: rand(256) };
    const x = codes(rand, inputShape.reduce((a, b) => a * b), 256), w = codes(rand, C * mult * R * S, 1 << lut.weightBits);
    const g = convGeometry("t", inputShape, weightShape, { ...options, groups: C });
    const expected = conv2dIntReference(x, w, g, lutProduct(lut.table, lut.weightBits), options.padCode);
    const signed = i % 2 === 0;
    const expectedExact = conv2dIntReference(x, w, g, exactProduct(signed), options.padCode);
    eachLevel((level) => {
      assert.deepEqual(depthwiseLut(x, inputShape, w, weightShape, lut, options).data, expected, `${level} ${JSON.stringify({ inputShape, weightShape, options })}`);
      assert.deepEqual(depthwiseExact(x, inputShape, w, weightShape, signed, options).data, expectedExact, `${level} signed=${signed}`);
    });
  }
});

test("dense LUT kernels equal the reference (batch 1 to 5, up to 600 inputs and 300 outputs)", { skip }, () => {
  const rand = rng(4);
  for (const { name, lut } of tables(rand)) {
    for (let i = 0; i < 3; i++) {
      const B = 1 + rand(5), K = 1 + rand(600), M = 1 + rand(300);
      const x = codes(rand, B * K, 256), w = codes(rand, M * K, 1 << lut.weightBits);
      const expected = denseIntReference(x, w, denseGeometry("t", [B, K], [M, K]), lutProduct(lut.table, lut.weightBits));
      eachLevel((level) => assert.deepEqual(denseLut(x, [B, K], w, [M, K], lut).data, expected, `${level}, ${name}, ${B}x${K} -> ${M}`));
    }
  }
});

test("exact int8 kernels equal the reference, and the exact table through the LUT path equals them", { skip }, () => {
  const rand = rng(5);
  for (let i = 0; i < 8; i++) {
    const c = randomConv(rand, 20);
    const x = codes(rand, c.inputShape.reduce((a, b) => a * b), 256), w = codes(rand, c.weightShape.reduce((a, b) => a * b), 256);
    const g = convGeometry("t", c.inputShape, c.weightShape, c.options);
    for (const signed of [false, true]) {
      const expected = conv2dIntReference(x, w, g, exactProduct(signed), c.options.padCode);
      eachLevel((level) => {
        const exact = conv2dExact(x, c.inputShape, w, c.weightShape, signed, c.options);
        assert.deepEqual(exact.data, expected, `${level} signed=${signed}`);
        assert.deepEqual(conv2dLut(x, c.inputShape, w, c.weightShape, exactMultiplier(signed, 8), c.options).data, exact.data, `${level} signed=${signed}`);
      });
    }
  }
  for (const signed of [false, true]) {
    const B = 3, K = 333, M = 70;
    const x = codes(rand, B * K, 256), w = codes(rand, M * K, 256);
    const expected = denseIntReference(x, w, denseGeometry("t", [B, K], [M, K]), exactProduct(signed));
    eachLevel((level) => {
      assert.deepEqual(denseExact(x, [B, K], w, [M, K], signed).data, expected, level);
      assert.deepEqual(denseLut(x, [B, K], w, [M, K], exactMultiplier(signed, 8)).data, expected, level);
    });
  }
});

test("float kernels agree with the reference to float32 rounding", { skip }, () => {
  const rand = rng(6);
  const near = (got: Float32Array, want: Float32Array, scale: number, what: string) => {
    assert.equal(got.length, want.length);
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 * scale, `${what}: [${i}] ${got[i]} vs ${want[i]}`);
  };
  for (let i = 0; i < 6; i++) {
    const c = randomConv(rand, 16);
    // Values in [-1, 1): each sum's error is bounded by a small multiple of eps * (number of terms).
    const x = Float32Array.from({ length: c.inputShape.reduce((a, b) => a * b) }, () => rand(2048) / 1024 - 1);
    const w = Float32Array.from({ length: c.weightShape.reduce((a, b) => a * b) }, () => rand(2048) / 1024 - 1);
    const taps = c.weightShape[1]! * c.weightShape[2]! * c.weightShape[3]!;
    const expected = conv2dFloatReference(x, w, convGeometry("t", c.inputShape, c.weightShape, c.options), 0.25);
    eachLevel((level) => near(conv2dFloat(x, c.inputShape, w, c.weightShape, { ...c.options, padValue: 0.25 }).data, expected, taps, level));
  }
  const B = 2, K = 300, M = 90;
  const x = Float32Array.from({ length: B * K }, () => rand(2048) / 1024 - 1), w = Float32Array.from({ length: M * K }, () => rand(2048) / 1024 - 1);
  const expected = denseFloatReference(x, w, denseGeometry("t", [B, K], [M, K]));
  eachLevel((level) => near(denseFloat(x, [B, K], w, [M, K]).data, expected, K, level));
});

test("the ISA level can be forced, and kernelBackend reports it", { skip }, () => {
  for (const level of levels) {
    setKernelIsa(level);
    assert.equal(kernelBackend(), `native-${level}`);
  }
  assert.throws(() => setKernelIsa("sse9" as IsaLevel), (e: unknown) => e instanceof AxnnError && e.message.includes("sse9"));
  setKernelIsa(levels[levels.length - 1]!);
  assert.ok(levels.includes("scalar"));
});

test("AXNN_ISA forces the level when the addon loads; an unknown or missing level fails every call", { skip }, () => {
  const index = new URL("../src/kernels/index.js", import.meta.url).href;
  const script = `import(${JSON.stringify(index)}).then((k) => {
    for (let i = 0; i < 2; i++) { try { console.log(k.kernelBackend()); } catch (e) { console.log(e.name + ": " + e.message); } }
  });`;
  const run = (isa: string) => spawnSync(process.execPath, ["-e", script], { env: { ...process.env, AXNN_ISA: isa }, encoding: "utf8" }).stdout.trim().split("\n");
  assert.deepEqual(run("scalar"), ["native-scalar", "native-scalar"]);
  const bad = run("sse9");
  assert.equal(bad.length, 2);
  for (const line of bad) assert.match(line, /^AxnnError: AXNN_ISA: unknown ISA level "sse9"/);
});
