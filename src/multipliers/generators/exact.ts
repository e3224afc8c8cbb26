import { arrayMultiply, baughWooleyMultiply } from "./arith.js";
import { canonicalName, finishGenerated, newCircuit, resolveParams, type GeneratedMultiplier, type GeneratorDefinition, type WidthParams } from "./common.js";

export type ExactParams = WidthParams;

const REFERENCE_ARRAY = "array multiplier: e.g. I. Koren, Computer Arithmetic Algorithms, 2nd ed., A K Peters, 2002, ch. 6";
const REFERENCE_BW = "C. R. Baugh, B. A. Wooley, \"A Two's Complement Parallel Array Multiplication Algorithm\", IEEE Trans. Computers C-22(12):1045-1047, 1973";

/** Exact multiplier: carry-save array (unsigned) or modified Baugh-Wooley array (signed). */
export const exactGenerator: GeneratorDefinition = {
  kind: "exact",
  title: "exact array multiplier (unsigned) / Baugh-Wooley (signed)",
  description: "Exact product. Unsigned: carry-save array of AND partial products with a ripple-carry final adder. Signed: modified Baugh-Wooley partial products (NAND where one sign bit meets a non-sign bit, plus a constant) in the same array.",
  reference: `${REFERENCE_ARRAY}; signed: ${REFERENCE_BW}`,
  supportsSigned: true,
  params: [],
  formatBody: () => "",
  parseBody: (body) => (body === "" ? {} : undefined),
  buildResolved(p, name) {
    const n = p.n as number, signed = p.signed as boolean;
    const { c, act, weight } = newCircuit(name, n);
    const product = signed ? baughWooleyMultiply(c, act, weight) : arrayMultiply(c, act, weight);
    return finishGenerated(c, product, signed, {
      kind: "exact",
      params: p,
      description: signed ? `exact signed 8x${n} Baugh-Wooley array multiplier` : `exact unsigned 8x${n} array multiplier`,
      reference: signed ? REFERENCE_BW : REFERENCE_ARRAY,
    });
  },
  modelResolved: () => (a, w) => a * w,
};

export function generateExact(params: ExactParams = {}): GeneratedMultiplier {
  const p = resolveParams(exactGenerator, { ...params });
  return exactGenerator.buildResolved(p, canonicalName(exactGenerator, p));
}
