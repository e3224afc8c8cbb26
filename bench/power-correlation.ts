/**
 * How well does our netlist power estimate rank circuits the way EvoApproxLib's published
 * PDK45 power does? Reads every `.v` file under a directory laid out like the EvoApproxLib
 * repository (paths as in the v_path / pdk45_v_path columns of the shared metrics CSV),
 * identifies each netlist's CSV row by behaviour (names are reused across library versions),
 * estimates its power and area, and prints Spearman and Pearson correlations with the
 * published figures, overall and for unsigned and signed circuits, plus a single scale factor
 * fitted on half of the circuits and checked on the other half.
 *
 *   node dist/bench/power-correlation.js <netlist dir> [--csv FILE] [--samples N] [--seed S]
 *       [--delay zero|unit] [--no-map-adders] [--json OUT]
 *
 * Needs no network: it reads only the directory given and the CSV.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "csv-parse/sync";
import { readVerilogFile } from "../src/multipliers/netlist/verilog-read.js";
import { netlistToMultiplier } from "../src/multipliers/netlist/simulate.js";
import { estimateArea, estimatePower, gateCounts } from "../src/multipliers/netlist/cost.js";
import { lutHash, type Multiplier } from "../src/multipliers/multiplier.js";
import { writeFileAtomic } from "../src/util/fs.js";

interface CsvRow {
  name: string;
  signed: string;
  power_mW: string;
  area_um2: string;
  mae_abs: string;
  wce_abs: string;
  mse_abs: string;
  lib_version: string;
  lut_sha1_12: string;
  v_path: string;
  pdk45_v_path: string;
}

interface Circuit {
  key: string;
  name: string;
  libVersion: string;
  file: string;
  signed: boolean;
  publishedMw: number;
  publishedAreaUm2: number;
  estimateMw: number;
  dynamicMw: number;
  estimateAreaUm2: number;
  gates: number;
}

function parseArgs(argv: string[]): { dir: string; csv: string; samples: number; seed: number; delay: "zero" | "unit"; mapAdders: boolean; json?: string } {
  const rest: string[] = [];
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--no-map-adders") opts["no-map-adders"] = "1";
    else if (a.startsWith("--")) opts[a.slice(2)] = argv[++i] ?? "";
    else rest.push(a);
  }
  if (rest.length !== 1) {
    console.error("usage: power-correlation <netlist dir> [--csv FILE] [--samples N] [--seed S] [--delay zero|unit] [--no-map-adders] [--json OUT]");
    process.exit(2);
  }
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", ".."); // from dist/bench/
  return {
    dir: rest[0]!,
    csv: opts.csv ?? join(process.env.AXNN_SHARED ?? join(repoRoot, "..", "shared"), "data", "evoapprox-8x8-metrics.csv"),
    samples: Number(opts.samples ?? 10000),
    seed: Number(opts.seed ?? 1),
    delay: (opts.delay ?? "zero") as "zero" | "unit",
    mapAdders: !opts["no-map-adders"],
    json: opts.json,
  };
}

function listVerilog(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listVerilog(p));
    else if (name.endsWith(".v")) out.push(p);
  }
  return out;
}

/** Error metrics over all operand pairs, to tell which CSV row a netlist is. */
function errorMetrics(m: Multiplier): { mae: number; wce: number; mse: number } {
  let sum = 0, sq = 0, wce = 0;
  for (let i = 0; i < 65536; i++) {
    let a = i >> 8, w = i & 255;
    if (m.signed) { if (a > 127) a -= 256; if (w > 127) w -= 256; }
    const e = Math.abs(m.table[i]! - a * w);
    sum += e; sq += e * e; if (e > wce) wce = e;
  }
  return { mae: sum / 65536, wce, mse: sq / 65536 };
}

function ranks(x: number[]): number[] {
  const idx = x.map((v, i) => [v, i] as const).sort((p, q) => p[0] - q[0]);
  const r = new Array<number>(x.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1]![0] === idx[i]![0]) j++;
    for (let k = i; k <= j; k++) r[idx[k]![1]] = (i + j) / 2 + 1; // ties share the mean rank
    i = j + 1;
  }
  return r;
}

function pearson(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) { sxy += (x[i]! - mx) * (y[i]! - my); sxx += (x[i]! - mx) ** 2; syy += (y[i]! - my) ** 2; }
  return sxy / Math.sqrt(sxx * syy);
}

const spearman = (x: number[], y: number[]) => pearson(ranks(x), ranks(y));

function summarize(label: string, cs: Circuit[]) {
  if (cs.length < 3) return { label, n: cs.length };
  const est = cs.map((c) => c.estimateMw), pub = cs.map((c) => c.publishedMw);
  const aEst = cs.map((c) => c.estimateAreaUm2), aPub = cs.map((c) => c.publishedAreaUm2);
  return {
    label,
    n: cs.length,
    spearman: spearman(est, pub),
    pearson: pearson(est, pub),
    spearmanArea: spearman(aEst, aPub),
    pearsonArea: pearson(aEst, aPub),
  };
}

