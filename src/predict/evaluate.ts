import { join } from "node:path";
import { chart, type ChartSpec } from "../report/charts.js";
import { renderHtmlReport, type ReportBlock } from "../report/html.js";
import { ensureOutputDirectory, writeFileAtomic } from "../util/fs.js";
import type { DatasetRow } from "./dataset.js";
import { layerShapeKey } from "./features.js";
import { fidelity, type Fidelity } from "./metrics.js";
import type { EnergyPredictors, PredictLayer } from "./predictors.js";

/**
 * Held-out evaluation of the predictors against the reference energies: fidelity per accelerator x
 * family x predictor, and the speed-up of each predictor over the reference.
 *
 * What the speed-up counts. Reference time per network = the mapper time of each of its distinct
 * layer shapes (as recorded when that shape was searched: an empty cache would search them all)
 * + evaluatePlan with its multipliers. Predictor time per network = computing the features from the
 * layer list and running the predictor, timed here over the whole group (repeated until 200 ms have
 * passed, median of the repeats) and divided by the group's size. Neither counts reading files,
 * parsing or resolving multipliers (both need the power ratio of each multiplier, computed once).
 * `speedup_eval_only` compares with evaluatePlan alone, as if every mapping were already known.
 */

export const PREDICTOR_NAMES = ["sum", "learned", "sum_raw"] as const;
export type PredictorName = (typeof PREDICTOR_NAMES)[number];

export interface PredictorScore extends Fidelity {
  /** Mean reference time (mapping searches + evaluation) / mean predictor time, per network. */
  speedup: number;
  /** Mean evaluatePlan time (mappings known) / mean predictor time. */
  speedup_eval_only: number;
  predictor_us_per_network: number;
}

export interface GroupScore {
  arch: string;
  family: string;
  n: number;
  reference_ms_per_network: number;
  eval_only_ms_per_network: number;
  /** Share of the group's layers whose shape is among the learned model's training shapes (seen shapes are interpolation). */
  seen_shape_share: number;
  predictors: Record<PredictorName, PredictorScore>;
  /** Fixed family: the same metrics within each base architecture (where only multipliers vary). */
  byBase?: Record<string, Record<PredictorName, Fidelity>>;
}

export interface EvaluationResult {
  /** Over all rows given (every accelerator and family pooled). */
  sum: PredictorScore;
  learned: PredictorScore;
  sum_raw: PredictorScore;
  groups: GroupScore[];
  /** Every test network with the predictions (for the scatter plots). */
  points: Array<{ arch: string; family: string; base: string; id: string; reference: number; sum: number; learned: number; sum_raw: number }>;
}

const rowLayers = (r: DatasetRow): PredictLayer[] => r.layers.map((l) => ({ layer: l.layer, powerRatio: l.powerRatio }));

function predictAll(p: EnergyPredictors, rows: readonly DatasetRow[], name: PredictorName, layers: PredictLayer[][]): number[] {
  switch (name) {
    case "sum": return rows.map((r, i) => p.sum(r.arch, layers[i]!, r.family, r.base));
    case "sum_raw": return rows.map((r, i) => p.sumRaw(r.arch, layers[i]!));
    case "learned": return rows.map((r, i) => p.learned(r.arch, layers[i]!));
  }
}

/** Median milliseconds of one call of `fn`, repeated until `minMs` have passed (at least 3 runs). */
function medianMs(fn: () => void, minMs = 200): number {
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < minMs && times.length < 10000)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

function score(p: EnergyPredictors, rows: readonly DatasetRow[], name: PredictorName, layers: PredictLayer[][], predictions: number[]): PredictorScore {
  const refMs = rows.reduce((a, r) => a + r.referenceMs, 0) / rows.length;
  const evalMs = rows.reduce((a, r) => a + r.evalMs, 0) / rows.length;
  const predMs = medianMs(() => predictAll(p, rows, name, layers)) / rows.length;
  return {
    ...fidelity(predictions, rows.map((r) => r.energyPj)),
    speedup: refMs / predMs, speedup_eval_only: evalMs / predMs, predictor_us_per_network: predMs * 1000,
  };
}

