import { ACTIVATION_BITS, encodeOperand, decodeOperand } from "../multiplier.js";
import { arrayMultiply, baughWooleyConstant, baughWooleyMultiply, baughWooleyPartialProducts, carrySaveArray, constantRow, unsignedPartialProducts, type Bits } from "./arith.js";
import { canonicalName, finishGenerated, newCircuit, resolveParams, type GeneratedMultiplier, type GeneratorDefinition, type WidthParams } from "./common.js";

// ---------------------------------------------------------------- product truncation

export interface TruncatedParams extends WidthParams {
  /** Partial-product bits of the k least significant columns are dropped (1..n+6). */
  k?: number;
  /** Add the constant correction (the expected value of the dropped bits). Default false. */
  correct?: boolean;
}

const REFERENCE_TRUNC = "M. J. Schulte, E. E. Swartzlander Jr., \"Truncated Multiplication with Correction Constant\", VLSI Signal Processing VI, IEEE, 1993, pp. 388-396; E. J. King, E. E. Swartzlander Jr., \"Data-Dependent Truncation Scheme for Parallel Multipliers\", Asilomar 1997";

/** Whether partial-product bit x_i*y_j of an m x n Baugh-Wooley matrix is inverted (NAND). */
function isInvertedBw(i: number, j: number, n: number): boolean {
  return (i === ACTIVATION_BITS - 1) !== (j === n - 1);
}

/**
 * Correction constant of a truncated multiplier: the expected value of the dropped
 * partial-product bits when operand bits are independent and uniform (an AND bit is 1
 * with probability 1/4; an inverted Baugh-Wooley bit with 3/4), rounded to an integer.
 * Unlike Schulte & Swartzlander we keep the full output width, so the constant is not
 * rounded to the kept columns.
 */
export function truncationCorrection(n: number, signed: boolean, k: number): number {
  let expected = 0;
  for (let i = 0; i < ACTIVATION_BITS; i++) {
    for (let j = 0; j < n; j++) {
      if (i + j >= k) continue;
      expected += (signed && isInvertedBw(i, j, n) ? 0.75 : 0.25) * 2 ** (i + j);
    }
  }
  return Math.round(expected);
}

export const truncatedGenerator: GeneratorDefinition = {
  kind: "trunc",
  title: "truncated multiplier (product truncation), optional constant correction",
  description: "The partial-product bits of the k least significant columns are not generated; the columns above are summed exactly (carry-save array). With correction, the expected value of the dropped bits is added as a constant. Signed: the same truncation of the Baugh-Wooley matrix (its sign constant is kept).",
  reference: REFERENCE_TRUNC,
  supportsSigned: true,
  params: [
    { name: "k", type: "int", description: "number of least significant product columns whose partial-product bits are dropped", range: "1..n+6", bounds: (n) => [1, n + 6], default: (n) => Math.max(1, n - 2) },
    { name: "correct", type: "bool", description: "add the constant correction", range: "true/false", default: () => false },
  ],
  formatBody: (p) => `k${p.k}${p.correct ? "c" : ""}`,
  parseBody(body) {
    const m = /^k(\d+)(c?)$/.exec(body);
    return m ? { k: Number(m[1]), correct: m[2] === "c" } : undefined;
  },
  buildResolved(p, name) {
    const n = p.n as number, signed = p.signed as boolean, k = p.k as number, correct = p.correct as boolean;
    const width = ACTIVATION_BITS + n;
    const { c, act, weight } = newCircuit(name, n);
    const keep = (i: number, j: number): boolean => i + j >= k;
    let constant = correct ? truncationCorrection(n, signed, k) : 0;
    let rows;
    if (signed) {
      const bw = baughWooleyPartialProducts(c, act, weight, keep);
      rows = bw.rows;
      constant += bw.constant;
    } else {
      rows = unsignedPartialProducts(c, act, weight, width, keep);
    }
    const product = carrySaveArray(c, [...rows, constantRow(c, constant % 2 ** width, width)], width);
    return finishGenerated(c, product, signed, {
      kind: "trunc",
      params: p,
      description: `truncated ${signed ? "signed" : "unsigned"} 8x${n} multiplier, ${k} columns dropped${correct ? ", constant correction" : ""}`,
      reference: REFERENCE_TRUNC,
    });
  },
  modelResolved(p) {
    const n = p.n as number, signed = p.signed as boolean, k = p.k as number;
    const correction = p.correct ? truncationCorrection(n, signed, k) : 0;
    const lowMask = 2 ** k - 1;
    if (!signed) {
      // Row j of the matrix is a << j; its bits below column k are not generated.
      return (a, w) => {
        let sum = correction;
        for (let j = 0; j < n; j++) if ((w >> j) & 1) sum += (a << j) & ~lowMask;
        return sum;
      };
    }
    const width = ACTIVATION_BITS + n;
    const bwConstant = baughWooleyConstant(ACTIVATION_BITS, n);
    return (a, w) => {
      const pa = encodeOperand(a, ACTIVATION_BITS), pw = encodeOperand(w, n);
      let sum = bwConstant + correction;
      for (let i = 0; i < ACTIVATION_BITS; i++) {
        for (let j = 0; j < n; j++) {
          if (i + j < k) continue;
          const bit = ((pa >> i) & (pw >> j) & 1) ^ (isInvertedBw(i, j, n) ? 1 : 0);
          sum += bit * 2 ** (i + j);
        }
      }
      return decodeOperand(sum % 2 ** width, width, true);
    };
  },
};

