import { ACTIVATION_BITS } from "../multiplier.js";
import { AxnnError } from "../../util/errors.js";
import { carrySaveArray, unsignedPartialProducts } from "./arith.js";
import { canonicalName, finishGenerated, newCircuit, resolveParams, type GeneratedMultiplier, type GeneratorDefinition, type ParamValues, type WidthParams } from "./common.js";

export interface PerforatedParams extends WidthParams {
  /** First perforated partial product (weight bit index, 0..n-1). */
  j?: number;
  /** Number of consecutive partial products skipped (1..n-j). */
  m?: number;
}

const REFERENCE_PERF = "G. Zervakis, K. Tsoumanis, S. Xydis, D. Soudris, K. Pekmestzi, \"Design-Efficient Approximate Multiplication Circuits Through Partial Product Perforation\", IEEE Trans. VLSI Systems 24(10):3105-3117, 2016";

export const perforatedGenerator: GeneratorDefinition = {
  kind: "perf",
  title: "partial-product perforation",
  description: "The m consecutive partial products (activation AND weight bit) starting at weight bit j are not generated; the rest are summed exactly by a carry-save array. Equivalent to multiplying by the weight with bits j..j+m-1 cleared. Unsigned only.",
  reference: REFERENCE_PERF,
  supportsSigned: false,
  params: [
    { name: "j", type: "int", description: "first skipped partial product (weight bit)", range: "0..n-1", bounds: (n) => [0, n - 1], default: () => 0 },
    { name: "m", type: "int", description: "number of consecutive partial products skipped", range: "1..n-j", bounds: (n) => [1, n], default: (n) => Math.min(2, n) },
  ],
  formatBody: (p) => `j${p.j}_m${p.m}`,
  parseBody(body) {
    const m = /^j(\d+)_m(\d+)$/.exec(body);
    return m ? { j: Number(m[1]), m: Number(m[2]) } : undefined;
  },
  validate: checkPerforationRange,
  buildResolved(p, name) {
    checkPerforationRange(p);
    const n = p.n as number, j0 = p.j as number, m = p.m as number;
    const width = ACTIVATION_BITS + n;
    const { c, act, weight } = newCircuit(name, n);
    const rows = unsignedPartialProducts(c, act, weight, width, (_i, j) => j < j0 || j >= j0 + m);
    return finishGenerated(c, carrySaveArray(c, rows, width), false, {
      kind: "perf",
      params: p,
      description: `unsigned 8x${n} multiplier with partial products ${j0}..${j0 + m - 1} perforated`,
      reference: REFERENCE_PERF,
    });
  },
  modelResolved(p) {
    checkPerforationRange(p);
    const j0 = p.j as number, m = p.m as number;
    const skipped = (2 ** m - 1) << j0;
    return (a, w) => a * (w & ~skipped);
  },
};

/** m's upper bound depends on j, which the per-parameter bounds cannot express. */
function checkPerforationRange(p: ParamValues): void {
  const n = p.n as number, j = p.j as number, m = p.m as number;
  if (j + m > n) throw new AxnnError(`expected an integer from 1 to ${n - j} (1..n-j with n=${n}, j=${j}), got ${m}`, { field: "perf.m" });
}

export function generatePerforated(params: PerforatedParams = {}): GeneratedMultiplier {
  const p = resolveParams(perforatedGenerator, { ...params });
  return perforatedGenerator.buildResolved(p, canonicalName(perforatedGenerator, p));
}
