import { join, resolve } from "node:path";
import { writeFileAtomic } from "../util/fs.js";
import { chart, type ChartSpec } from "../report/charts.js";
import { renderHtmlReport, type ReportBlock } from "../report/html.js";
import type { NetworkEnergy } from "./network-evaluation.js";

/** Plain JSON of a network's energy (snake_case, pJ). */
export function networkEnergyToJson(r: NetworkEnergy, extra: { model?: string } = {}) {
  return {
    ...(extra.model !== undefined ? { model: extra.model } : {}),
    arch: r.arch,
    energy_pj: r.totals.energyPj,
    cycles: r.totals.cycles,
    macs: r.totals.macs,
    pj_per_mac: r.totals.energyPj / r.totals.macs,
    components: r.totals.components,
    compute_pj: r.totals.computePj,
    multiplier_pj: r.totals.multiplierPj,
    multiplier_share: r.totals.multiplierShare,
    layers: r.layers.map((l) => ({
      name: l.name, kind: l.kind, shape: l.shape, macs: l.macs, multiplier: l.multiplier, mac_energy_scale: l.macEnergyScale,
      energy_pj: l.energyPj, cycles: l.cycles, utilization: l.utilization, components: l.components,
      compute_pj: l.computePj, multiplier_pj: l.multiplierPj, mapping_cached: l.mappingFromCache,
    })),
    search: {
      objective: r.search.objective, seed: r.search.seed, max_evaluations: r.search.maxEvaluations, algorithm: r.search.algorithm,
      distinct_shapes: r.search.distinctShapes, searched: r.search.searched, cache_hits: r.search.cacheHits,
      evaluated: r.search.evaluated, elapsed_ms: r.search.elapsedMs, dropped_constraints: r.search.droppedConstraints,
    },
  };
}

const fmt = (n: number, digits: number) => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function alignedTable(header: string[], rows: string[][], leftColumns: number): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c < leftColumns ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

/** Per-layer table, then energy per component and totals. */
export function formatNetworkTable(r: NetworkEnergy): string {
  const header = ["layer", "kind", "shape", "multiplier", "MACs", "energy uJ", "pJ/MAC", "cycles", "util %", "mult. %"];
  const rows = r.layers.map((l) => [
    l.name, l.kind, l.shape, l.multiplier, String(l.macs), fmt(l.energyPj / 1e6, 3), fmt(l.energyPj / l.macs, 3), String(l.cycles),
    fmt(l.utilization * 100, 1), fmt((100 * l.multiplierPj) / l.energyPj, 2),
  ]);
  const out = alignedTable(header, rows, 4);
  out.push("");
  const compRows = r.componentNames.map((n) => [n, fmt(r.totals.components[n]! / 1e6, 3), fmt((100 * r.totals.components[n]!) / r.totals.energyPj, 2)]);
  out.push(...alignedTable(["component", "energy uJ", "share %"], compRows, 1));
  out.push("");
  out.push(`architecture     : ${r.arch}`);
  out.push(`layers           : ${r.layers.length} (${r.search.distinctShapes} distinct shapes; ${r.search.searched} searched, ${r.search.cacheHits} from the cache)`);
  out.push(`MACs             : ${r.totals.macs}`);
  out.push(`energy           : ${fmt(r.totals.energyPj / 1e6, 3)} uJ (${fmt(r.totals.energyPj / r.totals.macs, 4)} pJ/MAC)`);
  out.push(`cycles           : ${r.totals.cycles}`);
  out.push(`multipliers      : ${fmt(r.totals.multiplierPj / 1e6, 3)} uJ, ${fmt(r.totals.multiplierShare * 100, 2)}% of the energy`);
  out.push(`search           : ${r.search.algorithm}, objective ${r.search.objective}, seed ${r.search.seed}, ${r.search.maxEvaluations} evaluations per shape, ${(r.search.elapsedMs / 1000).toFixed(1)} s`);
  if (r.search.droppedConstraints.length) out.push(`note             : constraints on dimensions some layers lack were not applied to them: ${r.search.droppedConstraints.join(", ")}`);
  return out.join("\n") + "\n";
}

