import { multiplierShare } from "./approx.js";
import type { Architecture } from "./arch.js";
import type { Ert } from "./ert.js";
import type { Objective, SearchAlgorithm } from "./mapper.js";
import { evaluate } from "./model.js";
import { shapeText, type LayerKind, type NetworkLayer } from "./network-layers.js";
import type { LayerMultipliers } from "./network-multipliers.js";
import { archForProblem, planNetwork, type NetworkPlan, type NetworkSearchOptions } from "./network-plan.js";

/** A planned network evaluated layer by layer, each with its own multiplier. */

export interface LayerEnergy {
  name: string;
  kind: LayerKind;
  /** e.g. "C=16 M=16 R=3 S=3 N=1 P=32 Q=32 stride 1x1". */
  shape: string;
  /** Index of the layer's distinct shape in the plan. */
  shapeIndex: number;
  repeat: number;
  macs: number;
  energyPj: number;
  cycles: number;
  utilization: number;
  /** Energy per component: every non-dummy storage level and the compute unit (pJ). */
  components: Record<string, number>;
  computePj: number;
  /** The multipliers' part of the compute energy (pJ). */
  multiplierPj: number;
  multiplier: string;
  macEnergyScale: number;
  mappingFromCache: boolean;
}

export interface NetworkEnergy {
  arch: string;
  /** Component names in hierarchy order, compute last. */
  componentNames: string[];
  layers: LayerEnergy[];
  totals: {
    energyPj: number;
    cycles: number;
    macs: number;
    components: Record<string, number>;
    computePj: number;
    multiplierPj: number;
    /** multiplierPj / energyPj. */
    multiplierShare: number;
  };
  search: {
    objective: Objective;
    seed: number;
    maxEvaluations: number;
    algorithm: SearchAlgorithm;
    distinctShapes: number;
    searched: number;
    cacheHits: number;
    evaluated: number;
    elapsedMs: number;
    /** Constraints that could not apply to some layer shape (e.g. a factor on M for a depthwise layer). */
    droppedConstraints: string[];
  };
}

/** Evaluates every layer of a plan with its multiplier; totals are sums over layers (layers run one after another). */
export function evaluatePlan(plan: NetworkPlan, multipliers?: LayerMultipliers): NetworkEnergy {
  const { arch, ert } = plan;
  const componentNames = [...arch.levels.filter((l) => !l.dummy).map((l) => l.name), arch.compute.name];
  const exactShare = multiplierShare(arch.compute);
  const lookup = (l: NetworkLayer) => (multipliers === undefined ? undefined : typeof multipliers === "function" ? multipliers(l) : multipliers.get(l.name));
  const layers: LayerEnergy[] = plan.layers.map((layer, i) => {
    const w = plan.workloads[i]!;
    const shape = plan.shapes[plan.shapeOf[i]!]!;
    const mult = lookup(layer);
    const scale = mult?.scale ?? 1;
    const ev = scale === 1 ? shape.evaluation : evaluate(archForProblem(arch, w.problem).arch, w.problem, shape.mapping, ert, { computeEnergyScale: scale });
    const components: Record<string, number> = Object.fromEntries(componentNames.map((n) => [n, 0]));
    for (const l of ev.levels) if (l.name in components) components[l.name] = l.energyPj * w.repeat;
    components[arch.compute.name] = ev.compute.energyPj * w.repeat;
    const computePj = ev.compute.energyPj * w.repeat;
    // The MAC energy is E*((1-s) + s*r); the multiplier's part is E*s*r = compute * s*r / scale.
    const share = mult?.share ?? exactShare;
    const ratio = mult?.powerRatio ?? 1;
    return {
      name: layer.name, kind: layer.kind, shape: shapeText(w), shapeIndex: plan.shapeOf[i]!, repeat: w.repeat,
      macs: ev.macs * w.repeat, energyPj: ev.energyPj * w.repeat, cycles: ev.cycles * w.repeat, utilization: ev.utilization,
      components, computePj, multiplierPj: (computePj * share * ratio) / scale,
      multiplier: mult?.multiplier ?? "exact", macEnergyScale: scale, mappingFromCache: shape.fromCache,
    };
  });
  const sum = (f: (l: LayerEnergy) => number) => layers.reduce((a, l) => a + f(l), 0);
  const energyPj = sum((l) => l.energyPj);
  const multiplierPj = sum((l) => l.multiplierPj);
  return {
    arch: arch.file,
    componentNames,
    layers,
    totals: {
      energyPj, cycles: sum((l) => l.cycles), macs: sum((l) => l.macs),
      components: Object.fromEntries(componentNames.map((n) => [n, sum((l) => l.components[n]!)])),
      computePj: sum((l) => l.computePj), multiplierPj, multiplierShare: multiplierPj / energyPj,
    },
    search: {
      objective: plan.settings.objective, seed: plan.settings.seed, maxEvaluations: plan.settings.maxEvaluations, algorithm: plan.settings.algorithm,
      distinctShapes: plan.shapes.length, searched: plan.shapes.filter((s) => !s.fromCache).length, cacheHits: plan.shapes.filter((s) => s.fromCache).length,
      evaluated: plan.shapes.filter((s) => !s.fromCache).reduce((a, s) => a + s.evaluated, 0), elapsedMs: plan.elapsedMs,
      droppedConstraints: [...new Set(plan.shapes.flatMap((s) => s.droppedConstraints))],
    },
  };
}

/** Energy of a network on one design: planNetwork then evaluatePlan. */
export function networkEnergy(arch: Architecture, ert: Ert, layers: NetworkLayer[], opts: NetworkSearchOptions & { multipliers?: LayerMultipliers } = {}): NetworkEnergy {
  return evaluatePlan(planNetwork(arch, ert, layers, opts), opts.multipliers);
}
