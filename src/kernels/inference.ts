// The kernels of inference: integer conv2d / depthwise / dense through an approximate
// multiplier's table (LUT) or exact int8/uint8 products, and their float32 twins; and the
// preparation of tables for the native kernels. Semantics: docs/kernels.md.
import { AxnnError } from "../util/errors.js";
import { native } from "./addon.js";
import { convArgs, convShape, denseArgs, fill, outputArray } from "./args.js";
import { geometryArray, type ConvOptions } from "./geometry.js";
import { conv2dFloatReference, conv2dIntReference, denseFloatReference, denseIntReference, exactProduct, lutProduct } from "./reference.js";

/** A multiplier table in the orientation `table[(act << weightBits) | w]` (a Multiplier fits). */
export interface LutTable {
  readonly table: Int32Array;
  readonly weightBits: number;
}

export interface LutConvOptions extends ConvOptions {
  /** Activation code of padding positions (the activation zero point); default 0. */
  padCode?: number;
  /** Where to write the result (exactly N*M*P*Q elements), instead of a new array. */
  out?: Int32Array;
}

export interface FloatConvOptions extends ConvOptions {
  /** Value of padding positions; default 0. */
  padValue?: number;
  /** Where to write the result (exactly N*M*P*Q elements), instead of a new array. */
  out?: Float32Array;
}

export interface DenseOptions<T extends Int32Array | Float32Array> {
  /** Where to write the result (exactly B*M elements), instead of a new array. */
  out?: T;
}

export interface IntResult { data: Int32Array; shape: number[] }
export interface FloatResult { data: Float32Array; shape: number[] }

interface PreparedLut { rows: Int32Array; rows16: Uint16Array; planes: Uint8Array; planeCount: number; min: number }

// ---- tables ----

// Prepared tables, per table array and orientation. Tables are taken to be immutable once used.
const preparedCache = new WeakMap<Int32Array, Map<string, PreparedLut>>();

function checkLut(lut: LutTable, layer: string): void {
  const n = lut.weightBits;
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new AxnnError(`weightBits must be an integer from 1 to 8, got ${n}`, { field: `${layer} lut` });
  if (!(lut.table instanceof Int32Array) || lut.table.length !== 256 << n) {
    throw new AxnnError(`expected an Int32Array of ${256 << n} entries for an 8x${n} table, got ${lut.table?.length}`, { field: `${layer} lut` });
  }
}

/**
 * The table as the native kernels read it: rows of 256 int32 products and their byte planes
 * (product - min, least significant byte first; as many planes as (max - min) needs), and
 * as uint16 (product - min) when that fits.
 * "by-weight" rows are weight codes indexed by activation (convolutions); "by-activation"
 * rows are activations indexed by weight code, padded with min past 2^weightBits (dense).
 */
function prepareLut(lut: LutTable, orientation: "by-weight" | "by-activation"): PreparedLut {
  let perTable = preparedCache.get(lut.table);
  if (!perTable) preparedCache.set(lut.table, (perTable = new Map()));
  const key = `${orientation}/${lut.weightBits}`;
  const hit = perTable.get(key);
  if (hit) return hit;
  const n = lut.weightBits, t = lut.table;
  let min = t[0]!, max = t[0]!;
  for (let i = 1; i < t.length; i++) {
    if (t[i]! < min) min = t[i]!;
    if (t[i]! > max) max = t[i]!;
  }
  const span = max - min;
  const planeCount = span < 2 ** 8 ? 1 : span < 2 ** 16 ? 2 : span < 2 ** 24 ? 3 : 4;
  const rowCount = orientation === "by-weight" ? 1 << n : 256;
  const rows = new Int32Array(rowCount * 256).fill(min);
  for (let a = 0; a < 256; a++) {
    for (let w = 0; w < 1 << n; w++) {
      const v = t[(a << n) | w]!;
      if (orientation === "by-weight") rows[w * 256 + a] = v;
      else rows[a * 256 + w] = v;
    }
  }
  const planes = new Uint8Array(rowCount * planeCount * 256);
  for (let row = 0; row < rowCount; row++) {
    for (let i = 0; i < 256; i++) {
      let d = rows[row * 256 + i]! - min; // exact in double, < 2^32
      for (let b = 0; b < planeCount; b++) {
        planes[(row * planeCount + b) * 256 + i] = d % 256;
        d = Math.floor(d / 256);
      }
    }
  }
  // The same rows as uint16 (product - min) where they fit, for the AVX-512 BW core.
  const rows16 = planeCount <= 2 ? Uint16Array.from(rows, (v) => v - min) : new Uint16Array(0);
  const prepared = { rows, rows16, planes, planeCount, min };
  perTable.set(key, prepared);
  return prepared;
}

