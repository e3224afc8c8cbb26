// The kernels of inference: integer conv2d / depthwise / dense through an approximate
// multiplier's table (LUT) or exact int8/uint8 products, and their float32 twins: argument
// checks here, the work on the active backend (registry.ts). Semantics: docs/kernels.md.
import { AxnnError } from "../util/errors.js";
import { convArgs, convShape, denseArgs, outputArray } from "./args.js";
import type { LutTable } from "./backend.js";
import type { ConvOptions } from "./geometry.js";
import { backend } from "./registry.js";

export type { LutTable } from "./backend.js";

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

function checkLut(lut: LutTable, layer: string): void {
  const n = lut.weightBits;
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new AxnnError(`weightBits must be an integer from 1 to 8, got ${n}`, { field: `${layer} lut` });
  if (!(lut.table instanceof Int32Array) || lut.table.length !== 256 << n) {
    throw new AxnnError(`expected an Int32Array of ${256 << n} entries for an 8x${n} table, got ${lut.table?.length}`, { field: `${layer} lut` });
  }
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
  backend().convLut(input, weights, g, lut, padCode, out);
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
  backend().denseLut(input, weights, g, lut, out);
  return { data: out, shape: [g.B, g.M] };
}

// ---- exact integer kernels ----

function conv2dExactNamed(layer: string, input: Uint8Array, inputShape: readonly number[], weights: Uint8Array, weightShape: readonly number[], signed: boolean, options: LutConvOptions): IntResult {
  const g = convArgs(layer, Uint8Array, input, inputShape, weights, weightShape, options);
  const padCode = options.padCode ?? 0;
  checkPadCode(padCode, layer);
  const out = outputArray(Int32Array, options.out, g.N * g.M * g.P * g.Q, layer);
  backend().convExact(input, weights, g, padCode, signed, out);
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
  backend().denseExact(input, weights, g, signed, out);
  return { data: out, shape: [g.B, g.M] };
}

// ---- float32 kernels ----

function conv2dFloatNamed(layer: string, input: Float32Array, inputShape: readonly number[], weights: Float32Array, weightShape: readonly number[], options: FloatConvOptions): FloatResult {
  const g = convArgs(layer, Float32Array, input, inputShape, weights, weightShape, options);
  const padValue = options.padValue ?? 0;
  if (!Number.isFinite(padValue)) throw new AxnnError(`padValue must be finite, got ${padValue}`, { field: `${layer} padValue` });
  const out = outputArray(Float32Array, options.out, g.N * g.M * g.P * g.Q, layer);
  backend().convFloat(input, weights, g, padValue, out);
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
  backend().denseFloat(input, weights, g, out);
  return { data: out, shape: [g.B, g.M] };
}