function seenShare(p: EnergyPredictors, rows: readonly DatasetRow[]): number {
  let seen = 0, total = 0;
  for (const r of rows) {
    const keys = new Set(p.file.archs[r.arch]?.learned.trainingShapeKeys ?? []);
    for (const l of r.layers) {
      total++;
      if (keys.has(layerShapeKey(l.layer))) seen++;
    }
  }
  return total === 0 ? NaN : seen / total;
}

export function evaluatePredictors(p: EnergyPredictors, rows: readonly DatasetRow[]): EvaluationResult {
  const layers = rows.map(rowLayers);
  const preds = Object.fromEntries(PREDICTOR_NAMES.map((n) => [n, predictAll(p, rows, n, layers)])) as Record<PredictorName, number[]>;
  const groups: GroupScore[] = [];
  const keys = [...new Set(rows.map((r) => `${r.arch}\u0000${r.family}`))].sort();
  for (const key of keys) {
    const [arch, family] = key.split("\u0000") as [string, string];
    const idx = rows.map((r, i) => (r.arch === arch && r.family === family ? i : -1)).filter((i) => i >= 0);
    const gRows = idx.map((i) => rows[i]!), gLayers = idx.map((i) => layers[i]!);
    const g: GroupScore = {
      arch, family, n: gRows.length,
      reference_ms_per_network: gRows.reduce((a, r) => a + r.referenceMs, 0) / gRows.length,
      eval_only_ms_per_network: gRows.reduce((a, r) => a + r.evalMs, 0) / gRows.length,
      seen_shape_share: seenShare(p, gRows),
      predictors: Object.fromEntries(PREDICTOR_NAMES.map((n) => [n, score(p, gRows, n, gLayers, idx.map((i) => preds[n][i]!))])) as Record<PredictorName, PredictorScore>,
    };
    if (family === "fixed") {
      g.byBase = {};
      for (const base of [...new Set(gRows.map((r) => r.base))].sort()) {
        const bi = idx.filter((i) => rows[i]!.base === base);
        g.byBase[base] = Object.fromEntries(PREDICTOR_NAMES.map((n) => [n, fidelity(bi.map((i) => preds[n][i]!), bi.map((i) => rows[i]!.energyPj))])) as Record<PredictorName, Fidelity>;
      }
    }
    groups.push(g);
  }
  const all = Object.fromEntries(PREDICTOR_NAMES.map((n) => [n, score(p, rows, n, layers, preds[n])])) as Record<PredictorName, PredictorScore>;
  return {
    ...all, groups,
    points: rows.map((r, i) => ({ arch: r.arch, family: r.family, base: r.base, id: r.id, reference: r.energyPj, sum: preds.sum[i]!, learned: preds.learned[i]!, sum_raw: preds.sum_raw[i]! })),
  };
}

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");
const fx = (x: number) => (x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1));

/** The table: one row per accelerator x family x predictor (Markdown). */
export function evaluationTable(r: EvaluationResult, predictors: readonly PredictorName[] = ["sum", "learned"]): string {
  const lines = [
    "| accelerator | family | predictor | n | Pearson | Spearman | Kendall tau | R^2 | MAPE % | seen shapes % | reference ms/net | predictor us/net | speed-up | speed-up (eval only) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const g of r.groups) {
    for (const n of predictors) {
      const s = g.predictors[n];
      lines.push(`| ${g.arch} | ${g.family} | ${n} | ${g.n} | ${f3(s.pearson)} | ${f3(s.spearman)} | ${f3(s.kendall)} | ${f3(s.r2)} | ${s.mape.toFixed(2)} | ${(100 * g.seen_shape_share).toFixed(0)} | ${fx(g.reference_ms_per_network)} | ${s.predictor_us_per_network.toFixed(1)} | ${fx(s.speedup)} | ${fx(s.speedup_eval_only)} |`);
    }
  }
  return lines.join("\n");
}

/** Fixed family, within each base architecture (only the multipliers vary). */
export function perBaseTable(r: EvaluationResult, predictors: readonly PredictorName[] = ["sum", "learned"]): string {
  const lines = ["| accelerator | base | predictor | n | Pearson | Spearman | Kendall tau | R^2 | MAPE % |", "|---|---|---|---|---|---|---|---|---|"];
  for (const g of r.groups) {
    for (const [base, scores] of Object.entries(g.byBase ?? {})) {
      for (const n of predictors) {
        const s = scores[n];
        lines.push(`| ${g.arch} | ${base} | ${n} | ${s.n} | ${f3(s.pearson)} | ${f3(s.spearman)} | ${f3(s.kendall)} | ${f3(s.r2)} | ${s.mape.toFixed(2)} |`);
      }
    }
  }
  return lines.join("\n");
}

