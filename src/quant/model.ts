import { AxnnError } from "../util/errors.js";
import { consumersOf, isApproximable, type ApproximableNode, type ConvNode, type DenseNode, type Model, type Node } from "../nn/graph.js";
import { foldBatchNorm } from "../nn/passes.js";
import { runModel, type RunOptions } from "../nn/run.js";
import { evalNode } from "../nn/ops.js";
import { windowGeometry } from "../nn/shapes.js";
import { sizeOf, type Tensor } from "../nn/tensor.js";
import { conv2dExact, conv2dFloat, conv2dLut, denseExact, denseFloat, denseLut, dequantizeAcc } from "../kernels/index.js";
import type { DequantizeChannels } from "../kernels/backend.js";
import type { Multiplier } from "../multipliers/multiplier.js";
import { checkAccumulatorFits } from "./accumulator.js";
import { ActivationStats, calibrateActivation, MSE_FACTORS, type CalibrationOptions } from "./calibrate.js";
import { integerRange, paramsFromRange, quantizationMse, quantizeToCodes, type QuantParams, type QuantScheme } from "./params.js";

/**
 * The quantized engine (arithmetic: docs/quantization.md). A float model with BatchNorm folded runs
 * its approximable layers (Conv2D, DepthwiseConv2D, Dense) in one of three arithmetics, chosen per
 * layer and per run:
 * - "float": float32 kernels (the float baseline);
 * - "exact": integer kernels with true products (the exact int8 baseline, or exact 8xN);
 * - "lut": integer kernels through a multiplier's table.
 * Between layers values stay float: every integer layer quantizes its float input with its
 * calibrated 8-bit parameters and dequantizes its int32 accumulators (fake-quant style
 * requantization). All other ops run in float.
 */
export interface QuantConfig {
  /** sym: int8 activations, signed symmetric weights (mul8s); asym: uint8 activations and unsigned weights with zero points (mul8u). */
  scheme: QuantScheme;
  /** One weight scale (and zero point) per output channel instead of per tensor. */
  perChannel: boolean;
  calibration: CalibrationOptions;
  /**
   * Weight ranges: "minmax" (default) or "mse", the range f * [min, max] (f from 1.00 down to 0.20)
   * with the smallest quantization error of the tensor or channel (matters for narrow weights).
   */
  weightCalibration?: "minmax" | "mse";
}

export type LayerArithmetic =
  | { kind: "float" }
  | { kind: "exact"; weightBits?: number }
  | { kind: "lut"; multiplier: Multiplier; /** Weights to use instead of the layer's own (ALWANN's weight update, src/search/weight-tuning.ts). */ weights?: QuantizedWeights };

export const FLOAT: LayerArithmetic = { kind: "float" };
export const EXACT_INT8: LayerArithmetic = { kind: "exact", weightBits: 8 };

/** Quantized weights of one layer at one width. */
export interface QuantizedWeights {
  bits: number;
  scheme: QuantScheme;
  /** Per output channel (all equal when per-tensor). */
  params: QuantParams[];
  /** The integers, in the weight's layout. */
  values: Int32Array;
  /** `bits`-wide bit patterns (table operands). */
  codes: Uint8Array;
  /** 8-bit patterns of the same integers (sign-extended), for the exact kernels. */
  codes8: Uint8Array;
  /** Sum of the integers of each output channel (the asymmetric cross term). */
  channelSums: Float64Array;
}

export interface QuantizedLayer {
  name: string;
  node: ApproximableNode;
  /** 8-bit parameters of the layer's input activation. */
  input: QuantParams;
}

/** Whether a multiplier's operands fit a quantization scheme: mul8s with sym, mul8u with asym. */
export function checkMultiplierFits(m: Multiplier, scheme: QuantScheme, field = "--mult"): void {
  if (m.signed && scheme === "asym") {
    throw new AxnnError(`multiplier "${m.name}" is signed: it multiplies symmetric int8 operands, but the quantization is asymmetric (uint8 with zero points); use --quant sym or an unsigned (mul8u) multiplier`, { field });
  }
  if (!m.signed && scheme === "sym") {
    throw new AxnnError(`multiplier "${m.name}" is unsigned: it multiplies uint8 operands (asymmetric quantization with zero points), but the quantization is symmetric (int8); use --quant asym or a signed (mul8s) multiplier`, { field });
  }
  if (m.weightBits < 2) throw new AxnnError(`multiplier "${m.name}" has ${m.weightBits}-bit weights; quantization supports 2 to 8`, { field });
}

