// The charts and HTML report of a NAS run: every candidate's validation top-1 against its predicted
// energy, the front, and the front after each generation (how the search converged). While the search
// runs the page reloads itself every few seconds.
import { join } from "node:path";
import { chart, type ChartSpec } from "../../report/charts.js";
import { renderHtmlReport, type ReportBlock } from "../../report/html.js";
import { writeFileAtomic } from "../../util/fs.js";
import type { ArchiveEntry } from "../archive.js";
import type { NasCandidateInfo, NasObjective, NasProgress, NasSearchReport } from "./records.js";

export const REPORT_REFRESH_SECONDS = 10;

export interface NasReportInput {
  running: boolean;
  objectives: NasObjective[];
  archive: readonly ArchiveEntry[];
  generations: { step: number; evaluations: number; front: number[][] }[];
  progress?: NasProgress;
  report?: NasSearchReport;
}

const AXIS: Record<NasObjective, string> = { accuracy: "validation top-1 (%)", energy: "predicted energy (uJ)", params: "parameters", macs: "MACs" };

/** An objective value as plotted: accuracy in percent, energy in uJ. */
function shown(k: NasObjective, v: number): number {
  return k === "accuracy" ? 100 * (1 - v) : k === "energy" ? v / 1e6 : v;
}

/** Each kind of point on the candidates chart and its colour, in legend order. */
const KIND_COLORS: readonly (readonly [string, string])[] = [
  ["candidate", "#9ab"], ["infeasible", "#dcb"], ["front", "#d62728"], ["front, trained from scratch", "#ff7f0e"],
  ["lenet5, uniform multiplier", "#2ca02c"], ["resnet8, uniform multiplier", "#9467bd"], ["resnet20, uniform multiplier", "#8c564b"], ["mobilenetv2, uniform multiplier", "#e377c2"],
];

/** Baselines are diamonds, front members retrained from scratch triangles, everything else circles. */
function kindShape(kind: string): string {
  return kind.includes("uniform") ? "diamond" : kind.includes("scratch") ? "triangle-up" : "circle";
}

function paretoSpec(input: NasReportInput, x: NasObjective): ChartSpec {
  const xi = input.objectives.indexOf(x), ai = input.objectives.indexOf("accuracy");
  const front = new Set((input.report?.members ?? []).map((m) => m.key));
  const baselines = (input.report?.baselines ?? []).map((b) => ({
    x: shown(x, x === "energy" ? b.predicted_energy_pj : x === "params" ? b.params : b.macs), acc: 100 * b.val_top1, kind: `${b.name}, uniform multiplier`, arch: b.multiplier,
  }));
  // Members that inherited weights, trained again from scratch (--retrain-front): where equal training puts them.
  const scratch = (input.report?.members ?? []).filter((m) => m.from_scratch?.retrained).map((m) => ({
    x: shown(x, x === "energy" ? m.predicted_energy_pj : x === "params" ? m.params : m.macs), acc: 100 * m.from_scratch!.val_top1, kind: "front, trained from scratch", arch: m.architecture,
  }));
  const points = input.archive.map((e) => ({
    x: shown(x, e.objectives[xi]!), acc: shown("accuracy", e.objectives[ai]!),
    kind: front.has(e.key) ? "front" : e.violation > 0 ? "infeasible" : "candidate",
    arch: (e.info as NasCandidateInfo | undefined)?.architecture ?? "",
  }));
  // The legend lists only the kinds of point the chart has (a search without --retrain-front or some baselines has none of those).
  const present = new Set([...points, ...scratch, ...baselines].map((p) => p.kind));
  const kinds = KIND_COLORS.filter(([k]) => present.has(k));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: `Candidates: ${AXIS.accuracy} vs ${AXIS[x]}`, subtitle: `${input.archive.length} evaluated` },
    width: 560, height: 340,
    data: { values: [...points, ...scratch, ...baselines] },
    mark: { type: "point", filled: true, size: 40 },
    encoding: {
      x: { field: "x", type: "quantitative", title: AXIS[x], scale: { type: x === "accuracy" ? "linear" : "log" } },
      y: { field: "acc", type: "quantitative", title: AXIS.accuracy, scale: { zero: false } },
      color: { field: "kind", type: "nominal", title: "", scale: { domain: kinds.map(([k]) => k), range: kinds.map(([, c]) => c) }, legend: { labelLimit: 260 } },
      // The same field, domain and title as color: Vega-Lite draws one legend whose markers have the points' shapes.
      shape: { field: "kind", type: "nominal", title: "", scale: { domain: kinds.map(([k]) => k), range: kinds.map(([k]) => kindShape(k)) } },
    },
  } as ChartSpec;
}

