// Quantization-aware training: the approximable layers run forward in the integer arithmetic of
// src/quant (quantized input and weights, exact or through a multiplier's table, exact zero-point
// terms, dequantized), so the loss sees the approximate outputs; the backward pass is the
// straight-through estimator: the float layer's gradient at the fake-quantized input and
// weights, zero where the input or a weight was clipped by its quantization range. Optionally
// (QatConfig.gradient "table") the gradients come from the multiplier's table itself: its finite
// differences along each operand replace the exact product's derivatives (w and a). A layer
// followed by a BatchNorm runs with the weights folded as the deployed model folds them while the
// BatchNorm keeps normalising with batch statistics; input ranges are calibrated per epoch,
// tracked (moving average) or learned (LSQ).
import { createHash } from "node:crypto";
import { consumersOf, isApproximable, type ApproximableNode, type BatchNormNode, type ConvNode, type Model } from "../nn/graph.js";
import { windowGeometry } from "../nn/shapes.js";
import type { Tensor } from "../nn/tensor.js";
import { encodeOperand, lutHash, tableIndex, tableSize, type Multiplier } from "../multipliers/multiplier.js";
import { checkMultiplierFits, integerLayer, quantizeModel, quantizeWeights, type QuantConfig } from "../quant/model.js";
import { integerRange, paramsFromRange, quantizeValue, type QuantParams, type QuantScheme } from "../quant/params.js";
import { checkAccumulatorFits } from "../quant/accumulator.js";
import { AxnnError } from "../util/errors.js";
import { fakeQuantizeFloat, minMaxFloat } from "../kernels/index.js";
import { backwardNode, type NodeGrads, type Saved } from "./backward.js";
import type { Param } from "./params.js";

/**
 * Backward of the QAT layers: "ste" the float layer's gradients at the fake-quantized operands;
 * "table" the table's central finite differences along each operand (one-sided at the operand
 * range's ends) in place of the exact product's derivatives, so the optimizer sees the slopes of the
 * approximate product. Layers in exact arithmetic use STE either way (there both coincide).
 */
export type QatGradient = "ste" | "table";

/** The integer arithmetic of one layer during QAT (as LayerArithmetic of src/quant, without float). */
export type QatArithmetic = { kind: "exact"; weightBits?: number } | { kind: "lut"; multiplier: Multiplier };

/** What one layer's QAT forward needs: its arithmetic, its input parameters and the weight scheme. */
export interface QatLayer {
  arithmetic: QatArithmetic;
  /** 8-bit parameters of the layer's input (from calibration). */
  input: QuantParams;
  scheme: QuantScheme;
  perChannel: boolean;
  weightCalibration?: "minmax" | "mse";
  /** Backward pass; default "ste". */
  gradient?: QatGradient;
  /**
   * The BatchNorm that follows the layer and that quantizeModel folds into it. QAT runs the layer
   * with the weights folded by its running statistics (so the integer arithmetic sees the deployed
   * weights), divides the fold back out, and leaves the BatchNorm to normalise with batch statistics.
   */
  batchNorm?: BatchNormNode;
  /** Tracked input range (ranges "track"): qatForward folds each batch's min and max into it and derives `input` from it. */
  tracked?: TrackedRange;
  /** Weight of the newest batch in the tracked range; default RANGE_MOMENTUM. */
  rangeMomentum?: number;
  /** Learned input scale (ranges "learn"): `input` takes its scale from it, and the backward pass adds LSQ's gradient to it. */
  learned?: LearnedScale;
}

/**
 * How QAT sets each layer's input range: "calibrate" recalibrates it at the start of every epoch on
 * the calibration batches (as `axnn eval` does, on the float model); "track" follows an exponential
 * moving average of each batch's min and max of the layer's actual (QAT) input, as the moving-average
 * observers of TensorFlow and PyTorch QAT do; "learn" trains the scale by gradient descent (LSQ,
 * Esser et al. 2020) with the zero point fixed. Both start from the calibrated range.
 */
export type QatRanges = "calibrate" | "track" | "learn";
export const QAT_RANGES: readonly QatRanges[] = ["calibrate", "track", "learn"];

/** Default weight of the newest batch in a tracked range (PyTorch's default is 0.01, for runs far longer than QAT's one or two epochs here). */
export const RANGE_MOMENTUM = 0.1;

