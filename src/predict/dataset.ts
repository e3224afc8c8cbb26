import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { parse } from "csv-parse/sync";
import { AxnnError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { progressBar } from "../util/progress.js";
import { loadDesign } from "../energy/presets.js";
import { evaluatePlan, planNetwork, type NetworkLayer } from "../energy/network.js";
import type { Architecture } from "../energy/arch.js";
import type { Ert } from "../energy/ert.js";
import { layerShapeKey } from "./features.js";
import { multiplierPoolNames, priceGenerated } from "./multipliers.js";
import { FAMILIES, sampleNetwork, type Family, type NetworkSample } from "./sampling.js";

/**
 * Reference data for the predictors: sampled networks labelled with the energy model (one mapping
 * search per distinct layer shape, cached on disk), one CSV row per network. The per-layer shapes,
 * multipliers and energies travel in a JSON column so that predictors can be trained on layers and
 * evaluated on networks from the same file.
 */

/** One layer of a dataset row: its shape, its multiplier and what the reference charged it. */
export interface LayerRecord {
  layer: NetworkLayer;
  multiplier: string;
  /** Multiplier power / exact multiplier power (what scales the MAC energy). */
  powerRatio: number;
  macs: number;
  energyPj: number;
  /** The compute unit's part of energyPj (MACs x MAC energy x multiplier scale). */
  computePj: number;
}

export interface DatasetRow {
  id: string;
  arch: string;
  family: Family;
  base: string;
  seed: number;
  index: number;
  macs: number;
  energyPj: number;
  computePj: number;
  /** The multipliers' part of the compute energy. */
  multiplierPj: number;
  distinctShapes: number;
  /** Mapper time of the network's distinct shapes (recorded when each was searched, also when read back from the cache). */
  searchMs: number;
  /** evaluatePlan with the row's multipliers, given the mappings. */
  evalMs: number;
  /** Cold-cache reference time: searchMs + evalMs. */
  referenceMs: number;
  /** planNetwork + evaluatePlan as this run measured it (cache hits are cheap: a warm-cache reference). */
  measuredMs: number;
  maxEvaluations: number;
  layers: LayerRecord[];
}

export interface LabelOptions {
  /** Mapper budget per distinct shape (evaluations; also the exhaustive limit, so the budget is a bound). */
  maxEvaluations: number;
  /** Mapping cache directory (default: planNetwork's, under $AXNN_HOME). */
  cacheDir?: string;
}

/** Labels one network with the reference energy model and times it. */
export function labelNetwork(archName: string, arch: Architecture, ert: Ert, sample: NetworkSample, seed: number, opts: LabelOptions): DatasetRow {
  const t0 = performance.now();
  // One thread per network: the dataset runs networks in parallel instead, and each shape's search
  // time is then that of one core (what the reference time adds up).
  const plan = planNetwork(arch, ert, sample.layers, { maxEvaluations: opts.maxEvaluations, exhaustiveLimit: opts.maxEvaluations, seed: 1, cacheDir: opts.cacheDir, threads: 1 });
  const scales = new Map(sample.layers.map((l, i) => [l.name, priceGenerated(sample.multipliers[i]!, arch.compute)]));
  const t1 = performance.now();
  const ne = evaluatePlan(plan, scales);
  const t2 = performance.now();
  const searchMs = plan.shapes.reduce((a, s) => a + s.searchMs, 0);
  const layers: LayerRecord[] = sample.layers.map((layer, i) => {
    const le = ne.layers[i]!;
    return { layer, multiplier: sample.multipliers[i]!, powerRatio: scales.get(layer.name)!.powerRatio, macs: le.macs, energyPj: le.energyPj, computePj: le.computePj };
  });
  return {
    id: `${archName}-${sample.family}-${seed}-${sample.index}`, arch: archName, family: sample.family, base: sample.base, seed, index: sample.index,
    macs: ne.totals.macs, energyPj: ne.totals.energyPj, computePj: ne.totals.computePj, multiplierPj: ne.totals.multiplierPj,
    distinctShapes: plan.shapes.length, searchMs, evalMs: t2 - t1, referenceMs: searchMs + (t2 - t1), measuredMs: t2 - t0,
    maxEvaluations: opts.maxEvaluations, layers,
  };
}

// ---------------------------------------------------------------------------------------------
// CSV

const COLUMNS = [
  "id", "arch", "family", "base", "seed", "index", "n_layers", "macs", "energy_pj", "compute_pj", "multiplier_pj",
  "distinct_shapes", "search_ms", "eval_ms", "reference_ms", "measured_ms", "max_evaluations", "layers",
] as const;

/** Layers as compact JSON: [name, kind, C, M, H, W, kh, kw, sh, sw, pads, dh, dw, groups, batch, multiplier, powerRatio, macs, energy, compute]. */
function layersToJson(layers: LayerRecord[]): string {
  return JSON.stringify(layers.map((r) => {
    const l = r.layer;
    return [l.name, l.kind, l.inChannels, l.outChannels, l.inH, l.inW, l.kernelH, l.kernelW, l.strideH, l.strideW, l.pads, l.dilationH, l.dilationW, l.groups, l.batch,
      r.multiplier, r.powerRatio, r.macs, r.energyPj, r.computePj];
  }));
}

function layersFromJson(text: string, where: string): LayerRecord[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new AxnnError("the layers column is not valid JSON", { field: where });
  }
  if (!Array.isArray(raw)) throw new AxnnError("the layers column must be a JSON array", { field: where });
  return raw.map((e, i) => {
    if (!Array.isArray(e) || e.length !== 20) throw new AxnnError(`layer ${i}: expected an array of 20 fields`, { field: where });
    const [name, kind, c, m, h, w, kh, kw, sh, sw, pads, dh, dw, g, b, mult, ratio, macs, energy, compute] = e as unknown[];
    const nums = [c, m, h, w, kh, kw, sh, sw, dh, dw, g, b, ratio, macs, energy, compute];
    if (typeof name !== "string" || (kind !== "conv" && kind !== "depthwise" && kind !== "dense") || typeof mult !== "string" || nums.some((x) => typeof x !== "number") ||
      !Array.isArray(pads) || pads.length !== 4) {
      throw new AxnnError(`layer ${i}: malformed entry`, { field: where });
    }
    const layer: NetworkLayer = {
      name, kind, inChannels: c as number, outChannels: m as number, inH: h as number, inW: w as number, kernelH: kh as number, kernelW: kw as number,
      strideH: sh as number, strideW: sw as number, pads: pads as [number, number, number, number], dilationH: dh as number, dilationW: dw as number,
      groups: g as number, batch: b as number,
    };
    return { layer, multiplier: mult, powerRatio: ratio as number, macs: macs as number, energyPj: energy as number, computePj: compute as number };
  });
}

