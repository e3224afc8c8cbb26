// The native backends: the addon's kernels at one ISA level each, behind the backend interface,
// and the preparation of multiplier tables in the layouts the native cores read.
import type { NativeAddon, IsaLevel } from "./addon.js";
import type { Backend, BackendName, LutTable } from "./backend.js";
import { geometryArray } from "./geometry.js";

export interface PreparedLut { rows: Int32Array; rows16: Uint16Array; planes: Uint8Array; planeCount: number; min: number }

// Prepared tables, per table array and orientation. Tables are taken to be immutable once used.
const preparedCache = new WeakMap<Int32Array, Map<string, PreparedLut>>();

/**
 * The table as the native kernels read it: rows of 256 int32 products and their byte planes
 * (product - min, least significant byte first; as many planes as (max - min) needs), and
 * as uint16 (product - min) when that fits.
 * "by-weight" rows are weight codes indexed by activation (convolutions); "by-activation"
 * rows are activations indexed by weight code, padded with min past 2^weightBits (dense).
 */
export function prepareLut(lut: LutTable, orientation: "by-weight" | "by-activation"): PreparedLut {
  let perTable = preparedCache.get(lut.table);
  if (!perTable) preparedCache.set(lut.table, (perTable = new Map()));
  const key = `${orientation}/${lut.weightBits}`;
  const hit = perTable.get(key);
  if (hit) return hit;
  const n = lut.weightBits, t = lut.table;
  let min = t[0]!, max = t[0]!;
  for (let i = 1; i < t.length; i++) {
    if (t[i]! < min) min = t[i]!;
    if (t[i]! > max) max = t[i]!;
  }
  const span = max - min;
  const planeCount = span < 2 ** 8 ? 1 : span < 2 ** 16 ? 2 : span < 2 ** 24 ? 3 : 4;
  const rowCount = orientation === "by-weight" ? 1 << n : 256;
  const rows = new Int32Array(rowCount * 256).fill(min);
  for (let a = 0; a < 256; a++) {
    for (let w = 0; w < 1 << n; w++) {
      const v = t[(a << n) | w]!;
      if (orientation === "by-weight") rows[w * 256 + a] = v;
      else rows[a * 256 + w] = v;
    }
  }
  const planes = new Uint8Array(rowCount * planeCount * 256);
  for (let row = 0; row < rowCount; row++) {
    for (let i = 0; i < 256; i++) {
      let d = rows[row * 256 + i]! - min; // exact in double, < 2^32
      for (let b = 0; b < planeCount; b++) {
        planes[(row * planeCount + b) * 256 + i] = d % 256;
        d = Math.floor(d / 256);
      }
    }
  }
  // The same rows as uint16 (product - min) where they fit, for the AVX-512 BW core.
  const rows16 = planeCount <= 2 ? Uint16Array.from(rows, (v) => v - min) : new Uint16Array(0);
  const prepared = { rows, rows16, planes, planeCount, min };
  perTable.set(key, prepared);
  return prepared;
}

// The addon's ISA level is process-wide: each backend object switches it to its own level before
// a call (one comparison when it is already there), so that backend objects can be held and used
// side by side.
let currentIsa: IsaLevel | undefined;

/** The addon switched to `level` (also for callers outside a backend object: src/plan). */
export function nativeAt(addon: NativeAddon, level: IsaLevel): NativeAddon {
  if (currentIsa !== level) {
    addon.setIsa(level);
    currentIsa = level;
  }
  return addon;
}

/** The native kernels at `level` (one of addon.isaLevels()). */
export function createNativeBackend(addon: NativeAddon, level: IsaLevel): Backend {
  const use = (): NativeAddon => nativeAt(addon, level);
  return {
    name: `native-${level}` as BackendName,
    convLut(input, weights, g, lut, padCode, out) {
      const p = prepareLut(lut, "by-weight");
      use().convLut(input, weights, geometryArray(g), padCode, p.rows, p.rows16, p.planes, p.planeCount, p.min, out);
    },
    convExact: (input, weights, g, padCode, signed, out) => use().convExact(input, weights, geometryArray(g), padCode, signed, out),
    convFloat: (input, weights, g, padValue, out) => use().convFloat(input, weights, geometryArray(g), padValue, out),
    denseLut(input, weights, g, lut, out) {
      const p = prepareLut(lut, "by-activation");
      use().denseLut(input, weights, Int32Array.of(g.B, g.K, g.M), p.rows, p.rows16, p.planes, p.planeCount, p.min, out);
    },
    denseExact: (input, weights, g, signed, out) => use().denseExact(input, weights, Int32Array.of(g.B, g.K, g.M), signed, out),
    denseFloat: (input, weights, g, out) => use().denseFloat(input, weights, Int32Array.of(g.B, g.K, g.M), out),
    gemmFloat: (a, b, { m, n, k }, transA, transB, accumulate, out) => use().gemmFloat(a, b, out, Int32Array.of(m, n, k), transA, transB, accumulate),
    convFloatGemm: (input, weights, g, out) => use().convFloatGemm(input, weights, geometryArray(g), out),
    conv2dBackwardFloat: (input, weights, outputGrad, g, dInput, dWeights, dBias) => use().conv2dBackwardFloat(input, weights, outputGrad, geometryArray(g), dInput, dWeights, dBias),
    denseBackwardFloat: (input, weights, outputGrad, g, dInput, dWeights, dBias) =>
      use().denseBackwardFloat(input, weights, outputGrad, Int32Array.of(g.B, g.K, g.M), dInput, dWeights, dBias),
    channelMoments: (input, { n, c, inner }, mean, variance) => use().channelMoments(input, Int32Array.of(n, c, inner), mean, variance),
    batchNormApply: (input, { n, c, inner }, mean, invStd, scale, bias, out) => use().batchNormApply(input, Int32Array.of(n, c, inner), mean, invStd, scale, bias, out),
    batchNormBackward: (input, outputGrad, { n, c, inner }, mean, invStd, scale, batchStats, dInput, dScale, dBias) =>
      use().batchNormBackward(input, outputGrad, Int32Array.of(n, c, inner), mean, invStd, scale, batchStats, dInput, dScale, dBias),
    relu: (input, out) => use().reluFloat(input, out),
    reluBackward: (input, outputGrad, dInput) => use().reluBackwardFloat(input, outputGrad, dInput),
    add: (a, b, out) => use().addFloat(a, b, out),
    fakeQuantize: (input, { scale, zeroPoint, qmin, qmax }, codes, fake, mask) => use().fakeQuantize(input, Float64Array.of(scale, zeroPoint, qmin, qmax), codes, fake, mask),
    minMax(input) {
      const out = new Float64Array(2);
      use().minMaxFloat(input, out);
      return [out[0]!, out[1]!];
    },
    dequantizeAcc: (acc, { batch, channels, inner, groups }, ch, sums, clampMax, out) =>
      use().dequantizeAcc(acc, Int32Array.of(batch, channels, inner, groups), ch.constant, ch.scale, ch.bias, ch.zw, sums, clampMax, out),
  };
}
