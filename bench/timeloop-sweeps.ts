// `node dist/bench/timeloop-sweeps.js [--evaluations N] [--seed N] [--threads N] [--rows N] [--out FILE]`:
// trend agreement with third-party Timeloop v0.3 layer sweeps (shared/data/timeloop-reference/
// vidnerova-layer-sweeps). Their ERT version is not recorded, so absolute energies are not
// comparable; the question is whether our model and mapper rank the swept layers the same way.
// Prints a table and writes JSON (default timeloop-sweeps.json).
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadDesign, type LoadedDesign } from "../src/energy/presets.js";
import { loadProblem, type Problem } from "../src/energy/problem.js";
import { searchMapping, type MapperResult, type SearchTask } from "../src/energy/mapper.js";
import { ertToPlain, resolveThreads, runInWorkers } from "../src/energy/mapper-pool.js";
import { writeFileAtomic } from "../src/util/fs.js";

/** ../shared beside the repository (or $AXNN_SHARED, as the tests read it). */
export const SWEEPS_DIR = resolve(process.env.AXNN_SHARED ?? resolve(fileURLToPath(import.meta.url), "..", "..", "..", "..", "shared"), "data", "timeloop-reference", "vidnerova-layer-sweeps");

/** CSV name part, layer_configs folder and YAML file prefix of each sweep. */
export const SWEEPS = [
  { sweep: "d", folder: "d_lambda", prefix: "test_layer_" },
  { sweep: "inputs", folder: "input_size", prefix: "inputs_layer_" },
  { sweep: "kernels", folder: "kernel_size", prefix: "kernel_layer_" },
  { sweep: "stride", folder: "stride", prefix: "stride_layer_" },
] as const;
export const DESIGNS = ["eyeriss", "simba"] as const;
export type SweepName = (typeof SWEEPS)[number]["sweep"];
export type DesignName = (typeof DESIGNS)[number];

/** One row of a sweep CSV (no header; `;`-separated): swept value; total, compute, data-movement energy (pJ); MACs; analytic access count. */
export interface SweepRow {
  value: number;
  totalPj: number;
  computePj: number;
  movementPj: number;
  macs: number;
  accesses: number;
  /** The layer's problem YAML. */
  problemFile: string;
}

export function readSweep(design: DesignName, sweep: SweepName, dir = SWEEPS_DIR): SweepRow[] {
  const spec = SWEEPS.find((s) => s.sweep === sweep)!;
  const csv = join(dir, `${design}_energy_${sweep}.csv`);
  return readFileSync(csv, "utf8").split(/\r?\n/).filter((l) => l.trim() !== "").map((line, i) => {
    const f = line.split(";").map(Number);
    if (f.length !== 6 || f.some((x) => !Number.isFinite(x))) throw new Error(`${csv}:${i + 1}: expected 6 numbers separated by ";", got "${line}"`);
    const problemFile = join(dir, "layer_configs", spec.folder, `${spec.prefix}${f[0]}.yaml`);
    if (!existsSync(problemFile)) throw new Error(`${csv}:${i + 1}: no layer file ${problemFile}`);
    return { value: f[0]!, totalPj: f[1]!, computePj: f[2]!, movementPj: f[3]!, macs: f[4]!, accesses: f[5]!, problemFile };
  });
}

/**
 * The v0.3 preset of a design: its arch and architecture-constraint files are the sweep's own
 * (byte-identical). simba_like/constraints also holds mapspace constraints, left out: they fix a
 * spatial C=4 that cannot divide the C=3 layers the sweep reports results for, so that run cannot
 * have used them.
 */
export function sweepDesign(design: DesignName): LoadedDesign {
  return loadDesign(design === "eyeriss" ? "eyeriss-v03" : "simba-v03");
}

export interface SweepSettings {
  evaluations: number;
  seed: number;
}

export interface OurRow extends SweepRow {
  ourTotalPj: number;
  ourComputePj: number;
  ourMacs: number;
}

/** Our best-energy mapping for each row, searched single-threaded per row (rows in parallel over `threads` workers). */
export function runSweep(design: DesignName, rows: SweepRow[], settings: SweepSettings, threads = 1, loaded = sweepDesign(design)): OurRow[] {
  const { arch, ert } = loaded;
  const problems: Problem[] = rows.map((r) => loadProblem(r.problemFile));
  // Exhaustive only where the budget covers the whole mapspace: "auto" alone would enumerate the
  // first `evaluations` mappings of a larger one (up to 20000), which are often all invalid here.
  const opts = { objective: "energy" as const, seed: settings.seed, maxEvaluations: settings.evaluations, exhaustiveLimit: settings.evaluations, threads: 1 };
  const results: MapperResult[] = threads > 1 && rows.length > 1
    ? runInWorkers<MapperResult>(problems.map((problem): SearchTask => ({ kind: "search", arch, problem, ert: ertToPlain(ert), opts })), threads)
    : problems.map((p) => searchMapping(arch, p, ert, opts));
  return rows.map((r, i) => ({ ...r, ourTotalPj: results[i]!.evaluation.energyPj, ourComputePj: results[i]!.evaluation.compute.energyPj, ourMacs: problems[i]!.macs }));
}

