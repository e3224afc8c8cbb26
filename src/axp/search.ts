import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AxnnError } from "../util/errors.js";
import { progressBar } from "../util/progress.js";
import { chart } from "../report/charts.js";
import { isApproximable } from "../nn/graph.js";
import { nsga2 } from "../search/nsga2.js";
import type { ArchiveEntry, GenomeEvaluation } from "../search/archive.js";
import type { SearchProblem } from "../search/engine.js";
import { keyLayout, type AxpFormat } from "./formats.js";
import { keySpace } from "./memory.js";
import { AxpSession, prepareAxpContext, type AxpConfig, type AxpDataSetup, type PerLayerAxpConfig } from "./evaluate.js";
import { loadPeModel } from "./energy.js";
import { resultFiles } from "./sweep.js";

/**
 * Per-layer AxP configuration by NSGA-II (src/search): each conv and dense layer chooses its own
 * bins K, memory entries N, key bits m, don't-care bits d and (optionally) the multiplier of its
 * misses from the given lists; the objectives are the top-1 error and the PE compute energy per
 * inference. Every uniform configuration (all layers alike, the sweep's points) is in the first
 * population, so the front weakly dominates those the budget reaches.
 *
 * A layer's memory is filled from the calibration profile of its own K's clustering (k-means runs per
 * layer, so the layer's bins do not depend on the others' K; its calibration activations are those of
 * the model clustered uniformly with that K).
 */
export interface AxpSearchOptions extends AxpDataSetup {
  clusters: number[];
  entries: number[];
  keyBits: number[];
  dontCare: number[];
  /** null: the format's exact product (the FPU); else a multiplier name or file. Default [null]. */
  missMultipliers?: (string | null)[];
  format: AxpFormat;
  zeroGating?: boolean;
  peFile?: string;
  budget: number;
  populationSize?: number;
  /** Output directory: journal.jsonl (resume), front.json, chart.svg/png. */
  outDir: string;
  resume?: boolean;
  progress?: boolean;
}

/** One layer's choice. */
export interface AxpLayerChoice {
  clusters: number;
  entries: number;
  key_bits: number;
  dont_care: number;
  miss_multiplier: string | null;
}

export interface AxpSearchPoint {
  /** Per layer, in the model's order. */
  layers: Record<string, AxpLayerChoice>;
  /** All layers alike (one of the sweep's points). */
  uniform: boolean;
  top1: number;
  energy_pj: number;
  saving: number;
  hit_rate: number;
}

export interface AxpSearchResult {
  model: string;
  data: string;
  format: AxpFormat;
  test_samples: number;
  baseline: { top1: number; energy_pj: number };
  budget: number;
  evaluations: number;
  from_journal: number;
  /** Every evaluated configuration, in the order the search asked for them. */
  points: AxpSearchPoint[];
  /** Indices into points of the front (top-1 up, energy down), by energy. */
  front: number[];
  files: string[];
}

const GENES = ["clusters", "entries", "keyBits", "dontCare", "missMultipliers"] as const;

