// Integer (approximate-multiplier LUT and exact int8) and float32 conv2d / depthwise / dense
// kernels, and the float32 kernels of training (GEMM, conv as GEMM, backward passes, BatchNorm,
// ReLU, Add). Semantics: docs/kernels.md.
// The native addon (build/Release/axnn_native.node) runs them; without it, the TypeScript
// reference kernels do, after one warning on stderr.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { AxnnError } from "../util/errors.js";
import { checkLength, convGeometry, denseGeometry, geometryArray, type ConvGeometry, type ConvOptions, type DenseGeometry } from "./geometry.js";
import {
  batchNormApplyReference, batchNormBackwardReference, fakeQuantizeReference, minMaxReference, dequantizeAccReference, channelMomentsReference, reluBackwardReference, reluReference, addReference,
  conv2dBackwardFloatReference, conv2dFloatReference, conv2dIntReference, denseBackwardFloatReference, denseFloatReference,
  denseIntReference, exactProduct, gemmFloatReference, lutProduct,
} from "./reference.js";

export { convGeometry, denseGeometry, type ConvGeometry, type ConvOptions, type DenseGeometry } from "./geometry.js";

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

export type IsaLevel = "avx512" | "avx512bw" | "avx2" | "scalar";
export type KernelBackend = "native-avx512" | "native-avx512bw" | "native-avx2" | "native-scalar" | "typescript";

// ---- the addon ----

interface PreparedLut { rows: Int32Array; rows16: Uint16Array; planes: Uint8Array; planeCount: number; min: number }

interface NativeAddon {
  convLut(input: Uint8Array, weights: Uint8Array, geometry: Int32Array, padCode: number, rows: Int32Array, rows16: Uint16Array, planes: Uint8Array, planeCount: number, min: number, out: Int32Array): void;
  convExact(input: Uint8Array, weights: Uint8Array, geometry: Int32Array, padCode: number, signed: boolean, out: Int32Array): void;
  convFloat(input: Float32Array, weights: Float32Array, geometry: Int32Array, padValue: number, out: Float32Array): void;
  denseLut(input: Uint8Array, weights: Uint8Array, dims: Int32Array, rows: Int32Array, rows16: Uint16Array, planes: Uint8Array, planeCount: number, min: number, out: Int32Array): void;
  denseExact(input: Uint8Array, weights: Uint8Array, dims: Int32Array, signed: boolean, out: Int32Array): void;
  denseFloat(input: Float32Array, weights: Float32Array, dims: Int32Array, out: Float32Array): void;
  gemmFloat(a: Float32Array, b: Float32Array, c: Float32Array, dims: Int32Array, transA: boolean, transB: boolean, accumulate: boolean): void;
  convFloatGemm(input: Float32Array, weights: Float32Array, geometry: Int32Array, out: Float32Array): void;
  channelMoments(input: Float32Array, dims: Int32Array, mean: Float64Array, variance: Float64Array): void;
  batchNormApply(input: Float32Array, dims: Int32Array, mean: Float64Array, invStd: Float64Array, scale: Float32Array, bias: Float32Array, out: Float32Array): void;
  batchNormBackward(input: Float32Array, outputGrad: Float32Array, dims: Int32Array, mean: Float64Array, invStd: Float64Array, scale: Float32Array, batchStats: boolean, dInput: Float32Array | null, dScale: Float32Array, dBias: Float32Array): void;
  reluFloat(input: Float32Array, out: Float32Array): void;
  addFloat(a: Float32Array, b: Float32Array, out: Float32Array): void;
  fakeQuantize(input: Float32Array, params: Float64Array, codes: Uint8Array, fake: Float32Array, mask: Uint8Array): void;
  minMaxFloat(input: Float32Array, out: Float64Array): void;
  dequantizeAcc(acc: Int32Array, dims: Int32Array, constant: Float64Array, scale: Float64Array, bias: Float64Array, zw: Int32Array, sums: Int32Array | null, hi: number, out: Float32Array): void;
  reluBackwardFloat(input: Float32Array, outputGrad: Float32Array, dInput: Float32Array): void;
  conv2dBackwardFloat(input: Float32Array, weights: Float32Array, outputGrad: Float32Array, geometry: Int32Array, dInput: Float32Array | null, dWeights: Float32Array | null, dBias: Float32Array | null): void;
  denseBackwardFloat(input: Float32Array, weights: Float32Array, outputGrad: Float32Array, dims: Int32Array, dInput: Float32Array | null, dWeights: Float32Array | null, dBias: Float32Array | null): void;
  gemmBackend(): "own" | "openblas";
  setGemmBackend(backend: string): void;
  openBlasStatus(): string;
  isaLevels(): IsaLevel[];
  getIsa(): IsaLevel;
  setIsa(level: string): IsaLevel;
  threads(): number;
}

