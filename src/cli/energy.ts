import type { Command } from "commander";
import { AxnnError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { resolveMultiplier, withPublishedFigures } from "../multipliers/resolve.js";
import { computeScaleFor, type ComputeScale } from "../energy/approx.js";
import { loadMapping } from "../energy/mapping.js";
import { searchMapping, type Objective, type SearchAlgorithm } from "../energy/mapper.js";
import { evaluate } from "../energy/model.js";
import { loadDesign, PRESET_NAMES } from "../energy/presets.js";
import { loadProblem } from "../energy/problem.js";
import { evaluationToJson, formatMapTxt, formatSummary } from "../energy/report.js";

interface LayerOptions {
  arch: string;
  ert?: string;
  constraints?: string;
  problem: string;
  map?: string;
  mult?: string;
  exactPowerMw?: string;
  objective: string;
  algorithm: string;
  seed: string;
  timeLimit: string;
  json?: boolean;
  out?: string;
}

const OBJECTIVES: Objective[] = ["energy", "delay", "edp"];
const ALGORITHMS: SearchAlgorithm[] = ["auto", "exhaustive", "random", "anneal"];

function positiveNumber(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new AxnnError(`expected a positive number, got "${v}"`, { field: flag });
  return n;
}

/** `axnn energy ...`: accelerator energy of a layer (Timeloop/Accelergy-compatible model and mapper). */
export function registerEnergy(program: Command): void {
  const energy = program.command("energy").description("accelerator energy of CNN layers (Timeloop/Accelergy-compatible)");
  energy
    .command("layer")
    .description("energy, cycles and utilization of one layer on one architecture; searches a mapping unless --map is given")
    .requiredOption("--arch <arch>", `architecture YAML (Timeloop v0.3 or v0.4) or a preset: ${PRESET_NAMES.join(", ")}`)
    .option("--ert <file>", "Accelergy ERT_summary.yaml (required with an architecture file)")
    .option("--constraints <file>", "Timeloop constraints YAML (architecture_constraints / mapspace_constraints targets)")
    .requiredOption("--problem <file>", "Timeloop problem YAML (the layer)")
    .option("--map <file>", "mapping: Timeloop map.txt or mapping YAML (without it, the mapper searches)")
    .option("--mult <name>", "approximate multiplier (file, library name, generator name): scales the multiplier's share of the MAC energy")
    .option("--exact-power-mw <mw>", "power of the exact multiplier of the same width (default: EvoApproxLib's exact 8x8)")
    .option("--objective <objective>", `mapper objective: ${OBJECTIVES.join(", ")}`, "energy")
    .option("--algorithm <algorithm>", `mapper search: ${ALGORITHMS.join(", ")}`, "auto")
    .option("--seed <n>", "mapper random seed", "1")
    .option("--time-limit <seconds>", "mapper time budget", "8")
    .option("--json", "print JSON: {energy_pj, cycles, utilization, macs, levels, mapping, ...}")
    .option("--out <file>", "also write the JSON to this file")
    .action((opts: LayerOptions) => {
      if (!OBJECTIVES.includes(opts.objective as Objective)) throw new AxnnError(`expected one of ${OBJECTIVES.join(", ")}, got "${opts.objective}"`, { field: "--objective" });
      if (!ALGORITHMS.includes(opts.algorithm as SearchAlgorithm)) throw new AxnnError(`expected one of ${ALGORITHMS.join(", ")}, got "${opts.algorithm}"`, { field: "--algorithm" });
      const seed = Number(opts.seed);
      if (!Number.isInteger(seed)) throw new AxnnError(`expected an integer, got "${opts.seed}"`, { field: "--seed" });
      const { arch, ert } = loadDesign(opts.arch, opts.ert, opts.constraints);
      const problem = loadProblem(opts.problem);
      let mult: ComputeScale | undefined;
      if (opts.mult !== undefined) {
        // Published figures also reach generated designs whose table EvoApproxLib has (e.g. "exact").
        const resolved = resolveMultiplier(opts.mult);
        const m = withPublishedFigures(resolved.multiplier);
        mult = computeScaleFor(m, arch.compute, {
          exactPowerMw: opts.exactPowerMw === undefined ? undefined : positiveNumber(opts.exactPowerMw, "--exact-power-mw"),
          netlist: resolved.netlist,
        });
      }
      const scale = mult?.scale ?? 1;
      let mapping, ev, search;
      if (opts.map !== undefined) {
        mapping = loadMapping(opts.map, arch, problem);
        ev = evaluate(arch, problem, mapping, ert, { computeEnergyScale: scale, mappingFile: opts.map });
      } else {
        const r = searchMapping(arch, problem, ert, {
          objective: opts.objective as Objective,
          algorithm: opts.algorithm as SearchAlgorithm,
          seed,
          timeLimitMs: positiveNumber(opts.timeLimit, "--time-limit") * 1000,
          computeEnergyScale: scale,
          progress: !opts.json,
        });
        mapping = r.mapping;
        ev = r.evaluation;
        search = { objective: r.objective, algorithm: r.algorithm, seed, evaluated: r.evaluated, valid: r.valid, mapspace_size: r.mapspaceSize, elapsed_ms: r.elapsedMs };
      }
      const json = {
        ...evaluationToJson(arch, problem, mapping, ev),
        ...(search ? { search } : {}),
        ...(mult ? { multiplier: { name: mult.multiplier, power_mw: mult.powerMw, exact_power_mw: mult.exactPowerMw, power_ratio: mult.powerRatio, power_source: mult.powerSource, multiplier_share: mult.share, mac_energy_scale: mult.scale } } : {}),
      };
      if (opts.out !== undefined) writeFileAtomic(opts.out, JSON.stringify(json, null, 2) + "\n");
      if (opts.json) {
        process.stdout.write(JSON.stringify(json, null, 2) + "\n");
        return;
      }
      process.stdout.write(formatMapTxt(arch, problem, mapping, ev) + "\n");
      process.stdout.write(formatSummary(arch, problem, ev));
      if (mult) {
        const power = mult.powerSource === "published" ? `${mult.powerMw} mW vs exact ${mult.exactPowerMw} mW` : `${(mult.powerRatio * 100).toFixed(1)}% of the exact multiplier's power (netlist estimate)`;
        process.stdout.write(`multiplier     : ${mult.multiplier} (${power}; multiplier share ${(mult.share * 100).toFixed(1)}% of the MAC; MAC energy x${mult.scale.toFixed(4)})\n`);
      }
      if (search) process.stdout.write(`search         : ${search.algorithm}, objective ${search.objective}, seed ${seed}, ${search.evaluated} mappings tried (${search.valid} valid) in ${(search.elapsed_ms / 1000).toFixed(1)} s\n`);
    });
}
