// The energy of a whole network as `axnn energy net` computes it: layers from a zoo name or an
// ONNX model, multipliers from the command line or the model's sidecar, one mapping search per
// distinct shape, priced per layer. `axnn predict energy` reads its layers and multipliers the
// same way (networkLayersFor, networkAssignment), so a model is priced with the same multipliers.
import type { Model } from "../nn/graph.js";
import { loadAssignment, uniformAssignment, type MultiplierAssignment } from "../multipliers/assignment.js";
import { AxnnError } from "../util/errors.js";
import { loadSidecar } from "../zoo/sidecar.js";
import { loadDesign } from "./presets.js";
import { assignmentScales, evaluatePlan, layersFromModel, planNetwork, type NetworkEnergy, type NetworkLayer, type NetworkPlan, type NetworkSearchOptions } from "./network.js";
import { zooLayers } from "./zoo-shapes.js";

/** Where a network's layers come from: exactly one of `zoo` and `model`. */
export interface NetworkSource {
  /** A model-zoo network (ZOO_NAMES). */
  zoo?: string;
  /** An ONNX file (its sidecar can supply the multipliers) or a model. */
  model?: string | Model;
  /** Samples per inference; default 1. */
  batch?: number;
  /** Width multiplier of the zoo network's hidden layers (zoo only; as the zoo builders). */
  widthMultiplier?: number;
  /** ONNX input shape with batch 1 (default: the declared one; model only). */
  inputShape?: number[];
}

/** The conv, depthwise and dense layers of a network, and its name in reports. */
export async function networkLayersFor(src: NetworkSource): Promise<{ layers: NetworkLayer[]; model: string }> {
  if ((src.zoo === undefined) === (src.model === undefined)) throw new AxnnError("give exactly one of --zoo NAME and --model FILE.onnx", { field: "--zoo" });
  if (src.zoo !== undefined) return { layers: zooLayers(src.zoo, { batch: src.batch, widthMultiplier: src.widthMultiplier }), model: src.zoo };
  if (typeof src.model !== "string") return { layers: layersFromModel(src.model!, { batch: src.batch, inputShape: src.inputShape }), model: src.model!.name };
  // Loaded on demand: the ONNX reader pulls in protobuf, which pricing a zoo network does not need.
  const { loadOnnx } = await import("../onnx/index.js");
  return { layers: layersFromModel(loadOnnx(src.model), { batch: src.batch, inputShape: src.inputShape }), model: src.model };
}

/** Which multipliers price a network: one for every layer, a per-layer file, or else the model file's sidecar. */
export interface MultiplierChoice {
  /** One multiplier for every layer. */
  mult?: string;
  /** A per-layer assignment file ({default, layers}). */
  multConfig?: string;
}

/**
 * The assignment for these layers: `multConfig`, else `mult`, else (for an ONNX file) the
 * multipliers in its sidecar (written by `axnn finetune`), else exact everywhere.
 */
export function networkAssignment(choice: MultiplierChoice, layerNames: readonly string[], modelFile?: string): { assignment: MultiplierAssignment; sidecarFile?: string } {
  if (choice.mult !== undefined && choice.multConfig !== undefined) throw new AxnnError("give --mult or --mult-config, not both", { field: "--mult-config" });
  if (choice.multConfig !== undefined) return { assignment: loadAssignment(choice.multConfig, layerNames) };
  const stored = modelFile !== undefined && choice.mult === undefined ? loadSidecar(modelFile, layerNames) : undefined;
  if (stored?.sidecar.multipliers) return { assignment: stored.sidecar.multipliers, sidecarFile: stored.sidecarFile };
  return { assignment: uniformAssignment(choice.mult) };
}

export interface NetworkEnergyOptions extends NetworkSource, MultiplierChoice {
  /** Architecture YAML or a preset name (PRESET_NAMES). */
  arch: string;
  /** Accelergy ERT_summary.yaml (required with an architecture file). */
  ert?: string;
  constraints?: string;
  /** Power of the exact multiplier of the same width (default: EvoApproxLib's exact 8x8). */
  exactPowerMw?: number;
  /** The mapping searches (objective, algorithm, seed, budget, threads, cache, progress). */
  search?: NetworkSearchOptions;
}

export interface NetworkEnergyRun {
  /** The network's name in reports (zoo name or model file). */
  model: string;
  result: NetworkEnergy;
  plan: NetworkPlan;
  /** The sidecar that supplied the multipliers, when one did. */
  multipliersFrom?: string;
}

/** Energy of a whole network on an accelerator with per-layer multipliers (what `axnn energy net` prints). */
export async function runNetworkEnergy(o: NetworkEnergyOptions): Promise<NetworkEnergyRun> {
  const { layers, model } = await networkLayersFor(o);
  const { arch, ert } = loadDesign(o.arch, o.ert, o.constraints);
  const { assignment, sidecarFile } = networkAssignment(o, layers.map((l) => l.name), typeof o.model === "string" ? o.model : undefined);
  const multipliers = assignmentScales(assignment, layers, arch.compute, { exactPowerMw: o.exactPowerMw });
  const plan = planNetwork(arch, ert, layers, o.search);
  const result = evaluatePlan(plan, multipliers);
  result.arch = o.arch;
  return { model, result, plan, ...(sidecarFile ? { multipliersFrom: sidecarFile } : {}) };
}