function generationsSpec(input: NasReportInput, x: NasObjective): ChartSpec {
  const xi = input.objectives.indexOf(x), ai = input.objectives.indexOf("accuracy");
  const values = input.generations.flatMap((g) =>
    [...g.front].sort((a, b) => a[xi]! - b[xi]!).map((p, i) => ({ gen: g.step, order: i, x: shown(x, p[xi]!), acc: shown("accuracy", p[ai]!) })));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: "Front after each generation", subtitle: "darker = later" },
    width: 560, height: 340,
    data: { values },
    mark: { type: "line", point: true, interpolate: "step-after" },
    encoding: {
      x: { field: "x", type: "quantitative", title: AXIS[x], scale: { type: x === "accuracy" ? "linear" : "log" } },
      y: { field: "acc", type: "quantitative", title: AXIS.accuracy, scale: { zero: false } },
      color: { field: "gen", type: "ordinal", title: "generation", scale: { scheme: "blues" } },
      order: { field: "order", type: "quantitative" },
    },
  } as ChartSpec;
}

/** Writes pareto.svg/.png, generations.svg/.png (when the run is done) and report.html. */
export async function writeNasReport(outDir: string, input: NasReportInput): Promise<void> {
  const x = input.objectives.find((k) => k !== "accuracy")!;
  const blocks: ReportBlock[] = [];
  const p = input.progress;
  if (input.running && p) {
    const left = p.secondsLeft === null ? "unknown" : `${Math.round(p.secondsLeft / 60)} min`;
    blocks.push({ kind: "paragraph", text: `Running: ${p.evaluations}/${p.budget} candidates, step ${p.step}, front ${p.frontSize}${p.hypervolume !== undefined ? `, hypervolume ${p.hypervolume.toPrecision(4)}` : ""}, time left ${left}. This page reloads every ${REPORT_REFRESH_SECONDS} s.` });
  }
  if (input.archive.length > 0) {
    const pareto = await chart(paretoSpec(input, x));
    blocks.push({ kind: "figure", svg: pareto.svg, caption: `Every evaluated candidate; red: the final front; ${input.report?.members.some((m) => m.from_scratch?.retrained) ? "orange triangles: front members that inherited weights, trained again from scratch with the baselines' schedule; " : ""}diamonds: hand-designed networks with one multiplier everywhere, trained with the same schedule.` });
    if (!input.running) {
      writeFileAtomic(join(outDir, "pareto.svg"), pareto.svg);
      writeFileAtomic(join(outDir, "pareto.png"), pareto.png);
    }
  }
  if (input.generations.some((g) => g.front.length > 0)) {
    const gens = await chart(generationsSpec(input, x));
    blocks.push({ kind: "figure", svg: gens.svg, caption: "The feasible front (validation accuracy and the search's objectives) after each generation." });
    writeFileAtomic(join(outDir, "generations.svg"), gens.svg);
    writeFileAtomic(join(outDir, "generations.png"), gens.png);
  }
  const r = input.report;
  if (r) {
    blocks.push({ kind: "paragraph", text: `${r.algorithm} on ${r.data}, ${r.evaluations} candidates (${r.from_journal} read back from the journal), accelerator ${r.arch}, predictor ${r.predictor}, hypervolume ${r.hypervolume.toPrecision(4)} (reference point ${r.reference_point.map((v) => v.toPrecision(3)).join(", ")}), ${(r.seconds / 60).toFixed(1)} min.` });
    blocks.push({
      kind: "table", caption: "Front members: validation and test top-1 with their multipliers, energy per inference from the energy model and from the predictor",
      columns: ["architecture", "val top-1 %", "test top-1 %", "from scratch: val %", "from scratch: test %", "energy uJ (model)", "energy uJ (predicted)", "params", "MACs", "model"],
      rows: r.members.map((m) => [m.architecture, 100 * m.val_top1, 100 * m.test_top1, m.from_scratch ? 100 * m.from_scratch.val_top1 : "-", m.from_scratch ? 100 * m.from_scratch.test_top1 : "-", m.energy_pj / 1e6, m.predicted_energy_pj / 1e6, m.params, m.macs, m.model]),
    });
    if (r.members.some((m) => m.from_scratch?.retrained)) {
      blocks.push({ kind: "paragraph", text: "From scratch: members that inherited weights during the search were trained again without a parent, with exactly the baselines' schedule (--retrain-front); the others were trained so by the search itself." });
    }
    if (r.baselines.length > 0) {
      blocks.push({
        kind: "table", caption: "Baselines: hand-designed networks with one multiplier everywhere, same training schedule",
        columns: ["network", "multiplier", "val top-1 %", "test top-1 %", "energy uJ (model)", "energy uJ (predicted)", "params", "dominated by the front", "dominated by the front trained from scratch"],
        rows: r.baselines.map((b) => [b.name, b.multiplier, 100 * b.val_top1, 100 * b.test_top1, b.energy_pj / 1e6, b.predicted_energy_pj / 1e6, b.params, b.dominated_by_front ? "yes" : "no",
          b.dominated_by_front_from_scratch === null ? "- (not retrained)" : b.dominated_by_front_from_scratch ? "yes" : "no"]),
      });
    }
  }
  let html = renderHtmlReport("axnn search nas", blocks);
  if (input.running) html = html.replace("<head>", `<head><meta http-equiv="refresh" content="${REPORT_REFRESH_SECONDS}">`);
  const file = join(outDir, "report.html");
  writeFileAtomic(file, html);
}