const ADDON_URL = new URL("../../../build/Release/axnn_native.node", import.meta.url);
let addonState: { addon: NativeAddon | null; error?: AxnnError } | undefined;

function isIsaLevel(v: string): v is IsaLevel {
  return v === "avx512" || v === "avx512bw" || v === "avx2" || v === "scalar";
}

/** The addon, loaded on first use; null when disabled (AXNN_NO_NATIVE=1) or not built. */
function native(): NativeAddon | null {
  if (addonState) {
    if (addonState.error) throw addonState.error;
    return addonState.addon;
  }
  if (process.env.AXNN_NO_NATIVE === "1") {
    addonState = { addon: null };
    return null;
  }
  let addon: NativeAddon | null = null;
  try {
    addon = createRequire(import.meta.url)(fileURLToPath(ADDON_URL)) as NativeAddon;
  } catch (e) {
    process.stderr.write(`axnn: native kernels not available (${(e as Error).message.split("\n")[0]}); using the much slower TypeScript kernels. Build them with \`npm run build:native\` (needs a C++ compiler and Python).\n`);
  }
  addonState = { addon };
  const forcedIsa = process.env.AXNN_ISA, forcedBlas = process.env.AXNN_BLAS;
  if (addon && (forcedIsa || forcedBlas)) {
    try {
      if (forcedIsa) setKernelIsa(forcedIsa as IsaLevel);
      if (forcedBlas) setGemmBackend(forcedBlas as "own" | "openblas");
    } catch (e) {
      // Every kernel call fails alike: a typo in AXNN_ISA or AXNN_BLAS must not silently run something else.
      addonState.error = e as AxnnError;
      throw e;
    }
  }
  return addon;
}

/** Which implementation the kernels run on now. */
export function kernelBackend(): KernelBackend {
  const addon = native();
  return addon ? (`native-${addon.getIsa()}` as KernelBackend) : "typescript";
}

/** ISA levels of the native kernels that this CPU runs (empty without the addon), most portable first. */
export function availableIsaLevels(): IsaLevel[] {
  return native()?.isaLevels() ?? [];
}

/**
 * Forces the native kernels' ISA level (for tests and benchmarks; the default is the fastest
 * available). The environment variable AXNN_ISA does the same when the addon loads.
 */
export function setKernelIsa(level: IsaLevel): void {
  if (!isIsaLevel(level)) throw new AxnnError(`unknown ISA level "${level}"; expected avx512, avx512bw, avx2 or scalar`, { field: "AXNN_ISA" });
  const addon = native();
  if (!addon) throw new AxnnError(`cannot select ISA level ${level}: the native kernels are not loaded`, { field: "AXNN_ISA" });
  const levels = addon.isaLevels();
  if (!levels.includes(level)) throw new AxnnError(`ISA level ${level} is not available on this CPU (available: ${levels.join(", ")})`, { field: "AXNN_ISA" });
  addon.setIsa(level);
}

/** Threads of the native kernels' pool (AXNN_THREADS, else one per hardware thread); 1 without the addon. */
export function kernelThreads(): number {
  return native()?.threads() ?? 1;
}

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

function checkType(v: unknown, ctor: Uint8ArrayConstructor | Float32ArrayConstructor, layer: string, arg: string): void {
  if (!(v instanceof ctor)) throw new AxnnError(`expected a ${ctor.name}, got ${v === null ? "null" : typeof v === "object" ? (v as object).constructor?.name : typeof v}`, { field: `${layer} ${arg}` });
}

