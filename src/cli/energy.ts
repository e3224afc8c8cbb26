import type { Command } from "commander";
import { AxnnError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import type { Objective, SearchAlgorithm } from "../energy/mapper.js";
import { MAX_DEFAULT_THREADS } from "../energy/mapper-pool.js";
import { PRESET_NAMES } from "../energy/presets.js";
import { formatMapTxt, formatSummary } from "../energy/report.js";
import { mappingToYaml } from "../energy/mapping.js";
import { DEFAULT_NETWORK_EVALUATIONS, planMappingsJson } from "../energy/network.js";
import { runLayerEnergy, layerEnergyToJson } from "../energy/layer-energy.js";
import { runNetworkEnergy } from "../energy/network-energy.js";
import { formatNetworkTable, networkEnergyToJson, writeNetworkReport } from "../energy/network-report.js";
import { ZOO_NAMES } from "../energy/zoo-shapes.js";
import { parseNumberOption } from "./common.js";

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
  evaluations?: string;
  threads?: string;
  json?: boolean;
  out?: string;
  writeMapping?: string;
  lenient?: boolean;
}

const OBJECTIVES: Objective[] = ["energy", "delay", "edp"];
const ALGORITHMS: SearchAlgorithm[] = ["auto", "exhaustive", "random", "anneal"];

interface NetOptions {
  zoo?: string;
  model?: string;
  inputShape?: string;
  batch: string;
  width?: string;
  arch: string;
  ert?: string;
  constraints?: string;
  mult?: string;
  multConfig?: string;
  exactPowerMw?: string;
  objective: string;
  algorithm: string;
  seed: string;
  evaluations: string;
  threads?: string;
  cache: boolean;
  json?: boolean;
  out?: string;
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
    .option("--evaluations <n>", "mapper budget in mappings evaluated (deterministic for a seed and thread count; overrides --time-limit)")
    .option("--threads <n>", "mapper worker threads splitting the search (default 1; the mapping found depends on the seed and on this number)")
    .option("--json", "print JSON: {energy_pj, cycles, utilization, macs, levels, mapping, ...}")
    .option("-o, --out <file>", "also write the JSON to this file")
    .option("--write-mapping <file>", "write the mapping as Timeloop mapping YAML (timeloop-model reads it; so does --map)")
    .option("--lenient", "unknown attribute keys in the architecture YAML are warnings, not errors")
    .action((opts: LayerOptions) => {
      if (!OBJECTIVES.includes(opts.objective as Objective)) throw new AxnnError(`expected one of ${OBJECTIVES.join(", ")}, got "${opts.objective}"`, { field: "--objective" });
      if (!ALGORITHMS.includes(opts.algorithm as SearchAlgorithm)) throw new AxnnError(`expected one of ${ALGORITHMS.join(", ")}, got "${opts.algorithm}"`, { field: "--algorithm" });
      const seed = parseNumberOption(opts.seed, "--seed", { integer: true });
      const r = runLayerEnergy({
        arch: opts.arch, ert: opts.ert, constraints: opts.constraints, problem: opts.problem, map: opts.map, mult: opts.mult, lenient: opts.lenient,
        exactPowerMw: parseNumberOption(opts.exactPowerMw, "--exact-power-mw", { positive: true }),
        search: {
          objective: opts.objective as Objective,
          algorithm: opts.algorithm as SearchAlgorithm,
          seed,
          timeLimitMs: parseNumberOption(opts.timeLimit, "--time-limit", { positive: true }) * 1000,
          maxEvaluations: parseNumberOption(opts.evaluations, "--evaluations", { integer: true, positive: true }),
          threads: parseNumberOption(opts.threads, "--threads", { integer: true, positive: true }),
          progress: !opts.json,
        },
      });
      const json = layerEnergyToJson(r);
      const { arch, problem, mapping, evaluation: ev, search, multiplier: mult } = r;
      for (const w of arch.warnings) process.stderr.write(`axnn: warning: ${w}\n`);
      if (opts.writeMapping !== undefined) writeFileAtomic(opts.writeMapping, mappingToYaml(mapping, arch, problem));
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
      if (search) process.stdout.write(`search         : ${search.algorithm}, objective ${search.objective}, seed ${seed}, ${search.evaluated} mappings tried (${search.valid} valid, ${search.threads} thread${search.threads === 1 ? "" : "s"}) in ${(search.elapsed_ms / 1000).toFixed(1)} s\n`);
    });

