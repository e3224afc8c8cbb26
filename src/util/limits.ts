import { AxnnError } from "./errors.js";

/**
 * Size limits on what an input file may claim (models and netlists come from the internet): a
 * reader checks a claimed size against its limit before allocating anything for it, so a corrupt
 * or hostile file ends in a clear error instead of an out-of-memory crash. Each limit is raised
 * (or lowered) with its environment variable (docs/limits.md).
 */
export const LIMITS = {
  /** Elements of one tensor or array read from a file (ONNX initializers and inputs, .npy, IDX). 2^28 float32 = 1 GiB. */
  tensorElements: { env: "AXNN_MAX_TENSOR_ELEMENTS", default: 2 ** 28, what: "elements in one tensor" },
  /** Gates and nets of one Verilog netlist (EvoApproxLib's 8x8 multipliers have a few hundred to a few thousand). */
  netlistGates: { env: "AXNN_MAX_NETLIST_GATES", default: 1_000_000, what: "gates in one netlist" },
  /** Alias expansions in one YAML document (a "billion laughs" alias bomb stops here). */
  yamlAliases: { env: "AXNN_MAX_YAML_ALIASES", default: 1000, what: "alias expansions in one YAML document" },
  /** Bytes a gzipped input may inflate to (IDX datasets). */
  inflatedBytes: { env: "AXNN_MAX_INFLATED_BYTES", default: 2 ** 31 - 1, what: "bytes of inflated data" },
} as const;

export type LimitName = keyof typeof LIMITS;

/** The limit in force: its environment variable when set to a positive integer, else the default. */
export function limitOf(name: LimitName): number {
  const l = LIMITS[name];
  const raw = process.env[l.env];
  if (raw === undefined || raw === "") return l.default;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 1) throw new AxnnError(`expected a positive integer, got "${raw}"`, { field: l.env });
  return v;
}

/** Throws an AxnnError (naming the file or field, the claim, the limit and its knob) when `value` passes the limit (Infinity: past it by an unknown amount). */
export function checkLimit(name: LimitName, value: number, claim: string, where: { file?: string; line?: number; field?: string } = {}): void {
  const max = limitOf(name);
  if (value <= max) return;
  const l = LIMITS[name];
  const amount = Number.isFinite(value) ? `${value.toLocaleString("en-US")} ${l.what}, over the limit of` : `more ${l.what} than the limit of`;
  throw new AxnnError(`${claim}: ${amount} ${max.toLocaleString("en-US")} (raise it with ${l.env}=N if the file is genuine)`, where);
}
