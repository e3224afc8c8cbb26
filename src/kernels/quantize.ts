// The float32 kernels of quantization: QAT's fake quantization and min/max observation, and the
// dequantization of integer accumulators (also inference's, src/quant/model.ts). Semantics: docs/kernels.md.
import { AxnnError } from "../util/errors.js";
import { checkType } from "./args.js";
import type { DequantizeChannels } from "./backend.js";
import { checkLength } from "./geometry.js";
import { backend } from "./registry.js";

export type { DequantizeChannels } from "./backend.js";

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
  backend().fakeQuantize(input, { scale, zeroPoint, qmin, qmax }, codes, fake, mask);
  return { codes, fake, mask };
}

/** The least and greatest element of a float32 array, NaN skipped (minMaxReference); [+Infinity, -Infinity] when there is none. */
export function minMaxFloat(input: Float32Array): [number, number] {
  checkType(input, Float32Array, "minMaxFloat", "input");
  return backend().minMax(input);
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
  backend().dequantizeAcc(acc, { batch, channels: M, inner, groups }, channels, sums, clamp, out);
  return out;
}
