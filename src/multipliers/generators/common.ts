import { AxnnError } from "../../util/errors.js";
import { ACTIVATION_BITS, portRoles, type Multiplier } from "../multiplier.js";
import type { Netlist } from "../netlist/ir.js";
import { netlistToMultiplier } from "../netlist/simulate.js";
import { Circuit, conditionalNegate, type Bits } from "./arith.js";

/** Parameters every generator takes: the weight width N of 8xN and the number format. */
export interface WidthParams {
  /** Weight width N (1..8); the activation is always 8 bits. Default 8. */
  n?: number;
  /** Two's complement operands and product (only for designs that support it). Default false. */
  signed?: boolean;
}

export type ParamValue = number | boolean;
export type ParamValues = Record<string, ParamValue>;

export interface GeneratedMultiplier {
  netlist: Netlist;
  multiplier: Multiplier;
}

/** A design parameter of a generator, with its range for a given weight width. */
export interface GeneratorParamSpec {
  name: string;
  type: "int" | "bool";
  description: string;
  /** The allowed range in words, e.g. "0..n+6". */
  range: string;
  /** Inclusive bounds of an int parameter, for weight width n (and signedness). */
  bounds?: (n: number, signed: boolean) => [number, number];
  /** Default value for weight width n. */
  default: (n: number) => ParamValue;
}

/** Behavioural model: the approximate product of two operand values (signed values when signed). */
export type BehaviouralModel = (act: number, weight: number) => number;

/** Validates `n` and `signed`; the error names the parameter and its range. */
export function widthParams(kind: string, p: WidthParams, supportsSigned: boolean): { n: number; signed: boolean } {
  const n = p.n ?? 8;
  if (!Number.isInteger(n) || n < 1 || n > ACTIVATION_BITS) {
    throw new AxnnError(`weight width must be an integer from 1 to 8, got ${n}`, { field: `${kind}.n` });
  }
  const signed = p.signed ?? false;
  if (typeof signed !== "boolean") throw new AxnnError(`must be true or false, got ${String(signed)}`, { field: `${kind}.signed` });
  if (signed && !supportsSigned) throw new AxnnError(`${kind} has no signed form; use signed: false`, { field: `${kind}.signed` });
  return { n, signed };
}

/** Checks an integer parameter against an inclusive range; the error names both. */
export function intParam(kind: string, name: string, value: unknown, min: number, max: number, rangeText?: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    // The symbolic range ("1..n+6") says where the bounds come from when they depend on n.
    const symbolic = rangeText && /n/.test(rangeText) ? ` (${rangeText})` : "";
    const range = min > max ? "no value (the range is empty for this weight width)" : `an integer from ${min} to ${max}${symbolic}`;
    throw new AxnnError(`expected ${range}, got ${String(value)}`, { field: `${kind}.${name}` });
  }
  return value;
}

export function boolParam(kind: string, name: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new AxnnError(`expected true or false, got ${String(value)}`, { field: `${kind}.${name}` });
  return value;
}

/** The `u8x8` / `s8x4` suffix of canonical names. */
export function formatSuffix(n: number, signed: boolean): string {
  return `${signed ? "s" : "u"}8x${n}`;
}

/**
 * A fresh circuit for an 8 x n multiplier with the activation and weight bit vectors
 * wired to the ports the orientation rule of multiplier.ts gives them.
 */
export function newCircuit(name: string, n: number): { c: Circuit; act: Bits; weight: Bits } {
  const c = new Circuit(name, ACTIVATION_BITS, n);
  const roles = portRoles(n);
  return {
    c,
    act: roles.activation === "A" ? c.portA : c.portB,
    weight: roles.weight === "A" ? c.portA : c.portB,
  };
}