/**
 * Weight quantization: ranges are min/max of the tensor or of each output channel (axis 0),
 * widened to contain 0; symmetric weights use the restricted range [-(2^(b-1)-1), 2^(b-1)-1].
 */
export function quantizeWeights(
  weight: Tensor, scheme: QuantScheme, bits: number, perChannel: boolean, method: "minmax" | "mse" = "minmax",
  /** When given: set to 0 where a weight was clamped to the integer range, 1 elsewhere (QAT's straight-through mask). */
  clipMask?: Uint8Array,
): QuantizedWeights {
  const channels = weight.shape[0]!;
  const per = sizeOf(weight.shape.slice(1));
  const w = weight.data;
  const rangeOf = (from: number, to: number): [number, number] => {
    let lo = Infinity, hi = -Infinity;
    for (let i = from; i < to; i++) {
      if (w[i]! < lo) lo = w[i]!;
      if (w[i]! > hi) hi = w[i]!;
    }
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new AxnnError("weights contain NaN or infinite values", { field: "weights" });
    return [lo, hi];
  };
  const paramsOf = (from: number, to: number): QuantParams => {
    const [lo, hi] = rangeOf(from, to);
    if (method === "minmax") return paramsFromRange(lo, hi, scheme, bits, true);
    const values = w.subarray(from, to);
    let best = paramsFromRange(lo, hi, scheme, bits, true);
    let bestErr = quantizationMse(values, best);
    for (const f of MSE_FACTORS.slice(1)) {
      const p = paramsFromRange(lo * f, hi * f, scheme, bits, true);
      const err = quantizationMse(values, p);
      if (err < bestErr) {
        bestErr = err;
        best = p;
      }
    }
    return best;
  };
  const whole = perChannel ? undefined : paramsOf(0, w.length);
  const params = Array.from({ length: channels }, (_v, m) => whole ?? paramsOf(m * per, (m + 1) * per));
  const values = new Int32Array(w.length);
  const codes = new Uint8Array(w.length), codes8 = new Uint8Array(w.length);
  const channelSums = new Float64Array(channels);
  const mask = (1 << bits) - 1;
  for (let m = 0; m < channels; m++) {
    channelSums[m] = quantizeChannel(w, params[m]!, m * per, (m + 1) * per, mask, values, codes, codes8, clipMask);
  }
  return { bits, scheme, params, values, codes, codes8, channelSums };
}

/**
 * quantizeValue of w[from..to) into values, its `mask`-wide and 8-bit patterns into codes and
 * codes8, and (when given) 0 into clipMask where the value was clamped, 1 elsewhere; returns the
 * sum of the integers. (QAT quantizes every layer's weights every step: one tight pass, the same
 * arithmetic as quantizeValue.)
 */
function quantizeChannel(
  w: Float32Array, p: QuantParams, from: number, to: number, mask: number,
  values: Int32Array, codes: Uint8Array, codes8: Uint8Array, clipMask: Uint8Array | undefined,
): number {
  const { scale, zeroPoint, qmin, qmax } = p;
  let s = 0;
  for (let i = from; i < to; i++) {
    const v = w[i]! / scale;
    // trunc(v -+ 0.5) is roundHalfAway(v): for v < 0, trunc(v - 0.5) = -floor(0.5 - v).
    const r = Math.trunc(v < 0 ? v - 0.5 : v + 0.5) + zeroPoint;
    const q = r < qmin ? qmin : r > qmax ? qmax : r;
    values[i] = q;
    codes[i] = q & mask;
    codes8[i] = q & 0xff;
    if (clipMask) clipMask[i] = r === q ? 1 : 0;
    s += q;
  }
  return s;
}

// ---- one layer ----

function convPads(node: ConvNode, x: Tensor): [number, number, number, number] {
  const [, , kh, kw] = node.weight.shape as [number, number, number, number];
  return windowGeometry(x.shape[2]!, x.shape[3]!, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false).pads;
}

