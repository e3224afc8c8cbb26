import { createHash } from "node:crypto";
import { AxnnError } from "../util/errors.js";

/**
 * # Orientation rule (written down here once; docs/multipliers.md repeats it)
 *
 * A multiplier takes an 8-bit **activation** and an N-bit **weight** (N = 1..8).
 * Its table is activation-major: `table[(act << N) | w]`, where `act` and `w` are the
 * operands' raw bit patterns (two's complement for signed multipliers).
 *
 * For 8x8 this is exactly the TFApprox `.bin` layout, entry `[i*256 + j]` = product for
 * netlist port **B = i** and port **A = j**: TFApprox drives **B with the activation** and
 * **A with the weight**.
 *
 * For 8xN netlists (EvoApproxLib `mul8xNu_*`: `input [7:0] A; input [N-1:0] B`) the narrow
 * port B carries the N-bit weight and the 8-bit port A carries the activation. In one
 * sentence: the weight goes to the port of width N; on 8x8 circuits, to port A.
 */
export const ACTIVATION_BITS = 8;

/** Which netlist port drives which operand, for a circuit whose weight is `weightBits` wide. */
export function portRoles(weightBits: number): { activation: "A" | "B"; weight: "A" | "B" } {
  return weightBits === ACTIVATION_BITS ? { activation: "B", weight: "A" } : { activation: "A", weight: "B" };
}

export interface MultiplierMeta {
  /** Where the table came from: "evoapprox", "tfapprox-bin", "netlist", "generator", "function", "table". */
  source: string;
  /** One line saying what the design is. */
  description?: string;
  /** A paper or web reference for the design. */
  reference?: string;
  /** Generator name and parameters, for generated designs. */
  generator?: { kind: string; params: Record<string, number | string | boolean> };
  /** Published or estimated hardware cost. */
  powerMw?: number;
  areaUm2?: number;
  delayNs?: number;
  /** Technology the cost figures belong to, e.g. "PDK45" (45 nm). */
  technology?: string;
  /** Where the figures come from ("published", "netlist estimate", "user"). */
  costSource?: string;
  /** Other names the same table is known under (EvoApproxLib names are not stable across versions). */
  aliases?: string[];
  /** Hash under which EvoApproxLib's published metrics list this table (see evoApproxMatches). */
  catalogueHash?: string;
  /** File the multiplier was read from, if any. */
  file?: string;
}

export interface Multiplier {
  readonly name: string;
  readonly signed: boolean;
  /** Width of the weight operand (N of 8xN). The activation is always 8 bits. */
  readonly weightBits: number;
  /** `2^(8+N)` products, indexed `(act << N) | w` over raw operand bit patterns. */
  readonly table: Int32Array;
  readonly meta: MultiplierMeta;
}

export interface MultiplierSpec {
  name: string;
  signed: boolean;
  weightBits?: number;
  table: Int32Array;
  meta?: Partial<MultiplierMeta>;
}

export function tableSize(weightBits: number): number {
  return 1 << (ACTIVATION_BITS + weightBits);
}

/** Table index of an (activation, weight) pair of raw bit patterns. */
export function tableIndex(actCode: number, weightCode: number, weightBits: number): number {
  return (actCode << weightBits) | weightCode;
}

/** Value of a raw operand bit pattern (two's complement when signed). */
export function decodeOperand(code: number, bits: number, signed: boolean): number {
  return signed && code >= 1 << (bits - 1) ? code - (1 << bits) : code;
}

/** Raw bit pattern of an operand value. */
export function encodeOperand(value: number, bits: number): number {
  return value & ((1 << bits) - 1);
}

/** Smallest and largest exact product, which bound what a table entry may hold. */
export function exactProductRange(signed: boolean, weightBits: number): { min: number; max: number } {
  if (!signed) return { min: 0, max: 255 * ((1 << weightBits) - 1) };
  const aMin = -128, aMax = 127, wMin = -(1 << (weightBits - 1)), wMax = (1 << (weightBits - 1)) - 1;
  const c = [aMin * wMin, aMin * wMax, aMax * wMin, aMax * wMax];
  return { min: Math.min(...c), max: Math.max(...c) };
}

export function checkWeightBits(weightBits: number, where = "weightBits"): void {
  if (!Number.isInteger(weightBits) || weightBits < 1 || weightBits > 8) {
    throw new AxnnError(`weight width must be an integer from 1 to 8, got ${weightBits}`, { field: where });
  }
}