export interface TrackedRange { lo: number; hi: number }
export interface LearnedScale { scale: Param; zeroPoint: number }

/** QAT settings of a training run (TrainConfig.qat). */
export interface QatConfig {
  /** Per approximable layer; a layer not in the map trains in float. */
  arithmetic: Map<string, QatArithmetic>;
  quant: QuantConfig;
  /**
   * Calibration batches: the input ranges of every layer are recalibrated on them at the start of
   * every epoch (the procedure of quantizeModel, hence of `axnn eval`), so they follow the weights.
   */
  calibrationBatches: Record<string, Tensor>[];
  /** Backward pass of the approximate layers; default "ste". */
  gradient?: QatGradient;
  /**
   * Fraction of the run's training steps after which BatchNorm stops using batch statistics and
   * freezes its running ones (Jacob et al. 2018, Krishnamoorthi 2018 section 3.2): from then on
   * training sees exactly the folded model that is deployed. 1: never; default DEFAULT_BN_FREEZE.
   */
  freezeBatchNorm?: number;
  /** How the input ranges are set; default "calibrate". */
  ranges?: QatRanges;
  /** Ranges "track": weight of the newest batch in the moving average; default RANGE_MOMENTUM. */
  rangeMomentum?: number;
  /** Training batches on which BatchNorm's running statistics are re-estimated after every epoch (loop.ts); default DEFAULT_BN_REESTIMATE, 0: none. */
  reestimateBatches?: number;
}

export const DEFAULT_BN_REESTIMATE = 16;

export const DEFAULT_BN_FREEZE = 1;

/** The per-layer QAT state of a model for one epoch: input ranges calibrated on the current weights. */
export function qatLayers(model: Model, config: QatConfig): Map<string, QatLayer> {
  for (const [name, a] of config.arithmetic) {
    if (a.kind === "lut") checkMultiplierFits(a.multiplier, config.quant.scheme, `layer ${name}`);
  }
  const q = quantizeModel(model, config.calibrationBatches, config.quant);
  const folded = foldedBatchNorms(model);
  const out = new Map<string, QatLayer>();
  for (const [name, arithmetic] of config.arithmetic) {
    const layer = q.layers.get(name);
    if (!layer) throw new AxnnError(`no approximable layer "${name}"; the layers are ${q.layerNames().join(", ")}`, { field: "qat" });
    checkAccumulatorFits(layer.node, arithmetic.kind === "lut" ? arithmetic : { ...arithmetic, signed: config.quant.scheme === "sym" });
    out.set(name, {
      arithmetic, input: layer.input, scheme: config.quant.scheme, perChannel: config.quant.perChannel, weightCalibration: config.quant.weightCalibration,
      gradient: config.gradient, batchNorm: folded.get(name), rangeMomentum: config.rangeMomentum,
    });
  }
  return out;
}

/**
 * The BatchNorms foldBatchNorm (src/nn/passes.ts) folds, by the layer they fold into: those reading a
 * layer's output that nothing else reads and that is no graph output. (A Dense's is folded only when
 * its output has rank 2: qatForward checks that on the tensor.)
 */
function foldedBatchNorms(model: Model): Map<string, BatchNormNode> {
  const consumers = consumersOf(model);
  const out = new Map<string, BatchNormNode>();
  for (const n of model.nodes) {
    if (!isApproximable(n) || n.outputs.length !== 1 || model.outputs.includes(n.outputs[0]!)) continue;
    const readers = consumers.get(n.outputs[0]!) ?? [];
    if (readers.length === 1 && readers[0]!.op === "BatchNorm" && readers[0]!.inputs[0] === n.outputs[0]) out.set(n.name, readers[0]!);
  }
  return out;
}

/** foldBatchNorm's per-channel factors gamma / sqrt(var + eps) of the running statistics. */
function foldFactors(bn: BatchNormNode): Float64Array {
  const k = new Float64Array(bn.scale.data.length);
  for (let c = 0; c < k.length; c++) k[c] = bn.scale.data[c]! / Math.sqrt(bn.variance.data[c]! + bn.epsilon);
  return k;
}

