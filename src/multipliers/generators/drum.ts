import { ACTIVATION_BITS } from "../multiplier.js";
import { arrayMultiply, orReduce, priorityEncode, rippleAdd, shiftLeft, shiftRight, type Bits, type Circuit } from "./arith.js";
import { canonicalName, finishGenerated, leadingOnePosition, newCircuit, resolveParams, signMagnitude, signMagnitudeModel, type BehaviouralModel, type GeneratedMultiplier, type GeneratorDefinition, type WidthParams } from "./common.js";

export interface DrumParams extends WidthParams {
  /** Segment width: each operand is reduced to k bits starting at its leading one (3..7). */
  k?: number;
}

const REFERENCE_DRUM = "S. Hashemi, R. I. Bahar, S. Reda, \"DRUM: A Dynamic Range Unbiased Multiplier for Approximate Applications\", IEEE/ACM ICCAD 2015, pp. 418-425";

/**
 * DRUM operand reduction in hardware: the leading one picks a k-bit window (bits t..t-k+1),
 * whose least significant bit is forced to 1 when anything was cut below it. Operands
 * below 2^k pass unchanged. Returns the k-bit segment and the binary shift amount t-k+1.
 */
function drumSegment(c: Circuit, x: Bits, k: number): { segment: Bits; shift: Bits } {
  if (x.length <= k) return { segment: x, shift: [] };
  // The window's position is the leading one among bits k-1.. of x: index 0 means
  // "leading one at k-1 or below", i.e. no shift.
  const { index: shift } = priorityEncode(c, x.slice(k - 1));
  const segment = shiftRight(c, x, shift, k);
  const cut = orReduce(c, x.slice(k)); // x >= 2^k: some bits were cut
  segment[0] = c.or(segment[0]!, cut);
  return { segment, shift };
}

/** Unsigned DRUM core on magnitudes of 8 and n bits, result `width` bits. */
function drumCore(c: Circuit, a: Bits, w: Bits, k: number, width: number): Bits {
  const sa = drumSegment(c, a, k), sw = drumSegment(c, w, k);
  const small = arrayMultiply(c, sa.segment, sw.segment);
  // One barrel shifter by the summed shift amounts is cheaper than two in a row.
  const shift = sw.shift.length === 0 ? sa.shift : rippleAdd(c, sa.shift, sw.shift, Math.max(sa.shift.length, sw.shift.length) + 1);
  return shiftLeft(c, small, shift, width);
}

/** Behavioural DRUM reduction of a non-negative operand value. */
function drumSegmentValue(x: number, k: number): { value: number; shift: number } {
  if (x < 2 ** k) return { value: x, shift: 0 };
  const shift = leadingOnePosition(x) - k + 1;
  return { value: (x >> shift) | 1, shift };
}

function drumModelUnsigned(k: number): BehaviouralModel {
  return (a, w) => {
    const sa = drumSegmentValue(a, k), sw = drumSegmentValue(w, k);
    return sa.value * sw.value * 2 ** (sa.shift + sw.shift);
  };
}

export const drumGenerator: GeneratorDefinition = {
  kind: "drum",
  title: "DRUM: dynamic range unbiased multiplier",
  description: "Each operand is cut to the k bits starting at its leading one, with the lowest kept bit forced to 1 (the expected value of the cut bits, which makes the error unbiased); operands below 2^k are exact. A k x k array multiplier multiplies the segments and a barrel shifter shifts the product back. Signed: sign-magnitude wrapping (magnitudes in, conditional negation out).",
  reference: REFERENCE_DRUM,
  supportsSigned: true,
  params: [
    { name: "k", type: "int", description: "segment width in bits (operands narrower than k are exact)", range: "3..7", bounds: () => [3, ACTIVATION_BITS - 1], default: () => 4 },
  ],
  formatBody: (p) => `k${p.k}`,
  parseBody(body) {
    const m = /^k(\d+)$/.exec(body);
    return m ? { k: Number(m[1]) } : undefined;
  },
  buildResolved(p, name) {
    const n = p.n as number, signed = p.signed as boolean, k = p.k as number;
    const width = ACTIVATION_BITS + n;
    const { c, act, weight } = newCircuit(name, n);
    const core = (a: Bits, w: Bits): Bits => drumCore(c, a, w, k, width);
    const product = signed ? signMagnitude(c, act, weight, width, core) : core(act, weight);
    return finishGenerated(c, product, signed, {
      kind: "drum",
      params: p,
      description: `DRUM ${signed ? "signed (sign-magnitude)" : "unsigned"} 8x${n} multiplier with ${k}-bit segments`,
      reference: REFERENCE_DRUM,
    });
  },
  modelResolved(p) {
    const core = drumModelUnsigned(p.k as number);
    return p.signed ? signMagnitudeModel(core) : core;
  },
};

export function generateDrum(params: DrumParams = {}): GeneratedMultiplier {
  const p = resolveParams(drumGenerator, { ...params });
  return drumGenerator.buildResolved(p, canonicalName(drumGenerator, p));
}