function convArgs<T extends Uint8Array | Float32Array>(
  layer: string, ctor: Uint8ArrayConstructor | Float32ArrayConstructor,
  input: T, inputShape: readonly number[], weights: T, weightShape: readonly number[], options: ConvOptions,
): ConvGeometry {
  checkType(input, ctor, layer, "input");
  checkType(weights, ctor, layer, "weights");
  const g = convGeometry(layer, inputShape, weightShape, options);
  checkLength(input, inputShape, layer, "input");
  checkLength(weights, weightShape, layer, "weights");
  return g;
}

function denseArgs<T extends Uint8Array | Float32Array>(
  layer: string, ctor: Uint8ArrayConstructor | Float32ArrayConstructor,
  input: T, inputShape: readonly number[], weights: T, weightShape: readonly number[],
): DenseGeometry {
  checkType(input, ctor, layer, "input");
  checkType(weights, ctor, layer, "weights");
  const g = denseGeometry(layer, inputShape, weightShape);
  checkLength(input, inputShape, layer, "input");
  checkLength(weights, weightShape, layer, "weights");
  return g;
}

function depthwiseOptions<T extends ConvOptions>(layer: string, inputShape: readonly number[], weightShape: readonly number[], options: T): T {
  if (options.groups !== undefined) throw new AxnnError("depthwise convolutions take no groups option (groups = input channels)", { field: `${layer} groups` });
  const C = inputShape[1];
  if (weightShape[1] !== 1) throw new AxnnError(`expected weight shape [channels * multiplier, 1, kernelHeight, kernelWidth], got [${weightShape.join(", ")}]`, { field: `${layer} weights` });
  return { ...options, groups: C };
}

const convShape = (g: ConvGeometry): number[] => [g.N, g.M, g.P, g.Q];

function fill<T extends Int32Array | Float32Array>(out: T, values: T): T {
  out.set(values);
  return out;
}