/**
 * The input of a QAT layer quantized with p, in one pass: its 8-bit codes (quantizeToCodes, what the
 * integer engine multiplies), the fake-quantized values scale * (q - zeroPoint) (STE's input) and
 * the mask, 0 where quantizing clamped the value (STE passes no gradient there), 1 elsewhere.
 */
export function fakeQuantize(x: Float32Array, p: QuantParams): { codes: Uint8Array; fake: Float32Array; mask: Uint8Array } {
  return fakeQuantizeFloat(x, p);
}

/** out[i] = scale * (values[i] - zeroPoint) * by over [from, to). */
function dequantizeChannel(values: Int32Array, out: Float32Array, from: number, to: number, scale: number, zeroPoint: number, by: number): void {
  for (let i = from; i < to; i++) out[i] = scale * (values[i]! - zeroPoint) * by;
}

/**
 * QAT forward of one approximable layer: the output of the integer engine (src/quant integerLayer,
 * bit for bit what `axnn eval` computes for the same weights and input parameters), and for the
 * backward pass the fake-quantized input and weights with the masks of their clipping.
 */
export function qatForward(node: ApproximableNode, x: Tensor, layer: QatLayer): { out: Tensor; saved: Saved } {
  const bits = layer.arithmetic.kind === "lut" ? layer.arithmetic.multiplier.weightBits : layer.arithmetic.weightBits ?? 8;
  integerRange(layer.scheme, bits);
  if (layer.tracked) trackRange(layer, x.data);
  if (layer.learned) layer.input = learnedParams(layer.learned, layer.scheme);
  // With a BatchNorm after it, the layer computes with the weights foldBatchNorm would give it
  // (w * k, k from the running statistics: the weights the deployed model quantizes), without bias,
  // then divides by k and adds its bias: the BatchNorm that follows still sees conv(x, w) + b (up to
  // the arithmetic's error) and normalises it with batch statistics. In evaluation mode BatchNorm
  // then multiplies by k again: exactly the folded layer. Training the unfolded parameters keeps
  // BatchNorm's normalisation (SGD on folded weights diverges on ResNets, see docs/training.md).
  const bn = layer.batchNorm && (node.op !== "Dense" || x.shape.length === 2) ? layer.batchNorm : undefined;
  const k = bn ? foldFactors(bn) : undefined;
  const channels = node.weight.shape[0]!;
  const per = node.weight.data.length / channels;
  let weight = node.weight;
  if (k) {
    const wf = new Float32Array(node.weight.data.length);
    for (let m = 0; m < channels; m++) for (let i = m * per; i < (m + 1) * per; i++) wf[i] = node.weight.data[i]! * k[m]!;
    weight = { shape: node.weight.shape, data: wf };
  }
  const runNode = k ? { ...node, weight, bias: null } : node;
  const wMask = new Uint8Array(node.weight.data.length);
  const w = quantizeWeights(weight, layer.scheme, bits, layer.perChannel, layer.weightCalibration ?? "minmax", wMask);
  const p = layer.input;
  // One pass gives the codes the integer layer multiplies, STE's fake-quantized input and its mask.
  const { codes, fake: xq, mask: xMask } = fakeQuantize(x.data, p);
  const out = integerLayer({ name: node.name, node: runNode, input: p }, w, x, layer.arithmetic, undefined, codes);
  if (k) unfold(out, k, node.bias?.data);

  // STE's weight: the fake-quantized (folded) weight with the fold divided out, as the forward divides.
  const wq = new Float32Array(node.weight.data.length);
  for (let m = 0; m < channels; m++) {
    const wp = w.params[m]!;
    const unfoldBy = k ? (k[m] === 0 ? 0 : 1 / k[m]!) : 1;
    dequantizeChannel(w.values, wq, m * per, (m + 1) * per, wp.scale, wp.zeroPoint, unfoldBy);
  }
  const saved: Saved = { kind: "qat", input: { shape: [...x.shape], data: xq }, weight: { shape: [...node.weight.shape], data: wq }, inputMask: xMask, weightMask: wMask };
  if (layer.gradient === "table" && layer.arithmetic.kind === "lut") {
    const m = layer.arithmetic.multiplier;
    const actCodes = new Int32Array(x.data.length);
    for (let i = 0; i < actCodes.length; i++) actCodes[i] = quantizeValue(x.data[i]!, p);
    // A learned scale needs the input gradient before the clipping mask (withScaleGradient masks it).
    const tableMask = layer.learned ? new Uint8Array(xMask.length).fill(1) : xMask;
    saved.backward = (dy, needInput) => {
      if (!k) return tableBackward(node, x.shape, actCodes, w.values, w.params, p, m, dy, needInput || layer.learned !== undefined, tableMask, wMask);
      // Through the fold: d(out)/d(folded output) = 1/k per channel, d(folded weight)/d(weight) = k.
      const inner = dy.length / (out.shape[0]! * channels);
      const dyFolded = new Float32Array(dy.length);
      const dB = new Float64Array(channels);
      for (let i = 0; i < dy.length; i++) {
        const c = Math.floor(i / inner) % channels;
        dyFolded[i] = k[c] === 0 ? 0 : dy[i]! / k[c]!;
        dB[c]! += dy[i]!;
      }
      const g = tableBackward(runNode, x.shape, actCodes, w.values, w.params, p, m, dyFolded, needInput || layer.learned !== undefined, tableMask, wMask);
      for (let c = 0; c < channels; c++) for (let i = c * per; i < (c + 1) * per; i++) g.weight![i] = g.weight![i]! * k[c]!;
      return { ...g, bias: node.bias ? Float32Array.from(dB) : undefined };
    };
  }
  if (layer.learned) withScaleGradient(node, x, out, saved, layer.learned, p);
  return { out, saved };
}

