import type { Architecture } from "./arch.js";
import type { Mapping } from "./mapping.js";
import type { Evaluation } from "./model.js";
import type { Problem } from "./problem.js";

/** Timeloop's map.txt printout of a mapping (tile sizes from the evaluation); parseMapTxt reads it back. */
export function formatMapTxt(arch: Architecture, problem: Problem, mapping: Mapping, ev: Evaluation): string {
  const out: string[] = [];
  let depth = 0;
  mapping.levels.forEach((lm, li) => {
    const stats = ev.levels[li]!;
    const tiles = stats.dataSpaces.map((d) => `${d.name}:${d.tile} (${d.tile})`).join(" ");
    const header = `${arch.levels[li]!.name} [ ${tiles}${tiles ? " " : ""}] `;
    out.push(header);
    const loops = [...lm.temporal, ...lm.spatial];
    if (loops.length > 0) out.push("-".repeat(header.trimEnd().length));
    for (const l of loops) {
      const suffix = l.spatial ? ` (Spatial-${l.spatial})` : "";
      out.push(`|${" ".repeat(1 + 2 * depth)}for ${problem.dims[l.dim]} in [0:${l.bound})${suffix}`);
      depth++;
    }
    if (loops.length > 0 && li < mapping.levels.length - 1) out.push("");
  });
  out.push(`|${" ".repeat(1 + 2 * depth)}<< Compute >>`);
  return out.join("\n") + "\n";
}

/** The mapping as plain data (for JSON). */
export function mappingToJson(arch: Architecture, problem: Problem, mapping: Mapping) {
  return mapping.levels.map((lm, li) => ({
    level: arch.levels[li]!.name,
    keep: problem.dataSpaces.filter((_, d) => lm.keep[d]).map((d) => d.name),
    temporal: lm.temporal.map((l) => ({ dim: problem.dims[l.dim]!, bound: l.bound })),
    spatial: lm.spatial.map((l) => ({ dim: problem.dims[l.dim]!, bound: l.bound, axis: l.spatial! })),
  }));
}

/** The CLI's JSON: {energy_pj, cycles, utilization, macs, levels: {name: pJ}, mapping, ...details}. */
export function evaluationToJson(arch: Architecture, problem: Problem, mapping: Mapping, ev: Evaluation) {
  const levels: Record<string, number> = {};
  for (const l of ev.levels) if (!arch.levels.find((a) => a.name === l.name)!.dummy) levels[l.name] = l.energyPj;
  levels[ev.compute.name] = ev.compute.energyPj;
  return {
    energy_pj: ev.energyPj,
    cycles: ev.cycles,
    utilization: ev.utilization,
    macs: ev.macs,
    pj_per_mac: ev.pjPerMac,
    levels,
    mapping: mappingToJson(arch, problem, mapping),
    map_txt: formatMapTxt(arch, problem, mapping, ev),
    details: {
      compute: ev.compute,
      levels: ev.levels.filter((l) => l.dataSpaces.length > 0),
    },
  };
}

function fmt(n: number, digits = 2): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A summary table like Timeloop's (per level energy, fJ/MAC, counts), then totals. */
export function formatSummary(arch: Architecture, problem: Problem, ev: Evaluation): string {
  const rows: string[][] = [["level", "data space", "tile", "reads/inst", "fills/inst", "updates/inst", "instances", "energy (pJ)", "fJ/MAC"]];
  for (const l of [...ev.levels].reverse()) {
    if (l.dataSpaces.length === 0) continue;
    for (const d of l.dataSpaces) {
      rows.push([l.name, d.name, String(d.tile), String(d.reads), String(d.fills), String(d.updates), String(l.utilizedInstances), fmt(d.energyPj), fmt((d.energyPj / ev.macs) * 1000)]);
    }
    if (l.leakagePj > 0) rows.push([l.name, "(leakage)", "", "", "", "", String(l.utilizedInstances), fmt(l.leakagePj), fmt((l.leakagePj / ev.macs) * 1000)]);
    rows.push([l.name, "TOTAL", "", "", "", "", "", fmt(l.energyPj), fmt((l.energyPj / ev.macs) * 1000)]);
  }
  rows.push([ev.compute.name, "compute", "", "", "", "", String(ev.compute.utilizedInstances), fmt(ev.compute.energyPj), fmt((ev.compute.energyPj / ev.macs) * 1000)]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "));
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  lines.push("");
  lines.push(`layer          : ${problem.name} (${problem.dims.map((d, i) => `${d}=${problem.bounds[i]}`).join(" ")})`);
  lines.push(`architecture   : ${arch.file}`);
  lines.push(`MACs           : ${ev.macs}`);
  lines.push(`energy         : ${fmt(ev.energyPj / 1e6, 3)} uJ (${fmt(ev.energyPj)} pJ)`);
  lines.push(`pJ/MAC         : ${fmt(ev.pjPerMac, 4)}`);
  lines.push(`cycles         : ${ev.cycles}`);
  lines.push(`utilization    : ${fmt(ev.utilization * 100)}%`);
  lines.push(`EDP (J*cycle)  : ${(ev.energyPj * 1e-12 * ev.cycles).toExponential(3)}`);
  for (const l of ev.levels) {
    if (l.defaultedActions.length === 0 || l.dataSpaces.length === 0) continue;
    lines.push(`note           : ${l.name}'s ERT entry names no ${l.defaultedActions.join("/")} action Timeloop knows; priced by Timeloop's built-in default, as Timeloop does`);
  }
  return lines.join("\n") + "\n";
}