/** options.out when given (checked), else a new array of `size` elements. */
function outputArray<T extends Int32Array | Float32Array>(ctor: { new (n: number): T; name: string }, given: T | undefined, size: number, layer: string): T {
  if (given === undefined) return new ctor(size);
  if (!(given instanceof ctor) || given.length !== size) {
    throw new AxnnError(`expected a ${ctor.name} of ${size} elements, got ${given?.constructor?.name} of ${(given as { length?: number })?.length}`, { field: `${layer} out` });
  }
  return given;
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

/**
 * float32 conv2d as im2col + GEMM, zero padding (training's forward pass). Faster than
 * conv2dFloat's direct kernel on batches of layers with several output channels per group
 * (docs/kernels.md); float32 sums in the GEMM's order, independent of the thread count.
 */
export function conv2dFloatGemm(input: Float32Array, inputShape: readonly number[], weights: Float32Array, weightShape: readonly number[], options: ConvOptions & { out?: Float32Array } = {}): FloatResult {
  const layer = "conv2dFloatGemm";
  const g = convArgs(layer, Float32Array, input, inputShape, weights, weightShape, options);
  const out = outputArray(Float32Array, options.out, g.N * g.M * g.P * g.Q, layer);
  const addon = native();
  if (!addon) return { data: fill(out, conv2dFloatReference(input, weights, g, 0)), shape: convShape(g) };
  addon.convFloatGemm(input, weights, geometryArray(g), out);
  return { data: out, shape: convShape(g) };
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

// ---- float32 GEMM and backward kernels (training) ----

/** Which GEMM the backward kernels run on: axnn's own, OpenBLAS's cblas_sgemm (loaded at run time), or the TypeScript reference. */
export type GemmBackend = "own" | "openblas" | "typescript";

/**
 * The GEMM in use now. AXNN_BLAS=openblas|own selects one when the addon loads (an unknown value,
 * or openblas where it cannot be loaded, fails every kernel call); the default is "own", which
 * measured faster (docs/kernels.md).
 */
export function gemmBackend(): GemmBackend {
  return native()?.gemmBackend() ?? "typescript";
}

/** Whether OpenBLAS (libopenblas.so.0, else libblas.so.3) can be loaded by the native kernels. */
export function openBlasAvailable(): boolean {
  const addon = native();
  return addon !== null && addon.openBlasStatus() === "";
}

/** Selects the native GEMM (for tests and benchmarks); AxnnError when it cannot be used. */
export function setGemmBackend(backend: "own" | "openblas"): void {
  if (backend !== "own" && backend !== "openblas") throw new AxnnError(`unknown GEMM backend "${backend}"; expected own or openblas`, { field: "AXNN_BLAS" });
  const addon = native();
  if (!addon) throw new AxnnError(`cannot select GEMM backend ${backend}: the native kernels are not loaded`, { field: "AXNN_BLAS" });
  const why = addon.openBlasStatus();
  if (backend === "openblas" && why !== "") throw new AxnnError(`OpenBLAS is not available (${why}); install it (Debian: apt-get install libopenblas0-pthread)`, { field: "AXNN_BLAS" });
  addon.setGemmBackend(backend);
}

export interface GemmDims { m: number; n: number; k: number }

export interface GemmOptions {
  /** a is stored [k, m] (default [m, k]). */
  transA?: boolean;
  /** b is stored [n, k] (default [k, n]). */
  transB?: boolean;
  /** Add to options.out instead of overwriting it (needs out). */
  accumulate?: boolean;
  /** Where to write the result (exactly m*n elements), instead of a new array. */
  out?: Float32Array;
}

/**
 * float32 matrix product c [m, n] = op(a) op(b) (+ c with accumulate), op transposing a stored
 * operand when asked. Sums in float32 in an order that depends on the ISA level but never on the
 * thread count.
 */
export function gemmFloat(a: Float32Array, b: Float32Array, dims: GemmDims, options: GemmOptions = {}): Float32Array {
  const layer = "gemmFloat";
  checkType(a, Float32Array, layer, "a");
  checkType(b, Float32Array, layer, "b");
  const { m, n, k } = dims ?? ({} as GemmDims);
  for (const [name, v] of [["m", m], ["n", n], ["k", k]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) throw new AxnnError(`dims.${name} must be a positive integer, got ${v}`, { field: `${layer} dims` });
  }
  const transA = options.transA ?? false, transB = options.transB ?? false, accumulate = options.accumulate ?? false;
  checkLength(a, transA ? [k, m] : [m, k], layer, "a");
  checkLength(b, transB ? [n, k] : [k, n], layer, "b");
  if (accumulate && options.out === undefined) throw new AxnnError("accumulate needs the array to add to (options.out)", { field: `${layer} out` });
  const out = outputArray(Float32Array, options.out, m * n, layer);
  const addon = native();
  if (!addon) return fill(out, gemmFloatReference(a, b, m, n, k, transA, transB, accumulate ? out : null));
  addon.gemmFloat(a, b, out, Int32Array.from([m, n, k]), transA, transB, accumulate);
  return out;
}

/** Which gradients a backward call computes: the input's and the weights' by default, the bias's when asked. */
export interface BackwardOptions {
  needInput?: boolean;
  needWeights?: boolean;
  needBias?: boolean;
}

/** Gradients of a layer's loss with respect to its input, weights and bias (null where not asked for). */
export interface LayerGradients {
  dInput: Float32Array | null;
  dWeights: Float32Array | null;
  dBias: Float32Array | null;
}

function wanted(options: BackwardOptions): { input: boolean; weights: boolean; bias: boolean } {
  return { input: options.needInput ?? true, weights: options.needWeights ?? true, bias: options.needBias ?? false };
}

/**
 * Gradients of out = conv2d(input, weights) (+ bias) given outputGrad = dLoss/dout [N, M, P, Q],
 * for any stride, dilation, padding and groups (options as conv2dFloat's). Native: im2col and
 * GEMM for dWeights, GEMM and col2im for dInput, a direct kernel when each group has one input
 * channel (depthwise); float32 sums, independent of the thread count.
 */
export function conv2dBackwardFloat(
  input: Float32Array, inputShape: readonly number[], weights: Float32Array, weightShape: readonly number[],
  outputGrad: Float32Array, options: ConvOptions & BackwardOptions = {},
): LayerGradients {
  const layer = "conv2dBackwardFloat";
  const g = convArgs(layer, Float32Array, input, inputShape, weights, weightShape, options);
  checkType(outputGrad, Float32Array, layer, "outputGrad");
  checkLength(outputGrad, convShape(g), layer, "outputGrad");
  const need = wanted(options);
  const addon = native();
  if (!addon) {
    const r = conv2dBackwardFloatReference(input, weights, outputGrad, g);
    return { dInput: need.input ? r.dInput : null, dWeights: need.weights ? r.dWeights : null, dBias: need.bias ? r.dBias : null };
  }
  const grads: LayerGradients = {
    dInput: need.input ? new Float32Array(input.length) : null,
    dWeights: need.weights ? new Float32Array(weights.length) : null,
    dBias: need.bias ? new Float32Array(g.M) : null,
  };
  addon.conv2dBackwardFloat(input, weights, outputGrad, geometryArray(g), grads.dInput, grads.dWeights, grads.dBias);
  return grads;
}

/** Gradients of out = dense(input [B, K], weights [M, K]) (+ bias) given outputGrad [B, M]; native: two GEMMs. */
export function denseBackwardFloat(
  input: Float32Array, inputShape: readonly number[], weights: Float32Array, weightShape: readonly number[],
  outputGrad: Float32Array, options: BackwardOptions = {},
): LayerGradients {
  const layer = "denseBackwardFloat";
  const g = denseArgs(layer, Float32Array, input, inputShape, weights, weightShape);
  checkType(outputGrad, Float32Array, layer, "outputGrad");
  checkLength(outputGrad, [g.B, g.M], layer, "outputGrad");
  const need = wanted(options);
  const addon = native();
  if (!addon) {
    const r = denseBackwardFloatReference(input, weights, outputGrad, g);
    return { dInput: need.input ? r.dInput : null, dWeights: need.weights ? r.dWeights : null, dBias: need.bias ? r.dBias : null };
  }
  const grads: LayerGradients = {
    dInput: need.input ? new Float32Array(input.length) : null,
    dWeights: need.weights ? new Float32Array(weights.length) : null,
    dBias: need.bias ? new Float32Array(g.M) : null,
  };
  addon.denseBackwardFloat(input, weights, outputGrad, Int32Array.from([g.B, g.K, g.M]), grads.dInput, grads.dWeights, grads.dBias);
  return grads;
}

// ---- BatchNorm of training ----

/** Layout of a BatchNorm input: [N, C, inner] (NCHW, inner = H * W; 1 for [N, C]). */
export interface ChannelDims { n: number; c: number; inner: number }

function bnDims(layer: string, input: Float32Array, dims: ChannelDims): Int32Array {
  checkType(input, Float32Array, layer, "input");
  const { n, c, inner } = dims;
  if (![n, c, inner].every((v) => Number.isInteger(v) && v >= 1)) throw new AxnnError(`expected positive integer dims, got [${n}, ${c}, ${inner}]`, { field: `${layer} dims` });
  checkLength(input, [n, c, inner], layer, "input");
  return Int32Array.from([n, c, inner]);
}

function checkChannels<T extends Float32Array | Float64Array>(a: T, ctor: { name: string }, c: number, layer: string, arg: string): void {
  if (a?.constructor?.name !== ctor.name || a.length !== c) throw new AxnnError(`expected a ${ctor.name} of ${c} elements, got ${a?.constructor?.name} of ${a?.length}`, { field: `${layer} ${arg}` });
}

/** Per-channel mean and biased variance (float64) of input [N, C, inner]; native: float sums within a plane, double across. */
export function channelMoments(input: Float32Array, dims: ChannelDims): { mean: Float64Array; variance: Float64Array } {
  const d = bnDims("channelMoments", input, dims);
  const addon = native();
  if (!addon) return channelMomentsReference(input, dims.n, dims.c, dims.inner);
  const mean = new Float64Array(dims.c), variance = new Float64Array(dims.c);
  addon.channelMoments(input, d, mean, variance);
  return { mean, variance };
}

/** BatchNorm's affine normalisation: out = (input - mean) invStd scale + bias, per channel. */
export function batchNormApply(input: Float32Array, dims: ChannelDims, mean: Float64Array, invStd: Float64Array, scale: Float32Array, bias: Float32Array, options: { out?: Float32Array } = {}): Float32Array {
  const layer = "batchNormApply";
  const d = bnDims(layer, input, dims);
  checkChannels(mean, Float64Array, dims.c, layer, "mean");
  checkChannels(invStd, Float64Array, dims.c, layer, "invStd");
  checkChannels(scale, Float32Array, dims.c, layer, "scale");
  checkChannels(bias, Float32Array, dims.c, layer, "bias");
  const out = outputArray(Float32Array, options.out, input.length, layer);
  const addon = native();
  if (!addon) return fill(out, batchNormApplyReference(input, dims.n, dims.c, dims.inner, mean, invStd, scale, bias));
  addon.batchNormApply(input, d, mean, invStd, scale, bias, out);
  return out;
}

/**
 * Gradients of out = xhat scale + bias, xhat = (input - mean) invStd, from outputGrad: dScale
 * and dBias per channel, and dInput (needInput, default true), through xhat only or, with
 * batchStats (training: mean and invStd are the batch's), through the batch statistics too.
 */
export function batchNormBackward(
  input: Float32Array, outputGrad: Float32Array, dims: ChannelDims, mean: Float64Array, invStd: Float64Array, scale: Float32Array,
  options: { batchStats: boolean; needInput?: boolean },
): { dInput: Float32Array | null; dScale: Float32Array; dBias: Float32Array } {
  const layer = "batchNormBackward";
  const d = bnDims(layer, input, dims);
  checkType(outputGrad, Float32Array, layer, "outputGrad");
  checkLength(outputGrad, [dims.n, dims.c, dims.inner], layer, "outputGrad");
  checkChannels(mean, Float64Array, dims.c, layer, "mean");
  checkChannels(invStd, Float64Array, dims.c, layer, "invStd");
  checkChannels(scale, Float32Array, dims.c, layer, "scale");
  const needInput = options.needInput ?? true;
  const addon = native();
  if (!addon) {
    const r = batchNormBackwardReference(input, outputGrad, dims.n, dims.c, dims.inner, mean, invStd, scale, options.batchStats);
    return { ...r, dInput: needInput ? r.dInput : null };
  }
  const r = { dInput: needInput ? new Float32Array(input.length) : null, dScale: new Float32Array(dims.c), dBias: new Float32Array(dims.c) };
  addon.batchNormBackward(input, outputGrad, d, mean, invStd, scale, options.batchStats, r.dInput, r.dScale, r.dBias);
  return r;
}

// ---- elementwise (training) ----

/** out = max(input, 0) elementwise (NaN gives 0). */
export function reluFloat(input: Float32Array, options: { out?: Float32Array } = {}): Float32Array {
  checkType(input, Float32Array, "reluFloat", "input");
  const out = outputArray(Float32Array, options.out, input.length, "reluFloat");
  const addon = native();
  if (!addon) return fill(out, reluReference(input));
  addon.reluFloat(input, out);
  return out;
}

/** ReLU's input gradient: outputGrad where input > 0, else 0. */
export function reluBackwardFloat(input: Float32Array, outputGrad: Float32Array): Float32Array {
  const layer = "reluBackwardFloat";
  checkType(input, Float32Array, layer, "input");
  checkType(outputGrad, Float32Array, layer, "outputGrad");
  checkLength(outputGrad, [input.length], layer, "outputGrad");
  const addon = native();
  if (!addon) return reluBackwardReference(input, outputGrad);
  const dx = new Float32Array(input.length);
  addon.reluBackwardFloat(input, outputGrad, dx);
  return dx;
}

/** out = a + b elementwise (same lengths). */
export function addFloat(a: Float32Array, b: Float32Array, options: { out?: Float32Array } = {}): Float32Array {
  const layer = "addFloat";
  checkType(a, Float32Array, layer, "a");
  checkType(b, Float32Array, layer, "b");
  checkLength(b, [a.length], layer, "b");
  const out = outputArray(Float32Array, options.out, a.length, layer);
  const addon = native();
  if (!addon) return fill(out, addReference(a, b));
  addon.addFloat(a, b, out);
  return out;
}

/**
 * Quantization-aware training's quantization of a layer's input with 8-bit parameters, in one pass
 * (fakeQuantizeReference): the codes the integer kernels take, the fake-quantized values and the
 * mask of the unclamped elements.
 */
export function fakeQuantizeFloat(
  input: Float32Array, params: { scale: number; zeroPoint: number; qmin: number; qmax: number },
): { codes: Uint8Array; fake: Float32Array; mask: Uint8Array } {
  const layer = "fakeQuantize";
  checkType(input, Float32Array, layer, "input");
  const { scale, zeroPoint, qmin, qmax } = params;
  if (!(scale > 0) || !Number.isInteger(qmin) || !Number.isInteger(qmax) || !Number.isInteger(zeroPoint) || qmin > qmax || qmin < -128 || qmax > 255 || zeroPoint < qmin || zeroPoint > qmax) {
    throw new AxnnError(`bad quantization parameters ${JSON.stringify(params)}: need scale > 0 and integers qmin <= zeroPoint <= qmax within -128..255`, { field: `${layer} params` });
  }
  const n = input.length;
  const codes = new Uint8Array(n), fake = new Float32Array(n), mask = new Uint8Array(n);
  const addon = native();
  if (!addon) fakeQuantizeReference(input, scale, zeroPoint, qmin, qmax, codes, fake, mask);
  else addon.fakeQuantize(input, Float64Array.of(scale, zeroPoint, qmin, qmax), codes, fake, mask);
  return { codes, fake, mask };
}

/** The least and greatest element of a float32 array, NaN skipped (minMaxReference); [+Infinity, -Infinity] when there is none. */
export function minMaxFloat(input: Float32Array): [number, number] {
  checkType(input, Float32Array, "minMaxFloat", "input");
  const addon = native();
  if (!addon) return minMaxReference(input);
  const out = new Float64Array(2);
  addon.minMaxFloat(input, out);
  return [out[0]!, out[1]!];
}

/** Per output channel terms of dequantizeAcc. */
export interface DequantizeChannels {
  /** Zero-point terms constant over positions, added to the accumulator. */
  constant: Float64Array;
  /** Input scale times weight scale. */
  scale: Float64Array;
  bias: Float64Array;
  /** Weight zero points: the term -zw * sums (only where sums are given). */
  zw: Int32Array;
}

/**
 * The dequantization of integer layer accumulators [batch, M, inner] to float32 (dequantizeAccReference):
 * with the activation-code sums [batch, groups, inner] of the asymmetric cross term, and a fused
 * ReLU (hi = Infinity) or ReLU6 (6) when hi is given. out may be acc's own buffer.
 */
export function dequantizeAcc(
  acc: Int32Array, dims: { batch: number; channels: number; inner: number; groups: number }, channels: DequantizeChannels,
  sums: Int32Array | null, hi: number | undefined, out: Float32Array,
): Float32Array {
  const layer = "dequantizeAcc";
  const { batch, channels: M, inner, groups } = dims;
  if (!(M >= 1 && groups >= 1 && M % groups === 0)) throw new AxnnError(`bad dims ${JSON.stringify(dims)}: groups must divide the channels`, { field: layer });
  checkLength(acc, [batch * M * inner], layer, "acc");
  checkLength(out, [batch * M * inner], layer, "out");
  for (const [name, a] of Object.entries(channels)) checkLength(a as Float64Array, [M], layer, name);
  if (sums) checkLength(sums, [batch * groups * inner], layer, "sums");
  const clamp = hi === undefined ? -1 : hi;
  const addon = native();
  if (!addon) dequantizeAccReference(acc, batch, M, inner, groups, channels.constant, channels.scale, channels.bias, channels.zw, sums, clamp, out);
  else addon.dequantizeAcc(acc, Int32Array.of(batch, M, inner, groups), channels.constant, channels.scale, channels.bias, channels.zw, sums, clamp, out);
  return out;
}