/** Folds this batch's min and max into the layer's tracked range and sets its input parameters from it (as minmax calibration would from that range). */
function trackRange(layer: QatLayer, data: Float32Array): void {
  const [lo, hi] = minMaxFloat(data);
  if (!(lo <= hi) || !Number.isFinite(lo) || !Number.isFinite(hi)) throw new AxnnError("a layer's input holds no finite values to track; lower the learning rate", { field: "--lr" });
  const t = layer.tracked!;
  const m = layer.rangeMomentum ?? RANGE_MOMENTUM;
  t.lo += m * (lo - t.lo);
  t.hi += m * (hi - t.hi);
  layer.input = paramsFromRange(t.lo, t.hi, layer.scheme, 8);
}

/** Smallest learned scale: the optimizer may step the scale through zero, quantization needs it positive. */
const MIN_LEARNED_SCALE = 1e-8;

/** The 8-bit input parameters of a learned scale. */
export function learnedParams(learned: LearnedScale, scheme: QuantScheme): QuantParams {
  const { qmin, qmax } = integerRange(scheme, 8);
  return { scale: Math.max(learned.scale.data[0]!, MIN_LEARNED_SCALE), zeroPoint: learned.zeroPoint, qmin, qmax };
}

/**
 * Makes the layer's backward also accumulate LSQ's gradient of the input scale s: per input element v
 * with zero point z and code q = clamp(round(v / s) + z), the fake-quantized value is s (q - z), whose
 * derivative along s is (q - z) - v / s inside the range (round passed straight through) and q - z
 * where v was clipped; times d(loss)/d(fake-quantized v) before clipping masks it, summed and scaled
 * by LSQ's 1 / sqrt(features * qmax).
 */
function withScaleGradient(node: ApproximableNode, x: Tensor, out: Tensor, saved: Saved & { kind: "qat" }, learned: LearnedScale, p: QuantParams): void {
  const ownBackward = saved.backward;
  const mask = saved.inputMask;
  const unmasked: Saved = { ...saved, inputMask: new Uint8Array(mask.length).fill(1), backward: undefined };
  const gradScale = 1 / Math.sqrt((x.data.length / x.shape[0]!) * p.qmax);
  saved.backward = (dy, needInput) => {
    const g = ownBackward ? ownBackward(dy, true) : backwardNode(node, [x], out, unmasked, dy, [true]);
    const dx = g.inputs[0]!;
    let gs = 0;
    for (let i = 0; i < dx.length; i++) {
      const q = quantizeValue(x.data[i]!, p) - p.zeroPoint;
      gs += dx[i]! * (mask[i] ? q - x.data[i]! / p.scale : q);
      if (!mask[i]) dx[i] = 0;
    }
    learned.scale.grad[0]! += gs * gradScale;
    return { ...g, inputs: [needInput ? dx : null] };
  };
}