/** Stacked bars: energy of each layer (network order) split by component. */
export function networkEnergyChartSpec(r: NetworkEnergy, title?: string): ChartSpec {
  const used = r.componentNames.filter((n) => r.totals.components[n]! > 0);
  const values = r.layers.flatMap((l, i) => used.map((c) => ({ layer: l.name, index: i, component: c, order: used.indexOf(c), energy_uj: l.components[c]! / 1e6 })));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: title ?? `Energy per layer by component (${r.arch})`,
      subtitle: `total ${fmt(r.totals.energyPj / 1e6, 2)} uJ, ${r.totals.cycles} cycles; multipliers ${fmt(r.totals.multiplierShare * 100, 2)}% of the energy`,
    },
    // A band of at least 14 px per layer up to 1600 px; beyond that, labels that would overlap are left out.
    width: Math.max(360, Math.min(1600, 22 * r.layers.length)),
    height: 320,
    data: { values },
    mark: { type: "bar" },
    encoding: {
      x: { field: "layer", type: "nominal", sort: { field: "index" }, title: "layer", axis: { labelAngle: -90, labelOverlap: "greedy", labelLimit: 240, labelFontSize: 10 } },
      y: { field: "energy_uj", type: "quantitative", stack: "zero", title: "energy (uJ)" },
      color: { field: "component", type: "nominal", sort: used, title: "component" },
      order: { field: "order" },
      tooltip: [{ field: "layer" }, { field: "component" }, { field: "energy_uj", format: ".4f" }],
    },
  } as ChartSpec;
}

export function networkReportBlocks(r: NetworkEnergy, chartSvg: string, model?: string): ReportBlock[] {
  return [
    {
      kind: "paragraph",
      text: `${model ? `${model}: ` : ""}${r.layers.length} layers (${r.search.distinctShapes} distinct shapes) on ${r.arch}: ` +
        `${fmt(r.totals.energyPj / 1e6, 3)} uJ, ${r.totals.cycles} cycles, ${r.totals.macs} MACs; ` +
        `the multipliers take ${fmt(r.totals.multiplierShare * 100, 2)}% of the energy. ` +
        `Mappings: ${r.search.algorithm} search, objective ${r.search.objective}, ${r.search.maxEvaluations} evaluations per distinct shape, seed ${r.search.seed}.`,
    },
    { kind: "figure", svg: chartSvg, caption: "Energy of each layer, stacked by component (storage levels and the compute unit)." },
    {
      kind: "table",
      caption: "Energy per component",
      columns: ["component", "energy (uJ)", "share %"],
      rows: r.componentNames.map((n) => [n, r.totals.components[n]! / 1e6, (100 * r.totals.components[n]!) / r.totals.energyPj]),
    },
    // Two tables of a page's width rather than one that overflows it: the layers' figures, then their components.
    {
      kind: "table",
      caption: "Per layer",
      columns: ["layer", "kind", "shape", "multiplier", "MACs", "energy (uJ)", "pJ/MAC", "cycles", "util. %", "mult. %"],
      rows: r.layers.map((l) => [
        l.name, l.kind, l.shape, l.multiplier, l.macs, l.energyPj / 1e6, l.energyPj / l.macs, l.cycles, l.utilization * 100, (100 * l.multiplierPj) / l.energyPj,
      ]),
    },
    {
      kind: "table",
      caption: "Per layer: energy by component (uJ)",
      columns: ["layer", ...r.componentNames],
      rows: r.layers.map((l) => [l.name, ...r.componentNames.map((n) => l.components[n]! / 1e6)]),
    },
  ];
}

/** Writes energy.json, energy-per-layer.svg/.png and report.html into `outDir`; returns the paths written. */
export async function writeNetworkReport(r: NetworkEnergy, outDir: string, opts: { model?: string } = {}): Promise<string[]> {
  const dir = resolve(outDir);
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array) => {
    const path = join(dir, name);
    writeFileAtomic(path, data);
    files.push(path);
  };
  const fig = await chart(networkEnergyChartSpec(r, opts.model ? `${opts.model}: energy per layer by component` : undefined));
  put("energy.json", JSON.stringify(networkEnergyToJson(r, opts), null, 2) + "\n");
  put("energy-per-layer.svg", fig.svg);
  put("energy-per-layer.png", fig.png);
  put("report.html", renderHtmlReport(`axnn energy: ${opts.model ?? "network"} on ${r.arch}`, networkReportBlocks(r, fig.svg, opts.model)));
  return files;
}
