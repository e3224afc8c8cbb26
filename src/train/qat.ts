// Quantization-aware training: the approximable layers run forward in the integer arithmetic of
// src/quant (quantized input and weights, exact or through a multiplier's table, exact zero-point
// terms, dequantized), so the loss sees the approximate outputs; the backward pass is the
// straight-through estimator: the float layer's gradient at the fake-quantized input and
// weights, zero where the input or a weight was clipped by its quantization range. Optionally
// (QatConfig.gradient "table") the gradients come from the multiplier's table itself: its finite
// differences along each operand replace the exact product's derivatives (w and a).
import type { ApproximableNode, ConvNode, Model } from "../nn/graph.js";
import { windowGeometry } from "../nn/shapes.js";
import type { Tensor } from "../nn/tensor.js";
import { encodeOperand, tableIndex, tableSize, type Multiplier } from "../multipliers/multiplier.js";
import { checkMultiplierFits, integerLayer, quantizeModel, quantizeWeights, type QuantConfig } from "../quant/model.js";
import { integerRange, quantizeValue, roundHalfAway, type QuantParams, type QuantScheme } from "../quant/params.js";
import { AxnnError } from "../util/errors.js";
import type { NodeGrads, Saved } from "./backward.js";

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
}

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
}

/** The per-layer QAT state of a model for one epoch: input ranges calibrated on the current weights. */
export function qatLayers(model: Model, config: QatConfig): Map<string, QatLayer> {
  if (model.nodes.some((n) => n.op === "BatchNorm")) {
    throw new AxnnError("quantization-aware training needs BatchNorm folded into the layers before it (foldBatchNorm), as the quantized engine runs them", { field: "--model" });
  }
  for (const [name, a] of config.arithmetic) {
    if (a.kind === "lut") checkMultiplierFits(a.multiplier, config.quant.scheme, `layer ${name}`);
  }
  const q = quantizeModel(model, config.calibrationBatches, config.quant);
  const out = new Map<string, QatLayer>();
  for (const [name, arithmetic] of config.arithmetic) {
    const layer = q.layers.get(name);
    if (!layer) throw new AxnnError(`no approximable layer "${name}"; the layers are ${q.layerNames().join(", ")}`, { field: "qat" });
    out.set(name, { arithmetic, input: layer.input, scheme: config.quant.scheme, perChannel: config.quant.perChannel, weightCalibration: config.quant.weightCalibration, gradient: config.gradient });
  }
  return out;
}

/** Whether quantizing v with p clamps it (its rounded code falls outside [qmin, qmax]): STE passes no gradient there. */
function clipped(v: number, p: QuantParams): boolean {
  const q = roundHalfAway(v / p.scale) + p.zeroPoint;
  return q < p.qmin || q > p.qmax;
}

/**
 * QAT forward of one approximable layer: the output of the integer engine (src/quant integerLayer,
 * bit for bit what `axnn eval` computes for the same weights and input parameters), and for the
 * backward pass the fake-quantized input and weights with the masks of their clipping.
 */
export function qatForward(node: ApproximableNode, x: Tensor, layer: QatLayer): { out: Tensor; saved: Saved } {
  const bits = layer.arithmetic.kind === "lut" ? layer.arithmetic.multiplier.weightBits : layer.arithmetic.weightBits ?? 8;
  integerRange(layer.scheme, bits);
  const w = quantizeWeights(node.weight, layer.scheme, bits, layer.perChannel, layer.weightCalibration ?? "minmax");
  const out = integerLayer({ name: node.name, node, input: layer.input }, w, x, layer.arithmetic);

  const p = layer.input;
  const xq = new Float32Array(x.data.length);
  const xMask = new Uint8Array(x.data.length);
  for (let i = 0; i < xq.length; i++) {
    const v = x.data[i]!;
    xq[i] = p.scale * (quantizeValue(v, p) - p.zeroPoint);
    xMask[i] = clipped(v, p) ? 0 : 1;
  }
  const channels = node.weight.shape[0]!;
  const per = node.weight.data.length / channels;
  const wq = new Float32Array(node.weight.data.length);
  const wMask = new Uint8Array(wq.length);
  for (let m = 0; m < channels; m++) {
    const wp = w.params[m]!;
    for (let i = m * per; i < (m + 1) * per; i++) {
      wq[i] = wp.scale * (w.values[i]! - wp.zeroPoint);
      wMask[i] = clipped(node.weight.data[i]!, wp) ? 0 : 1;
    }
  }
  const saved: Saved = { kind: "qat", input: { shape: [...x.shape], data: xq }, weight: { shape: [...node.weight.shape], data: wq }, inputMask: xMask, weightMask: wMask };
  if (layer.gradient === "table" && layer.arithmetic.kind === "lut") {
    const m = layer.arithmetic.multiplier;
    const actCodes = new Int32Array(x.data.length);
    for (let i = 0; i < actCodes.length; i++) actCodes[i] = quantizeValue(x.data[i]!, p);
    saved.backward = (dy, needInput) => tableBackward(node, x.shape, actCodes, w.values, w.params, p, m, dy, needInput, xMask, wMask);
  }
  return { out, saved };
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