/** out = out / k + bias per channel (channel axis 1), in place; a channel with k = 0 (gamma = 0, whose BatchNorm output is constant) gets its bias. */
function unfold(out: Tensor, k: Float64Array, bias: Float32Array | undefined): void {
  const channels = k.length;
  const inner = out.data.length / (out.shape[0]! * channels);
  const y = out.data;
  for (let base = 0, c = 0; base < y.length; base += inner, c = (c + 1) % channels) {
    const b = bias ? bias[c]! : 0;
    if (k[c] === 0) y.fill(b, base, base + inner);
    else unfoldPlane(y, base, base + inner, k[c]!, b);
  }
}

function unfoldPlane(y: Float32Array, from: number, to: number, k: number, b: number): void {
  for (let i = from; i < to; i++) y[i] = y[i]! / k + b;
}

/** Per multiplier: the table's finite differences along the activation and along the weight, indexed as the table. */
const slopeCache = new WeakMap<Multiplier, { dAct: Float64Array; dWeight: Float64Array }>();

/** Lowest and highest operand value of an operand of `bits` bits. */
function operandRange(bits: number, signed: boolean): [number, number] {
  return signed ? [-(1 << (bits - 1)), (1 << (bits - 1)) - 1] : [0, (1 << bits) - 1];
}

/**
 * The finite differences of a multiplier's table along each operand, at every (activation, weight):
 * (T[a+1][w] - T[a-1][w]) / 2 inside the operand range, T[a+1][w] - T[a][w] at its lowest value
 * and T[a][w] - T[a-1][w] at its highest (likewise along w). Indexed as the table (tableIndex).
 */
export function tableSlopes(m: Multiplier): { dAct: Float64Array; dWeight: Float64Array } {
  const cached = slopeCache.get(m);
  if (cached) return cached;
  const wb = m.weightBits;
  const [aLo, aHi] = operandRange(8, m.signed), [wLo, wHi] = operandRange(wb, m.signed);
  const at = (a: number, w: number) => m.table[tableIndex(encodeOperand(a, 8), encodeOperand(w, wb), wb)]!;
  const diff = (lo: number, hi: number, v: number, f: (u: number) => number) =>
    v === lo ? f(v + 1) - f(v) : v === hi ? f(v) - f(v - 1) : (f(v + 1) - f(v - 1)) / 2;
  const dAct = new Float64Array(tableSize(wb)), dWeight = new Float64Array(tableSize(wb));
  for (let a = aLo; a <= aHi; a++) {
    for (let w = wLo; w <= wHi; w++) {
      const i = tableIndex(encodeOperand(a, 8), encodeOperand(w, wb), wb);
      dAct[i] = diff(aLo, aHi, a, (u) => at(u, w));
      dWeight[i] = diff(wLo, wHi, w, (u) => at(a, u));
    }
  }
  const slopes = { dAct, dWeight };
  slopeCache.set(m, slopes);
  return slopes;
}

/**
 * Backward of a layer whose output is scale_a * scale_w * sum T[a][w] - zero-point terms (src/quant
 * integerLayer): d/dx = scale_w * (dT/da - zw) and d/dw = scale_a * (dT/dw - za) per product (the
 * 1/scale of d(code)/d(value) cancels one scale), masked where the operand was clipped as STE is.
 * With the exact table dT/da = w and dT/dw = a: exactly STE's gradients.
 */
