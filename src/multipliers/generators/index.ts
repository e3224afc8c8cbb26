import { AxnnError } from "../../util/errors.js";
import { brokenArrayGenerator } from "./bam.js";
import { canonicalName, resolveParams, type BehaviouralModel, type GeneratedMultiplier, type GeneratorDefinition, type GeneratorParamSpec, type ParamValues } from "./common.js";
import { drumGenerator } from "./drum.js";
import { exactGenerator } from "./exact.js";
import { iterativeLogGenerator, mitchellGenerator } from "./logarithmic.js";
import { perforatedGenerator } from "./perforation.js";
import { operandTruncatedGenerator, truncatedGenerator } from "./truncation.js";

/** Gate-level building blocks (adders, shifters, encoders), for writing further generators. */
export * as gateArith from "./arith.js";
export type { BehaviouralModel, GeneratedMultiplier, GeneratorDefinition, GeneratorParamSpec, ParamValue, ParamValues, WidthParams } from "./common.js";
export { generateExact, type ExactParams } from "./exact.js";
export { generateTruncated, generateOperandTruncated, truncationCorrection, type TruncatedParams, type OperandTruncatedParams } from "./truncation.js";
export { generateBrokenArray, type BrokenArrayParams } from "./bam.js";
export { generateDrum, type DrumParams } from "./drum.js";
export { generateMitchell, generateIterativeLog, type MitchellParams, type IterativeLogParams } from "./logarithmic.js";
export { generatePerforated, type PerforatedParams } from "./perforation.js";

/** The parameters every generator takes besides its design parameters. */
export const WIDTH_PARAM_SPECS: readonly GeneratorParamSpec[] = [
  { name: "n", type: "int", description: "weight width N of 8xN (the activation is 8 bits)", range: "1..8", bounds: () => [1, 8], default: () => 8 },
  { name: "signed", type: "bool", description: "two's complement operands and product", range: "true/false", default: () => false },
];

/** A registry entry: what a design is and how to build it. */
export interface GeneratorEntry {
  kind: string;
  title: string;
  description: string;
  reference: string;
  supportsSigned: boolean;
  /** All parameters with ranges and defaults: n, signed (where supported), then the design's own. */
  params: readonly GeneratorParamSpec[];
  /** Validates the parameters (AxnnError naming the parameter and its range) and builds the design. */
  build(params?: Record<string, unknown>): GeneratedMultiplier;
  /** The behavioural (plain arithmetic) model for the same parameters. */
  model(params?: Record<string, unknown>): BehaviouralModel;
  /** Canonical instance name for the parameters. */
  name(params?: Record<string, unknown>): string;
}

const DEFINITIONS: readonly GeneratorDefinition[] = [
  exactGenerator, truncatedGenerator, operandTruncatedGenerator, brokenArrayGenerator,
  drumGenerator, mitchellGenerator, iterativeLogGenerator, perforatedGenerator,
];

function entryOf(def: GeneratorDefinition): GeneratorEntry {
  return {
    kind: def.kind,
    title: def.title,
    description: def.description,
    reference: def.reference,
    supportsSigned: def.supportsSigned,
    params: [...WIDTH_PARAM_SPECS.filter((s) => s.name !== "signed" || def.supportsSigned), ...def.params],
    build(params = {}) {
      const p = resolveParams(def, params);
      return def.buildResolved(p, canonicalName(def, p));
    },
    model: (params = {}) => def.modelResolved(resolveParams(def, params)),
    name: (params = {}) => canonicalName(def, resolveParams(def, params)),
  };
}

/** All built-in design families, by kind. */
export const GENERATORS: Readonly<Record<string, GeneratorEntry>> = Object.freeze(Object.fromEntries(DEFINITIONS.map((d) => [d.kind, entryOf(d)])));
const DEFINITION_BY_KIND = new Map(DEFINITIONS.map((d) => [d.kind, d]));

export function generatorKinds(): string[] {
  return Object.keys(GENERATORS);
}

export function getGenerator(kind: string): GeneratorEntry {
  const g = Object.hasOwn(GENERATORS, kind) ? GENERATORS[kind] : undefined; // not "constructor" & co.
  if (!g) throw new AxnnError(`unknown multiplier generator "${kind}"; known: ${generatorKinds().join(", ")}`, { field: "kind" });
  return g;
}

/**
 * Every design with its parameters (type, range, default for 8x8, meaning), as a plain-text
 * list for help screens: `mult generate --help` prints it.
 */
export function describeGenerators(): string {
  const lines: string[] = [];
  for (const g of Object.values(GENERATORS)) {
    lines.push(`  ${g.kind}: ${g.title}${g.supportsSigned ? "" : " (unsigned only)"}`);
    const width = Math.max(...g.params.map((p) => p.name.length));
    for (const p of g.params) {
      lines.push(`    ${p.name.padEnd(width)}  ${p.type} ${p.range}, default ${String(p.default(8))}${p.default(8) === p.default(4) ? "" : " at n=8"}: ${p.description}`);
    }
  }
  return lines.join("\n");
}