function addBias(y: Float32Array, bias: Tensor | null, channels: number, inner: number): void {
  if (!bias) return;
  const b = bias.data;
  for (let o = 0, c = 0; o < y.length; o += inner, c = (c + 1) % channels) {
    const v = b[c]!;
    for (let k = o; k < o + inner; k++) y[k] = y[k]! + v;
  }
}

/** A Dense input of any rank as the [rows, features] matrix the kernels take. */
function denseRows(node: DenseNode, x: Tensor): { rows: number; features: number; outShape: number[] } {
  const features = x.shape[x.shape.length - 1]!;
  if (features !== node.weight.shape[1]) throw new AxnnError(`input has ${features} features, the weight ${JSON.stringify(node.weight.shape)} expects ${node.weight.shape[1]}`, { field: `node "${node.name}" (Dense)` });
  return { rows: sizeOf(x.shape.slice(0, -1)), features, outShape: [...x.shape.slice(0, -1), node.weight.shape[0]!] };
}

/** The float32 kernels (native when available). */
export function floatLayer(node: ApproximableNode, x: Tensor, clampMax?: number): Tensor {
  if (node.op === "Dense") {
    const { rows, features, outShape } = denseRows(node, x);
    const M = node.weight.shape[0]!;
    const y = denseFloat(x.data, [rows, features], node.weight.data, node.weight.shape).data;
    addBias(y, node.bias, M, 1);
    if (clampMax !== undefined) clampRange(y, 0, y.length, clampMax);
    return { shape: outShape, data: y };
  }
  const r = conv2dFloat(x.data, x.shape, node.weight.data, node.weight.shape, { stride: node.strides, dilation: node.dilations, groups: node.groups, padding: convPads(node, x) });
  addBias(r.data, node.bias, r.shape[1]!, r.shape[2]! * r.shape[3]!);
  if (clampMax !== undefined) clampRange(r.data, 0, r.data.length, clampMax);
  return { shape: r.shape, data: r.data };
}

/** ReLU (hi = Infinity) or ReLU6 (hi = 6) in place on float32 values: the reference ops' results exactly. */
function clampRange(y: Float32Array, from: number, to: number, hi: number): void {
  for (let i = from; i < to; i++) {
    const v = y[i]!;
    y[i] = v > 0 ? (v < hi ? v : hi) : 0;
  }
}

/**
 * One integer layer: quantize the input, accumulate through the table (or exactly), add the exact
 * zero-point cross terms (asymmetric), dequantize, add the float bias.
 */
export function integerLayer(
  layer: QuantizedLayer, w: QuantizedWeights, x: Tensor, arith: { kind: "exact" } | { kind: "lut"; multiplier: Multiplier },
  /** A following ReLU (Infinity) or ReLU6 (6) applied to the float32 outputs, when fused. */
  clampMax?: number,
  /** The input's codes when the caller has them already (quantizeToCodes of x with layer.input: QAT computes them with its masks). */
  inputCodes?: Uint8Array,
): Tensor {
  const node = layer.node;
  const signed = w.scheme === "sym";
  const za = layer.input.zeroPoint;
  const codes = inputCodes ?? quantizeToCodes(x.data, layer.input);
  const M = node.weight.shape[0]!;
  let acc: Int32Array, outShape: number[], inner: number, groups: number;
  // Sum of the activation codes seen by each output (per image, group and position), for the zw * sum(a) term.
  let actSums: Int32Array | undefined;
  const needActSums = needsActivationSums(w);
  if (node.op === "Dense") {
    const { rows, features, outShape: os } = denseRows(node, x);
    const shapeIn = [rows, features];
    acc = arith.kind === "lut" ? denseLut(codes, shapeIn, w.codes, node.weight.shape, arith.multiplier).data : denseExact(codes, shapeIn, w.codes8, node.weight.shape, signed).data;
    outShape = os;
    inner = 1;
    groups = 1;
    if (needActSums) {
      actSums = new Int32Array(rows);
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let k = r * features; k < (r + 1) * features; k++) s += codes[k]!;
        actSums[r] = s;
      }
    }
  } else {
    const options = { stride: node.strides, dilation: node.dilations, groups: node.groups, padding: convPads(node, x), padCode: za & 0xff };
    const r = arith.kind === "lut" ? conv2dLut(codes, x.shape, w.codes, node.weight.shape, arith.multiplier, options) : conv2dExact(codes, x.shape, w.codes8, node.weight.shape, signed, options);
    acc = r.data;
    outShape = r.shape;
    inner = r.shape[2]! * r.shape[3]!;
    groups = node.groups;
    if (needActSums) actSums = windowCodeSums(codes, x.shape, node, options.padding, options.padCode, outShape[2]!, outShape[3]!);
  }
  // The accumulators are ours (fresh from the kernel): dequantize in place, each element read before it is written.
  const y = new Float32Array(acc.buffer, acc.byteOffset, acc.length);
  const channels = dequantizeChannels(layer, w);
  dequantizeAcc(acc, { batch: acc.length / (M * inner), channels: M, inner, groups }, channels, actSums ?? null, clampMax, y);
  return { shape: outShape, data: y };
}