/** Least-squares scale through the origin on even-indexed circuits, judged on the odd ones. */
function heldOutScale(cs: Circuit[]) {
  const sorted = [...cs].sort((p, q) => p.key.localeCompare(q.key));
  const train = sorted.filter((_, i) => i % 2 === 0), test = sorted.filter((_, i) => i % 2 === 1);
  const s = train.reduce((a, c) => a + c.publishedMw * c.estimateMw, 0) / train.reduce((a, c) => a + c.estimateMw ** 2, 0);
  const relErr = (set: Circuit[]) => {
    const nz = set.filter((c) => c.publishedMw > 0.01);
    return nz.reduce((a, c) => a + Math.abs(s * c.estimateMw - c.publishedMw) / c.publishedMw, 0) / nz.length;
  };
  const absErr = (set: Circuit[]) => set.reduce((a, c) => a + Math.abs(s * c.estimateMw - c.publishedMw), 0) / set.length;
  return { scale: s, trainN: train.length, testN: test.length, trainMeanRelErr: relErr(train), testMeanRelErr: relErr(test), testMeanAbsErrMw: absErr(test) };
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const rows = parse(readFileSync(args.csv, "utf8"), { columns: true, skip_empty_lines: true }) as CsvRow[];
  const byPath = new Map<string, CsvRow[]>();
  for (const r of rows) for (const p of [r.v_path, r.pdk45_v_path]) if (p) byPath.set(p, [...(byPath.get(p) ?? []), r]);

  const circuits = new Map<string, Circuit>();
  const skipped: string[] = [];
  for (const file of listVerilog(args.dir)) {
    const rel = relative(args.dir, file).split(sep).join("/");
    const candidates = byPath.get(rel);
    if (!candidates) { skipped.push(`${rel}: not in the CSV`); continue; }
    const signed = candidates[0]!.signed === "true";
    let m: Multiplier;
    let nl;
    try {
      nl = readVerilogFile(file);
      m = netlistToMultiplier(nl, signed);
    } catch (e) {
      skipped.push(`${rel}: ${(e as Error).message}`);
      continue;
    }
    // Names and paths are reused across library versions: pick the row whose behaviour matches.
    const hash = lutHash(m);
    const err = errorMetrics(m);
    const row = candidates.find((r) => r.lut_sha1_12 === hash) ??
      candidates.find((r) => Math.abs(+r.mae_abs - err.mae) < 0.01 && +r.wce_abs === err.wce && Math.abs(+r.mse_abs - err.mse) <= 1e-3 * Math.max(1, err.mse));
    if (!row) { skipped.push(`${rel}: behaviour matches no CSV row with this path (MAE ${err.mae.toFixed(4)}, WCE ${err.wce})`); continue; }
    const key = row.lut_sha1_12;
    const prev = circuits.get(key);
    // One netlist per circuit; the _pdk45 file (what the library characterised) wins.
    if (prev && !(rel.endsWith("_pdk45.v") && !prev.file.endsWith("_pdk45.v"))) continue;
    const p = estimatePower(nl, { samples: args.samples, seed: args.seed, delay: args.delay, mapAdders: args.mapAdders });
    circuits.set(key, {
      key,
      name: row.name,
      libVersion: row.lib_version,
      file: rel,
      signed,
      publishedMw: +row.power_mW,
      publishedAreaUm2: +row.area_um2,
      estimateMw: p.totalMw,
      dynamicMw: p.dynamicMw,
      estimateAreaUm2: estimateArea(nl, { mapAdders: args.mapAdders }),
      gates: gateCounts(nl).total!,
    });
  }

  const all = [...circuits.values()].sort((a, b) => a.publishedMw - b.publishedMw || a.name.localeCompare(b.name));
  console.log(`circuit            ver     signed  published_mW  estimate_mW  pub_area  est_area  gates  file`);
  for (const c of all) {
    console.log(`${c.name.padEnd(18)} ${c.libVersion.padEnd(7)} ${String(c.signed).padEnd(7)} ${c.publishedMw.toFixed(4).padStart(12)} ${c.estimateMw.toFixed(4).padStart(12)} ${c.publishedAreaUm2.toFixed(1).padStart(9)} ${c.estimateAreaUm2.toFixed(1).padStart(9)} ${String(c.gates).padStart(6)}  ${c.file}`);
  }
  const summary = [
    summarize("all", all),
    summarize("unsigned", all.filter((c) => !c.signed)),
    summarize("signed", all.filter((c) => c.signed)),
  ];
  console.log("");
  for (const s of summary) {
    if (!("spearman" in s)) { console.log(`${s.label}: n=${s.n} (too few)`); continue; }
    console.log(`${s.label.padEnd(9)} n=${String(s.n).padStart(3)}  power: Spearman ${s.spearman!.toFixed(3)}  Pearson ${s.pearson!.toFixed(3)}   area: Spearman ${s.spearmanArea!.toFixed(3)}  Pearson ${s.pearsonArea!.toFixed(3)}`);
  }
  const cal = all.length >= 4 ? heldOutScale(all) : undefined;
  if (cal) {
    console.log(`\nscale factor (fitted on ${cal.trainN} circuits, alternate by LUT hash): ${cal.scale.toFixed(4)}; mean relative error train ${(100 * cal.trainMeanRelErr).toFixed(1)}%, held-out ${(100 * cal.testMeanRelErr).toFixed(1)}% (${cal.testN} circuits; circuits under 0.01 mW left out of relative error), held-out mean abs error ${cal.testMeanAbsErrMw.toFixed(4)} mW`);
  }
  if (skipped.length) console.log(`\nskipped ${skipped.length}:\n  ${skipped.join("\n  ")}`);
  console.log(`\n(${args.samples} random operand pairs, seed ${args.seed}, delay model ${args.delay}, adders ${args.mapAdders ? "mapped" : "not mapped"})`);
  if (args.json) writeFileAtomic(args.json, JSON.stringify({ samples: args.samples, seed: args.seed, delay: args.delay, mapAdders: args.mapAdders, circuits: all, summary, calibration: cal, skipped }, null, 2) + "\n");
}

main();
