import { AxnnError } from "../util/errors.js";

/**
 * Number formats of the AxP processing element and the activation keys of its memory.
 * A float key is sign, exponent and the top m mantissa bits of the value in that format; an int8
 * key is the top m bits of the 8-bit two's-complement code.
 */
export type AxpFormat = "fp32" | "fp16" | "bf16" | "int8";
export const AXP_FORMATS: readonly AxpFormat[] = ["fp32", "fp16", "bf16", "int8"];

export interface FormatInfo {
  name: AxpFormat;
  /** Bits of a value. */
  bits: number;
  exponentBits: number;
  mantissaBits: number;
}

export const FORMAT_INFO: Record<AxpFormat, FormatInfo> = {
  fp32: { name: "fp32", bits: 32, exponentBits: 8, mantissaBits: 23 },
  fp16: { name: "fp16", bits: 16, exponentBits: 5, mantissaBits: 10 },
  bf16: { name: "bf16", bits: 16, exponentBits: 8, mantissaBits: 7 },
  // The code's magnitude bits play the mantissa's part; the top bit is the sign.
  int8: { name: "int8", bits: 8, exponentBits: 0, mantissaBits: 7 },
};

export function checkFormat(f: string, field = "--format"): AxpFormat {
  if (!(AXP_FORMATS as readonly string[]).includes(f)) throw new AxnnError(`unknown number format "${f}"; expected ${AXP_FORMATS.join(", ")}`, { field });
  return f as AxpFormat;
}

/** Key layout: `fixedBits` (sign and exponent, or the int8 sign) above `variableBits` (mantissa bits kept). */
export interface KeyLayout {
  format: AxpFormat;
  /** Mantissa bits in the key (float), or code bits in the key (int8, sign included). */
  keyBits: number;
  /** Total key width in bits. */
  width: number;
  fixedBits: number;
  /** The low bits that don't-care and Hamming-distance matching may ignore or differ in. */
  variableBits: number;
}

export function keyLayout(format: AxpFormat, keyBits: number): KeyLayout {
  const f = FORMAT_INFO[format];
  if (format === "int8") {
    if (!Number.isInteger(keyBits) || keyBits < 1 || keyBits > 8) throw new AxnnError(`int8 keys have 1 to 8 bits of the code, got ${keyBits}`, { field: "--key-bits" });
    return { format, keyBits, width: keyBits, fixedBits: 1, variableBits: keyBits - 1 };
  }
  if (!Number.isInteger(keyBits) || keyBits < 0 || keyBits > f.mantissaBits) {
    throw new AxnnError(`${format} keys keep 0 to ${f.mantissaBits} mantissa bits, got ${keyBits}`, { field: "--key-bits" });
  }
  return { format, keyBits, width: 1 + f.exponentBits + keyBits, fixedBits: 1 + f.exponentBits, variableBits: keyBits };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of a float32 value, rounded to nearest even (overflow to infinity, subnormals kept). */
export function floatToHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  e = h >>> 10;
  return sign | h; // a carry into the exponent is the correct rounding (up to infinity)
}

/** Value of binary16 bits. */
export function halfBitsToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** bfloat16 bits (the top half of float32, rounded to nearest even). */
export function floatToBf16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if (((x >>> 23) & 0xff) === 0xff) return (x >>> 16) | ((x & 0xffff) ? 0x40 : 0);
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function bf16BitsToFloat(b: number): number {
  u32[0] = (b << 16) >>> 0;
  return f32[0]!;
}

export function float32Bits(v: number): number {
  f32[0] = v;
  return u32[0]!;
}

/** Symmetric int8 code of v at scale s (clamped to -127..127). */
export function int8Code(v: number, scale: number): number {
  if (scale <= 0) return 0;
  const q = Math.round(v / scale);
  return q > 127 ? 127 : q < -127 ? -127 : q;
}

/**
 * Rounds values to the format in place-free fashion: returns the values as the PE sees them, and
 * each value's key. `scale` is the int8 activation scale (ignored by the float formats).
 */
export function formatAndKey(x: Float32Array, layout: KeyLayout, scale: number): { values: Float32Array; keys: Uint32Array } {
  const n = x.length;
  const keys = new Uint32Array(n);
  const m = layout.keyBits;
  switch (layout.format) {
    case "fp32": {
      const bits = new Uint32Array(x.buffer, x.byteOffset, n);
      const shift = 23 - m;
      for (let i = 0; i < n; i++) keys[i] = bits[i]! >>> shift;
      return { values: x, keys };
    }
    case "fp16": {
      const values = new Float32Array(n);
      const shift = 10 - m;
      for (let i = 0; i < n; i++) {
        const h = floatToHalfBits(x[i]!);
        values[i] = halfBitsToFloat(h);
        keys[i] = h >>> shift;
      }
      return { values, keys };
    }
    case "bf16": {
      const values = new Float32Array(n);
      const shift = 7 - m;
      for (let i = 0; i < n; i++) {
        const b = floatToBf16Bits(x[i]!);
        values[i] = bf16BitsToFloat(b);
        keys[i] = b >>> shift;
      }
      return { values, keys };
    }
    case "int8": {
      const values = new Float32Array(n);
      const shift = 8 - m;
      for (let i = 0; i < n; i++) {
        const q = int8Code(x[i]!, scale);
        values[i] = q * scale;
        keys[i] = (q & 0xff) >>> shift;
      }
      return { values, keys };
    }
  }
}

/** A weight (centroid) as the PE stores it: rounded to the format; int8 centroids on the layer's weight scale. */
export function roundWeight(v: number, format: AxpFormat, weightScale: number): number {
  switch (format) {
    case "fp32":
      return Math.fround(v);
    case "fp16":
      return halfBitsToFloat(floatToHalfBits(v));
    case "bf16":
      return bf16BitsToFloat(floatToBf16Bits(v));
    case "int8":
      return int8Code(v, weightScale) * weightScale;
  }
}
