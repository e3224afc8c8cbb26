// The float32 kernels of training: GEMM, the forward conv2d as im2col + GEMM, the backward
// passes of conv2d and dense, BatchNorm, ReLU and Add. Semantics: docs/kernels.md.
import { AxnnError } from "../util/errors.js";
import { checkType, convArgs, convShape, denseArgs, outputArray } from "./args.js";
import type { ChannelDims, GemmDims } from "./backend.js";
import { checkLength, type ConvOptions } from "./geometry.js";
import type { FloatResult } from "./inference.js";
import { backend } from "./registry.js";

export type { ChannelDims, GemmDims } from "./backend.js";

// ---- float32 GEMM ----

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
  backend().gemmFloat(a, b, { m, n, k }, transA, transB, accumulate, out);
  return out;
}

// ---- forward conv2d as GEMM ----

/**
 * float32 conv2d as im2col + GEMM, zero padding (training's forward pass). Faster than
 * conv2dFloat's direct kernel on batches of layers with several output channels per group
 * (docs/kernels.md); float32 sums in the GEMM's order, independent of the thread count.
 */
export function conv2dFloatGemm(input: Float32Array, inputShape: readonly number[], weights: Float32Array, weightShape: readonly number[], options: ConvOptions & { out?: Float32Array } = {}): FloatResult {
  const layer = "conv2dFloatGemm";
  const g = convArgs(layer, Float32Array, input, inputShape, weights, weightShape, options);
  const out = outputArray(Float32Array, options.out, g.N * g.M * g.P * g.Q, layer);
  backend().convFloatGemm(input, weights, g, out);
  return { data: out, shape: convShape(g) };
}

// ---- backward kernels ----

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
  const grads: LayerGradients = {
    dInput: need.input ? new Float32Array(input.length) : null,
    dWeights: need.weights ? new Float32Array(weights.length) : null,
    dBias: need.bias ? new Float32Array(g.M) : null,
  };
  backend().conv2dBackwardFloat(input, weights, outputGrad, g, grads.dInput, grads.dWeights, grads.dBias);
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
  const grads: LayerGradients = {
    dInput: need.input ? new Float32Array(input.length) : null,
    dWeights: need.weights ? new Float32Array(weights.length) : null,
    dBias: need.bias ? new Float32Array(g.M) : null,
  };
  backend().denseBackwardFloat(input, weights, outputGrad, g, grads.dInput, grads.dWeights, grads.dBias);
  return grads;
}

// ---- BatchNorm of training ----

function bnDims(layer: string, input: Float32Array, dims: ChannelDims): void {
  checkType(input, Float32Array, layer, "input");
  const { n, c, inner } = dims;
  if (![n, c, inner].every((v) => Number.isInteger(v) && v >= 1)) throw new AxnnError(`expected positive integer dims, got [${n}, ${c}, ${inner}]`, { field: `${layer} dims` });
  checkLength(input, [n, c, inner], layer, "input");
}

function checkChannels<T extends Float32Array | Float64Array>(a: T, ctor: { name: string }, c: number, layer: string, arg: string): void {
  if (a?.constructor?.name !== ctor.name || a.length !== c) throw new AxnnError(`expected a ${ctor.name} of ${c} elements, got ${a?.constructor?.name} of ${a?.length}`, { field: `${layer} ${arg}` });
}

/** Per-channel mean and biased variance (float64) of input [N, C, inner]; native: float sums within a plane, double across. */
export function channelMoments(input: Float32Array, dims: ChannelDims): { mean: Float64Array; variance: Float64Array } {
  bnDims("channelMoments", input, dims);
  const mean = new Float64Array(dims.c), variance = new Float64Array(dims.c);
  backend().channelMoments(input, dims, mean, variance);
  return { mean, variance };
}

/** BatchNorm's affine normalisation: out = (input - mean) invStd scale + bias, per channel. */
export function batchNormApply(input: Float32Array, dims: ChannelDims, mean: Float64Array, invStd: Float64Array, scale: Float32Array, bias: Float32Array, options: { out?: Float32Array } = {}): Float32Array {
  const layer = "batchNormApply";
  bnDims(layer, input, dims);
  checkChannels(mean, Float64Array, dims.c, layer, "mean");
  checkChannels(invStd, Float64Array, dims.c, layer, "invStd");
  checkChannels(scale, Float32Array, dims.c, layer, "scale");
  checkChannels(bias, Float32Array, dims.c, layer, "bias");
  const out = outputArray(Float32Array, options.out, input.length, layer);
  backend().batchNormApply(input, dims, mean, invStd, scale, bias, out);
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
  bnDims(layer, input, dims);
  checkType(outputGrad, Float32Array, layer, "outputGrad");
  checkLength(outputGrad, [dims.n, dims.c, dims.inner], layer, "outputGrad");
  checkChannels(mean, Float64Array, dims.c, layer, "mean");
  checkChannels(invStd, Float64Array, dims.c, layer, "invStd");
  checkChannels(scale, Float32Array, dims.c, layer, "scale");
  const needInput = options.needInput ?? true;
  const r = { dInput: needInput ? new Float32Array(input.length) : null, dScale: new Float32Array(dims.c), dBias: new Float32Array(dims.c) };
  backend().batchNormBackward(input, outputGrad, dims, mean, invStd, scale, options.batchStats, r.dInput, r.dScale, r.dBias);
  return r;
}

// ---- elementwise (training) ----

/** out = max(input, 0) elementwise (NaN gives 0). */
export function reluFloat(input: Float32Array, options: { out?: Float32Array } = {}): Float32Array {
  checkType(input, Float32Array, "reluFloat", "input");
  const out = outputArray(Float32Array, options.out, input.length, "reluFloat");
  backend().relu(input, out);
  return out;
}

/** ReLU's input gradient: outputGrad where input > 0, else 0. */
export function reluBackwardFloat(input: Float32Array, outputGrad: Float32Array): Float32Array {
  const layer = "reluBackwardFloat";
  checkType(input, Float32Array, layer, "input");
  checkType(outputGrad, Float32Array, layer, "outputGrad");
  checkLength(outputGrad, [input.length], layer, "outputGrad");
  const dx = new Float32Array(input.length);
  backend().reluBackward(input, outputGrad, dx);
  return dx;
}

/** out = a + b elementwise (same lengths). */
export function addFloat(a: Float32Array, b: Float32Array, options: { out?: Float32Array } = {}): Float32Array {
  const layer = "addFloat";
  checkType(a, Float32Array, layer, "a");
  checkType(b, Float32Array, layer, "b");
  checkLength(b, [a.length], layer, "b");
  const out = outputArray(Float32Array, options.out, a.length, layer);
  backend().add(a, b, out);
  return out;
}