export function pearson(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n, my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Ranks from 1, ties given their average rank. */
export function ranks(x: readonly number[]): number[] {
  const idx = x.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
  const out = new Array<number>(x.length);
  for (let k = 0; k < idx.length;) {
    let j = k;
    while (j + 1 < idx.length && idx[j + 1]!.v === idx[k]!.v) j++;
    for (let m = k; m <= j; m++) out[idx[m]!.i] = (k + j) / 2 + 1;
    k = j + 1;
  }
  return out;
}

export const spearman = (x: readonly number[], y: readonly number[]) => pearson(ranks(x), ranks(y));

export interface SweepSummary {
  sweep: SweepName;
  design: DesignName;
  n: number;
  pearsonTotal: number;
  spearmanTotal: number;
  pearsonCompute: number;
  spearmanCompute: number;
  /** Mean of ours / theirs, total energy. */
  meanTotalRatio: number;
  minTotalRatio: number;
  maxTotalRatio: number;
  /** Compute-energy ratio ours / theirs: mean and relative spread (max - min) / mean. */
  computeRatio: number;
  computeRatioSpread: number;
  macsEqual: boolean;
}

export function summarise(sweep: SweepName, design: DesignName, rows: OurRow[]): SweepSummary {
  const ours = rows.map((r) => r.ourTotalPj), theirs = rows.map((r) => r.totalPj);
  const ratios = rows.map((r) => r.ourTotalPj / r.totalPj);
  const cr = rows.map((r) => r.ourComputePj / r.computePj);
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  return {
    sweep, design, n: rows.length,
    pearsonTotal: pearson(ours, theirs), spearmanTotal: spearman(ours, theirs),
    pearsonCompute: pearson(rows.map((r) => r.ourComputePj), rows.map((r) => r.computePj)),
    spearmanCompute: spearman(rows.map((r) => r.ourComputePj), rows.map((r) => r.computePj)),
    meanTotalRatio: mean(ratios), minTotalRatio: Math.min(...ratios), maxTotalRatio: Math.max(...ratios),
    computeRatio: mean(cr), computeRatioSpread: (Math.max(...cr) - Math.min(...cr)) / mean(cr),
    macsEqual: rows.every((r) => r.ourMacs === r.macs),
  };
}

function main(): void {
  const arg = (name: string, def: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i < 0 ? def : Number(process.argv[i + 1]);
  };
  const outIdx = process.argv.indexOf("--out");
  const out = outIdx < 0 ? "timeloop-sweeps.json" : process.argv[outIdx + 1]!;
  const settings = { evaluations: arg("evaluations", 3000), seed: arg("seed", 1) };
  const threads = resolveThreads(process.argv.includes("--threads") ? arg("threads", 1) : undefined);
  const maxRows = arg("rows", Infinity);
  if (!existsSync(SWEEPS_DIR)) throw new Error(`${SWEEPS_DIR} not found`);
  const summaries: SweepSummary[] = [];
  const details: Record<string, OurRow[]> = {};
  const t0 = Date.now();
  for (const design of DESIGNS) {
    const loaded = sweepDesign(design);
    for (const { sweep } of SWEEPS) {
      const all = readSweep(design, sweep);
      // --rows N keeps N rows spread evenly over the sweep (first and last included).
      const rows = all.length <= maxRows ? all : Array.from({ length: maxRows }, (_, k) => all[Math.round((k * (all.length - 1)) / (maxRows - 1))]!);
      const ours = runSweep(design, rows, settings, threads, loaded);
      details[`${design}/${sweep}`] = ours;
      summaries.push(summarise(sweep, design, ours));
      process.stderr.write(`${design} ${sweep}: ${rows.length} rows (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
  }
  const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
  const header = "sweep    design   n   Pearson  Spearman  ours/theirs (min..max)   compute r  compute ratio (spread)  MACs equal";
  const lines = summaries.map((s) =>
    `${s.sweep.padEnd(8)} ${s.design.padEnd(8)} ${String(s.n).padStart(2)}  ${f(s.pearsonTotal).padStart(7)}  ${f(s.spearmanTotal).padStart(8)}  ${f(s.meanTotalRatio)} (${f(s.minTotalRatio)}..${f(s.maxTotalRatio)})   ${f(s.pearsonCompute, 4).padStart(8)}  ${f(s.computeRatio, 4)} (${s.computeRatioSpread.toExponential(1)})     ${s.macsEqual ? "yes" : "NO"}`);
  process.stdout.write(`mapper: energy objective, seed ${settings.seed}, ${settings.evaluations} evaluations per layer\n${header}\n${lines.join("\n")}\n`);
  writeFileAtomic(out, JSON.stringify({ date: new Date().toISOString(), settings, summaries, rows: details }, null, 2) + "\n");
  process.stdout.write(`(JSON: ${out})\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