export function createMultiplier(spec: MultiplierSpec): Multiplier {
  const weightBits = spec.weightBits ?? 8;
  checkWeightBits(weightBits);
  if (!spec.name) throw new AxnnError("a multiplier needs a non-empty name", { field: "name" });
  const size = tableSize(weightBits);
  if (spec.table.length !== size) {
    throw new AxnnError(`table of a ${spec.signed ? "signed" : "unsigned"} 8x${weightBits} multiplier must have ${size} entries, got ${spec.table.length}`, { field: spec.name });
  }
  return {
    name: spec.name,
    signed: spec.signed,
    weightBits,
    table: spec.table,
    meta: { source: "table", ...spec.meta },
  };
}

/** Product of two operand values (not bit patterns) through the multiplier's table. */
export function multiply(m: Multiplier, act: number, weight: number): number {
  return m.table[tableIndex(encodeOperand(act, ACTIVATION_BITS), encodeOperand(weight, m.weightBits), m.weightBits)]!;
}

/** Builds a multiplier from a function of operand values, e.g. `(a, w) => a * w`. */
export function multiplierFromFunction(
  name: string,
  fn: (act: number, weight: number) => number,
  opts: { signed?: boolean; weightBits?: number; meta?: Partial<MultiplierMeta> } = {},
): Multiplier {
  const signed = opts.signed ?? false;
  const weightBits = opts.weightBits ?? 8;
  checkWeightBits(weightBits);
  const table = new Int32Array(tableSize(weightBits));
  for (let a = 0; a < 1 << ACTIVATION_BITS; a++) {
    const av = decodeOperand(a, ACTIVATION_BITS, signed);
    for (let w = 0; w < 1 << weightBits; w++) {
      const v = fn(av, decodeOperand(w, weightBits, signed));
      if (!Number.isFinite(v)) {
        throw new AxnnError(`function returned ${v} for activation ${av}, weight ${decodeOperand(w, weightBits, signed)}; products must be finite integers`, { field: name });
      }
      table[tableIndex(a, w, weightBits)] = Math.round(v);
    }
  }
  return createMultiplier({ name, signed, weightBits, table, meta: { source: "function", ...opts.meta } });
}

export function exactMultiplier(signed = false, weightBits = 8): Multiplier {
  const name = `exact_${signed ? "s" : "u"}8x${weightBits}`;
  return multiplierFromFunction(name, (a, w) => a * w, {
    signed,
    weightBits,
    meta: { source: "generator", description: "exact array multiplier", generator: { kind: "exact", params: {} } },
  });
}

/**
 * The table as TFApprox stores it: little-endian 16-bit entries in table order
 * (uint16 for unsigned, int16 two's complement for signed). Products that do not fit
 * 16 bits cannot be stored in this format.
 */
export function toTfapproxBytes(m: Multiplier): Uint8Array {
  const out = new Uint8Array(m.table.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < m.table.length; i++) {
    const v = m.table[i]!;
    if (m.signed ? v < -32768 || v > 32767 : v < 0 || v > 65535) {
      throw new AxnnError(`entry ${i} = ${v} does not fit the TFApprox ${m.signed ? "int16" : "uint16"} format`, { field: m.name });
    }
    view.setUint16(i * 2, v & 0xffff, true);
  }
  return out;
}

/**
 * Identity of a table: first 12 hex digits of the SHA-1 of its TFApprox-layout bytes
 * (for 8x8, the 131,072-byte `.bin` file), as in axnn's EvoApproxLib catalogue. Tables
 * with products beyond 16 bits hash their little-endian int32 entries instead.
 */
export function lutHash(m: Multiplier): string {
  return createHash("sha1").update(fitsTfapprox(m) ? toTfapproxBytes(m) : int32Bytes(m.table)).digest("hex").slice(0, 12);
}

/** Whether every product fits the 16-bit TFApprox format. */
export function fitsTfapprox(m: Multiplier): boolean {
  const [lo, hi] = m.signed ? [-32768, 32767] : [0, 65535];
  for (let i = 0; i < m.table.length; i++) if (m.table[i]! < lo || m.table[i]! > hi) return false;
  return true;
}

/** Little-endian int32 bytes of a table (for tables wider than the TFApprox format). */
export function int32Bytes(table: Int32Array): Uint8Array {
  const out = new Uint8Array(table.length * 4);
  const view = new DataView(out.buffer);
  table.forEach((v, i) => view.setInt32(i * 4, v, true));
  return out;
}

/** Signedness implied by a module or file name: `mul8s_*` is signed, anything else unsigned. */
export function signedFromName(name: string): boolean {
  const base = name.replace(/^.*[\\/]/, "");
  return /^mul\d+(x\d+)?s[_.]/i.test(base);
}
