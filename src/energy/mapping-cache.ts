import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../util/fs.js";
import { axnnHome } from "../util/paths.js";
import type { Architecture } from "./arch.js";
import type { Ert } from "./ert.js";
import type { MapperResult, Objective, SearchAlgorithm } from "./mapper.js";
import type { Mapping } from "./mapping.js";
import { evaluate, type Evaluation } from "./model.js";
import type { Problem } from "./problem.js";

/**
 * The on-disk cache of searched mappings, one file per key: a SHA-256 of the architecture and ERT
 * content, the problem shape, the search settings and MAPPING_CACHE_VERSION. Files are written
 * atomically and validated on read (a file that does not reproduce its stored energy is ignored).
 */

/** Bumped whenever the model or the mapper changes what a cached mapping means. */
export const MAPPING_CACHE_VERSION = 4;

export function defaultMappingCacheDir(): string {
  return join(axnnHome(), "cache", "mappings");
}

/** JSON with sorted keys, Maps as sorted entry lists, non-finite numbers as strings, and `file` paths left out (content, not location). */
function canonical(v: unknown): string {
  const norm = (x: unknown): unknown => {
    if (x instanceof Map) return [...x.entries()].map(([k, val]) => [String(k), norm(val)]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
    if (Array.isArray(x)) return x.map(norm);
    if (typeof x === "number" && !Number.isFinite(x)) return String(x);
    if (x !== null && typeof x === "object") {
      return Object.fromEntries(Object.keys(x).filter((k) => k !== "file").sort().map((k) => [k, norm((x as Record<string, unknown>)[k])]).filter(([, val]) => val !== undefined));
    }
    return x;
  };
  return JSON.stringify(norm(v));
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** The shape part of a problem (no name): two layers with equal keys are the same search. */
export function problemShapeKey(problem: Problem): string {
  return canonical({ dims: problem.dims, bounds: problem.bounds, dataSpaces: problem.dataSpaces });
}

/** The search settings a cached mapping depends on (NetworkSearchOptions with defaults filled in). */
export interface MappingSearchSettings {
  objective: Objective;
  seed: number;
  maxEvaluations: number;
  algorithm: SearchAlgorithm;
  exhaustiveLimit: number;
}

/** Cache key: architecture and ERT content, problem shape, objective, search settings, cache version. */
export function mappingCacheKey(arch: Architecture, ert: Ert, problem: Problem, search: MappingSearchSettings): string {
  return sha256(canonical({ version: MAPPING_CACHE_VERSION, arch, ert, shape: JSON.parse(problemShapeKey(problem)), search }));
}

const loopSchema = z.object({ dim: z.number().int().nonnegative(), bound: z.number().int().positive(), spatial: z.enum(["X", "Y"]).optional() });
const cacheFileSchema = z.object({
  format: z.literal("axnn-mapping-cache"),
  version: z.literal(MAPPING_CACHE_VERSION),
  key: z.string(),
  energy_pj: z.number(),
  cycles: z.number(),
  search: z.object({ algorithm: z.string(), evaluated: z.number(), valid: z.number(), mapspace_size: z.number().nullable(), elapsed_ms: z.number() }),
  mapping: z.object({ levels: z.array(z.object({ temporal: z.array(loopSchema), spatial: z.array(loopSchema), keep: z.array(z.boolean()) })) }),
});

/** A mapping read back from the cache, with what its search reported. */
export interface CachedMapping {
  mapping: Mapping;
  /** Evaluation with the exact multiplier (compute scale 1). */
  evaluation: Evaluation;
  algorithm: string;
  evaluated: number;
  /** Search time stored in the file. */
  searchMs: number;
}

/** Reads a cached mapping; null when absent, unreadable, for another key, or no longer reproducing its stored energy. */
export function readCachedMapping(path: string, key: string, arch: Architecture, problem: Problem, ert: Ert): CachedMapping | null {
  if (!existsSync(path)) return null;
  try {
    const parsed = cacheFileSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
    if (!parsed.success || parsed.data.key !== key) return null;
    const mapping = parsed.data.mapping as Mapping;
    if (mapping.levels.length !== arch.levels.length) return null;
    for (const lm of mapping.levels) {
      if (lm.keep.length !== problem.dataSpaces.length) return null;
      if ([...lm.temporal, ...lm.spatial].some((l) => l.dim >= problem.dims.length)) return null;
    }
    const evaluation = evaluate(arch, problem, mapping, ert);
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
    if (!close(evaluation.energyPj, parsed.data.energy_pj) || evaluation.cycles !== parsed.data.cycles) return null;
    return { mapping, evaluation, algorithm: parsed.data.search.algorithm, evaluated: parsed.data.search.evaluated, searchMs: parsed.data.search.elapsed_ms };
  } catch {
    // Truncated or hand-edited files (bad JSON, a mapping the model rejects) are searched again and
    // rewritten: a damaged cache must never stop a run, whatever the model makes of its contents.
    return null;
  }
}

/** Writes a searched mapping to the cache file `path` (atomically). */
export function writeCachedMapping(path: string, key: string, problem: Problem, objective: Objective, r: MapperResult): void {
  const file = {
    format: "axnn-mapping-cache", version: MAPPING_CACHE_VERSION, key,
    problem: { dims: problem.dims, bounds: problem.bounds }, objective,
    energy_pj: r.evaluation.energyPj, cycles: r.evaluation.cycles,
    search: { algorithm: r.algorithm, evaluated: r.evaluated, valid: r.valid, mapspace_size: Number.isFinite(r.mapspaceSize) ? r.mapspaceSize : null, elapsed_ms: r.elapsedMs },
    mapping: r.mapping,
  };
  writeFileAtomic(path, JSON.stringify(file) + "\n");
}