/** Whether a layer's dequantization needs the activation code sums (the zw * sum(a) term: asymmetric weights with a nonzero zero point). */
export function needsActivationSums(w: QuantizedWeights): boolean {
  return w.scheme === "asym" && w.params.some((p) => p.zeroPoint !== 0);
}

/** The per-output-channel terms with which a layer's accumulators are dequantized (dequantizeAcc's channels). */
export function dequantizeChannels(layer: QuantizedLayer, w: QuantizedWeights): DequantizeChannels {
  const node = layer.node;
  const signed = w.scheme === "sym";
  const za = layer.input.zeroPoint;
  const M = node.weight.shape[0]!;
  const K = sizeOf(node.weight.shape.slice(1));
  const bias = node.bias?.data;
  const channels = { constant: new Float64Array(M), scale: new Float64Array(M), bias: new Float64Array(M), zw: new Int32Array(M) };
  for (let m = 0; m < M; m++) {
    const p = w.params[m]!;
    channels.scale[m] = layer.input.scale * p.scale;
    channels.zw[m] = p.zeroPoint;
    // Terms constant over positions: - za * sum(w) + K * za * zw.
    channels.constant[m] = signed ? 0 : -za * w.channelSums[m]! + K * za * p.zeroPoint;
    channels.bias[m] = bias ? bias[m]! : 0;
  }
  return channels;
}

/**
 * The sum of the activation codes under every window of a convolution, per image, group and output
 * position ([batch, groups, outH, outW]), padded positions counting padCode: the convolution of the
 * codes with all-ones weights (one output per group). Computed as exact integer sums: the group's
 * channels summed per pixel into a padded plane, then the separable box sum (along rows, then
 * along columns): kh + kw additions per output instead of channels * kh * kw.
 */
export function windowCodeSums(
  codes: Uint8Array, xShape: readonly number[], node: ConvNode, pads: readonly [number, number, number, number], padCode: number, outH: number, outW: number,
): Int32Array {
  const [n, c, h, w] = xShape as [number, number, number, number];
  const [, cg, kh, kw] = node.weight.shape as [number, number, number, number];
  const groups = node.groups;
  const [sh, sw] = node.strides, [dh, dw] = node.dilations;
  const [pt, pl, pb, pr] = pads;
  const ph = h + pt + pb, pw = w + pl + pr;
  const padded = new Int32Array(ph * pw);
  const rows = new Int32Array(ph * outW);
  const out = new Int32Array(n * groups * outH * outW);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      padded.fill(cg * padCode);
      for (let y = 0; y < h; y++) padded.fill(0, (y + pt) * pw + pl, (y + pt) * pw + pl + w);
      for (let ic = 0; ic < cg; ic++) {
        const plane = (b * c + g * cg + ic) * h * w;
        for (let y = 0; y < h; y++) addCodes(codes, plane + y * w, padded, (y + pt) * pw + pl, w);
      }
      for (let y = 0; y < ph; y++) boxRow(padded, y * pw, rows, y * outW, outW, sw, kw, dw);
      boxColumns(rows, out, (b * groups + g) * outH * outW, outH, outW, sh, kh, dh);
    }
  }
  return out;
}

function addCodes(codes: Uint8Array, from: number, sums: Int32Array, to: number, count: number): void {
  for (let k = 0; k < count; k++) sums[to + k] = sums[to + k]! + codes[from + k]!;
}

/** rows[to + x] = sum over j < kw of padded[from + x * stride + j * dilation]. */
function boxRow(padded: Int32Array, from: number, rows: Int32Array, to: number, outW: number, stride: number, kw: number, dilation: number): void {
  for (let x = 0; x < outW; x++) {
    let s = 0;
    for (let j = 0, i = from + x * stride; j < kw; j++, i += dilation) s += padded[i]!;
    rows[to + x] = s;
  }
}