/** Predicted vs reference energy (uJ) of one accelerator x family, both predictors, with the identity line. */
export function scatterSpec(r: EvaluationResult, arch: string, family: string): ChartSpec {
  const pts = r.points.filter((p) => p.arch === arch && p.family === family);
  const values = pts.flatMap((p) => [
    { reference: p.reference / 1e6, predicted: p.sum / 1e6, predictor: "sum (affine)", base: p.base },
    { reference: p.reference / 1e6, predicted: p.learned / 1e6, predictor: "learned", base: p.base },
  ]);
  const lo = Math.min(...values.map((v) => Math.min(v.reference, v.predicted)));
  const hi = Math.max(...values.map((v) => Math.max(v.reference, v.predicted)));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: `Predicted vs reference energy: ${arch}, ${family} architectures`, subtitle: `${pts.length} held-out networks, log scales; the line is y = x` },
    width: 420, height: 420,
    layer: [
      { data: { values: [{ x: lo, y: lo }, { x: hi, y: hi }] }, mark: { type: "line", color: "#999", strokeDash: [4, 4] }, encoding: { x: { field: "x", type: "quantitative", scale: { type: "log" } }, y: { field: "y", type: "quantitative", scale: { type: "log" } } } },
      {
        data: { values }, mark: { type: "point", filled: true, size: 24, opacity: 0.6 },
        encoding: {
          x: { field: "reference", type: "quantitative", title: "reference energy (uJ per inference)", scale: { type: "log" } },
          y: { field: "predicted", type: "quantitative", title: "predicted energy (uJ)", scale: { type: "log" } },
          color: { field: "predictor", type: "nominal" },
          // The fixed family's networks by architecture; the sampled ones are all "nas".
          ...(family === "fixed" ? { shape: { field: "base", type: "nominal" } } : {}),
        },
      },
    ],
  } as ChartSpec;
}

/** Writes eval.json, table.md, one scatter plot per group (SVG and PNG) and report.html into `dir`. */
export async function writeEvaluationReport(r: EvaluationResult, dir: string, notes: string[] = []): Promise<string[]> {
  ensureOutputDirectory(dir);
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array) => {
    writeFileAtomic(join(dir, name), data);
    files.push(join(dir, name));
  };
  put("eval.json", JSON.stringify(r, null, 2) + "\n");
  const table = evaluationTable(r), base = perBaseTable(r), raw = evaluationTable(r, ["sum_raw"]);
  put("table.md", `${table}\n\nFixed family, within each base architecture:\n\n${base}\n\nThe uncorrected sum (multiplier energy only):\n\n${raw}\n`);
  const blocks: ReportBlock[] = notes.map((text) => ({ kind: "paragraph" as const, text }));
  const toRows = (md: string) => md.split("\n").slice(2).map((l) => l.split("|").slice(1, -1).map((c) => c.trim()));
  const cols = (md: string) => md.split("\n")[0]!.split("|").slice(1, -1).map((c) => c.trim());
  blocks.push({ kind: "heading", text: "Fidelity and speed-up on held-out networks" }, { kind: "table", columns: cols(table), rows: toRows(table) });
  if (base.split("\n").length > 2) blocks.push({ kind: "heading", text: "Fixed architectures, within each network" }, { kind: "table", columns: cols(base), rows: toRows(base) });
  blocks.push({ kind: "heading", text: "The uncorrected sum of multiplication energies" }, { kind: "table", columns: cols(raw), rows: toRows(raw) });
  for (const g of r.groups) {
    const { svg, png } = await chart(scatterSpec(r, g.arch, g.family));
    put(`scatter-${g.arch}-${g.family}.svg`, svg);
    put(`scatter-${g.arch}-${g.family}.png`, png);
    blocks.push({ kind: "figure", svg, caption: `${g.arch}, ${g.family} family: predicted vs reference` });
  }
  put("report.html", renderHtmlReport("axnn energy predictors: fidelity and speed-up", blocks));
  return files;
}