/** Simulates the netlist exhaustively and wraps it as a generator-made multiplier. */
export function finishGenerated(
  c: Circuit,
  product: Bits,
  signed: boolean,
  info: { kind: string; params: ParamValues; description: string; reference: string },
): GeneratedMultiplier {
  const netlist = c.build(product);
  const multiplier = netlistToMultiplier(netlist, signed, {
    source: "generator",
    description: info.description,
    reference: info.reference,
    generator: { kind: info.kind, params: info.params },
  });
  return { netlist, multiplier };
}

/**
 * Sign-magnitude wrapping for designs defined on unsigned operands: both operands are
 * replaced by their magnitudes (8 and n bits: |-128| = 128 still fits 8 unsigned bits),
 * the unsigned core multiplies them, and the product is negated when the signs differ.
 */
export function signMagnitude(
  c: Circuit,
  act: Bits,
  weight: Bits,
  width: number,
  core: (magAct: Bits, magWeight: Bits) => Bits,
): Bits {
  const sa = act[act.length - 1]!, sw = weight[weight.length - 1]!;
  const magAct = conditionalNegate(c, act, sa, act.length);
  const magWeight = conditionalNegate(c, weight, sw, weight.length);
  return conditionalNegate(c, core(magAct, magWeight), c.xor(sa, sw), width);
}

/** The behavioural counterpart of signMagnitude. */
export function signMagnitudeModel(core: BehaviouralModel): BehaviouralModel {
  return (a, w) => {
    const p = core(Math.abs(a), Math.abs(w));
    return (a < 0) !== (w < 0) ? -p : p;
  };
}

/** Position of the most significant 1 of a positive integer. */
export function leadingOnePosition(x: number): number {
  return 31 - Math.clz32(x);
}

/** A registered design family. */
export interface GeneratorDefinition {
  kind: string;
  /** One line naming the design. */
  title: string;
  description: string;
  /** Citation of the design. */
  reference: string;
  supportsSigned: boolean;
  /** Design parameters (besides n and signed, which every generator takes). */
  params: GeneratorParamSpec[];
  /** The middle part of the canonical name for resolved parameters ("" when there is none). */
  formatBody(p: ParamValues): string;
  /** Inverse of formatBody: the parameters a name body spells, or undefined when it is malformed. */
  parseBody(body: string): ParamValues | undefined;
  /** Checks constraints between parameters (beyond each one's own range). */
  validate?(p: ParamValues): void;
  /** Builds the netlist from resolved parameters (see resolveParams). */
  buildResolved(p: ParamValues, name: string): GeneratedMultiplier;
  /** Behavioural model for resolved parameters. */
  modelResolved(p: ParamValues): BehaviouralModel;
}

/**
 * Validates user parameters against a definition and fills in defaults: the result holds
 * n, signed and every design parameter. Unknown parameter names are errors.
 */
export function resolveParams(def: GeneratorDefinition, given: Record<string, unknown>): ParamValues {
  const known = new Set(["n", "signed", ...def.params.map((s) => s.name)]);
  for (const key of Object.keys(given)) {
    if (given[key] !== undefined && !known.has(key)) {
      throw new AxnnError(`unknown parameter; ${def.kind} takes ${[...known].join(", ")}`, { field: `${def.kind}.${key}` });
    }
  }
  const { n, signed } = widthParams(def.kind, given as WidthParams, def.supportsSigned);
  const out: ParamValues = { n, signed };
  for (const spec of def.params) {
    const value = given[spec.name] ?? spec.default(n);
    if (spec.type === "bool") out[spec.name] = boolParam(def.kind, spec.name, value);
    else {
      const [min, max] = spec.bounds!(n, signed);
      out[spec.name] = intParam(def.kind, spec.name, value, min, max, spec.range);
    }
  }
  def.validate?.(out);
  return out;
}

/** Canonical name of resolved parameters, e.g. `drum_k4_u8x8`. */
export function canonicalName(def: GeneratorDefinition, p: ParamValues): string {
  const body = def.formatBody(p);
  return `${def.kind}${body ? `_${body}` : ""}_${formatSuffix(p.n as number, p.signed as boolean)}`;
}
