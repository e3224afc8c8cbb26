import { AxnnError } from "../util/errors.js";

/**
 * Quantization parameters and the elementary arithmetic (docs/quantization.md writes it down).
 *
 * A real value x is represented by an integer q with x ~ scale * (q - zeroPoint):
 *   q = clamp(roundHalfAway(x / scale) + zeroPoint, qmin, qmax)
 *   x' = scale * (q - zeroPoint)
 * Symmetric: zeroPoint = 0, signed integers. Asymmetric: unsigned integers, zeroPoint in [qmin, qmax].
 */
export type QuantScheme = "sym" | "asym";

export interface QuantParams {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/** Rounding used everywhere: half away from zero (as C's round()), independent of the sign. */
export function roundHalfAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** Integer range of a `bits`-wide operand. Symmetric weights use the restricted range [-(2^(b-1)-1), 2^(b-1)-1]. */
export function integerRange(scheme: QuantScheme, bits: number, restricted = false): { qmin: number; qmax: number } {
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new AxnnError(`operand width must be an integer from 2 to 8, got ${bits}`, { field: "bits" });
  if (scheme === "asym") return { qmin: 0, qmax: (1 << bits) - 1 };
  const half = 1 << (bits - 1);
  return { qmin: restricted ? -(half - 1) : -half, qmax: half - 1 };
}

/**
 * Parameters that map the real range [lo, hi] onto the integer range. The range is first widened to
 * contain 0, so that 0 (padding, ReLU's floor) is exactly representable.
 * - sym: scale = max(|lo|, |hi|) / qmax, zeroPoint = 0.
 * - asym: scale = (hi - lo) / (qmax - qmin), zeroPoint = clamp(qmin + roundHalfAway(-lo / scale), qmin, qmax).
 * An all-zero range gets scale 1 (every value quantizes to the zero point).
 */
export function paramsFromRange(lo: number, hi: number, scheme: QuantScheme, bits: number, restricted = false): QuantParams {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) throw new AxnnError(`bad range [${lo}, ${hi}]`, { field: "range" });
  const { qmin, qmax } = integerRange(scheme, bits, restricted);
  lo = Math.min(lo, 0);
  hi = Math.max(hi, 0);
  if (scheme === "sym") {
    const amax = Math.max(-lo, hi);
    return { scale: amax > 0 ? amax / qmax : 1, zeroPoint: 0, qmin, qmax };
  }
  if (hi - lo <= 0) return { scale: 1, zeroPoint: qmin, qmin, qmax };
  const scale = (hi - lo) / (qmax - qmin);
  const zeroPoint = Math.min(qmax, Math.max(qmin, qmin + roundHalfAway(-lo / scale)));
  return { scale, zeroPoint, qmin, qmax };
}

/** The integer of one real value. */
export function quantizeValue(x: number, p: QuantParams): number {
  const q = roundHalfAway(x / p.scale) + p.zeroPoint;
  return q < p.qmin ? p.qmin : q > p.qmax ? p.qmax : q;
}

export function dequantizeValue(q: number, p: QuantParams): number {
  return p.scale * (q - p.zeroPoint);
}

/** Quantize then dequantize (the value the integer arithmetic actually sees). */
export function fakeQuantValue(x: number, p: QuantParams): number {
  return dequantizeValue(quantizeValue(x, p), p);
}

/**
 * Raw `bits`-wide bit patterns of integers (two's complement for negative values), which is what
 * multiplier tables and the kernels index by.
 */
export function toCodes(values: Int32Array, bits: number): Uint8Array {
  const mask = (1 << bits) - 1;
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]! & mask;
  return out;
}

/**
 * Activation codes of a float tensor: quantizeValue of every element, as 8-bit patterns.
 * (Hot path of the engine: the same arithmetic as quantizeValue, inlined.)
 */
export function quantizeToCodes(x: Float32Array, p: QuantParams, out = new Uint8Array(x.length)): Uint8Array {
  const { scale, zeroPoint, qmin, qmax } = p;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! / scale;
    // trunc(v -+ 0.5) is roundHalfAway(v): for v < 0, trunc(v - 0.5) = -floor(0.5 - v).
    let q = Math.trunc(v < 0 ? v - 0.5 : v + 0.5) + zeroPoint;
    q = q < qmin ? qmin : q > qmax ? qmax : q;
    out[i] = q & 0xff;
  }
  return out;
}

/** Mean squared error of quantize-dequantize over `values` (for MSE-optimal ranges). */
export function quantizationMse(values: Float32Array | Float64Array, p: QuantParams): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) {
    const d = fakeQuantValue(values[i]!, p) - values[i]!;
    s += d * d;
  }
  return values.length > 0 ? s / values.length : 0;
}
