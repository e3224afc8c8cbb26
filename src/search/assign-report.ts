import { join } from "node:path";
import { writeFileAtomic } from "../util/fs.js";
import { chart, type ChartSpec } from "../report/charts.js";
import { renderHtmlReport, type ReportBlock } from "../report/html.js";
import { choiceConfig, memberConfigPath, type AssignmentPoint, type AssignmentSearchResult } from "./assign-search.js";

const METHOD_LABEL: Record<string, string> = { nsga2: "NSGA-II", random: "random", greedy: "greedy (sensitivity)", uniform: "uniform" };

/** The mult-config of one assignment: what `axnn eval`, `axnn energy net` and `axnn finetune` take. */
export function assignmentConfig(r: AssignmentSearchResult, pt: AssignmentPoint): { default: string; layers: Record<string, string> } {
  return choiceConfig(r.prepared, pt.choice);
}

/** The front as front.json's members (mult_config relative to the output directory). */
export function frontMembers(r: AssignmentSearchResult) {
  return r.front.map((pt, i) => ({
    mult_config: memberConfigPath(i),
    val_top1: pt.val_top1, test_top1: pt.test_top1 ?? null, val_drop: pt.val_drop, test_drop: pt.test_drop ?? null,
    energy_pj: pt.energy_pj, multiplier_pj: pt.multiplier_pj, saving: pt.saving, multiplier_saving: pt.multiplier_saving,
    multipliers: pt.multipliers,
    ...(pt.finetune ? { finetune: pt.finetune } : {}),
  }));
}

export function assignmentSummaryJson(r: AssignmentSearchResult, files: string[] = []) {
  return {
    settings: r.settings,
    exact: r.exact,
    members: frontMembers(r),
    methods: r.methods.map((m) => ({ method: m.method, evaluations: m.evaluations, hypervolume: m.hypervolume, front_size: m.front.length })),
    savings: r.savings,
    prepare_seconds: r.prepared.prepareSeconds,
    seconds: r.seconds,
    ...(files.length ? { files } : {}),
  };
}

/** The Pareto chart: every evaluation as a dot, each method's validation front as a line. */
export function assignmentChartSpec(r: Pick<AssignmentSearchResult, "methods" | "settings" | "energyObjective">): ChartSpec {
  const energyKey = r.energyObjective === "energy" ? "saving" : "multiplier_saving";
  // Drops far beyond the hypervolume's reference are left off the chart: the region of interest stays readable.
  // (Filtered, not clipped: resvg panics on some clipped marks.)
  // So are assignments costing over 20 % more than exact (designs with power ratios up to 2.5 would
  // otherwise squeeze every useful point into a sliver of the x axis).
  const maxDrop = 2 * (r.settings.hv_reference as { max_drop_points: number }).max_drop_points;
  const MIN_SAVING = -20;
  const shown = (p: { drop: number; saving: number }) => p.drop <= maxDrop && p.saving >= MIN_SAVING;
  const rows = r.methods.flatMap((m) => m.archive.map((pt) => ({ method: METHOD_LABEL[m.method], kind: "evaluated", drop: pt.val_drop, saving: 100 * pt[energyKey] }))).filter(shown);
  const fronts = r.methods.flatMap((m) => m.front.map((pt) => ({ method: METHOD_LABEL[m.method], drop: pt.val_drop, saving: 100 * pt[energyKey] }))).filter(shown);
  const x = { field: "saving", type: "quantitative", title: `${r.energyObjective === "energy" ? "accelerator" : "multiplier"} energy saved vs exact (%; from ${MIN_SAVING} shown)` } as const;
  const y = { field: "drop", type: "quantitative", title: `validation top-1 drop (points; up to ${maxDrop} shown)` } as const;
  const color = { field: "method", type: "nominal", title: "method", scale: { domain: Object.values(METHOD_LABEL) }, legend: { labelLimit: 260 } } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: "Multiplier assignment: accuracy drop vs energy saved", subtitle: `${r.settings.model} on ${r.settings.data}; fronts as lines, every evaluation as a dot` },
    width: 640, height: 400,
    layer: [
      { data: { values: rows }, mark: { type: "point", opacity: 0.3, size: 18 }, encoding: { x, y, color } },
      { data: { values: fronts }, mark: { type: "line", point: true }, encoding: { x, y, color, order: { field: "saving", type: "quantitative" } } },
    ],
  } as unknown as ChartSpec;
}

function energySourceText(r: AssignmentSearchResult): string {
  const p = r.prepared;
  if (p.energySource === "model") return `${p.arch} accelerator energy model`;
  if (p.energySource === "sum") return `MACs x ${p.arch}'s MAC energy with each layer's multiplier (no data movement)`;
  return `learned predictor ${String(r.settings.predictor)} for ${p.arch}${p.predictorDomain?.inside ? " (every layer inside its training domain)" : " (some layers OUTSIDE its training domain: extrapolated, see settings.predictor_domain)"}`;
}