/** out[to + y * outW + x] = sum over i < kh of rows[(y * stride + i * dilation) * outW + x]. */
function boxColumns(rows: Int32Array, out: Int32Array, to: number, outH: number, outW: number, stride: number, kh: number, dilation: number): void {
  for (let y = 0; y < outH; y++) {
    const o = to + y * outW;
    for (let i = 0; i < kh; i++) {
      const r = (y * stride + i * dilation) * outW;
      for (let x = 0; x < outW; x++) out[o + x] = out[o + x]! + rows[r + x]!;
    }
  }
}

/**
 * Tight loops for the element-wise ops that follow every layer (ReLU, ReLU6, same-shape Add), with
 * the same results as the reference ops (float32 values, each sum rounded once); undefined for
 * anything else, which then runs the reference op.
 */
function fastElementwise(node: Node, ins: readonly Tensor[], clampMax?: number): Tensor[] | undefined {
  const x = ins[0]!;
  if (node.op === "Relu" || node.op === "Relu6") {
    const hi = node.op === "Relu6" ? 6 : Infinity;
    const src = x.data, out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const v = src[i]!;
      out[i] = v > 0 ? (v < hi ? v : hi) : 0;
    }
    return [{ shape: x.shape, data: out }];
  }
  if (node.op === "Add" && ins.length === 2) {
    const y = ins[1]!;
    let sum: Tensor;
    if (x.shape.length === y.shape.length && x.shape.every((d, i) => d === y.shape[i])) {
      const a = x.data, b = y.data, out = new Float32Array(a.length);
      for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
      sum = { shape: x.shape, data: out };
    } else {
      if (clampMax === undefined) return undefined;
      sum = evalNode(node, ins)[0]!; // broadcasting: a new array, ours to clamp
    }
    if (clampMax !== undefined) clampRange(sum.data, 0, sum.data.length, clampMax);
    return [sum];
  }
  return undefined;
}

// ---- the model ----

/** Each layer's arithmetic from QuantizedModel.run's `arithmetic` argument (a layer missing from a map runs exact int8). */
export function arithmeticOf(arithmetic: LayerArithmetic | ((layer: string) => LayerArithmetic) | Map<string, LayerArithmetic>): (layer: string) => LayerArithmetic {
  return typeof arithmetic === "function" ? arithmetic : arithmetic instanceof Map ? (n: string) => arithmetic.get(n) ?? EXACT_INT8 : () => arithmetic;
}

export class QuantizedModel {
  private readonly weightCache = new Map<string, QuantizedWeights>();
  /** Layers (and Adds) whose only reader is a ReLU/ReLU6, with its upper bound: they apply it. */
  readonly fusedActivation = new Map<string, number>();
  /** Those ReLU/ReLU6 nodes, which then pass their input through. */
  readonly fusedInto = new Set<string>();

  constructor(
    /** The float model with BatchNorm folded. */
    readonly model: Model,
    readonly config: QuantConfig,
    /** Approximable layers in execution order. */
    readonly layers: Map<string, QuantizedLayer>,
  ) {
    const readers = consumersOf(model);
    for (const n of model.nodes) {
      if (!(isApproximable(n) || n.op === "Add") || model.outputs.includes(n.outputs[0]!)) continue;
      const r = readers.get(n.outputs[0]!) ?? [];
      if (r.length === 1 && (r[0]!.op === "Relu" || r[0]!.op === "Relu6")) {
        this.fusedActivation.set(n.name, r[0]!.op === "Relu6" ? 6 : Infinity);
        this.fusedInto.add(r[0]!.name);
      }
    }
  }

  layerNames(): string[] {
    return [...this.layers.keys()];
  }

  /** Quantized weights of a layer at a width (cached). */
  weights(name: string, bits: number): QuantizedWeights {
    const key = `${name}/${bits}`;
    let w = this.weightCache.get(key);
    if (!w) {
      const layer = this.layers.get(name);
      if (!layer) throw new AxnnError(`no approximable layer "${name}"; the layers are ${this.layerNames().join(", ")}`, { field: "layer" });
      integerRange(this.config.scheme, bits);
      w = quantizeWeights(layer.node.weight, this.config.scheme, bits, this.config.perChannel, this.config.weightCalibration ?? "minmax");
      this.weightCache.set(key, w);
    }
    return w;
  }

