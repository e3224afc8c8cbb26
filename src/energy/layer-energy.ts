// One layer on one architecture (what `axnn energy layer` runs): the design, the problem, a given
// or searched mapping, and the multiplier's scaling of the MAC energy.
import { resolveMultiplier, withPublishedFigures } from "../multipliers/resolve.js";
import { computeScaleFor, type ComputeScale } from "./approx.js";
import type { Architecture } from "./arch.js";
import { loadMapping, type Mapping } from "./mapping.js";
import { searchMapping, type MapperOptions, type MapperResult } from "./mapper.js";
import { evaluate, type Evaluation } from "./model.js";
import { loadDesign } from "./presets.js";
import { loadProblem, type Problem } from "./problem.js";
import { evaluationToJson } from "./report.js";

export interface LayerEnergyOptions {
  /** Architecture YAML (Timeloop v0.3 or v0.4) or a preset name (PRESET_NAMES). */
  arch: string;
  /** Accelergy ERT_summary.yaml (required with an architecture file). */
  ert?: string;
  /** Timeloop constraints YAML. */
  constraints?: string;
  /** Timeloop problem YAML (the layer). */
  problem: string;
  /** Mapping file (Timeloop map.txt or mapping YAML); without it the mapper searches. */
  map?: string;
  /** Approximate multiplier (file, library or generator name): scales the multiplier's share of the MAC energy. */
  mult?: string;
  /** Power of the exact multiplier of the same width (default: EvoApproxLib's exact 8x8). */
  exactPowerMw?: number;
  /** The mapper's settings when it searches (computeEnergyScale comes from `mult`). */
  search?: Omit<MapperOptions, "computeEnergyScale">;
  /** Unknown attribute keys in the architecture YAML become warnings (`arch.warnings`) instead of errors. */
  lenient?: boolean;
}

/** The search's summary, as `axnn energy layer --json` prints it. */
export interface LayerSearchSummary {
  objective: MapperResult["objective"];
  algorithm: MapperResult["algorithm"];
  seed: number;
  threads: number;
  evaluated: number;
  valid: number;
  mapspace_size: number;
  elapsed_ms: number;
}

export interface LayerEnergyResult {
  arch: Architecture;
  problem: Problem;
  mapping: Mapping;
  evaluation: Evaluation;
  /** Present when the mapper searched. */
  search?: LayerSearchSummary;
  /** Present with a multiplier. */
  multiplier?: ComputeScale;
}

/** Energy, cycles and utilization of one layer; searches a mapping unless `map` is given. */
export function runLayerEnergy(o: LayerEnergyOptions): LayerEnergyResult {
  const { arch, ert } = loadDesign(o.arch, o.ert, o.constraints, { lenient: o.lenient });
  const problem = loadProblem(o.problem);
  let multiplier: ComputeScale | undefined;
  if (o.mult !== undefined) {
    // Published figures also reach generated designs whose table EvoApproxLib has (e.g. "exact").
    const resolved = resolveMultiplier(o.mult);
    multiplier = computeScaleFor(withPublishedFigures(resolved.multiplier), arch.compute, { exactPowerMw: o.exactPowerMw, netlist: resolved.netlist });
  }
  const scale = multiplier?.scale ?? 1;
  if (o.map !== undefined) {
    const mapping = loadMapping(o.map, arch, problem);
    return { arch, problem, mapping, evaluation: evaluate(arch, problem, mapping, ert, { computeEnergyScale: scale, mappingFile: o.map }), ...(multiplier ? { multiplier } : {}) };
  }
  const r = searchMapping(arch, problem, ert, { ...o.search, computeEnergyScale: scale });
  const search: LayerSearchSummary = {
    objective: r.objective, algorithm: r.algorithm, seed: o.search?.seed ?? 1, threads: o.search?.threads ?? 1,
    evaluated: r.evaluated, valid: r.valid, mapspace_size: r.mapspaceSize, elapsed_ms: r.elapsedMs,
  };
  return { arch, problem, mapping: r.mapping, evaluation: r.evaluation, search, ...(multiplier ? { multiplier } : {}) };
}

/** The JSON of `axnn energy layer`: {energy_pj, cycles, utilization, macs, levels, mapping, search?, multiplier?}. */
export function layerEnergyToJson(r: LayerEnergyResult) {
  const m = r.multiplier;
  return {
    ...evaluationToJson(r.arch, r.problem, r.mapping, r.evaluation),
    ...(r.search ? { search: r.search } : {}),
    ...(m ? { multiplier: { name: m.multiplier, power_mw: m.powerMw, exact_power_mw: m.exactPowerMw, power_ratio: m.powerRatio, power_source: m.powerSource, multiplier_share: m.share, mac_energy_scale: m.scale } } : {}),
  };
}