function tableBackward(
  node: ApproximableNode, xShape: readonly number[], actCodes: Int32Array, weightValues: Int32Array, weightParams: QuantParams[],
  input: QuantParams, m: Multiplier, dy: Float32Array, needInput: boolean, xMask: Uint8Array, wMask: Uint8Array,
): NodeGrads {
  const { dAct, dWeight } = tableSlopes(m);
  const wb = m.weightBits;
  const za = input.zeroPoint, sa = input.scale;
  const M = node.weight.shape[0]!;
  const K = node.weight.data.length / M;
  const wIdx = new Int32Array(weightValues.length);
  for (let i = 0; i < wIdx.length; i++) wIdx[i] = encodeOperand(weightValues[i]!, wb);
  const aIdx = new Int32Array(actCodes.length);
  for (let i = 0; i < aIdx.length; i++) aIdx[i] = encodeOperand(actCodes[i]!, 8) << wb;
  const dX = needInput ? new Float64Array(actCodes.length) : null;
  const dW = new Float64Array(weightValues.length);
  const dB = new Float64Array(M);
  if (node.op === "Dense") {
    const rows = actCodes.length / K;
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < M; o++) {
        const g = dy[r * M + o]!;
        if (g === 0) continue;
        dB[o]! += g;
        const sw = weightParams[o]!.scale, zw = weightParams[o]!.zeroPoint;
        for (let k = 0; k < K; k++) {
          const idx = aIdx[r * K + k]! | wIdx[o * K + k]!;
          if (dX) dX[r * K + k]! += g * sw * (dAct[idx]! - zw);
          dW[o * K + k]! += g * sa * (dWeight[idx]! - za);
        }
      }
    }
  } else {
    convTableBackward(node, xShape, aIdx, wIdx, weightParams, za, sa, (za & 0xff) << wb, dAct, dWeight, dy, dX, dW, dB);
  }
  const gx = dX ? Float32Array.from(dX) : null;
  if (gx) for (let i = 0; i < gx.length; i++) if (xMask[i] === 0) gx[i] = 0;
  const gw = Float32Array.from(dW);
  for (let i = 0; i < gw.length; i++) if (wMask[i] === 0) gw[i] = 0;
  return { inputs: [gx], weight: gw, bias: node.bias ? Float32Array.from(dB) : undefined };
}

/** The convolution case of tableBackward; padded positions hold the zero point's code (as the integer kernels pad) and contribute to dW only. */
function convTableBackward(
  node: ConvNode, xShape: readonly number[], aIdx: Int32Array, wIdx: Int32Array, weightParams: QuantParams[], za: number, sa: number, padIdx: number,
  dAct: Float64Array, dWeight: Float64Array, dy: Float32Array, dX: Float64Array | null, dW: Float64Array, dB: Float64Array,
): void {
  const [n, c, h, w] = xShape as [number, number, number, number];
  const [M, cg, kh, kw] = node.weight.shape as [number, number, number, number];
  const g = windowGeometry(h, w, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false);
  const [pt, pl] = g.pads;
  const oh = g.outH, ow = g.outW;
  const [sh, sw] = node.strides, [dh, dw] = node.dilations;
  const mPerGroup = M / node.groups;
  const wStride = cg * kh * kw;
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < M; o++) {
      const grp = Math.floor(o / mPerGroup);
      const scaleW = weightParams[o]!.scale, zw = weightParams[o]!.zeroPoint;
      const dyPlane = (b * M + o) * oh * ow;
      for (let q = dyPlane; q < dyPlane + oh * ow; q++) dB[o]! += dy[q]!;
      for (let ic = 0; ic < cg; ic++) {
        const inPlane = (b * c + grp * cg + ic) * h * w;
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const wi = o * wStride + (ic * kh + i) * kw + j;
            const wCode = wIdx[wi]!;
            let gw = 0;
            for (let y = 0; y < oh; y++) {
              const iy = y * sh - pt + i * dh;
              const rowInside = iy >= 0 && iy < h;
              for (let xo = 0; xo < ow; xo++) {
                const e = dy[dyPlane + y * ow + xo]!;
                if (e === 0) continue;
                const ix = xo * sw - pl + j * dw;
                if (rowInside && ix >= 0 && ix < w) {
                  const xi = inPlane + iy * w + ix;
                  const idx = aIdx[xi]! | wCode;
                  gw += e * (dWeight[idx]! - za);
                  if (dX) dX[xi]! += e * scaleW * (dAct[idx]! - zw);
                } else {
                  gw += e * (dWeight[padIdx | wCode]! - za);
                }
              }
            }
            dW[wi]! += sa * gw;
          }
        }
      }
    }
  }
}

/** The input-range state of a QAT run with ranges "track" or "learn", carried across epochs and checkpoints. */
export class QatRangeState {
  readonly tracked = new Map<string, TrackedRange>();
  readonly learned = new Map<string, LearnedScale>();

  constructor(readonly mode: QatRanges, readonly scheme: QuantScheme) {}

