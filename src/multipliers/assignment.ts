import { readFileSync } from "node:fs";
import { z } from "zod";
import { AxnnError, isAxnnError } from "../util/errors.js";
import { checkSchema, parseJson } from "../util/json.js";
import { resolveMultiplier, type ResolvedMultiplier, type ResolveOptions } from "./resolve.js";

/**
 * Which multiplier each approximable layer uses (`--mult-config`, shared by `axnn eval` and
 * `axnn energy net`):
 *
 *   {"default": "<multiplier>", "layers": {"<layer name>": "<multiplier>" | "exact"}}
 *
 * `default` (optional, "exact" when absent) applies to every layer not listed. A multiplier is
 * anything `resolveMultiplier` accepts (a file, a library name, a generator name).
 */
export interface MultiplierAssignment {
  default: string;
  layers: Record<string, string>;
  /** The file it came from, for error messages. */
  file?: string;
}

const EXACT = "exact";

const assignmentSchema = z
  .object({
    default: z.string().min(1).optional(),
    layers: z.record(z.string(), z.string().min(1)).optional(),
  })
  .strict();

/** The same multiplier everywhere (`--mult NAME`). */
export function uniformAssignment(multiplier = EXACT): MultiplierAssignment {
  return { default: multiplier, layers: {} };
}

/** Parses the JSON text of an assignment file; `layerNames`, when given, are checked (see checkAssignmentLayers). */
export function parseAssignment(text: string, file: string, layerNames?: readonly string[]): MultiplierAssignment {
  const data = checkSchema(assignmentSchema, parseJson(text, file), file, (issue) => {
    if (issue.code === "unrecognized_keys") return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")} (expected "default" and "layers")`;
    if (issue.code === "invalid_type") return `expected ${issue.expected === "record" ? "an object {layer name: multiplier}" : issue.expected === "object" ? "an object {\"default\": ..., \"layers\": {...}}" : `a ${issue.expected} (a multiplier name or file)`}`;
    if (issue.code === "too_small") return "expected a multiplier name, got an empty string";
    return undefined;
  });
  const a: MultiplierAssignment = { default: data.default ?? EXACT, layers: data.layers ?? {}, file };
  if (layerNames) checkAssignmentLayers(a, layerNames);
  return a;
}

export function loadAssignment(file: string, layerNames?: readonly string[]): MultiplierAssignment {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new AxnnError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
  }
  return parseAssignment(text, file, layerNames);
}

/** Every layer the assignment names must be a layer of the model. */
export function checkAssignmentLayers(a: MultiplierAssignment, layerNames: readonly string[]): void {
  const known = new Set(layerNames);
  const unknown = Object.keys(a.layers).filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new AxnnError(
      `unknown layer${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => `"${n}"`).join(", ")}; the model's approximable layers are: ${layerNames.join(", ")}`,
      { file: a.file, field: `layers.${unknown[0]}` },
    );
  }
}

/** The multiplier reference of one layer. */
export function multiplierForLayer(a: MultiplierAssignment, layerName: string): string {
  return a.layers[layerName] ?? a.default;
}

/**
 * Resolves every multiplier the assignment uses for these layers, each distinct reference once;
 * layers on the exact multiplier get undefined. An unknown multiplier is an error naming the file
 * and the field that uses it.
 */
export function resolveAssignment(
  a: MultiplierAssignment,
  layerNames: readonly string[],
  opts: ResolveOptions = {},
): Map<string, ResolvedMultiplier | undefined> {
  checkAssignmentLayers(a, layerNames);
  const byRef = new Map<string, ResolvedMultiplier | undefined>();
  const out = new Map<string, ResolvedMultiplier | undefined>();
  for (const name of layerNames) {
    const ref = multiplierForLayer(a, name);
    if (!byRef.has(ref)) {
      if (ref === EXACT) byRef.set(ref, undefined);
      else {
        try {
          byRef.set(ref, resolveMultiplier(ref, opts));
        } catch (e) {
          if (!isAxnnError(e)) throw e;
          // Keep resolveMultiplier's explanation, said of the field that names the multiplier.
          const own = e.field !== undefined && e.file === undefined && e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message;
          const field = a.file === undefined ? "--mult" : a.layers[name] !== undefined ? `layers.${name}` : "default";
          throw new AxnnError(own, { file: a.file, field });
        }
      }
    }
    out.set(name, byRef.get(ref));
  }
  return out;
}
