// Quantization-aware training: the approximable layers run forward in the integer arithmetic of
// src/quant (quantized input and weights, exact or through a multiplier's table, exact zero-point
// terms, dequantized), so the loss sees the approximate outputs; the backward pass is the
// straight-through estimator: the float layer's gradient at the fake-quantized input and
// weights, zero where the input or a weight was clipped by its quantization range.
import type { ApproximableNode, Model } from "../nn/graph.js";
import type { Tensor } from "../nn/tensor.js";
import type { Multiplier } from "../multipliers/multiplier.js";
import { checkMultiplierFits, integerLayer, quantizeModel, quantizeWeights, type QuantConfig } from "../quant/model.js";
import { integerRange, quantizeValue, roundHalfAway, type QuantParams, type QuantScheme } from "../quant/params.js";
import { AxnnError } from "../util/errors.js";
import type { Saved } from "./backward.js";

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
    out.set(name, { arithmetic, input: layer.input, scheme: config.quant.scheme, perChannel: config.quant.perChannel, weightCalibration: config.quant.weightCalibration });
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
  return {
    out,
    saved: { kind: "qat", input: { shape: [...x.shape], data: xq }, weight: { shape: [...node.weight.shape], data: wq }, inputMask: xMask, weightMask: wMask },
  };
}