export async function axpSearch(o: AxpSearchOptions): Promise<AxpSearchResult> {
  const lists: Record<(typeof GENES)[number], readonly (number | string | null)[]> = {
    clusters: o.clusters, entries: o.entries, keyBits: o.keyBits, dontCare: o.dontCare, missMultipliers: o.missMultipliers ?? [null],
  };
  for (const g of GENES) if (lists[g].length === 0) throw new AxnnError("expected at least one value", { field: `--${g === "missMultipliers" ? "miss-mult" : g.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` });
  for (const k of o.clusters) if (!Number.isInteger(k) || k < 1) throw new AxnnError(`expected whole numbers >= 1, got ${k}`, { field: "--clusters" });
  for (const m of o.keyBits) {
    const layout = keyLayout(o.format, m);
    for (const d of o.dontCare) if (d > layout.variableBits) throw new AxnnError(`${d} don't-care bits are more than ${o.format} keys of ${m} bits have (${layout.variableBits}); give lists that fit every combination`, { field: "--dont-care" });
    for (const k of o.clusters) for (const n of o.entries) if (n > keySpace(k, layout)) throw new AxnnError(`${n} entries are more than the key space of ${k} bins x 2^${layout.width} ${o.format} keys of ${m} bits (${keySpace(k, layout)})`, { field: "--entries" });
  }
  const pe = loadPeModel(o.peFile);
  const ctx = prepareAxpContext(o);
  const session = new AxpSession(ctx, pe);
  for (const m of o.missMultipliers ?? []) if (m !== null) session.missMultiplier(m);
  const names = ctx.model.nodes.filter(isApproximable).map((n) => n.name);
  const cards = GENES.map((g) => lists[g].length);
  const cardinalities = names.flatMap(() => cards);
  const common: AxpConfig = { clusters: o.clusters[0]!, entries: 0, keyBits: o.keyBits[0]!, dontCare: o.dontCare[0]!, format: o.format, zeroGating: o.zeroGating, seed: o.seed };
  const decode = (g: readonly number[]): { perLayer: PerLayerAxpConfig; choices: Record<string, AxpLayerChoice> } => {
    const perLayer = new Map<string, Partial<AxpConfig>>();
    const choices: Record<string, AxpLayerChoice> = {};
    names.forEach((name, l) => {
      const at = (i: number) => lists[GENES[i]!][g[l * GENES.length + i]!]!;
      const miss = at(4) as string | null;
      perLayer.set(name, { clusters: at(0) as number, entries: at(1) as number, keyBits: at(2) as number, dontCare: at(3) as number, missMultiplier: miss ?? undefined });
      choices[name] = { clusters: at(0) as number, entries: at(1) as number, key_bits: at(2) as number, dont_care: at(3) as number, miss_multiplier: miss === null ? null : session.missMultiplier(miss).multiplier.name };
    });
    return { perLayer, choices };
  };
  // The baseline (unclustered model, FPU-only PE): its MACs are the same for every configuration.
  const first = session.evaluate(common);
  const base = session.baseline(o.format, new Map(first.layers.map((l) => [l.layer, l.macs])), { zeroGating: o.zeroGating });
  mkdirSync(o.outDir, { recursive: true });
  const budget = o.budget;
  const bar = progressBar("axp search", budget, { quiet: !o.progress, unit: "configurations" });
  const problem: SearchProblem = {
    cardinalities, objectives: 2,
    signature: JSON.stringify({ model: o.model, data: o.data, limit: o.limit ?? null, calib: o.calibrationSize ?? 256, seed: o.seed ?? 1, format: o.format, zeroGating: o.zeroGating ?? false, lists, pe, layers: names }),
    evaluate: async (genomes, onResult) => genomes.map((g, i) => {
      const { perLayer } = decode(g);
      const p = session.evaluate(common, base.energy_pj, perLayer);
      const ev: GenomeEvaluation = { objectives: [1 - p.top1, p.energy_pj], info: { top1: p.top1, energy_pj: p.energy_pj, hit_rate: p.hit_rate } };
      onResult(i, ev);
      bar.tick();
      return ev;
    }),
  };
  // Every uniform configuration first (as far as the population and budget go).
  const uniform: number[][] = [];
  const rec = (prefix: number[]): void => {
    if (prefix.length === cards.length) uniform.push(names.flatMap(() => prefix));
    else for (let v = 0; v < cards[prefix.length]!; v++) rec([...prefix, v]);
  };
  rec([]);
  const r = await nsga2(problem, { budget, seed: o.seed ?? 1, populationSize: o.populationSize ?? 24, initial: uniform, journal: join(o.outDir, "journal.jsonl"), resume: o.resume ?? false });
  bar.stop();
  const isUniform = (g: readonly number[]) => names.every((_n, l) => GENES.every((_x, i) => g[l * GENES.length + i] === g[i]));
  const points: AxpSearchPoint[] = r.archive.map((e: ArchiveEntry) => {
    const info = e.info as { top1: number; energy_pj: number; hit_rate: number };
    return { layers: decode(e.genome).choices, uniform: isUniform(e.genome), top1: info.top1, energy_pj: info.energy_pj, saving: 1 - info.energy_pj / base.energy_pj, hit_rate: info.hit_rate };
  });
  const frontKeys = new Set(r.front.map((e) => e.key));
  const front = r.archive.map((e, i) => ({ e, i })).filter(({ e }) => frontKeys.has(e.key)).sort((a, b) => a.e.objectives[1]! - b.e.objectives[1]!).map(({ i }) => i);
  const result: AxpSearchResult = {
    model: typeof o.model === "string" ? o.model : o.model.name, data: o.data, format: o.format, test_samples: ctx.test.count,
    baseline: { top1: base.top1, energy_pj: base.energy_pj }, budget, evaluations: r.evaluations, from_journal: r.fromJournal, points, front, files: [],
  };
  result.files = await writeSearchOutputs(o.outDir, result);
  return result;
}

async function writeSearchOutputs(dir: string, r: AxpSearchResult): Promise<string[]> {
  const { put, files } = resultFiles(dir);
  const frontSet = new Set(r.front);
  const label = (p: AxpSearchPoint) => Object.entries(p.layers).map(([n, c]) => `${n}: K${c.clusters} N${c.entries} m${c.key_bits} d${c.dont_care}${c.miss_multiplier ? ` ${c.miss_multiplier}` : ""}`).join("; ");
  const values = r.points.map((p, i) => ({ energy: p.energy_pj / 1e6, top1: 100 * p.top1, kind: frontSet.has(i) ? "front" : p.uniform ? "uniform" : "per-layer", label: label(p) }));
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: `AxP per-layer search: ${r.model.split("/").pop()} on ${r.data}`, subtitle: `${r.evaluations} configurations (NSGA-II), ${r.test_samples} test images, ${r.format} PE; diamond: baseline (unclustered model, FPU-only PE)` },
    width: 640, height: 400,
    layer: [
      { data: { values: values.filter((v) => v.kind === "front") }, mark: { type: "line", color: "#999", strokeDash: [4, 3] }, encoding: { x: { field: "energy", type: "quantitative" }, y: { field: "top1", type: "quantitative" }, order: { field: "energy" } } },
      {
        data: { values }, mark: { type: "point", filled: true, size: 60 },
        encoding: {
          x: { field: "energy", type: "quantitative", title: "PE compute energy per inference (uJ)" },
          y: { field: "top1", type: "quantitative", title: "top-1 (%)", scale: { zero: false } },
          color: { field: "kind", type: "nominal", title: "configuration" },
          tooltip: [{ field: "label" }],
        },
      },
      { data: { values: [{ energy: r.baseline.energy_pj / 1e6, top1: 100 * r.baseline.top1 }] }, mark: { type: "point", shape: "diamond", size: 120, color: "black", filled: true }, encoding: { x: { field: "energy", type: "quantitative" }, y: { field: "top1", type: "quantitative" } } },
    ],
  };
  const c = await chart(spec as never);
  put("chart.svg", c.svg);
  put("chart.png", c.png);
  put("front.json", `${JSON.stringify({ ...r, files: undefined, front_points: r.front.map((i) => r.points[i]) }, null, 2)}\n`);
  return files;
}
