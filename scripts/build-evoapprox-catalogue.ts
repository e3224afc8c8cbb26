// Regenerates data/evoapprox-catalogue.json from the EvoApproxLib metrics table
// (../shared/data/evoapprox-8x8-metrics.csv, published figures of EvoApproxLib, MIT licence).
// Usage: node dist/scripts/build-evoapprox-catalogue.js [path/to/evoapprox-8x8-metrics.csv]
import { readFileSync } from "node:fs";
import { parse } from "csv-parse/sync";
import { writeFileAtomic } from "../src/util/fs.js";
import { dataPath } from "../src/util/paths.js";
import type { EvoApproxEntry } from "../src/multipliers/evoapprox-catalogue.js";

const csvPath = process.argv[2] ?? new URL("../../../shared/data/evoapprox-8x8-metrics.csv", import.meta.url).pathname;
const rows = parse(readFileSync(csvPath, "utf8"), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
const num = (s: string | undefined): number => (s === undefined || s === "" ? NaN : Number(s));
const entries: EvoApproxEntry[] = rows.map((r) => ({
  name: r.name!,
  signed: r.signed === "true",
  version: r.lib_version!,
  hash: r.lut_sha1_12!,
  powerMw: num(r.power_mW),
  areaUm2: num(r.area_um2),
  delayNs: num(r.delay_ns),
  maePct: num(r.mae_pct),
  wcePct: num(r.wce_pct),
  mrePct: num(r.mre_pct),
  epPct: num(r.ep_pct),
  wcrePct: num(r.wcre_pct),
  maeAbs: num(r.mae_abs),
  wceAbs: num(r.wce_abs),
  mseAbs: num(r.mse_abs),
  paretoSubsets: (r.pareto_subsets ?? "").split(";").filter(Boolean),
  aliases: (r.same_lut_as ?? "").split(";").filter(Boolean),
  ...(r.v_path ? { verilogPath: r.v_path } : {}),
  ...(r.pdk45_v_path ? { pdk45VerilogPath: r.pdk45_v_path } : {}),
}));
writeFileAtomic(dataPath("evoapprox-catalogue.json"), "[\n" + entries.map((e) => JSON.stringify(e)).join(",\n") + "\n]\n");
console.log(`wrote ${entries.length} entries to ${dataPath("evoapprox-catalogue.json")}`);
