import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { AxnnError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { axnnHome } from "../util/paths.js";
import { progressBar } from "../util/progress.js";
import { computeScaleFor, multiplierShare, type ComputeScale } from "./approx.js";
import type { Architecture, ComputeLevel } from "./arch.js";
import type { Ert } from "./ert.js";
import { ertToPlain, resolveThreads, runInWorkers, searchMapping, workerAvailable, type MapperResult, type Objective, type SearchAlgorithm, type SearchTask } from "./mapper.js";
import type { Mapping } from "./mapping.js";
import { evaluate, type Evaluation } from "./model.js";
import { convProblem, depthwiseProblem, type Problem } from "./problem.js";
import { mappingToJson } from "./report.js";
import { isApproximable, type ApproximableNode, type Model } from "../nn/graph.js";
import { macsPerLayer } from "../nn/analysis.js";
import { resolveAssignment, type MultiplierAssignment } from "../multipliers/assignment.js";
import { withPublishedFigures, type ResolvedMultiplier } from "../multipliers/resolve.js";
import type { MultiplierLibrary } from "../multipliers/library.js";

/**
 * Energy of a whole network: every conv, depthwise and dense layer becomes a Timeloop problem;
 * a mapping is searched once per distinct problem shape (and cached on disk), then every layer is
 * evaluated with its own multiplier. A multiplier only scales the compute unit's energy per MAC,
 * which does not depend on the mapping, so one mapping per shape serves every multiplier.
 */

export type LayerKind = "conv" | "depthwise" | "dense";

/** One approximable layer of a network, described by its shape alone (no weights). */
export interface NetworkLayer {
  name: string;
  kind: LayerKind;
  inChannels: number;
  outChannels: number;
  /** Input height and width (1 and 1 for a dense layer). */
  inH: number;
  inW: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  /** [top, left, bottom, right] (ONNX order). */
  pads: [number, number, number, number];
  dilationH: number;
  dilationW: number;
  /** Conv groups (depthwise: groups = inChannels). */
  groups: number;
  /** Samples per inference (Timeloop's N; for dense, rows of the input). */
  batch: number;
}

export interface ConvLayerSpec {
  inChannels: number;
  outChannels: number;
  /** Input size: square or [height, width]. */
  inSize: number | [number, number];
  kernel: number | [number, number];
  stride?: number | [number, number];
  /** Symmetric padding per spatial axis, or [top, left, bottom, right]; default (kernel - 1) / 2 * dilation ("same" for odd kernels). */
  padding?: number | [number, number, number, number];
  dilation?: number | [number, number];
  groups?: number;
  batch?: number;
}

const pair = (v: number | [number, number]): [number, number] => (typeof v === "number" ? [v, v] : v);

/** A Conv2D layer (groups from the spec; use depthwiseLayer for depthwise). */
export function convLayer(name: string, spec: ConvLayerSpec): NetworkLayer {
  const [kh, kw] = pair(spec.kernel);
  const [dh, dw] = pair(spec.dilation ?? 1);
  const [sh, sw] = pair(spec.stride ?? 1);
  const [ih, iw] = pair(spec.inSize);
  const pad = spec.padding;
  const pads: [number, number, number, number] =
    pad === undefined ? [Math.floor(((kh - 1) * dh) / 2), Math.floor(((kw - 1) * dw) / 2), Math.floor(((kh - 1) * dh) / 2), Math.floor(((kw - 1) * dw) / 2)]
      : typeof pad === "number" ? [pad, pad, pad, pad] : pad;
  return {
    name, kind: "conv", inChannels: spec.inChannels, outChannels: spec.outChannels, inH: ih, inW: iw, kernelH: kh, kernelW: kw,
    strideH: sh, strideW: sw, pads, dilationH: dh, dilationW: dw, groups: spec.groups ?? 1, batch: spec.batch ?? 1,
  };
}

/** A depthwise convolution: one filter per input channel (times `channelMultiplier`). */
export function depthwiseLayer(name: string, spec: Omit<ConvLayerSpec, "outChannels" | "groups"> & { channelMultiplier?: number }): NetworkLayer {
  return { ...convLayer(name, { ...spec, outChannels: spec.inChannels * (spec.channelMultiplier ?? 1), groups: spec.inChannels }), kind: "depthwise" };
}

/** A fully connected layer. */
export function denseLayer(name: string, spec: { inFeatures: number; outFeatures: number; batch?: number }): NetworkLayer {
  return {
    name, kind: "dense", inChannels: spec.inFeatures, outChannels: spec.outFeatures, inH: 1, inW: 1, kernelH: 1, kernelW: 1,
    strideH: 1, strideW: 1, pads: [0, 0, 0, 0], dilationH: 1, dilationW: 1, groups: 1, batch: spec.batch ?? 1,
  };
}

/** Output height and width of a layer (floor rounding, as ONNX/PyTorch with explicit pads). */
export function layerOutputSize(layer: NetworkLayer): [number, number] {
  const axis = (inSize: number, k: number, s: number, d: number, pb: number, pe: number) => Math.floor((inSize + pb + pe - ((k - 1) * d + 1)) / s) + 1;
  return [
    axis(layer.inH, layer.kernelH, layer.strideH, layer.dilationH, layer.pads[0], layer.pads[2]),
    axis(layer.inW, layer.kernelW, layer.strideW, layer.dilationW, layer.pads[1], layer.pads[3]),
  ];
}

/** A layer as Timeloop sees it: one problem, run `repeat` times (conv groups, depthwise channel multipliers). */
export interface LayerWorkload {
  problem: Problem;
  repeat: number;
  outH: number;
  outW: number;
}

/**
 * The Timeloop problem of a layer. Timeloop's conv2D pairs R with the width (W = Wstride*P + Wdilation*R)
 * and S with the height. A grouped conv is `groups` independent convs of C/groups -> M/groups channels
 * run one after another; a depthwise layer with channel multiplier k is k depthwise passes. Padding
 * enters only through the output size (Timeloop's input extent is the padded one).
 */
export function layerWorkload(layer: NetworkLayer): LayerWorkload {
  const field = `layer "${layer.name}"`;
  const ints: [string, number][] = [
    ["inChannels", layer.inChannels], ["outChannels", layer.outChannels], ["inH", layer.inH], ["inW", layer.inW],
    ["kernelH", layer.kernelH], ["kernelW", layer.kernelW], ["strideH", layer.strideH], ["strideW", layer.strideW],
    ["dilationH", layer.dilationH], ["dilationW", layer.dilationW], ["groups", layer.groups], ["batch", layer.batch],
  ];
  for (const [k, v] of ints) if (!Number.isInteger(v) || v < 1) throw new AxnnError(`${k} must be a positive integer, got ${v}`, { field });
  if (layer.pads.length !== 4 || layer.pads.some((p) => !Number.isInteger(p) || p < 0)) throw new AxnnError(`pads must be 4 non-negative integers, got [${layer.pads.join(", ")}]`, { field });
  const [outH, outW] = layerOutputSize(layer);
  if (outH < 1 || outW < 1) throw new AxnnError(`the kernel does not fit the padded ${layer.inH}x${layer.inW} input`, { field });
  const common = { R: layer.kernelW, S: layer.kernelH, P: outW, Q: outH, N: layer.batch, Wstride: layer.strideW, Hstride: layer.strideH, Wdilation: layer.dilationW, Hdilation: layer.dilationH };
  if (layer.kind === "dense") {
    return { problem: convProblem({ R: 1, S: 1, P: 1, Q: 1, C: layer.inChannels, M: layer.outChannels, N: layer.batch }, layer.name), repeat: 1, outH: 1, outW: 1 };
  }
  if (layer.kind === "depthwise") {
    if (layer.groups !== layer.inChannels || layer.outChannels % layer.inChannels !== 0) {
      throw new AxnnError(`a depthwise layer needs groups = inChannels (${layer.inChannels}) and outChannels a multiple of it; got groups ${layer.groups}, outChannels ${layer.outChannels}`, { field });
    }
    return { problem: depthwiseProblem({ ...common, C: layer.inChannels }, layer.name), repeat: layer.outChannels / layer.inChannels, outH, outW };
  }
  if (layer.kind !== "conv") throw new AxnnError(`unknown layer kind "${String(layer.kind)}" (expected conv, depthwise or dense)`, { field });
  if (layer.inChannels % layer.groups !== 0 || layer.outChannels % layer.groups !== 0) {
    throw new AxnnError(`groups (${layer.groups}) must divide inChannels (${layer.inChannels}) and outChannels (${layer.outChannels})`, { field });
  }
  return { problem: convProblem({ ...common, C: layer.inChannels / layer.groups, M: layer.outChannels / layer.groups }, layer.name), repeat: layer.groups, outH, outW };
}

/** Multiply-accumulates of a layer, from its shape (kernel x input channels per group x outputs). */
export function layerMacs(layer: NetworkLayer): number {
  const [outH, outW] = layerOutputSize(layer);
  return layer.batch * layer.outChannels * outH * outW * (layer.inChannels / layer.groups) * layer.kernelH * layer.kernelW;
}

/**
 * The approximable layers of an imported model (src/nn), NCHW, at the declared input shape with
 * the batch set to `batch`. Dense layers on inputs of more than two axes count the leading axes as batch.
 */
export function layersFromModel(model: Model, opts: { batch?: number; inputShape?: number[] } = {}): NetworkLayer[] {
  const batch = opts.batch ?? 1;
  const rows = macsPerLayer(model, opts.inputShape);
  const nodes = new Map<string, ApproximableNode>(model.nodes.filter(isApproximable).map((n) => [n.name, n]));
  return rows.map((r) => {
    const node = nodes.get(r.name)!;
    if (node.op === "Dense") {
      const rowsPerSample = r.inputShape.slice(1, -1).reduce((a, b) => a * b, 1);
      return denseLayer(r.name, { inFeatures: node.weight.shape[1]!, outFeatures: node.weight.shape[0]!, batch: batch * rowsPerSample });
    }
    const [outC, cPerGroup, kh, kw] = node.weight.shape as [number, number, number, number];
    const [, inC, inH, inW] = r.inputShape as [number, number, number, number];
    // Effective pads reproduce the inferred output size (auto_pad resolved by the shape inference).
    const [, , outH, outW] = r.outputShape as [number, number, number, number];
    const spanH = (kh - 1) * node.dilations[0] + 1, spanW = (kw - 1) * node.dilations[1] + 1;
    const padH = Math.max(0, (outH - 1) * node.strides[0] + spanH - inH), padW = Math.max(0, (outW - 1) * node.strides[1] + spanW - inW);
    const base: NetworkLayer = {
      name: r.name, kind: node.op === "DepthwiseConv2D" ? "depthwise" : "conv", inChannels: inC, outChannels: outC, inH, inW,
      kernelH: kh, kernelW: kw, strideH: node.strides[0], strideW: node.strides[1],
      pads: [Math.floor(padH / 2), Math.floor(padW / 2), padH - Math.floor(padH / 2), padW - Math.floor(padW / 2)],
      dilationH: node.dilations[0], dilationW: node.dilations[1], groups: node.groups, batch,
    };
    // A Conv2D with groups = channels and one input channel per group is depthwise too.
    if (base.kind === "conv" && node.groups === inC && cPerGroup === 1 && inC > 1) base.kind = "depthwise";
    return base;
  });
}

// ---------------------------------------------------------------------------------------------
// Mapping search, once per distinct shape, with an on-disk cache

/** Bumped whenever the model or the mapper changes what a cached mapping means. */
export const MAPPING_CACHE_VERSION = 4;

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

function resolveSearch(opts: NetworkSearchOptions): MappingSearchSettings {
  const maxEvaluations = opts.maxEvaluations ?? DEFAULT_NETWORK_EVALUATIONS;
  if (!Number.isInteger(maxEvaluations) || maxEvaluations < 1) throw new AxnnError(`expected a positive integer, got ${maxEvaluations}`, { field: "maxEvaluations" });
  return { objective: opts.objective ?? "energy", seed: opts.seed ?? 1, maxEvaluations, algorithm: opts.algorithm ?? "auto", exhaustiveLimit: opts.exhaustiveLimit ?? 20000 };
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

/** Reads a cached mapping; null when absent, unreadable, for another key, or no longer reproducing its stored energy. */
function readCachedMapping(path: string, key: string, arch: Architecture, problem: Problem, ert: Ert): ShapeSearch | null {
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
    return { key, mapping, evaluation, fromCache: true, algorithm: parsed.data.search.algorithm, evaluated: parsed.data.search.evaluated, searchMs: parsed.data.search.elapsed_ms, droppedConstraints: [] };
  } catch {
    // Truncated or hand-edited files (bad JSON, a mapping the model rejects) are searched again and
    // rewritten: a damaged cache must never stop a run, whatever the model makes of its contents.
    return null;
  }
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
  return { key, arch, dropped, problem, search, path, useCache, hit: hit ? { ...hit, droppedConstraints: dropped } : null };
}

/** The mapper options of a shape search: always one thread, so the mapping does not depend on the machine. */
function shapeMapperOptions(search: MappingSearchSettings) {
  return { objective: search.objective, seed: search.seed, maxEvaluations: search.maxEvaluations, algorithm: search.algorithm, exhaustiveLimit: search.exhaustiveLimit, threads: 1 };
}

/** Writes a searched mapping to the cache (atomically) and wraps it as a ShapeSearch. */
function finishShape(p: PreparedShape, r: MapperResult): ShapeSearch {
  if (p.useCache) {
    const file = {
      format: "axnn-mapping-cache", version: MAPPING_CACHE_VERSION, key: p.key,
      problem: { dims: p.problem.dims, bounds: p.problem.bounds }, objective: p.search.objective,
      energy_pj: r.evaluation.energyPj, cycles: r.evaluation.cycles,
      search: { algorithm: r.algorithm, evaluated: r.evaluated, valid: r.valid, mapspace_size: Number.isFinite(r.mapspaceSize) ? r.mapspaceSize : null, elapsed_ms: r.elapsedMs },
      mapping: r.mapping,
    };
    writeFileAtomic(p.path, JSON.stringify(file) + "\n");
  }
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

// ---------------------------------------------------------------------------------------------
// Evaluation with per-layer multipliers

/** How one layer's MACs are priced: `computeScaleFor`'s result, or undefined for the exact multiplier. */
export type LayerMultipliers = Map<string, ComputeScale> | ((layer: NetworkLayer) => ComputeScale | undefined);

export interface LayerEnergy {
  name: string;
  kind: LayerKind;
  /** e.g. "C=16 M=16 R=3 S=3 N=1 P=32 Q=32 stride 1x1". */
  shape: string;
  /** Index of the layer's distinct shape in the plan. */
  shapeIndex: number;
  repeat: number;
  macs: number;
  energyPj: number;
  cycles: number;
  utilization: number;
  /** Energy per component: every non-dummy storage level and the compute unit (pJ). */
  components: Record<string, number>;
  computePj: number;
  /** The multipliers' part of the compute energy (pJ). */
  multiplierPj: number;
  multiplier: string;
  macEnergyScale: number;
  mappingFromCache: boolean;
}

export interface NetworkEnergy {
  arch: string;
  /** Component names in hierarchy order, compute last. */
  componentNames: string[];
  layers: LayerEnergy[];
  totals: {
    energyPj: number;
    cycles: number;
    macs: number;
    components: Record<string, number>;
    computePj: number;
    multiplierPj: number;
    /** multiplierPj / energyPj. */
    multiplierShare: number;
  };
  search: {
    objective: Objective;
    seed: number;
    maxEvaluations: number;
    algorithm: SearchAlgorithm;
    distinctShapes: number;
    searched: number;
    cacheHits: number;
    evaluated: number;
    elapsedMs: number;
    /** Constraints that could not apply to some layer shape (e.g. a factor on M for a depthwise layer). */
    droppedConstraints: string[];
  };
}

function shapeText(w: LayerWorkload): string {
  const p = w.problem;
  const dims = p.dims.map((d, i) => `${d}=${p.bounds[i]}`).join(" ");
  const inputs = p.dataSpaces.find((d) => d.name === "Inputs")!;
  const stride = inputs.projection.slice(2).map((terms) => terms.find((t) => p.dims[t.dim] === "P" || p.dims[t.dim] === "Q")?.coef ?? 1);
  const s = stride.length === 2 && (stride[0] !== 1 || stride[1] !== 1) ? ` stride ${stride[1]}x${stride[0]}` : "";
  return `${dims}${s}${w.repeat > 1 ? ` x${w.repeat}` : ""}`;
}

/** Evaluates every layer of a plan with its multiplier; totals are sums over layers (layers run one after another). */
export function evaluatePlan(plan: NetworkPlan, multipliers?: LayerMultipliers): NetworkEnergy {
  const { arch, ert } = plan;
  const componentNames = [...arch.levels.filter((l) => !l.dummy).map((l) => l.name), arch.compute.name];
  const exactShare = multiplierShare(arch.compute);
  const lookup = (l: NetworkLayer) => (multipliers === undefined ? undefined : typeof multipliers === "function" ? multipliers(l) : multipliers.get(l.name));
  const layers: LayerEnergy[] = plan.layers.map((layer, i) => {
    const w = plan.workloads[i]!;
    const shape = plan.shapes[plan.shapeOf[i]!]!;
    const mult = lookup(layer);
    const scale = mult?.scale ?? 1;
    const ev = scale === 1 ? shape.evaluation : evaluate(archForProblem(arch, w.problem).arch, w.problem, shape.mapping, ert, { computeEnergyScale: scale });
    const components: Record<string, number> = Object.fromEntries(componentNames.map((n) => [n, 0]));
    for (const l of ev.levels) if (l.name in components) components[l.name] = l.energyPj * w.repeat;
    components[arch.compute.name] = ev.compute.energyPj * w.repeat;
    const computePj = ev.compute.energyPj * w.repeat;
    // The MAC energy is E*((1-s) + s*r); the multiplier's part is E*s*r = compute * s*r / scale.
    const share = mult?.share ?? exactShare;
    const ratio = mult?.powerRatio ?? 1;
    return {
      name: layer.name, kind: layer.kind, shape: shapeText(w), shapeIndex: plan.shapeOf[i]!, repeat: w.repeat,
      macs: ev.macs * w.repeat, energyPj: ev.energyPj * w.repeat, cycles: ev.cycles * w.repeat, utilization: ev.utilization,
      components, computePj, multiplierPj: (computePj * share * ratio) / scale,
      multiplier: mult?.multiplier ?? "exact", macEnergyScale: scale, mappingFromCache: shape.fromCache,
    };
  });
  const sum = (f: (l: LayerEnergy) => number) => layers.reduce((a, l) => a + f(l), 0);
  const energyPj = sum((l) => l.energyPj);
  const multiplierPj = sum((l) => l.multiplierPj);
  return {
    arch: arch.file,
    componentNames,
    layers,
    totals: {
      energyPj, cycles: sum((l) => l.cycles), macs: sum((l) => l.macs),
      components: Object.fromEntries(componentNames.map((n) => [n, sum((l) => l.components[n]!)])),
      computePj: sum((l) => l.computePj), multiplierPj, multiplierShare: multiplierPj / energyPj,
    },
    search: {
      objective: plan.settings.objective, seed: plan.settings.seed, maxEvaluations: plan.settings.maxEvaluations, algorithm: plan.settings.algorithm,
      distinctShapes: plan.shapes.length, searched: plan.shapes.filter((s) => !s.fromCache).length, cacheHits: plan.shapes.filter((s) => s.fromCache).length,
      evaluated: plan.shapes.filter((s) => !s.fromCache).reduce((a, s) => a + s.evaluated, 0), elapsedMs: plan.elapsedMs,
      droppedConstraints: [...new Set(plan.shapes.flatMap((s) => s.droppedConstraints))],
    },
  };
}

/** Energy of a network on one design: planNetwork then evaluatePlan. */
export function networkEnergy(arch: Architecture, ert: Ert, layers: NetworkLayer[], opts: NetworkSearchOptions & { multipliers?: LayerMultipliers } = {}): NetworkEnergy {
  return evaluatePlan(planNetwork(arch, ert, layers, opts), opts.multipliers);
}

/** The mapping chosen for each distinct shape, as plain data (for JSON). */
export function planMappingsJson(plan: NetworkPlan) {
  return plan.shapes.map((s, i) => {
    const w = plan.workloads[plan.shapeOf.indexOf(i)]!;
    return { shape: shapeText(w), layers: plan.layers.filter((_, li) => plan.shapeOf[li] === i).map((l) => l.name), cached: s.fromCache, mapping: mappingToJson(plan.arch, w.problem, s.mapping) };
  });
}

/**
 * The MAC-energy factor of every layer under an assignment (each distinct multiplier priced once);
 * layers on the exact multiplier are left out (factor 1).
 */
export function assignmentScales(
  a: MultiplierAssignment,
  layers: readonly NetworkLayer[],
  compute: ComputeLevel,
  opts: { exactPowerMw?: number; library?: MultiplierLibrary } = {},
): Map<string, ComputeScale> {
  const resolved = resolveAssignment(a, layers.map((l) => l.name), { library: opts.library });
  const priced = new Map<ResolvedMultiplier, ComputeScale>();
  const out = new Map<string, ComputeScale>();
  for (const [name, r] of resolved) {
    if (r === undefined) continue;
    let scale = priced.get(r);
    if (scale === undefined) {
      // Published figures also reach generated designs whose table EvoApproxLib has.
      scale = computeScaleFor(withPublishedFigures(r.multiplier), compute, { exactPowerMw: opts.exactPowerMw, netlist: r.netlist });
      priced.set(r, scale);
    }
    out.set(name, scale);
  }
  return out;
}
