import { AxnnError } from "../util/errors.js";
import { paramsFromRange, quantizationMse, type QuantParams, type QuantScheme } from "./params.js";

/** How an activation range is chosen from calibration data. */
export type CalibrationMethod = "minmax" | "percentile" | "mse";
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ["minmax", "percentile", "mse"];

export interface CalibrationOptions {
  method: CalibrationMethod;
  /** For "percentile": the percentile of the upper end (the lower end uses 100 - p); default 99.99. */
  percentile?: number;
}

/** Values kept per tensor for percentile and MSE calibration (a uniform, deterministic subsample). */
const SAMPLE_CAP = 1 << 17;

/**
 * Statistics of one activation tensor over the calibration batches: exact min/max, and a subsample
 * of every `stride`-th element (counting over all batches); when the sample outgrows its cap,
 * every other kept value is dropped and the stride doubles, so the sample stays uniform.
 */
export class ActivationStats {
  min = Infinity;
  max = -Infinity;
  count = 0;
  private stride = 1;
  private sample: number[] = [];

  add(data: Float32Array): void {
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v !== v) throw new AxnnError(`calibration data contains NaN (element ${this.count + i} of this tensor's stream)`, { field: "calibration" });
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
    }
    // Keep the elements whose global index (over all batches) is a multiple of the stride.
    const firstOnStride = (from: number): number => from + ((this.stride - ((this.count + from) % this.stride)) % this.stride);
    for (let i = firstOnStride(0); i < data.length; ) {
      this.sample.push(data[i]!);
      if (this.sample.length >= SAMPLE_CAP) {
        // Kept values sit at global indices 0, s, 2s, ...: the even positions are the multiples of 2s.
        this.sample = this.sample.filter((_v, k) => k % 2 === 0);
        this.stride *= 2;
      }
      i = firstOnStride(i + 1);
    }
    this.count += data.length;
    if (data.length > 0 && (!Number.isFinite(this.min) || !Number.isFinite(this.max))) {
      throw new AxnnError("calibration data contains infinite values", { field: "calibration" });
    }
  }

  values(): Float64Array {
    return Float64Array.from(this.sample);
  }
}

/** Linear-interpolated quantile (q in [0, 1]) of sorted values. */
export function quantileSorted(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Candidate shrink factors of the min/max range tried by MSE calibration. */
export const MSE_FACTORS: readonly number[] = Array.from({ length: 81 }, (_v, k) => 1 - k / 100); // 1.00 .. 0.20

/** Activation quantization parameters (8-bit) from collected statistics. */
export function calibrateActivation(stats: ActivationStats, scheme: QuantScheme, opts: CalibrationOptions, bits = 8): QuantParams {
  if (stats.count === 0) throw new AxnnError("no calibration data reached this tensor", { field: "calibration" });
  const { min, max } = stats;
  switch (opts.method) {
    case "minmax":
      return paramsFromRange(min, max, scheme, bits);
    case "percentile": {
      const p = opts.percentile ?? 99.99;
      if (!(p > 50 && p <= 100)) throw new AxnnError(`percentile must be in (50, 100], got ${p}`, { field: "--percentile" });
      const v = stats.values();
      if (scheme === "sym") {
        const a = v.map(Math.abs).sort();
        const amax = quantileSorted(a, p / 100);
        return paramsFromRange(-amax, amax, scheme, bits);
      }
      v.sort();
      return paramsFromRange(Math.max(min, quantileSorted(v, 1 - p / 100)), Math.min(max, quantileSorted(v, p / 100)), scheme, bits);
    }
    case "mse": {
      const v = stats.values();
      let best: QuantParams | undefined;
      let bestErr = Infinity;
      for (const f of MSE_FACTORS) {
        const p = paramsFromRange(min * f, max * f, scheme, bits);
        const err = quantizationMse(v, p);
        // Strictly smaller: among equal errors the widest range (first tried) wins.
        if (err < bestErr) {
          bestErr = err;
          best = p;
        }
      }
      return best!;
    }
    default:
      throw new AxnnError(`unknown calibration method "${String(opts.method)}"; expected one of ${CALIBRATION_METHODS.join(", ")}`, { field: "--calibration" });
  }
}
