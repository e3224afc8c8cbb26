import { join } from "node:path";
import { AxnnError } from "../util/errors.js";
import { progressBar } from "../util/progress.js";
import type { Architecture } from "./arch.js";
import type { Ert } from "./ert.js";
import { defaultMappingCacheDir, mappingCacheKey, problemShapeKey, readCachedMapping, writeCachedMapping, type MappingSearchSettings } from "./mapping-cache.js";
import { searchMapping, type MapperResult, type Objective, type SearchAlgorithm, type SearchTask } from "./mapper.js";
import { ertToPlain, resolveThreads, runInWorkers, workerAvailable } from "./mapper-pool.js";
import type { Mapping } from "./mapping.js";
import type { Evaluation } from "./model.js";
import { layerWorkload, shapeText, type LayerWorkload, type NetworkLayer } from "./network-layers.js";
import type { Problem } from "./problem.js";
import { mappingToJson } from "./report.js";

/**
 * Planning a network: one mapping searched per distinct layer shape (or read from the mapping
 * cache), shared by every layer of that shape and by every multiplier.
 */

export interface NetworkSearchOptions {
  objective?: Objective;
  seed?: number;
  /** Mapper budget per distinct shape, in evaluations (deterministic, unlike a time limit). Default 3000. */
  maxEvaluations?: number;
  algorithm?: SearchAlgorithm;
  exhaustiveLimit?: number;
  /** Use the on-disk mapping cache (default true). */
  cache?: boolean;
  /** Default: <axnnHome()>/cache/mappings. */
  cacheDir?: string;
  /** Progress bar over layers on stderr. */
  progress?: boolean;
  /**
   * Worker threads searching distinct shapes in parallel (default: defaultThreads() from mapper.ts;
   * 1 = in this thread). Each shape's search is single-threaded and seeded, so the plan does not
   * depend on this; it is not part of the cache key.
   */
  threads?: number;
}

export const DEFAULT_NETWORK_EVALUATIONS = 3000;

function resolveSearch(opts: NetworkSearchOptions): MappingSearchSettings {
  const maxEvaluations = opts.maxEvaluations ?? DEFAULT_NETWORK_EVALUATIONS;
  if (!Number.isInteger(maxEvaluations) || maxEvaluations < 1) throw new AxnnError(`expected a positive integer, got ${maxEvaluations}`, { field: "maxEvaluations" });
  return { objective: opts.objective ?? "energy", seed: opts.seed ?? 1, maxEvaluations, algorithm: opts.algorithm ?? "auto", exhaustiveLimit: opts.exhaustiveLimit ?? 20000 };
}

export interface ShapeSearch {
  key: string;
  mapping: Mapping;
  /** Evaluation with the exact multiplier (compute scale 1). */
  evaluation: Evaluation;
  fromCache: boolean;
  algorithm: string;
  evaluated: number;
  /** Search time (from the cache file when cached). */
  searchMs: number;
  /** Constraint factors other than 1 left out because the problem lacks their dimension (see archForProblem). */
  droppedConstraints: string[];
}

/**
 * The architecture with constraint factors on dimensions the problem lacks left out (the
 * presets' constraints name M, which a depthwise problem has not; a factor of 1 on an absent
 * dimension holds trivially). Factors other than 1 on an absent dimension cannot hold and are
 * dropped too; `dropped` lists them.
 */
export function archForProblem(arch: Architecture, problem: Problem): { arch: Architecture; dropped: string[] } {
  const dropped: string[] = [];
  let changed = false;
  const filter = (f: Record<string, number> | undefined, where: string) => {
    if (f === undefined) return undefined;
    const kept = Object.entries(f).filter(([k, v]) => {
      if (problem.dims.includes(k)) return true;
      changed = true;
      if (v !== 1) dropped.push(`${where} ${k}=${v}`);
      return false;
    });
    return Object.fromEntries(kept);
  };
  const levels = arch.levels.map((lv) => ({
    ...lv,
    constraints: { ...lv.constraints, temporalFactors: filter(lv.constraints.temporalFactors, `${lv.name} temporal`), spatialFactors: filter(lv.constraints.spatialFactors, `${lv.name} spatial`) },
  }));
  return changed ? { arch: { ...arch, levels }, dropped } : { arch, dropped };
}

/** A shape's cache key and file, the architecture its search runs on, and the cached mapping if there is a valid one. */
interface PreparedShape {
  key: string;
  arch: Architecture;
  dropped: string[];
  problem: Problem;
  search: MappingSearchSettings;
  path: string;
  useCache: boolean;
  hit: ShapeSearch | null;
}

function prepareShape(fullArch: Architecture, ert: Ert, problem: Problem, opts: NetworkSearchOptions): PreparedShape {
  const search = resolveSearch(opts);
  const key = mappingCacheKey(fullArch, ert, problem, search);
  const { arch, dropped } = archForProblem(fullArch, problem);
  const useCache = opts.cache ?? true;
  const path = join(opts.cacheDir ?? defaultMappingCacheDir(), `${key}.json`);
  const hit = useCache ? readCachedMapping(path, key, arch, problem, ert) : null;
  return { key, arch, dropped, problem, search, path, useCache, hit: hit ? { key, mapping: hit.mapping, evaluation: hit.evaluation, fromCache: true, algorithm: hit.algorithm, evaluated: hit.evaluated, searchMs: hit.searchMs, droppedConstraints: dropped } : null };
}