  energy
    .command("net")
    .description("energy of a whole network: every conv, depthwise and dense layer, one mapping search per distinct shape (cached), per-layer multipliers")
    .option("--zoo <name>", `a model-zoo network's layer shapes: ${ZOO_NAMES.join(", ")}`)
    .option("--model <file>", "an ONNX model (its Conv, depthwise Conv and Gemm/MatMul layers)")
    .option("--input-shape <dims>", "ONNX input shape with batch 1, e.g. 1,3,32,32 (default: the declared one)")
    .option("--batch <n>", "samples per inference", "1")
    .option("--width <multiplier>", "width multiplier of the zoo network's hidden layers (as axnn train --width; default 1)")
    .requiredOption("--arch <arch>", `architecture YAML or a preset: ${PRESET_NAMES.join(", ")}`)
    .option("--ert <file>", "Accelergy ERT_summary.yaml (required with an architecture file)")
    .option("--constraints <file>", "Timeloop constraints YAML")
    .option("--mult <name>", "one multiplier for every layer (file, library name, generator name)")
    .option("--mult-config <file>", 'per-layer multipliers: {"default": NAME, "layers": {LAYER: NAME | "exact"}} (as axnn eval); default for --model: its <model>.axnn.json')
    .option("--exact-power-mw <mw>", "power of the exact multiplier of the same width (default: EvoApproxLib's exact 8x8)")
    .option("--objective <objective>", `mapper objective: ${OBJECTIVES.join(", ")}`, "energy")
    .option("--algorithm <algorithm>", `mapper search: ${ALGORITHMS.join(", ")}`, "auto")
    .option("--seed <n>", "mapper random seed", "1")
    .option("--evaluations <n>", "mapper budget per distinct layer shape (mappings evaluated)", String(DEFAULT_NETWORK_EVALUATIONS))
    .option("--threads <n>", `worker threads searching distinct shapes in parallel (default: the available cores, at most ${MAX_DEFAULT_THREADS}; the result does not depend on it)`)
    .option("--no-cache", "search every shape again and leave the mapping cache alone")
    .option("--json", "print JSON: {energy_pj, cycles, macs, components, multiplier_share, layers: [...], search, mappings}")
    .option("-o, --out <dir>", "write energy.json, energy-per-layer.svg/.png and report.html here")
    .action(async (opts: NetOptions) => {
      if (!OBJECTIVES.includes(opts.objective as Objective)) throw new AxnnError(`expected one of ${OBJECTIVES.join(", ")}, got "${opts.objective}"`, { field: "--objective" });
      if (!ALGORITHMS.includes(opts.algorithm as SearchAlgorithm)) throw new AxnnError(`expected one of ${ALGORITHMS.join(", ")}, got "${opts.algorithm}"`, { field: "--algorithm" });
      const seed = parseNumberOption(opts.seed, "--seed", { integer: true });
      const maxEvaluations = parseNumberOption(opts.evaluations, "--evaluations", { integer: true, positive: true });
      const { result, plan, model, multipliersFrom } = await runNetworkEnergy({
        zoo: opts.zoo, model: opts.model, batch: parseNumberOption(opts.batch, "--batch", { integer: true, positive: true }),
        widthMultiplier: parseNumberOption(opts.width, "--width", { positive: true }),
        inputShape: opts.inputShape?.split(/[,x]/).map((d) => parseNumberOption(d.trim(), "--input-shape", { integer: true, positive: true })),
        arch: opts.arch, ert: opts.ert, constraints: opts.constraints, mult: opts.mult, multConfig: opts.multConfig,
        exactPowerMw: parseNumberOption(opts.exactPowerMw, "--exact-power-mw", { positive: true }),
        search: {
          objective: opts.objective as Objective, algorithm: opts.algorithm as SearchAlgorithm, seed, maxEvaluations, cache: opts.cache, progress: !opts.json,
          threads: parseNumberOption(opts.threads, "--threads", { integer: true, positive: true }),
        },
      });
      if (multipliersFrom && !opts.json) process.stdout.write(`multipliers from ${multipliersFrom}\n`);
      const files = opts.out !== undefined ? await writeNetworkReport(result, opts.out, { model }) : [];
      if (opts.json) {
        process.stdout.write(JSON.stringify({ ...networkEnergyToJson(result, { model }), mappings: planMappingsJson(plan), ...(files.length ? { files } : {}) }, null, 2) + "\n");
        return;
      }
      process.stdout.write(formatNetworkTable(result));
      if (files.length) process.stdout.write(`report           : ${files.find((f) => f.endsWith(".html"))}\n`);
    });
}