const csvField = (v: string | number) => {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function rowsToCsv(rows: DatasetRow[]): string {
  const lines = [COLUMNS.join(",")];
  for (const r of rows) {
    lines.push([r.id, r.arch, r.family, r.base, r.seed, r.index, r.layers.length, r.macs, r.energyPj, r.computePj, r.multiplierPj,
      r.distinctShapes, r.searchMs, r.evalMs, r.referenceMs, r.measuredMs, r.maxEvaluations, layersToJson(r.layers)].map(csvField).join(","));
  }
  return lines.join("\n") + "\n";
}

export function parseDatasetCsv(text: string, file: string): DatasetRow[] {
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  } catch (e) {
    throw new AxnnError(`not a valid CSV: ${(e as Error).message}`, { file });
  }
  if (records.length > 0) {
    const missing = COLUMNS.filter((c) => !(c in records[0]!));
    if (missing.length > 0) throw new AxnnError(`missing column(s) ${missing.join(", ")}; expected ${COLUMNS.join(",")}`, { file });
  }
  return records.map((rec, i) => {
    const line = i + 2;
    const num = (k: string) => {
      const v = Number(rec[k]);
      if (rec[k] === "" || !Number.isFinite(v)) throw new AxnnError(`column ${k}: expected a number, got "${rec[k]}"`, { file, line });
      return v;
    };
    const family = rec.family;
    if (family !== "fixed" && family !== "variable") throw new AxnnError(`column family: expected fixed or variable, got "${family}"`, { file, line });
    const layers = layersFromJson(rec.layers!, `${file}:${line} column layers`);
    if (layers.length !== num("n_layers")) throw new AxnnError(`n_layers is ${num("n_layers")} but the layers column has ${layers.length}`, { file, line });
    return {
      id: rec.id!, arch: rec.arch!, family, base: rec.base!, seed: num("seed"), index: num("index"), macs: num("macs"), energyPj: num("energy_pj"),
      computePj: num("compute_pj"), multiplierPj: num("multiplier_pj"), distinctShapes: num("distinct_shapes"), searchMs: num("search_ms"),
      evalMs: num("eval_ms"), referenceMs: num("reference_ms"), measuredMs: num("measured_ms"), maxEvaluations: num("max_evaluations"), layers,
    };
  });
}

export function readDataset(file: string): DatasetRow[] {
  if (!existsSync(file)) throw new AxnnError("no such file", { file });
  return parseDatasetCsv(readFileSync(file, "utf8"), file);
}

// ---------------------------------------------------------------------------------------------
// Generation: seeded, resumable, parallel

export interface DatasetOptions {
  arch: string;
  family: Family;
  n: number;
  seed?: number;
  /** Output CSV; rows already in it (same arch, family, seed, budget) are kept and not labelled again. */
  out: string;
  maxEvaluations?: number;
  cacheDir?: string;
  /** Worker threads (default: available cores, at most 8); 1 labels in this thread. */
  jobs?: number;
  progress?: boolean;
  /** Called after each labelled row. */
  onRow?: (row: DatasetRow, done: number, total: number) => void;
}