  /** Starts every layer from its calibrated input parameters (the range they represent). */
  static initial(mode: QatRanges, scheme: QuantScheme, calibrated: Map<string, QatLayer>): QatRangeState {
    const state = new QatRangeState(mode, scheme);
    for (const [name, layer] of calibrated) {
      const p = layer.input;
      if (mode === "track") state.tracked.set(name, { lo: p.scale * (p.qmin - p.zeroPoint), hi: p.scale * (p.qmax - p.zeroPoint) });
      if (mode === "learn") state.learned.set(name, { scale: learnedScaleParam(name, p.scale), zeroPoint: p.zeroPoint });
    }
    return state;
  }

  /** The learned scales as trainable parameters (`<layer>.input_scale`, no weight decay). */
  params(): Param[] {
    return [...this.learned.values()].map((l) => l.scale);
  }

  /** Gives the run's layers (from qatLayers) this state: their input parameters come from it from now on. */
  attach(layers: Map<string, QatLayer>): void {
    for (const [name, layer] of layers) {
      const t = this.tracked.get(name), l = this.learned.get(name);
      if (t) {
        layer.tracked = t;
        layer.input = paramsFromRange(t.lo, t.hi, this.scheme, 8);
      }
      if (l) {
        layer.learned = l;
        layer.input = learnedParams(l, this.scheme);
      }
    }
  }

  /** Each layer's current input parameters. */
  inputParams(): Record<string, QuantParams> {
    const out: Record<string, QuantParams> = {};
    for (const [name, t] of this.tracked) out[name] = paramsFromRange(t.lo, t.hi, this.scheme, 8);
    for (const [name, l] of this.learned) out[name] = learnedParams(l, this.scheme);
    return out;
  }

  /** What a checkpoint keeps besides the scales (which it keeps as parameters). */
  toJson(): QatRangeJson {
    return { tracked: Object.fromEntries(this.tracked), zeroPoints: Object.fromEntries([...this.learned].map(([n, l]) => [n, l.zeroPoint])) };
  }

  /** Restores toJson's state (the scales are restored with the parameters). */
  restore(json: QatRangeJson, file: string): void {
    for (const [name, t] of this.tracked) {
      const saved = json.tracked?.[name];
      if (!saved || typeof saved.lo !== "number" || typeof saved.hi !== "number") throw new AxnnError(`the checkpoint has no tracked range of layer "${name}"`, { file });
      t.lo = saved.lo;
      t.hi = saved.hi;
    }
    for (const [name, l] of this.learned) {
      const z = json.zeroPoints?.[name];
      if (typeof z !== "number") throw new AxnnError(`the checkpoint has no zero point of layer "${name}"`, { file });
      l.zeroPoint = z;
    }
  }
}

export interface QatRangeJson { tracked: Record<string, TrackedRange>; zeroPoints: Record<string, number> }

function learnedScaleParam(layer: string, scale: number): Param {
  return { name: `${layer}.input_scale`, data: Float32Array.of(scale), shape: [1], grad: new Float32Array(1), isWeight: false };
}

/**
 * The QAT settings a checkpoint records and a resumed run must share: per layer its arithmetic
 * (multiplier name and table hash, or exact and the weight width), the quantization, the gradient,
 * the ranges, the BatchNorm freeze point, and the calibration data (sample count and a hash).
 */
export function qatSettings(config: QatConfig): Record<string, unknown> {
  const layers: Record<string, string> = {};
  for (const [name, a] of config.arithmetic) layers[name] = a.kind === "lut" ? `${a.multiplier.name} (${lutHash(a.multiplier)})` : `exact, ${a.weightBits ?? 8}-bit weights`;
  const h = createHash("sha256");
  let samples = 0;
  for (const batch of config.calibrationBatches) {
    for (const key of Object.keys(batch).sort()) {
      const t = batch[key]!;
      samples += t.shape[0] ?? 0;
      h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  }
  return {
    layers, quant: config.quant, gradient: config.gradient ?? "ste", ranges: config.ranges ?? "calibrate",
    ...(config.ranges === "track" ? { rangeMomentum: config.rangeMomentum ?? RANGE_MOMENTUM } : {}),
    freezeBatchNorm: config.freezeBatchNorm ?? DEFAULT_BN_FREEZE, reestimateBatches: config.reestimateBatches ?? DEFAULT_BN_REESTIMATE, calibration: { samples, hash: h.digest("hex").slice(0, 16) },
  };
}