/** The mapper options of a shape search: always one thread, so the mapping does not depend on the machine. */
function shapeMapperOptions(search: MappingSearchSettings) {
  return { objective: search.objective, seed: search.seed, maxEvaluations: search.maxEvaluations, algorithm: search.algorithm, exhaustiveLimit: search.exhaustiveLimit, threads: 1 };
}

/** Writes a searched mapping to the cache (atomically) and wraps it as a ShapeSearch. */
function finishShape(p: PreparedShape, r: MapperResult): ShapeSearch {
  if (p.useCache) writeCachedMapping(p.path, p.key, p.problem, p.search.objective, r);
  return { key: p.key, mapping: r.mapping, evaluation: r.evaluation, fromCache: false, algorithm: r.algorithm, evaluated: r.evaluated, searchMs: r.elapsedMs, droppedConstraints: p.dropped };
}

/** The best mapping of one problem shape: from the cache when it holds a valid entry, else searched (and cached). */
export function searchShape(fullArch: Architecture, ert: Ert, problem: Problem, opts: NetworkSearchOptions = {}): ShapeSearch {
  const p = prepareShape(fullArch, ert, problem, opts);
  if (p.hit) return p.hit;
  return finishShape(p, searchMapping(p.arch, problem, ert, shapeMapperOptions(p.search)));
}

/** The searched half of a network's energy: one mapping per distinct shape, shared by every multiplier. */
export interface NetworkPlan {
  arch: Architecture;
  ert: Ert;
  layers: NetworkLayer[];
  workloads: LayerWorkload[];
  /** Index into `shapes` for each layer. */
  shapeOf: number[];
  shapes: ShapeSearch[];
  settings: MappingSearchSettings;
  elapsedMs: number;
}

/** Searches (or reads from the cache) one mapping per distinct layer shape. */
export function planNetwork(arch: Architecture, ert: Ert, layers: NetworkLayer[], opts: NetworkSearchOptions = {}): NetworkPlan {
  if (layers.length === 0) throw new AxnnError("the network has no conv, depthwise or dense layer", { field: "layers" });
  const seen = new Set<string>();
  for (const l of layers) {
    if (seen.has(l.name)) throw new AxnnError(`two layers are named "${l.name}"`, { field: "layers" });
    seen.add(l.name);
  }
  const start = Date.now();
  const settings = resolveSearch(opts);
  let threads = resolveThreads(opts.threads);
  if (opts.threads === undefined && !workerAvailable()) threads = 1;
  const workloads = layers.map(layerWorkload);
  const byKey = new Map<string, number>();
  const distinct: Problem[] = [];
  const shapeOf: number[] = [];
  for (const w of workloads) {
    const k = problemShapeKey(w.problem);
    let idx = byKey.get(k);
    if (idx === undefined) {
      idx = distinct.length;
      distinct.push(w.problem);
      byKey.set(k, idx);
    }
    shapeOf.push(idx);
  }
  const bar = progressBar("network mappings", layers.length, { quiet: !opts.progress, unit: "layers" });
  const layersOf = (idx: number) => shapeOf.filter((s) => s === idx).length;
  const shapes = new Array<ShapeSearch>(distinct.length);
  const pending: { idx: number; prepared: PreparedShape }[] = [];
  distinct.forEach((problem, idx) => {
    const prepared = prepareShape(arch, ert, problem, opts);
    if (prepared.hit) {
      shapes[idx] = prepared.hit;
      bar.tick(layersOf(idx));
    } else pending.push({ idx, prepared });
  });
  if (threads > 1 && pending.length > 1) {
    // One single-threaded search per shape, spread over the workers; the cache is written here, as each finishes.
    const plainErt = ertToPlain(ert);
    const tasks: SearchTask[] = pending.map(({ prepared: p }) => ({ kind: "search", arch: p.arch, problem: p.problem, ert: plainErt, opts: shapeMapperOptions(p.search) }));
    runInWorkers<MapperResult>(tasks, threads, undefined, (t, r) => {
      const { idx, prepared } = pending[t]!;
      shapes[idx] = finishShape(prepared, r);
      bar.tick(layersOf(idx));
    });
  } else {
    for (const { idx, prepared } of pending) {
      shapes[idx] = finishShape(prepared, searchMapping(prepared.arch, prepared.problem, ert, shapeMapperOptions(prepared.search)));
      bar.tick(layersOf(idx));
    }
  }
  bar.stop();
  return { arch, ert, layers, workloads, shapeOf, shapes, settings, elapsedMs: Date.now() - start };
}

/** The mapping chosen for each distinct shape, as plain data (for JSON). */
export function planMappingsJson(plan: NetworkPlan) {
  return plan.shapes.map((s, i) => {
    const w = plan.workloads[plan.shapeOf.indexOf(i)]!;
    return { shape: shapeText(w), layers: plan.layers.filter((_, li) => plan.shapeOf[li] === i).map((l) => l.name), cached: s.fromCache, mapping: mappingToJson(plan.arch, w.problem, s.mapping) };
  });
}