function definition(kind: string): GeneratorDefinition {
  getGenerator(kind); // throws the AxnnError for unknown kinds
  return DEFINITION_BY_KIND.get(kind)!;
}

/** Validated parameters with defaults filled in (n, signed and every design parameter). */
export function resolveGeneratorParams(kind: string, params: Record<string, unknown> = {}): ParamValues {
  return resolveParams(definition(kind), params);
}

/** Canonical instance name, e.g. `drum_k4_u8x8`, `trunc_k6c_s8x8`, `bam_h2_v6_u8x4`. */
export function generatorName(kind: string, params: Record<string, unknown> = {}): string {
  return getGenerator(kind).name(params);
}

/** Builds a design: its gate-level netlist and the multiplier simulated from it. */
export function generate(kind: string, params: Record<string, unknown> = {}): GeneratedMultiplier {
  return getGenerator(kind).build(params);
}

/** The behavioural (arithmetic) model of a design: product of two operand values. */
export function behaviouralModel(kind: string, params: Record<string, unknown> = {}): BehaviouralModel {
  return getGenerator(kind).model(params);
}

const NAME_PATTERN = /^([a-z]+)(?:_([a-z0-9_]*?))?_([us])8x([1-8])$/;

/**
 * Turns a canonical name back into kind and resolved parameters. Returns undefined when
 * the name is not a generator name at all (unknown kind or not of the form
 * `kind[_params]_u8xN`), so a library lookup can try other sources; throws AxnnError when
 * the kind is known but the parameters are malformed or out of range.
 */
export function parseGeneratorName(name: string): { kind: string; params: ParamValues } | undefined {
  const m = NAME_PATTERN.exec(name);
  if (!m) return undefined;
  const [, kind, body = "", sign, width] = m as unknown as [string, string, string | undefined, string, string];
  const g = DEFINITION_BY_KIND.get(kind);
  if (!g) return undefined;
  const design = g.parseBody(body);
  if (!design) {
    const example = canonicalName(g, resolveParams(g, { n: Number(width), signed: g.supportsSigned && sign === "s" }));
    throw new AxnnError(`"${name}" is not a valid ${kind} name; expected the form ${example}`, { field: "name" });
  }
  const params = resolveParams(g, { ...design, n: Number(width), signed: sign === "s" });
  return { kind, params };
}

/** Builds the design a canonical name denotes; AxnnError if it is not one. */
export function generateByName(name: string): GeneratedMultiplier {
  const parsed = parseGeneratorName(name);
  if (!parsed) {
    throw new AxnnError(`"${name}" is not a generator name (kind_params_u8xN with kind one of ${generatorKinds().join(", ")})`, { field: "name" });
  }
  return generate(parsed.kind, parsed.params);
}

/**
 * The built-in catalogue: every design, from nearly exact to coarse, mostly unsigned 8x8,
 * plus signed and 8x4 variants.
 */
export function defaultCatalogue(): Array<{ kind: string; params: ParamValues }> {
  const entries: Array<[string, Record<string, unknown>]> = [
    ["exact", {}],
    ["exact", { signed: true }],
    ["exact", { n: 4 }],
    ["trunc", { k: 4, correct: true }],
    ["trunc", { k: 6, correct: true }],
    ["trunc", { k: 8, correct: true }],
    ["trunc", { k: 8 }],
    ["trunc", { k: 6, correct: true, signed: true }],
    ["optrunc", { ka: 1, kw: 1, round: true }],
    ["optrunc", { ka: 2, kw: 2, round: true }],
    ["optrunc", { ka: 3, kw: 3, round: true }],
    ["bam", { hbl: 0, vbl: 5 }],
    ["bam", { hbl: 2, vbl: 7 }],
    ["bam", { hbl: 3, vbl: 9 }],
    ["drum", { k: 6 }],
    ["drum", { k: 5 }],
    ["drum", { k: 4 }],
    ["drum", { k: 3 }],
    ["drum", { k: 4, signed: true }],
    ["drum", { k: 3, n: 4 }],
    ["mitchell", {}],
    ["mitchell", { f: 4 }],
    ["mitchell", { signed: true }],
    ["ilm", { iterations: 0 }],
    ["ilm", { iterations: 1 }],
    ["ilm", { iterations: 2 }],
    ["ilm", { iterations: 1, signed: true }],
    ["perf", { j: 0, m: 1 }],
    ["perf", { j: 0, m: 2 }],
    ["perf", { j: 1, m: 2 }],
  ];
  return entries.map(([kind, params]) => ({ kind, params: resolveGeneratorParams(kind, params) }));
}
