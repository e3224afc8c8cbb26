import { readFileSync } from "node:fs";
import { Pair, Scalar, parseDocument, type CollectionTag, type YAMLMap } from "yaml";
import { AxnnError } from "../util/errors.js";
import { checkLimit, limitOf } from "../util/limits.js";

/** Tags of Timeloop's v0.4 architecture dialect; each becomes a `__tag` key on its map. */
const TIMELOOP_TAGS = ["Container", "Component", "Parallel", "Hierarchical", "Nothing", "Pipelined"];

const customTags: CollectionTag[] = TIMELOOP_TAGS.map((name) => ({
  tag: `!${name}`,
  collection: "map" as const,
  resolve(map: unknown) {
    (map as YAMLMap).items.unshift(new Pair(new Scalar("__tag"), new Scalar(name)));
    return map as YAMLMap;
  },
})) as unknown as CollectionTag[];

/** Parses YAML text; syntax errors and unknown tags are AxnnErrors naming the file and line. */
export function parseYamlText(text: string, file: string): unknown {
  const doc = parseDocument(text, { customTags, uniqueKeys: false });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    const p = problems[0]!;
    const line = p.linePos?.[0]?.line;
    throw new AxnnError(`YAML: ${p.message.split("\n")[0]}`, { file, line });
  }
  try {
    return doc.toJS({ maxAliasCount: limitOf("yamlAliases") });
  } catch (e) {
    // The yaml library's alias-bomb guard throws a ReferenceError ("Excessive alias count ...").
    if (e instanceof ReferenceError && /alias/i.test(e.message)) checkLimit("yamlAliases", Infinity, "the document expands its aliases past the limit (an alias bomb?)", { file });
    throw e;
  }
}

export function readYamlFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new AxnnError(`cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file });
  }
  return parseYamlText(text, file);
}

export type YamlObject = Record<string, unknown>;

export function isObject(v: unknown): v is YamlObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Rejects keys outside `allowed` (so that typos do not pass silently). */
export function checkKeys(obj: YamlObject, allowed: readonly string[], file: string, field: string): void {
  for (const k of Object.keys(obj)) {
    if (k === "__tag") continue;
    if (!allowed.includes(k)) {
      throw new AxnnError(`unknown key "${k}" (expected one of: ${allowed.join(", ")})`, { file, field });
    }
  }
}

export function expectObject(v: unknown, file: string, field: string): YamlObject {
  if (!isObject(v)) throw new AxnnError(`expected a mapping, got ${describe(v)}`, { file, field });
  return v;
}

export function expectArray(v: unknown, file: string, field: string): unknown[] {
  if (!Array.isArray(v)) throw new AxnnError(`expected a list, got ${describe(v)}`, { file, field });
  return v;
}

export function expectNumber(v: unknown, file: string, field: string): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new AxnnError(`expected a number, got ${describe(v)}`, { file, field });
  return n;
}

export function expectPositiveInt(v: unknown, file: string, field: string): number {
  const n = expectNumber(v, file, field);
  if (!Number.isInteger(n) || n < 1) throw new AxnnError(`expected a positive integer, got ${describe(v)}`, { file, field });
  return n;
}

export function expectString(v: unknown, file: string, field: string): string {
  if (typeof v !== "string") throw new AxnnError(`expected a string, got ${describe(v)}`, { file, field });
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return JSON.stringify(v);
}
