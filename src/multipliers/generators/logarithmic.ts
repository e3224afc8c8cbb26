import { ACTIVATION_BITS } from "../multiplier.js";
import { gateBits, multiOperandAdd, priorityEncode, resize, rippleAdd, shiftLeft, type Bits, type Circuit } from "./arith.js";
import { canonicalName, finishGenerated, leadingOnePosition, newCircuit, resolveParams, signMagnitude, signMagnitudeModel, type BehaviouralModel, type GeneratedMultiplier, type GeneratorDefinition, type ParamValues, type WidthParams } from "./common.js";

// ---------------------------------------------------------------- Mitchell

export interface MitchellParams extends WidthParams {
  /** Fraction bits kept of each operand's mantissa (1..7; 7 keeps all of an 8-bit operand). */
  f?: number;
}

const REFERENCE_MITCHELL = "J. N. Mitchell, \"Computer Multiplication and Division Using Binary Logarithms\", IRE Trans. Electronic Computers EC-11(4):512-517, 1962";

/** Width of the 3-bit characteristic (leading-one position 0..7) of 8-bit operands. */
const CHAR_BITS = 3;

/**
 * Mitchell's multiplier on unsigned magnitudes: log2 x ~ k + m/2^f (k = leading-one
 * position, m = the f bits after the leading one); the two logarithms are added, and the
 * antilogarithm of e + s/2^f is (2^f + s) * 2^e / 2^f, truncated to an integer.
 */
function mitchellCore(c: Circuit, a: Bits, w: Bits, f: number, width: number): Bits {
  const normalise = (x: Bits): { characteristic: Bits; fraction: Bits; nonZero: number } => {
    const { index, any } = priorityEncode(c, x);
    const characteristic = resize(c, index, CHAR_BITS);
    // Shift left by 7 - k (the bitwise NOT of the 3-bit k) puts the leading one at bit 7.
    const normalised = shiftLeft(c, x, characteristic.map((bit) => c.not(bit)), ACTIVATION_BITS);
    return { characteristic, fraction: normalised.slice(ACTIVATION_BITS - 1 - f, ACTIVATION_BITS - 1), nonZero: any };
  };
  const na = normalise(a), nw = normalise(w);
  const fractionSum = rippleAdd(c, na.fraction, nw.fraction, f + 1);
  const carry = fractionSum[f]!;
  const mantissa = [...fractionSum.slice(0, f), c.one]; // 1.s
  const exponent = rippleAdd(c, na.characteristic, nw.characteristic, CHAR_BITS + 1, carry);
  const antilog = shiftLeft(c, mantissa, exponent, f + width).slice(f);
  return gateBits(c, antilog, c.and(na.nonZero, nw.nonZero));
}

function mitchellModelUnsigned(f: number): BehaviouralModel {
  return (a, w) => {
    if (a === 0 || w === 0) return 0;
    const ka = leadingOnePosition(a), kw = leadingOnePosition(w);
    // Mantissa fractions, truncated to f bits.
    const ma = Math.floor(((a - 2 ** ka) * 2 ** f) / 2 ** ka);
    const mw = Math.floor(((w - 2 ** kw) * 2 ** f) / 2 ** kw);
    let sum = ma + mw, exponent = ka + kw;
    if (sum >= 2 ** f) { // log sum's fraction overflowed into the characteristic
      sum -= 2 ** f;
      exponent += 1;
    }
    return Math.floor(((2 ** f + sum) * 2 ** exponent) / 2 ** f);
  };
}

export const mitchellGenerator: GeneratorDefinition = {
  kind: "mitchell",
  title: "Mitchell's logarithmic multiplier",
  description: "Leading-one detection gives each operand's characteristic k and a barrel shifter its mantissa fraction (truncated to f bits); characteristics and fractions are added (a fraction carry increments the exponent) and the antilogarithm 1.s * 2^e is formed by a barrel shifter, truncating bits below 1. Zero operands give 0. Never overestimates. Signed: sign-magnitude wrapping.",
  reference: REFERENCE_MITCHELL,
  supportsSigned: true,
  params: [
    { name: "f", type: "int", description: "mantissa fraction bits kept per operand", range: "1..7", bounds: () => [1, ACTIVATION_BITS - 1], default: () => ACTIVATION_BITS - 1 },
  ],
  formatBody: (p) => `f${p.f}`,
  parseBody(body): ParamValues | undefined {
    if (body === "") return {}; // `mitchell_u8x8`: all fraction bits
    const m = /^f(\d+)$/.exec(body);
    return m ? { f: Number(m[1]) } : undefined;
  },
  buildResolved(p, name) {
    const n = p.n as number, signed = p.signed as boolean, f = p.f as number;
    const width = ACTIVATION_BITS + n;
    const { c, act, weight } = newCircuit(name, n);
    const core = (a: Bits, w: Bits): Bits => mitchellCore(c, a, w, f, width);
    const product = signed ? signMagnitude(c, act, weight, width, core) : core(act, weight);
    return finishGenerated(c, product, signed, {
      kind: "mitchell",
      params: p,
      description: `Mitchell logarithmic ${signed ? "signed (sign-magnitude)" : "unsigned"} 8x${n} multiplier, ${f} fraction bits`,
      reference: REFERENCE_MITCHELL,
    });
  },
  modelResolved(p) {
    const core = mitchellModelUnsigned(p.f as number);
    return p.signed ? signMagnitudeModel(core) : core;
  },
};