export function generateTruncated(params: TruncatedParams = {}): GeneratedMultiplier {
  const p = resolveParams(truncatedGenerator, { ...params });
  return truncatedGenerator.buildResolved(p, canonicalName(truncatedGenerator, p));
}

// ---------------------------------------------------------------- operand truncation

export interface OperandTruncatedParams extends WidthParams {
  /** Least significant activation bits forced to 0 (0..7). */
  ka?: number;
  /** Least significant weight bits forced to 0 (0..n-1). */
  kw?: number;
  /** Set the highest dropped bit of each truncated operand to 1 (round-to-nearest bias compensation). */
  round?: boolean;
}

const REFERENCE_OPTRUNC = "operand (input) truncation, as in the truncated-operand multipliers compared in H. Jiang, C. Liu, L. Liu, F. Lombardi, J. Han, \"A Review, Classification, and Comparative Evaluation of Approximate Arithmetic Circuits\", ACM JETC 13(4), 2017";

/** The raw bit pattern of an operand after dropping its k least significant bits. */
function truncateOperandPattern(pattern: number, k: number, round: boolean): number {
  let t = (pattern >> k) << k;
  if (round && k > 0) t |= 1 << (k - 1);
  return t;
}

export const operandTruncatedGenerator: GeneratorDefinition = {
  kind: "optrunc",
  title: "operand truncation",
  description: "The ka least significant activation bits and kw least significant weight bits are forced to 0 (with rounding: the highest dropped bit is forced to 1, which centres the error), then the operands are multiplied exactly (array multiplier, Baugh-Wooley when signed). The constant bits remove their partial products from the netlist.",
  reference: REFERENCE_OPTRUNC,
  supportsSigned: true,
  params: [
    { name: "ka", type: "int", description: "activation bits dropped", range: "0..7", bounds: () => [0, ACTIVATION_BITS - 1], default: () => 2 },
    { name: "kw", type: "int", description: "weight bits dropped", range: "0..n-1", bounds: (n) => [0, n - 1], default: (n) => Math.min(2, n - 1) },
    { name: "round", type: "bool", description: "set the highest dropped bit to 1", range: "true/false", default: () => false },
  ],
  formatBody: (p) => `a${p.ka}w${p.kw}${p.round ? "r" : ""}`,
  parseBody(body) {
    const m = /^a(\d+)w(\d+)(r?)$/.exec(body);
    return m ? { ka: Number(m[1]), kw: Number(m[2]), round: m[3] === "r" } : undefined;
  },
  buildResolved(p, name) {
    const n = p.n as number, signed = p.signed as boolean, ka = p.ka as number, kw = p.kw as number, round = p.round as boolean;
    const { c, act, weight } = newCircuit(name, n);
    const cut = (x: Bits, k: number): Bits => x.map((bit, i) => (i >= k ? bit : c.constant(round && i === k - 1)));
    const a = cut(act, ka), w = cut(weight, kw);
    const product = signed ? baughWooleyMultiply(c, a, w) : arrayMultiply(c, a, w);
    return finishGenerated(c, product, signed, {
      kind: "optrunc",
      params: p,
      description: `${signed ? "signed" : "unsigned"} 8x${n} multiplier of operands truncated by ${ka} (activation) and ${kw} (weight) bits${round ? ", rounded" : ""}`,
      reference: REFERENCE_OPTRUNC,
    });
  },
  modelResolved(p) {
    const n = p.n as number, signed = p.signed as boolean, ka = p.ka as number, kw = p.kw as number, round = p.round as boolean;
    const approx = (v: number, bits: number, k: number): number =>
      decodeOperand(truncateOperandPattern(encodeOperand(v, bits), k, round), bits, signed);
    return (a, w) => approx(a, ACTIVATION_BITS, ka) * approx(w, n, kw);
  },
};

export function generateOperandTruncated(params: OperandTruncatedParams = {}): GeneratedMultiplier {
  const p = resolveParams(operandTruncatedGenerator, { ...params });
  return operandTruncatedGenerator.buildResolved(p, canonicalName(operandTruncatedGenerator, p));
}
