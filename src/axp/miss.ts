import { AxnnError } from "../util/errors.js";
import { isApproximable, type Model } from "../nn/graph.js";
import { runModel } from "../nn/run.js";
import type { Tensor } from "../nn/tensor.js";
import { ACTIVATION_BITS, multiply, type Multiplier } from "../multipliers/multiplier.js";
import { resolveMultiplier, withPublishedFigures } from "../multipliers/resolve.js";
import { estimatedPowerRatio, exactReferencePowerMw } from "../energy/approx.js";
import { ActivationStats, calibrateActivation } from "../quant/calibrate.js";
import { paramsFromRange, quantizeValue, type QuantParams } from "../quant/params.js";
import type { LayerClusters } from "./cluster.js";

/**
 * An approximate multiplier on the AxP PE's misses (instead of the format's exact FPU product).
 *
 * The semantics are those of axnn's quantized engine with the same multiplier (docs/quantization.md),
 * one product at a time: the layer's clustered weights are quantized per tensor to the multiplier's N
 * bits (min/max range; symmetric for a signed multiplier, asymmetric with a zero point for an
 * unsigned one), the layer's input to 8 bits (min/max of the clustered float model's input on the
 * calibration split, same scheme); a miss of activation a (as the PE's format holds it) and a weight
 * of bin b gives
 *
 *   sa * sw * (M(qa, qw) - za * qw - zw * qa + za * zw),  qa = quantize(a), qw = quantize(centroid(b)),
 *
 * which, summed over a window, is exactly what the quantized engine computes for that window (it
 * applies the zero-point terms once per output). A hit still returns the stored product. The PE keeps
 * the miss products in an integer accumulator and merges it into the format's accumulator once per
 * output (one format multiply by sa * sw, one format add): see layerEnergy.
 */
export interface MissMultiplier {
  multiplier: Multiplier;
  /** Power relative to the exact multiplier of the same width (published figure, else the netlist estimate). */
  powerRatio: number;
  powerSource: "published" | "netlist estimate";
}

/** The multiplier of a name or file (as `axnn eval --mult` takes it) with its power ratio. */
export function resolveMissMultiplier(ref: string): MissMultiplier {
  const r = resolveMultiplier(ref);
  const m = withPublishedFigures(r.multiplier);
  if (m.meta.powerMw !== undefined && m.weightBits === 8) {
    return { multiplier: m, powerRatio: m.meta.powerMw / exactReferencePowerMw(m.signed, m.weightBits), powerSource: "published" };
  }
  if (!r.netlist) throw new AxnnError(`multiplier ${m.name} has neither a published 8x8 power figure nor a netlist to estimate one from`, { field: "--miss-mult" });
  return { multiplier: m, powerRatio: estimatedPowerRatio(r.netlist, m.signed, m.weightBits), powerSource: "netlist estimate" };
}

/** One layer's miss arithmetic: the operands' quantization and every (bin, activation code) product. */
export interface LayerMissArithmetic {
  multiplier: Multiplier;
  /** 8-bit parameters of the layer's input. */
  activation: QuantParams;
  /** N-bit parameters of the layer's (clustered) weights, per tensor. */
  weight: QuantParams;
  /** The integer of every bin's centroid. */
  binCode: Int32Array;
  /** With zero gating a zero activation is skipped: its miss adds nothing. */
  zeroGating: boolean;
  /** table[bin * 256 + (qa & 255)]: missProduct of every bin and activation code. */
  table: Float64Array;
}

/** The product of a miss (the definition; the table holds it for every bin and code). */
export function missProduct(m: LayerMissArithmetic, qa: number, qw: number): number {
  const a = m.activation, w = m.weight;
  return a.scale * w.scale * (multiply(m.multiplier, qa, qw) - a.zeroPoint * qw - w.zeroPoint * qa + a.zeroPoint * w.zeroPoint);
}

/** The layer's miss arithmetic for its clustering and its input's 8-bit parameters. */
export function layerMissArithmetic(mm: MissMultiplier, clusters: LayerClusters, weights: Float32Array, activation: QuantParams, zeroGating: boolean): LayerMissArithmetic {
  const m = mm.multiplier;
  let lo = Infinity, hi = -Infinity;
  for (const v of weights) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const weight = paramsFromRange(lo, hi, m.signed ? "sym" : "asym", m.weightBits, true);
  const binCode = Int32Array.from(clusters.centroids, (c) => quantizeValue(c, weight));
  const bins = binCode.length;
  const r: LayerMissArithmetic = { multiplier: m, activation, weight, binCode, zeroGating, table: new Float64Array(bins << ACTIVATION_BITS) };
  for (let code = 0; code < 1 << ACTIVATION_BITS; code++) {
    // The code's integer: two's complement for a signed multiplier's operands.
    const qa = m.signed && code >= 128 ? code - 256 : code;
    if (qa < activation.qmin || qa > activation.qmax) continue; // never produced by quantizeValue
    for (let b = 0; b < bins; b++) r.table[(b << ACTIVATION_BITS) | code] = missProduct(r, qa, binCode[b]!);
  }
  return r;
}

/** The 8-bit code (table column) of an activation value as the PE holds it. */
export function missActivationCode(m: LayerMissArithmetic, value: number): number {
  return quantizeValue(value, m.activation) & 0xff;
}

/**
 * 8-bit input parameters of every conv and dense layer for a miss multiplier: min/max of the layer's
 * input in the (clustered) float model on the calibration batches, in the multiplier's scheme.
 */
export function missActivationParams(model: Model, batches: Tensor[], signed: boolean): Map<string, QuantParams> {
  const inName = model.inputs[0]!.name;
  const stats = new Map<string, ActivationStats>();
  for (const x of batches) {
    runModel(model, { [inName]: x }, {
      kernel: (node, ins) => {
        if (!isApproximable(node)) return undefined;
        let s = stats.get(node.name);
        if (!s) stats.set(node.name, (s = new ActivationStats()));
        s.add(ins[0]!.data);
        return undefined;
      },
    });
  }
  const out = new Map<string, QuantParams>();
  for (const [name, s] of stats) out.set(name, calibrateActivation(s, signed ? "sym" : "asym", { method: "minmax" }));
  return out;
}