export function generateMitchell(params: MitchellParams = {}): GeneratedMultiplier {
  const p = resolveParams(mitchellGenerator, { ...params });
  return mitchellGenerator.buildResolved(p, canonicalName(mitchellGenerator, p));
}

// ---------------------------------------------------------------- iterative logarithmic multiplier

export interface IterativeLogParams extends WidthParams {
  /** Error-correction iterations after the basic approximation (0..3). */
  iterations?: number;
}

const REFERENCE_ILM = "Z. Babic, A. Avramovic, P. Bulic, \"An Iterative Logarithmic Multiplier\", Microprocessors and Microsystems 35(1):23-33, 2011";

/**
 * One ILM stage on x, y: P0 = 2^(kx+ky) + (x-2^kx) 2^ky + (y-2^ky) 2^kx, built as
 * (x << ky) + ((y - 2^ky) << kx), both terms zero when either operand is zero. Returns
 * the two terms and the residues x - 2^kx, y - 2^ky that the next stage multiplies.
 */
function ilmStage(c: Circuit, x: Bits, y: Bits, width: number): { terms: Bits[]; rx: Bits; ry: Bits } {
  const ex = priorityEncode(c, x), ey = priorityEncode(c, y);
  const rx = x.map((bit, i) => c.xor(bit, ex.oneHot[i]!)); // clears the leading one
  const ry = y.map((bit, i) => c.xor(bit, ey.oneHot[i]!));
  const t1 = gateBits(c, shiftLeft(c, x, ey.index, width), ey.any);
  const t2 = gateBits(c, shiftLeft(c, ry, ex.index, width), ex.any);
  return { terms: [t1, t2], rx, ry };
}

function ilmCore(c: Circuit, a: Bits, w: Bits, iterations: number, width: number): Bits {
  const terms: Bits[] = [];
  let x = a, y = w;
  for (let t = 0; t <= iterations; t++) {
    const stage = ilmStage(c, x, y, width);
    terms.push(...stage.terms);
    x = stage.rx;
    y = stage.ry;
  }
  return multiOperandAdd(c, terms, width);
}

function ilmModelUnsigned(iterations: number): BehaviouralModel {
  return (a, w) => {
    let product = 0;
    for (let t = 0; t <= iterations && a !== 0 && w !== 0; t++) {
      const ka = leadingOnePosition(a), kw = leadingOnePosition(w);
      product += 2 ** (ka + kw) + (a - 2 ** ka) * 2 ** kw + (w - 2 ** kw) * 2 ** ka;
      a -= 2 ** ka;
      w -= 2 ** kw;
    }
    return product;
  };
}

export const iterativeLogGenerator: GeneratorDefinition = {
  kind: "ilm",
  title: "iterative logarithmic multiplier (Mitchell with error correction)",
  description: "Babic et al.'s ILM: the basic block computes Mitchell's approximation without the log-domain fraction overflow, 2^(ka+kw) + (a-2^ka) 2^kw + (w-2^kw) 2^ka, whose error is exactly (a-2^ka)(w-2^kw); each correction iteration approximates that error term with another basic block on the residues. Never overestimates; exact after enough iterations. Signed: sign-magnitude wrapping.",
  reference: REFERENCE_ILM,
  supportsSigned: true,
  params: [
    { name: "iterations", type: "int", description: "correction iterations after the basic block", range: "0..3", bounds: () => [0, 3], default: () => 1 },
  ],
  formatBody: (p) => `i${p.iterations}`,
  parseBody(body) {
    const m = /^i(\d+)$/.exec(body);
    return m ? { iterations: Number(m[1]) } : undefined;
  },
  buildResolved(p, name) {
    const n = p.n as number, signed = p.signed as boolean, iterations = p.iterations as number;
    const width = ACTIVATION_BITS + n;
    const { c, act, weight } = newCircuit(name, n);
    const core = (a: Bits, w: Bits): Bits => ilmCore(c, a, w, iterations, width);
    const product = signed ? signMagnitude(c, act, weight, width, core) : core(act, weight);
    return finishGenerated(c, product, signed, {
      kind: "ilm",
      params: p,
      description: `iterative logarithmic ${signed ? "signed (sign-magnitude)" : "unsigned"} 8x${n} multiplier, ${iterations} correction iteration${iterations === 1 ? "" : "s"}`,
      reference: REFERENCE_ILM,
    });
  },
  modelResolved(p) {
    const core = ilmModelUnsigned(p.iterations as number);
    return p.signed ? signMagnitudeModel(core) : core;
  },
};

export function generateIterativeLog(params: IterativeLogParams = {}): GeneratedMultiplier {
  const p = resolveParams(iterativeLogGenerator, { ...params });
  return iterativeLogGenerator.buildResolved(p, canonicalName(iterativeLogGenerator, p));
}