export const DEFAULT_DATASET_EVALUATIONS = 1000;

interface WorkerJob { index: number }
export interface WorkerInit { arch: string; family: Family; seed: number; maxEvaluations: number; cacheDir?: string }

/** Generates (or completes) a dataset; returns all its rows, sorted by index. */
export async function generateDataset(opts: DatasetOptions): Promise<DatasetRow[]> {
  if (!FAMILIES.includes(opts.family)) throw new AxnnError(`expected fixed or variable, got "${opts.family}"`, { field: "--family" });
  if (!Number.isInteger(opts.n) || opts.n < 1) throw new AxnnError(`expected a positive integer, got ${opts.n}`, { field: "--n" });
  const seed = opts.seed ?? 1;
  const maxEvaluations = opts.maxEvaluations ?? DEFAULT_DATASET_EVALUATIONS;
  loadDesign(opts.arch); // fails early on an unknown design
  const rows = new Map<number, DatasetRow>();
  const pool = multiplierPoolNames();
  if (existsSync(opts.out)) {
    for (const r of readDataset(opts.out)) {
      if (r.arch !== opts.arch || r.family !== opts.family || r.seed !== seed || r.maxEvaluations !== maxEvaluations) {
        throw new AxnnError(`holds rows of another run (${r.arch}, ${r.family}, seed ${r.seed}, ${r.maxEvaluations} evaluations); resuming needs the same settings or another output`, { file: opts.out });
      }
      // A row sampled by another version of the sampler (or pool) would silently mix two datasets.
      const again = sampleNetwork(opts.family, seed, r.index, pool);
      const same = again.layers.length === r.layers.length && again.layers.every((l, i) => layerShapeKey(l) === layerShapeKey(r.layers[i]!.layer) && again.multipliers[i] === r.layers[i]!.multiplier);
      if (!same) throw new AxnnError(`row ${r.id} is not the network this version samples for seed ${seed}, index ${r.index}; label into a new file`, { file: opts.out });
      rows.set(r.index, r);
    }
  }
  const todo = Array.from({ length: opts.n }, (_, i) => i).filter((i) => !rows.has(i));
  const init: WorkerInit = { arch: opts.arch, family: opts.family, seed, maxEvaluations, cacheDir: opts.cacheDir };
  const bar = progressBar(`${opts.arch} ${opts.family} networks`, todo.length, { quiet: !opts.progress, unit: "networks" });
  let lastFlush = 0;
  const flush = (force: boolean) => {
    if (!force && Date.now() - lastFlush < 1000) return;
    writeFileAtomic(opts.out, rowsToCsv([...rows.values()].sort((a, b) => a.index - b.index)));
    lastFlush = Date.now();
  };
  let done = 0;
  const accept = (row: DatasetRow) => {
    rows.set(row.index, row);
    done++;
    bar.tick();
    opts.onRow?.(row, done, todo.length);
    flush(false);
  };
  try {
    const jobs = Math.max(1, Math.min(opts.jobs ?? Math.min(8, availableParallelism()), todo.length));
    if (jobs <= 1) {
      const { arch, ert } = loadDesign(opts.arch);
      for (const index of todo) accept(labelNetwork(opts.arch, arch, ert, sampleNetwork(opts.family, seed, index, pool), seed, { maxEvaluations, cacheDir: opts.cacheDir }));
    } else {
      await runWorkers(init, todo, jobs, accept);
    }
  } finally {
    bar.stop();
    if (done > 0 || !existsSync(opts.out)) flush(true);
  }
  return [...rows.values()].sort((a, b) => a.index - b.index);
}

/** Hands row indices to `jobs` workers, one at a time each (rows differ widely in cost). */
function runWorkers(init: WorkerInit, todo: number[], jobs: number, accept: (row: DatasetRow) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0, live = 0, failed = false;
    const workers: Worker[] = [];
    const stopAll = () => { for (const w of workers) void w.terminate(); };
    for (let j = 0; j < jobs; j++) {
      const w = new Worker(new URL("./worker.js", import.meta.url), { workerData: init });
      workers.push(w);
      live++;
      const feed = () => {
        if (failed) return;
        if (next < todo.length) w.postMessage({ index: todo[next++]! } satisfies WorkerJob);
        else void w.terminate();
      };
      w.on("message", (m: { row?: DatasetRow; error?: { message: string; field?: string } }) => {
        if (m.error) {
          failed = true;
          stopAll();
          reject(new AxnnError(m.error.message, { field: m.error.field }));
          return;
        }
        accept(m.row!);
        feed();
      });
      w.on("error", (e) => { failed = true; stopAll(); reject(e); });
      w.on("exit", () => { if (--live === 0 && !failed) resolve(); });
      feed();
    }
  });
}

