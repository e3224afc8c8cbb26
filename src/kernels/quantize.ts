// The float32 kernels of quantization: QAT's fake quantization and min/max observation, and the
// dequantization of integer accumulators (also inference's, src/quant/model.ts). Semantics: docs/kernels.md.
import { AxnnError } from "../util/errors.js";
import { native } from "./addon.js";
import { checkType } from "./args.js";
import { checkLength } from "./geometry.js";
import { dequantizeAccReference, fakeQuantizeReference, minMaxReference } from "./reference.js";

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