function checkCodes(codes: Uint8Array, bits: number, layer: string, arg: string): void {
  if (bits >= 8) return;
  const limit = 1 << bits;
  for (let i = 0; i < codes.length; i++) {
    if (codes[i]! >= limit) throw new AxnnError(`element ${i} is ${codes[i]}, not a ${bits}-bit weight code (0..${limit - 1})`, { field: `${layer} ${arg}` });
  }
}

function checkPadCode(padCode: number, layer: string): void {
  if (!Number.isInteger(padCode) || padCode < 0 || padCode > 255) throw new AxnnError(`padCode must be an 8-bit activation code (0..255), got ${padCode}`, { field: `${layer} padCode` });
}

function depthwiseOptions<T extends ConvOptions>(layer: string, inputShape: readonly number[], weightShape: readonly number[], options: T): T {
  if (options.groups !== undefined) throw new AxnnError("depthwise convolutions take no groups option (groups = input channels)", { field: `${layer} groups` });
  const C = inputShape[1];
  if (weightShape[1] !== 1) throw new AxnnError(`expected weight shape [channels * multiplier, 1, kernelHeight, kernelWidth], got [${weightShape.join(", ")}]`, { field: `${layer} weights` });
  return { ...options, groups: C };
}

// ---- approximate (LUT) kernels ----

/**
 * conv2d through a multiplier table: out[n, m, p, q] = sum over the receptive field of
 * table[(act << weightBits) | w] (int32, wrapping), padding positions taking options.padCode.
 * input: activation codes [N, C, H, W]; weights: weight codes [M, C/groups, R, S].
 */
export function conv2dLut(input: Uint8Array, inputShape: readonly number[], weights: Uint8Array, weightShape: readonly number[], lut: LutTable, options: LutConvOptions = {}): IntResult {
  return conv2dLutNamed("conv2dLut", input, inputShape, weights, weightShape, lut, options);
}

function conv2dLutNamed(layer: string, input: Uint8Array, inputShape: readonly number[], weights: Uint8Array, weightShape: readonly number[], lut: LutTable, options: LutConvOptions): IntResult {
  const g = convArgs(layer, Uint8Array, input, inputShape, weights, weightShape, options);
  checkLut(lut, layer);
  checkCodes(weights, lut.weightBits, layer, "weights");
  const padCode = options.padCode ?? 0;
  checkPadCode(padCode, layer);
  const out = outputArray(Int32Array, options.out, g.N * g.M * g.P * g.Q, layer);
  const addon = native();
  if (!addon) return { data: fill(out, conv2dIntReference(input, weights, g, lutProduct(lut.table, lut.weightBits), padCode)), shape: convShape(g) };
  const p = prepareLut(lut, "by-weight");
  addon.convLut(input, weights, geometryArray(g), padCode, p.rows, p.rows16, p.planes, p.planeCount, p.min, out);
  return { data: out, shape: convShape(g) };
}

/** Depthwise conv2d through a table: groups = input channels, weights [C * multiplier, 1, R, S]. */
export function depthwiseLut(input: Uint8Array, inputShape: readonly number[], weights: Uint8Array, weightShape: readonly number[], lut: LutTable, options: Omit<LutConvOptions, "groups"> = {}): IntResult {
  return conv2dLutNamed("depthwiseLut", input, inputShape, weights, weightShape, lut, depthwiseOptions("depthwiseLut", inputShape, weightShape, options));
}

/** Dense layer through a table: input [B, K] activation codes, weights [M, K] codes, out [B, M]. */
export function denseLut(input: Uint8Array, inputShape: readonly number[], weights: Uint8Array, weightShape: readonly number[], lut: LutTable, options: DenseOptions<Int32Array> = {}): IntResult {
  const layer = "denseLut";
  const g = denseArgs(layer, Uint8Array, input, inputShape, weights, weightShape);
  checkLut(lut, layer);
  checkCodes(weights, lut.weightBits, layer, "weights");
  const out = outputArray(Int32Array, options.out, g.B * g.M, layer);
  const addon = native();
  if (!addon) return { data: fill(out, denseIntReference(input, weights, g, lutProduct(lut.table, lut.weightBits))), shape: [g.B, g.M] };
  const p = prepareLut(lut, "by-activation");
  addon.denseLut(input, weights, Int32Array.from([g.B, g.K, g.M]), p.rows, p.rows16, p.planes, p.planeCount, p.min, out);
  return { data: out, shape: [g.B, g.M] };
}

// ---- exact integer kernels ----