  /**
   * Runs the model with each approximable layer in the arithmetic `arithmetic` gives it (one for all,
   * or per layer name; a layer missing from a map runs exact int8).
   */
  run(inputs: Record<string, Tensor>, arithmetic: LayerArithmetic | ((layer: string) => LayerArithmetic) | Map<string, LayerArithmetic>): Record<string, Tensor> {
    return runModel(this.model, inputs, this.runOptions(arithmetic));
  }

  /** The runModel / runBatched options that put the layers in `arithmetic` (see run). */
  runOptions(arithmetic: LayerArithmetic | ((layer: string) => LayerArithmetic) | Map<string, LayerArithmetic>): RunOptions {
    const pick = arithmeticOf(arithmetic);
    for (const [name, layer] of this.layers) {
      const a = pick(name);
      if (a.kind === "lut") checkMultiplierFits(a.multiplier, this.config.scheme, `layer ${name}`);
      if (a.kind !== "float") checkAccumulatorFits(layer.node, a.kind === "lut" ? a : { ...a, signed: this.config.scheme === "sym" });
    }
    return {
      kernel: (node: Node, ins: readonly Tensor[]) => {
        // A fused ReLU's input already holds its output; it is read by nothing else.
        if (this.fusedInto.has(node.name)) return [ins[0]!];
        const clampMax = this.fusedActivation.get(node.name);
        if (!isApproximable(node)) return fastElementwise(node, ins, clampMax);
        const layer = this.layers.get(node.name)!;
        const a = pick(node.name);
        if (a.kind === "float") return [floatLayer(node, ins[0]!, clampMax)];
        const bits = a.kind === "lut" ? a.multiplier.weightBits : a.weightBits ?? 8;
        return [integerLayer(layer, a.kind === "lut" && a.weights ? a.weights : this.weights(node.name, bits), ins[0]!, a, clampMax)];
      },
    };
  }
}

/**
 * Folds BatchNorm, runs the float model on the calibration batches and sets every approximable
 * layer's input parameters from the statistics of its input.
 */
export function quantizeModel(model: Model, calibrationBatches: Iterable<Record<string, Tensor>>, config: QuantConfig): QuantizedModel {
  const folded = foldBatchNorm(model);
  const stats = new Map<string, ActivationStats>();
  const nodes = folded.nodes.filter(isApproximable);
  for (const n of nodes) stats.set(n.name, new ActivationStats());
  let batches = 0;
  for (const batch of calibrationBatches) {
    batches++;
    runModel(folded, batch, {
      kernel: (node, ins) => {
        if (!isApproximable(node)) return undefined;
        stats.get(node.name)!.add(ins[0]!.data);
        return [floatLayer(node, ins[0]!)];
      },
    });
  }
  if (batches === 0) throw new AxnnError("no calibration data: give at least one sample", { field: "calibration" });
  const layers = new Map<string, QuantizedLayer>();
  for (const n of nodes) {
    let input: QuantParams;
    try {
      input = calibrateActivation(stats.get(n.name)!, config.scheme, config.calibration);
    } catch (e) {
      if (e instanceof AxnnError) throw new AxnnError(e.message, { field: `input of layer "${n.name}"` });
      throw e;
    }
    layers.set(n.name, { name: n.name, node: n, input });
  }
  return new QuantizedModel(folded, config, layers);
}

/**
 * A quantized model from input parameters calibrated earlier (a sidecar's
 * quantization.activations) instead of calibration data; every approximable layer needs its own.
 */
export function quantizeModelWithParams(model: Model, activations: Readonly<Record<string, QuantParams>>, config: QuantConfig, source = "activations"): QuantizedModel {
  const folded = foldBatchNorm(model);
  const layers = new Map<string, QuantizedLayer>();
  for (const n of folded.nodes.filter(isApproximable)) {
    const input = activations[n.name];
    if (!input) throw new AxnnError(`no input parameters for layer "${n.name}"`, { field: `${source}.${n.name}` });
    layers.set(n.name, { name: n.name, node: n, input: { ...input } });
  }
  return new QuantizedModel(folded, config, layers);
}
