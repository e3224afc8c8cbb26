import { AxnnError } from "../util/errors.js";
import { exactProductRange, type Multiplier } from "../multipliers/multiplier.js";
import { sizeOf } from "../nn/tensor.js";
import type { ApproximableNode } from "../nn/graph.js";

/**
 * The integer kernels (native and TypeScript) sum a layer's K products in a 32-bit accumulator,
 * which wraps past 2^31 - 1 by design (it is what the hardware does). The zero-point cross terms
 * (za * sum(w), zw * sum(a), K * za * zw) are added afterwards in float64, so the products alone
 * bound what the accumulator holds: K x the largest product magnitude. A layer where that bound
 * passes 2^31 - 1 could return a wrapped, silently wrong sum, so it is refused before it runs.
 */
export const ACCUMULATOR_LIMIT = 2 ** 31 - 1;

const tableMagnitude = new WeakMap<Int32Array, number>();

/** The largest |product| a layer's arithmetic can put into the accumulator. */
export function largestProduct(arith: { kind: "exact"; weightBits?: number; signed: boolean } | { kind: "lut"; multiplier: Multiplier }): number {
  if (arith.kind === "exact") {
    const r = exactProductRange(arith.signed, arith.weightBits ?? 8);
    return Math.max(Math.abs(r.min), Math.abs(r.max));
  }
  const t = arith.multiplier.table;
  let m = tableMagnitude.get(t);
  if (m === undefined) {
    m = 0;
    for (let i = 0; i < t.length; i++) {
      const v = Math.abs(t[i]!);
      if (v > m) m = v;
    }
    tableMagnitude.set(t, m);
  }
  return m;
}

/** The reduction length K of a layer: the products summed into one output (Cin/groups x kh x kw, or the features). */
export function reductionLength(node: ApproximableNode): number {
  return sizeOf(node.weight.shape.slice(1));
}

/**
 * Refuses a layer whose worst-case sum of products does not fit the int32 accumulator, naming
 * the layer, K, the largest product and what to change.
 */
export function checkAccumulatorFits(
  node: ApproximableNode,
  arith: { kind: "exact"; weightBits?: number; signed: boolean } | { kind: "lut"; multiplier: Multiplier },
): void {
  const k = reductionLength(node);
  const largest = largestProduct(arith);
  if (k * largest <= ACCUMULATOR_LIMIT) return;
  const what = arith.kind === "lut" ? `${arith.multiplier.name}'s largest table entry` : `the largest exact ${arith.signed ? "signed" : "unsigned"} 8x${arith.weightBits ?? 8} product`;
  throw new AxnnError(
    `its reduction of K = ${k} products of up to ${largest} (${what}) can reach ${(k * largest).toExponential(3)}, past the 32-bit accumulator's ${ACCUMULATOR_LIMIT}; ` +
    `the integer result would wrap. Split the layer (at most ${Math.floor(ACCUMULATOR_LIMIT / Math.max(largest, 1))} products per output) or use a multiplier with smaller products`,
    { field: `layer "${node.name}"` },
  );
}
