// The kernel backend interface: what a backend (the TypeScript reference, the native addon at one
// ISA level, WebGPU) implements. The public kernel functions (inference.ts, training.ts,
// quantize.ts) check their arguments, resolve shapes and output arrays, and then call the active
// backend (registry.ts) with checked, resolved arguments only; a backend never validates.
// Every backend computes what reference.ts defines: integer results bit for bit, float32 results
// up to summation order (docs/kernels.md).
import type { ConvGeometry, DenseGeometry } from "./geometry.js";

/** The backends axnn knows: the TypeScript reference, the native kernels at each ISA level, WebGPU. */
export type BackendName = "typescript" | "native-avx512" | "native-avx512bw" | "native-avx2" | "native-neon" | "native-scalar" | "webgpu";

/** A multiplier table in the orientation `table[(act << weightBits) | w]` (a Multiplier fits). */
export interface LutTable {
  readonly table: Int32Array;
  readonly weightBits: number;
}

export interface GemmDims { m: number; n: number; k: number }

/** Layout of a BatchNorm input: [N, C, inner] (NCHW, inner = H * W; 1 for [N, C]). */
export interface ChannelDims { n: number; c: number; inner: number }

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

export interface DequantizeDims { batch: number; channels: number; inner: number; groups: number }

export interface QuantizeParams { scale: number; zeroPoint: number; qmin: number; qmax: number }

/**
 * One implementation of every kernel. Arguments are checked and resolved by the caller; results
 * go to the given output arrays (null: not wanted). Semantics: the *Reference function of the
 * same name in reference.ts.
 */
export interface Backend {
  readonly name: BackendName;
  // inference: integer (table or exact products, int32 wrapping sums) and float32
  convLut(input: Uint8Array, weights: Uint8Array, g: ConvGeometry, lut: LutTable, padCode: number, out: Int32Array): void;
  convExact(input: Uint8Array, weights: Uint8Array, g: ConvGeometry, padCode: number, signed: boolean, out: Int32Array): void;
  convFloat(input: Float32Array, weights: Float32Array, g: ConvGeometry, padValue: number, out: Float32Array): void;
  denseLut(input: Uint8Array, weights: Uint8Array, g: DenseGeometry, lut: LutTable, out: Int32Array): void;
  denseExact(input: Uint8Array, weights: Uint8Array, g: DenseGeometry, signed: boolean, out: Int32Array): void;
  denseFloat(input: Float32Array, weights: Float32Array, g: DenseGeometry, out: Float32Array): void;
  // training
  gemmFloat(a: Float32Array, b: Float32Array, dims: GemmDims, transA: boolean, transB: boolean, accumulate: boolean, out: Float32Array): void;
  convFloatGemm(input: Float32Array, weights: Float32Array, g: ConvGeometry, out: Float32Array): void;
  conv2dBackwardFloat(input: Float32Array, weights: Float32Array, outputGrad: Float32Array, g: ConvGeometry, dInput: Float32Array | null, dWeights: Float32Array | null, dBias: Float32Array | null): void;
  denseBackwardFloat(input: Float32Array, weights: Float32Array, outputGrad: Float32Array, g: DenseGeometry, dInput: Float32Array | null, dWeights: Float32Array | null, dBias: Float32Array | null): void;
  channelMoments(input: Float32Array, dims: ChannelDims, mean: Float64Array, variance: Float64Array): void;
  batchNormApply(input: Float32Array, dims: ChannelDims, mean: Float64Array, invStd: Float64Array, scale: Float32Array, bias: Float32Array, out: Float32Array): void;
  batchNormBackward(input: Float32Array, outputGrad: Float32Array, dims: ChannelDims, mean: Float64Array, invStd: Float64Array, scale: Float32Array, batchStats: boolean, dInput: Float32Array | null, dScale: Float32Array, dBias: Float32Array): void;
  relu(input: Float32Array, out: Float32Array): void;
  reluBackward(input: Float32Array, outputGrad: Float32Array, dInput: Float32Array): void;
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
  // quantization
  fakeQuantize(input: Float32Array, params: QuantizeParams, codes: Uint8Array, fake: Float32Array, mask: Uint8Array): void;
  minMax(input: Float32Array): [number, number];
  /** clampMax: -1 for none, else the upper clamp of a fused ReLU (Infinity) or ReLU6 (6). */
  dequantizeAcc(acc: Int32Array, dims: DequantizeDims, channels: DequantizeChannels, sums: Int32Array | null, clampMax: number, out: Float32Array): void;
}