function approximateLayers(layers: readonly string[], multipliers: Record<string, string>): string {
  const parts = layers.filter((l) => multipliers[l] !== "exact").map((l) => `${l}: ${multipliers[l]}`);
  return parts.length === 0 ? "none (exact)" : parts.join(", ");
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const pts = (v: number | null | undefined) => (v === null || v === undefined ? "-" : v.toFixed(2));

/** Writes front.json, configs/, archive.json, pareto.svg/.png and report.html into `dir`; returns the files. */
export async function writeAssignmentReport(r: AssignmentSearchResult, dir: string): Promise<string[]> {
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array) => {
    writeFileAtomic(join(dir, name), data);
    files.push(join(dir, name));
  };
  const members = frontMembers(r);
  r.front.forEach((pt, i) => put(members[i]!.mult_config, JSON.stringify(assignmentConfig(r, pt), null, 2) + "\n"));
  put("archive.json", JSON.stringify({ methods: r.methods.map((m) => ({ method: m.method, evaluations: m.evaluations, archive: m.archive })) }) + "\n");
  const { svg, png } = await chart(assignmentChartSpec(r));
  put("pareto.svg", svg);
  put("pareto.png", png);
  const blocks: ReportBlock[] = [
    { kind: "paragraph", text: `Model ${r.settings.model}, data ${r.settings.data}: ${r.prepared.layers.length} layers searched over ${r.prepared.candidates.length} multipliers plus exact; accuracy on ${r.settings.validation_size} validation samples carved from the training split, fronts re-measured on ${r.settings.test_size} test samples. Energy: ${energySourceText(r)}; budget ${r.settings.budget} evaluations per method, seed ${r.settings.seed}${r.prepared.tunedWeights ? ", weights tuned (ALWANN update)" : ""}.` },
    { kind: "paragraph", text: `Exact int8: validation top-1 ${pct(r.exact.val_top1)}, test top-1 ${pct(r.exact.test_top1)}, ${r.exact.energy_pj.toExponential(3)} pJ per inference, of which the multiplications ${r.exact.multiplier_pj.toExponential(3)} pJ (${pct(r.exact.multiplier_pj / r.exact.energy_pj)}).` },
    { kind: "figure", svg, caption: "Every evaluated assignment (dots) and each method's validation front (lines)." },
    { kind: "table", caption: `Hypervolume in (drop points, energy fraction) against (${(r.settings.hv_reference as { max_drop_points: number }).max_drop_points}, 1); larger is better`, columns: ["method", "evaluations", "front size", "hypervolume"], rows: r.methods.map((m) => [METHOD_LABEL[m.method]!, m.evaluations, m.front.length, m.hypervolume]) },
    { kind: "table", caption: "Best energy saving within a validation drop (the chosen member's test drop beside it)", columns: ["method", "max drop", "saving", "multiplier saving", "val drop", "test drop"], rows: r.savings.map((s) => [METHOD_LABEL[s.method]!, pts(s.max_drop), pct(s.saving), pct(s.multiplier_saving), pts(s.val_drop), pts(s.test_drop)]) },
    ...(r.front.some((m) => m.finetune) ? [{
      kind: "table" as const, caption: "Front members retrained (QAT, as axnn finetune): approximate test top-1 before and after, as axnn eval measures it (own calibration, no tuned weights)",
      columns: ["member", "search test top-1", "QAT epochs", "before", "after", "model"],
      rows: r.front.map((m, i) => [members[i]!.mult_config, m.test_top1 === undefined ? "-" : pct(m.test_top1), m.finetune?.epochs ?? "-", m.finetune ? pct(m.finetune.before_test_top1) : "-", m.finetune ? pct(m.finetune.after_test_top1) : "-", m.finetune?.model ?? "-"]),
    }] : []),
    { kind: "heading", text: "NSGA-II front" },
    // The per-layer multipliers as one wrapping column (a column per layer was wider than the page on ResNet-8).
    { kind: "table", caption: "Layers not listed use the exact multiplier", columns: ["mult_config", "val top-1", "test top-1", "saving", "multiplier saving", "approximate layers"], rows: members.map((m) => [m.mult_config, pct(m.val_top1), m.test_top1 === null ? "-" : pct(m.test_top1), pct(m.saving), pct(m.multiplier_saving), approximateLayers(r.prepared.layers, m.multipliers)]) },
  ];
  put("report.html", renderHtmlReport("axnn search assign", blocks));
  files.push(join(dir, "front.json"));
  writeFileAtomic(join(dir, "front.json"), JSON.stringify(assignmentSummaryJson(r, files), null, 2) + "\n");
  return files;
}
