import { ACTIVATION_BITS } from "../multiplier.js";
import { carrySaveArray, unsignedPartialProducts } from "./arith.js";
import { canonicalName, finishGenerated, newCircuit, resolveParams, type GeneratedMultiplier, type GeneratorDefinition, type WidthParams } from "./common.js";

export interface BrokenArrayParams extends WidthParams {
  /** Horizontal break level: the cells of partial-product rows 0..hbl-1 are omitted (0..n-1). */
  hbl?: number;
  /** Vertical break level: the cells of product columns 0..vbl-1 are omitted (0..n+6). */
  vbl?: number;
}

const REFERENCE_BAM = "H. R. Mahdiani, A. Ahmadi, S. M. Fakhraie, C. Lucas, \"Bio-Inspired Imprecise Computational Blocks for Efficient VLSI Implementation of Soft-Computing Applications\", IEEE Trans. Circuits and Systems I 57(4):850-862, 2010";

/**
 * Broken-array multiplier. Rows of the array are the weight bits (row j = activation AND
 * weight bit j, in columns j..j+7). Omitting a carry-save cell removes its partial-product
 * bit and everything it would have passed on; as the omitted cells are the rows below hbl
 * and the columns right of vbl, carries only flow from omitted into omitted-or-lost
 * positions, so the product is the exact sum of the kept bits.
 */
export const brokenArrayGenerator: GeneratorDefinition = {
  kind: "bam",
  title: "broken-array multiplier (BAM)",
  description: "Carry-save array multiplier with the cells of the hbl least significant partial-product rows (weight bits) and of the vbl least significant product columns omitted. Unsigned only.",
  reference: REFERENCE_BAM,
  supportsSigned: false,
  params: [
    { name: "hbl", type: "int", description: "horizontal break level: partial-product rows (weight bits) 0..hbl-1 omitted", range: "0..n-1", bounds: (n) => [0, n - 1], default: (n) => Math.min(2, n - 1) },
    { name: "vbl", type: "int", description: "vertical break level: product columns 0..vbl-1 omitted", range: "0..n+6", bounds: (n) => [0, n + 6], default: (n) => Math.min(6, n + 6) },
  ],
  formatBody: (p) => `h${p.hbl}_v${p.vbl}`,
  parseBody(body) {
    const m = /^h(\d+)_v(\d+)$/.exec(body);
    return m ? { hbl: Number(m[1]), vbl: Number(m[2]) } : undefined;
  },
  buildResolved(p, name) {
    const n = p.n as number, hbl = p.hbl as number, vbl = p.vbl as number;
    const width = ACTIVATION_BITS + n;
    const { c, act, weight } = newCircuit(name, n);
    const rows = unsignedPartialProducts(c, act, weight, width, (i, j) => j >= hbl && i + j >= vbl);
    return finishGenerated(c, carrySaveArray(c, rows, width), false, {
      kind: "bam",
      params: p,
      description: `broken-array unsigned 8x${n} multiplier, hbl=${hbl}, vbl=${vbl}`,
      reference: REFERENCE_BAM,
    });
  },
  modelResolved(p) {
    const n = p.n as number, hbl = p.hbl as number, vbl = p.vbl as number;
    const lowColumns = 2 ** vbl - 1;
    // Row j contributes a << j without its bits left of the vertical break.
    return (a, w) => {
      let sum = 0;
      for (let j = hbl; j < n; j++) if ((w >> j) & 1) sum += (a << j) & ~lowColumns;
      return sum;
    };
  },
};

export function generateBrokenArray(params: BrokenArrayParams = {}): GeneratedMultiplier {
  const p = resolveParams(brokenArrayGenerator, { ...params });
  return brokenArrayGenerator.buildResolved(p, canonicalName(brokenArrayGenerator, p));
}