function conv2dExactNamed(layer: string, input: Uint8Array, inputShape: readonly number[], weights: Uint8Array, weightShape: readonly number[], signed: boolean, options: LutConvOptions): IntResult {
  const g = convArgs(layer, Uint8Array, input, inputShape, weights, weightShape, options);
  const padCode = options.padCode ?? 0;
  checkPadCode(padCode, layer);
  const out = outputArray(Int32Array, options.out, g.N * g.M * g.P * g.Q, layer);
  const addon = native();
  if (!addon) return { data: fill(out, conv2dIntReference(input, weights, g, exactProduct(signed), padCode)), shape: convShape(g) };
  addon.convExact(input, weights, geometryArray(g), padCode, signed, out);
  return { data: out, shape: convShape(g) };
}

/**
 * Exact integer conv2d, int32 accumulators: signed = true multiplies the codes as int8 x int8
 * (two's complement), signed = false as uint8 x uint8. Same layouts and padding as conv2dLut.
 */
export function conv2dExact(input: Uint8Array, inputShape: readonly number[], weights: Uint8Array, weightShape: readonly number[], signed: boolean, options: LutConvOptions = {}): IntResult {
  return conv2dExactNamed("conv2dExact", input, inputShape, weights, weightShape, signed, options);
}

export function depthwiseExact(input: Uint8Array, inputShape: readonly number[], weights: Uint8Array, weightShape: readonly number[], signed: boolean, options: Omit<LutConvOptions, "groups"> = {}): IntResult {
  return conv2dExactNamed("depthwiseExact", input, inputShape, weights, weightShape, signed, depthwiseOptions("depthwiseExact", inputShape, weightShape, options));
}

export function denseExact(input: Uint8Array, inputShape: readonly number[], weights: Uint8Array, weightShape: readonly number[], signed: boolean, options: DenseOptions<Int32Array> = {}): IntResult {
  const layer = "denseExact";
  const g = denseArgs(layer, Uint8Array, input, inputShape, weights, weightShape);
  const out = outputArray(Int32Array, options.out, g.B * g.M, layer);
  const addon = native();
  if (!addon) return { data: fill(out, denseIntReference(input, weights, g, exactProduct(signed))), shape: [g.B, g.M] };
  addon.denseExact(input, weights, Int32Array.from([g.B, g.K, g.M]), signed, out);
  return { data: out, shape: [g.B, g.M] };
}

// ---- float32 kernels ----

function conv2dFloatNamed(layer: string, input: Float32Array, inputShape: readonly number[], weights: Float32Array, weightShape: readonly number[], options: FloatConvOptions): FloatResult {
  const g = convArgs(layer, Float32Array, input, inputShape, weights, weightShape, options);
  const padValue = options.padValue ?? 0;
  if (!Number.isFinite(padValue)) throw new AxnnError(`padValue must be finite, got ${padValue}`, { field: `${layer} padValue` });
  const out = outputArray(Float32Array, options.out, g.N * g.M * g.P * g.Q, layer);
  const addon = native();
  if (!addon) return { data: fill(out, conv2dFloatReference(input, weights, g, padValue)), shape: convShape(g) };
  addon.convFloat(input, weights, geometryArray(g), padValue, out);
  return { data: out, shape: convShape(g) };
}

/** float32 conv2d (float32 accumulators; summation order differs from the reference). */
export function conv2dFloat(input: Float32Array, inputShape: readonly number[], weights: Float32Array, weightShape: readonly number[], options: FloatConvOptions = {}): FloatResult {
  return conv2dFloatNamed("conv2dFloat", input, inputShape, weights, weightShape, options);
}

export function depthwiseFloat(input: Float32Array, inputShape: readonly number[], weights: Float32Array, weightShape: readonly number[], options: Omit<FloatConvOptions, "groups"> = {}): FloatResult {
  return conv2dFloatNamed("depthwiseFloat", input, inputShape, weights, weightShape, depthwiseOptions("depthwiseFloat", inputShape, weightShape, options));
}

export function denseFloat(input: Float32Array, inputShape: readonly number[], weights: Float32Array, weightShape: readonly number[], options: DenseOptions<Float32Array> = {}): FloatResult {
  const layer = "denseFloat";
  const g = denseArgs(layer, Float32Array, input, inputShape, weights, weightShape);
  const out = outputArray(Float32Array, options.out, g.B * g.M, layer);
  const addon = native();
  if (!addon) return { data: fill(out, denseFloatReference(input, weights, g)), shape: [g.B, g.M] };
  addon.denseFloat(input, weights, Int32Array.from([g.B, g.K, g.M]), out);
  return { data: out, shape: [g.B, g.M] };
}
