import { join, resolve } from "node:path";
import { writeFileAtomic } from "../util/fs.js";
import { progressBar } from "../util/progress.js";
import { characterise, type Characterisation } from "../multipliers/characterise.js";
import { defaultCatalogue, generate } from "../multipliers/generators/index.js";
import { multiplierFigures } from "../report/multiplier-figures.js";
import { chart } from "../report/charts.js";
import { renderHtmlReport, type ReportBlock } from "../report/html.js";

/**
 * `axnn demo`: the main job on built-in data. Today it characterises the built-in
 * library of approximate multipliers (error metrics, gate counts, estimated power, the
 * accuracy/power trade-off); later steps (inference, retraining, energy) add sections.
 */
export interface DemoOptions {
  outDir: string;
  /** No progress output (e.g. with --json). */
  quiet?: boolean;
}

export interface DemoMultiplierRow extends Characterisation {
  family: string;
  pareto: boolean;
}

export interface DemoResult {
  outDir: string;
  report: string;
  json: string;
  files: string[];
  multipliers: DemoMultiplierRow[];
}

/** Points not dominated in (MAE%, power): no other point is at least as good in both and better in one. */
export function paretoFront<T>(points: T[], x: (p: T) => number, y: (p: T) => number): Set<T> {
  const front = new Set<T>();
  for (const p of points) {
    const dominated = points.some((q) => q !== p && x(q) <= x(p) && y(q) <= y(p) && (x(q) < x(p) || y(q) < y(p)));
    if (!dominated) front.add(p);
  }
  return front;
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const outDir = resolve(opts.outDir);
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array): string => {
    const path = join(outDir, name);
    writeFileAtomic(path, data);
    files.push(path);
    return path;
  };

  const catalogue = defaultCatalogue().filter((c) => c.params.n === 8);
  const bar = progressBar("characterising multipliers", catalogue.length, { quiet: opts.quiet, unit: "designs" });
  const rows: DemoMultiplierRow[] = [];
  for (const { kind, params } of catalogue) {
    const g = generate(kind, params);
    rows.push({ ...characterise({ multiplier: g.multiplier, netlist: g.netlist, origin: "generated" }), family: kind, pareto: false });
    bar.tick();
  }
  bar.stop();

  const unsigned = rows.filter((r) => !r.signed);
  const front = paretoFront(unsigned, (r) => r.mae_pct, (r) => r.power_estimate!);
  for (const r of unsigned) r.pareto = front.has(r);
  const exact = unsigned.find((r) => r.family === "exact")!;

  const points = unsigned.map((r) => ({
    name: r.name, family: r.family, mae_pct: Math.max(r.mae_pct, 1e-4), power: r.power_estimate!, pareto: r.pareto,
    saving: 100 * (1 - r.power_estimate! / exact.power_estimate!),
  }));
  const tradeoff = await chart({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Error vs estimated power of the built-in unsigned 8x8 designs", subtitle: "Pareto-optimal designs joined; exact design plotted at MAE 0.0001 % (log axis)" },
    width: 620,
    height: 380,
    data: { values: points },
    layer: [
      {
        transform: [{ filter: "datum.pareto" }],
        mark: { type: "line", color: "#999", strokeDash: [4, 3] },
        encoding: { x: { field: "mae_pct", type: "quantitative" }, y: { field: "power", type: "quantitative" }, order: { field: "mae_pct" } },
      },
      {
        mark: { type: "point", filled: true, size: 70 },
        encoding: {
          x: { field: "mae_pct", type: "quantitative", scale: { type: "log" }, title: "MAE (% of 2^16)" },
          y: { field: "power", type: "quantitative", title: "estimated power (mW at 1 GHz)" },
          color: { field: "family", type: "nominal", title: "design" },
          shape: { field: "pareto", type: "nominal", title: "Pareto-optimal" },
          tooltip: [{ field: "name" }, { field: "mae_pct" }, { field: "power" }],
        },
      },
      {
        transform: [{ filter: "datum.pareto" }],
        mark: { type: "text", dx: 6, dy: -6, align: "left", fontSize: 9 },
        encoding: { x: { field: "mae_pct", type: "quantitative" }, y: { field: "power", type: "quantitative" }, text: { field: "name" } },
      },
    ],
  });
  put("tradeoff.svg", tradeoff.svg);
  put("tradeoff.png", tradeoff.png);

  const byMae = [...unsigned].filter((r) => r.family !== "exact").sort((a, b) => a.mae_pct - b.mae_pct);
  const good = byMae[0]!;
  const poor = byMae[byMae.length - 1]!;
  const figs = [good, poor].map((r) => {
    const g = catalogue.find((c) => generate(c.kind, c.params).multiplier.name === r.name)!;
    return { row: r, fig: multiplierFigures(generate(g.kind, g.params).multiplier) };
  });
  for (const { row, fig } of figs) {
    put(`${row.name}-heatmap.svg`, fig.heatmapSvg);
    put(`${row.name}-heatmap.png`, fig.heatmapPng);
  }

  const columns = ["design", "signed", "MAE %", "WCE %", "EP %", "bias", "cells", "est. power mW", "saving vs exact %", "Pareto"];
  const table = rows.map((r) => [
    r.name, r.signed ? "yes" : "no", r.mae_pct, r.wce_pct, r.ep_pct, r.bias, r.gates?.total ?? 0, r.power_estimate!,
    r.signed ? "" : 100 * (1 - r.power_estimate! / exact.power_estimate!), r.pareto ? "yes" : "",
  ]);
  const blocks: ReportBlock[] = [
    {
      kind: "paragraph",
      text: `${rows.length} classic approximate multiplier designs were generated as gate-level netlists, evaluated on all 65,536 operand pairs, ` +
        `and costed from switching activity (10,000 random operand pairs, 45 nm cell figures). ${front.size} unsigned designs are Pareto-optimal in error vs power.`,
    },
    { kind: "heading", text: "Error vs power" },
    { kind: "figure", svg: tradeoff.svg, caption: "Each point is one design; power is the netlist estimate, not a synthesis result." },
    { kind: "heading", text: "All designs" },
    { kind: "table", columns, rows: table },
    { kind: "heading", text: `Error maps: ${good.name} (smallest MAE) and ${poor.name} (largest MAE)` },
    ...figs.map(({ fig, row }) => ({ kind: "figure" as const, svg: fig.heatmapSvg, caption: row.name })),
    { kind: "paragraph", text: "Next steps of the demo (inference with these multipliers, retraining, accelerator energy) arrive with the inference engine." },
  ];
  const report = put("report.html", renderHtmlReport("axnn demo: approximate multipliers", blocks));
  const json = put("demo.json", JSON.stringify({ multipliers: rows }, null, 2) + "\n");
  return { outDir, report, json, files, multipliers: rows };
}
