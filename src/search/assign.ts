import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { AxnnError, isAxnnError } from "../util/errors.js";
import { loadDataset, parseNormalization, subsetIndices } from "../data/datasets.js";
import { evaluatePass, prepareBatches, type EvalBatches } from "../eval/accuracy.js";
import { loadDesign } from "../energy/presets.js";
import { computeScaleFor, type ComputeScale } from "../energy/approx.js";
import { evaluatePlan, layerMacs, layersFromModel, planNetwork, type NetworkLayer } from "../energy/network.js";
import { describeDomain, designConstants, EnergyPredictors, type PredictionDomain } from "../predict/predictors.js";
import { defaultCatalogue, generate } from "../multipliers/generators/index.js";
import { resolveMultiplier, withPublishedFigures } from "../multipliers/resolve.js";
import type { Multiplier } from "../multipliers/multiplier.js";
import type { Model } from "../nn/graph.js";
import type { Tensor } from "../nn/tensor.js";
import { loadOnnx } from "../onnx/import.js";
import { checkMultiplierFits, EXACT_INT8, quantizeModel, type LayerArithmetic, type QuantizedModel, type QuantizedWeights } from "../quant/model.js";
import type { QuantScheme } from "../quant/params.js";
import { plannedRunner } from "../plan/runner.js";
import { loadSidecar } from "../zoo/sidecar.js";
import type { GenomeEvaluation } from "./archive.js";
import { activationHistograms, tuneWeights } from "./weight-tuning.js";

/** What an assignment search searches over and measures with (see docs/search.md). */
export interface AssignmentSetup {
  /** ONNX model file (its sidecar supplies the input normalisation when it has one), or a model in memory. */
  model: string | Model;
  /** Dataset spec (mnist, fashion-mnist, cifar10:<dir>, idx:...); it needs a training split. */
  data: string;
  /**
   * Candidate multipliers: names, files, directories (every .bin, .json, .csv or .v in it) or
   * "builtin" (every built-in generated 8x8 design of the quantization's signedness).
   */
  multipliers: string[];
  /** Only these layers are searched (the others stay exact); default every approximable layer. */
  layers?: string[];
  /** Default from the multipliers' signedness: unsigned asym, signed sym. */
  quant?: QuantScheme;
  /** Validation samples, a seeded subset of the TRAINING split (default 1000). */
  validationSize?: number;
  /** Calibration samples, disjoint from the validation ones, also from the training split (default 256). */
  calibrationSize?: number;
  /** Test samples for the final re-measurement (a seeded subset; default the whole test split). */
  testLimit?: number;
  normalize?: string;
  batchSize?: number;
  /** Architecture preset or YAML (default eyeriss); `ert` for a YAML file. */
  arch?: string;
  ert?: string;
  /** Mapper budget per distinct layer shape (default 3000; cached on disk like `axnn energy net`). */
  mapperEvaluations?: number;
  /**
   * Where the energies come from: "model" (default) the accelerator energy model (a mapping search
   * per layer shape); "predictor" the learned energy predictor of `predictor` (src/predict, no
   * mapping search); "sum" the MACs times the MAC energy with each layer's multiplier (no file, no
   * data movement). Either way energy adds over layers, so each (layer, multiplier) pair is priced once.
   */
  energy?: AssignmentEnergySource;
  /** The predictor file (`axnn predict train`) for energy "predictor". */
  predictor?: string;
  /** ALWANN's weight update per (layer, multiplier). */
  tuneWeights?: boolean;
  /** Seed of the data subsets. */
  dataSeed?: number;
  /** Status lines while preparing (calibration, energy plan, weight tuning). */
  onStatus?: (line: string) => void;
}

export type AssignmentEnergySource = "model" | "predictor" | "sum";

/** One candidate multiplier: gene value k + 1 (0 is the exact multiplier). */
export interface CandidateMultiplier {
  /** How a mult-config file refers to it (a library or generator name, or an absolute file path). */
  ref: string;
  name: string;
  multiplier: Multiplier;
  /** Power relative to the exact multiplier (the factor on the multiplications' energy). */
  powerRatio: number;
  powerSource: string;
  /** The MAC-energy factor on this architecture's compute unit. */
  scale: ComputeScale;
}

/** Everything that does not depend on the genome, prepared once. */
export interface PreparedAssignment {
  model: Model;
  /** The file, or the in-memory model's name. */
  modelFile: string;
  data: string;
  qmodel: QuantizedModel;
  inputName: string;
  outputName: string;
  /** The searched layers, in execution order. */
  layers: string[];
  /** All approximable layers (those not searched stay exact). */
  allLayers: string[];
  /** Index 0 is the exact multiplier (undefined), k >= 1 the candidates. */
  candidates: CandidateMultiplier[];
  scheme: QuantScheme;
  /** The input normalisation (option, else the model's sidecar, else unit). */
  normalize: string;
  validation: EvalBatches;
  /** The test split, loaded on first use (the final re-measurement). */
  test: () => EvalBatches;
  /** energyPj[l][k] / multiplierPj[l][k]: searched layer l on gene value k (0 = exact, k = candidates[k-1]). */
  energyPj: number[][];
  multiplierPj: number[][];
  /** The layers that are not searched (always exact). */
  fixed: { energyPj: number; multiplierPj: number };
  exact: { energyPj: number; multiplierPj: number; valTop1: number };
  arch: string;
  /** Where energyPj / multiplierPj come from, and, for a predictor, whether the layers lie inside its training domain. */
  energySource: AssignmentEnergySource;
  predictorDomain?: PredictionDomain;
  tunedWeights: boolean;
  /** weights[l][k]: the tuned weights of searched layer l for gene value k (undefined: the layer's own). */
  weights: (QuantizedWeights | undefined)[][];
  /** MACs per searched layer. */
  macs: number[];
  /** Seconds spent preparing. */
  prepareSeconds: number;
}

/** The built-in generated 8x8 designs of one signedness (exact ones excluded). */
export function builtinMultiplierNames(signed: boolean): string[] {
  const names: string[] = [];
  for (const { kind, params } of defaultCatalogue()) {
    const m = generate(kind, params).multiplier;
    if (m.signed === signed && m.weightBits === 8 && !m.name.startsWith("exact")) names.push(m.name);
  }
  return names;
}

function expandRefs(refs: readonly string[], signed: boolean): string[] {
  const out: string[] = [];
  for (const ref of refs) {
    if (ref === "builtin") out.push(...builtinMultiplierNames(signed));
    else if (existsSync(ref) && statSync(ref).isDirectory()) {
      const files = readdirSync(ref).filter((f) => /\.(bin|json|csv|v)$/i.test(f)).sort();
      if (files.length === 0) throw new AxnnError(`no multiplier files (.bin, .json, .csv, .v) in this directory`, { file: ref, field: "--mults" });
      out.push(...files.map((f) => resolve(join(ref, f))));
    } else out.push(existsSync(ref) ? resolve(ref) : ref);
  }
  return out;
}

/** Resolves, dedupes (by table) and prices the candidates; every one must fit the quantization. */
function resolveCandidates(refs: readonly string[], quant: QuantScheme | undefined, compute: Parameters<typeof computeScaleFor>[1]): { candidates: CandidateMultiplier[]; scheme: QuantScheme } {
  if (refs.length === 0) throw new AxnnError("no candidate multipliers given", { field: "--mults" });
  const signedDefault = quant === "sym";
  const expanded = expandRefs(refs, signedDefault);
  const resolved = expanded.map((ref) => {
    try {
      const r = resolveMultiplier(ref);
      return { ref, r };
    } catch (e) {
      if (!isAxnnError(e)) throw e;
      throw new AxnnError(e.message.replace(/^multiplier: /, ""), { field: `--mults (${ref})` });
    }
  });
  const signs = new Set(resolved.map(({ r }) => r.multiplier.signed));
  if (signs.size > 1) {
    const list = resolved.map(({ r }) => `${r.multiplier.name}: ${r.multiplier.signed ? "signed" : "unsigned"}`).join(", ");
    throw new AxnnError(`the candidates mix signed and unsigned multipliers (${list}); one quantization cannot feed both`, { field: "--mults" });
  }
  const scheme: QuantScheme = quant ?? (signs.has(true) ? "sym" : "asym");
  const seen = new Set<string>();
  const candidates: CandidateMultiplier[] = [];
  for (const { ref, r } of resolved) {
    checkMultiplierFits(r.multiplier, scheme, `--mults (${ref})`);
    const key = Buffer.from(r.multiplier.table.buffer, r.multiplier.table.byteOffset, r.multiplier.table.byteLength).toString("base64");
    if (seen.has(key)) continue;
    seen.add(key);
    const m = withPublishedFigures(r.multiplier);
    const scale = computeScaleFor(m, compute, { netlist: r.netlist });
    candidates.push({ ref, name: r.multiplier.name, multiplier: r.multiplier, powerRatio: scale.powerRatio, powerSource: scale.powerSource, scale });
  }
  return { candidates, scheme };
}

/** Loads the model and data, calibrates, prices every (layer, multiplier) pair, tunes weights: once per search. */
export function prepareAssignment(setup: AssignmentSetup): PreparedAssignment {
  const start = Date.now();
  const status = setup.onStatus ?? (() => {});
  const model = typeof setup.model === "string" ? loadOnnx(setup.model) : setup.model;
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new AxnnError(`the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; the search needs one of each`, { field: "--model" });
  const inputName = model.inputs[0]!.name;
  const { arch, ert } = loadDesign(setup.arch ?? "eyeriss", setup.ert);
  const { candidates, scheme } = resolveCandidates(setup.multipliers, setup.quant, arch.compute);

  const batchSize = setup.batchSize ?? 100;
  const validationSize = setup.validationSize ?? 1000;
  const calibrationSize = setup.calibrationSize ?? 256;
  for (const [v, f] of [[batchSize, "--batch-size"], [validationSize, "--val-size"], [calibrationSize, "--calib-size"]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new AxnnError(`expected a positive integer, got ${v}`, { field: f });
  }
  const dataSeed = setup.dataSeed ?? 1;
  const train = loadDataset(setup.data, "train");
  if (validationSize + calibrationSize > train.shape[0]) {
    throw new AxnnError(`validation (${validationSize}) and calibration (${calibrationSize}) samples exceed the ${train.shape[0]} training samples`, { field: "--val-size" });
  }
  const names = modelLayerNames(model);
  const side = typeof setup.model === "string" ? loadSidecar(setup.model, names) : undefined;
  const normalize = setup.normalize ?? side?.sidecar.input?.normalize ?? "unit";
  const norm = parseNormalization(normalize, train.name);
  const declared = model.inputs[0]!.shape.slice(1);
  const sampleShape = declared.every((d) => d !== null) ? (declared as number[]) : undefined;
  // Validation and calibration: disjoint seeded subsets of the training split; the test split is never searched on.
  const picked = subsetIndices(train.shape[0], validationSize + calibrationSize, dataSeed);
  const validation = prepareBatches(train, picked.slice(0, validationSize), batchSize, norm, sampleShape);
  const calibration = prepareBatches(train, picked.slice(validationSize), batchSize, norm, sampleShape);
  let testBatches: EvalBatches | undefined;
  const test = () => {
    if (!testBatches) {
      const ds = loadDataset(setup.data, "test");
      const limit = setup.testLimit ?? ds.shape[0];
      if (!Number.isInteger(limit) || limit < 1) throw new AxnnError(`expected a positive integer, got ${limit}`, { field: "--test-limit" });
      testBatches = prepareBatches(ds, subsetIndices(ds.shape[0], limit, dataSeed), batchSize, norm, sampleShape);
    }
    return testBatches;
  };

  status(`calibrating on ${calibrationSize} training samples (${scheme})`);
  const qmodel = quantizeModel(model, calibration.batches.map((b) => ({ [inputName]: b.input })), {
    scheme, perChannel: side?.sidecar.quantization?.perChannel ?? false, calibration: { method: "minmax" },
  });
  const allLayers = qmodel.layerNames();
  const layers = setup.layers ?? allLayers;
  if (layers.length === 0) throw new AxnnError("no layers to search", { field: "--layers" });
  const unknown = layers.filter((l) => !allLayers.includes(l));
  if (unknown.length > 0) throw new AxnnError(`unknown layer${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => `"${n}"`).join(", ")}; the model's approximable layers are: ${allLayers.join(", ")}`, { field: "--layers" });
  if (new Set(layers).size !== layers.length) throw new AxnnError(`a layer is named twice`, { field: "--layers" });
  const ordered = allLayers.filter((l) => layers.includes(l));

  const source = setup.energy ?? "model";
  if (!["model", "predictor", "sum"].includes(source)) throw new AxnnError(`expected model, predictor or sum, got "${String(source)}"`, { field: "--energy" });
  if ((source === "predictor") !== (setup.predictor !== undefined)) {
    throw new AxnnError(source === "predictor" ? "--energy predictor needs --predictor FILE (axnn predict train)" : `--predictor is only used with --energy predictor (got --energy ${source})`, { field: "--predictor" });
  }
  const netLayers = layersFromModel(model, sampleShape ? { inputShape: [1, ...sampleShape] } : {});
  const priced = source === "model" ? priceByModel(arch, ert, netLayers, candidates, setup, status) : priceByPredictor(source, setup.predictor, setup.arch ?? "eyeriss", netLayers, candidates);
  const at = (l: string) => {
    const r = priced.byLayer.get(l);
    if (!r) throw new Error(`search assign: no energy for layer ${l}`);
    return r;
  };
  const energyPj = ordered.map((l) => at(l).energyPj);
  const multiplierPj = ordered.map((l) => at(l).multiplierPj);
  const fixedLayers = allLayers.filter((l) => !ordered.includes(l));
  const fixed = {
    energyPj: priced.otherPj + fixedLayers.reduce((s, l) => s + at(l).energyPj[0]!, 0),
    multiplierPj: fixedLayers.reduce((s, l) => s + at(l).multiplierPj[0]!, 0),
  };
  const exactEnergyPj = fixed.energyPj + energyPj.reduce((s, e) => s + e[0]!, 0);
  const exactMultiplierPj = fixed.multiplierPj + multiplierPj.reduce((s, e) => s + e[0]!, 0);
  if (priced.domain && !priced.domain.inside) for (const line of describeDomain(priced.domain)) status(`warning: ${line}`);

  const weights: (QuantizedWeights | undefined)[][] = ordered.map(() => new Array(candidates.length + 1).fill(undefined));
  if (setup.tuneWeights) {
    status(`weight tuning: ${ordered.length} layers x ${candidates.length} multipliers`);
    const hist = activationHistograms(qmodel, inputName, calibration.batches.map((b) => b.input));
    ordered.forEach((l, li) => {
      candidates.forEach((c, k) => {
        weights[li]![k + 1] = tuneWeights(qmodel.weights(l, c.multiplier.weightBits), c.multiplier, hist.get(l)!);
      });
    });
  }
  const p: PreparedAssignment = {
    model, modelFile: typeof setup.model === "string" ? setup.model : `${model.name} (in memory)`, data: setup.data, qmodel, inputName, outputName: model.outputs[0]!, layers: ordered, allLayers,
    candidates, scheme, normalize, validation, test, energyPj, multiplierPj, fixed,
    exact: { energyPj: exactEnergyPj, multiplierPj: exactMultiplierPj, valTop1: NaN },
    arch: setup.arch ?? "eyeriss", energySource: source, ...(priced.domain ? { predictorDomain: priced.domain } : {}), tunedWeights: setup.tuneWeights ?? false, weights,
    macs: ordered.map((l) => at(l).macs), prepareSeconds: 0,
  };
  status(`measuring the exact int8 model on ${validationSize} validation samples`);
  p.exact.valTop1 = measureAccuracy(p, new Array(ordered.length).fill(0), p.validation);
  p.prepareSeconds = (Date.now() - start) / 1000;
  return p;
}

/** Energy per layer and gene value (0 = exact, k = candidates[k-1]), pJ per inference. */
interface PricedLayers {
  byLayer: Map<string, { energyPj: number[]; multiplierPj: number[]; macs: number }>;
  /** Energy not attributed to any approximable layer (none in the energy model's per-layer account). */
  otherPj: number;
  domain?: PredictionDomain;
}

/** The accelerator energy model: one mapping per layer shape (cached on disk), then every layer priced once per multiplier. */
function priceByModel(
  arch: ReturnType<typeof loadDesign>["arch"], ert: ReturnType<typeof loadDesign>["ert"], netLayers: NetworkLayer[], candidates: readonly CandidateMultiplier[],
  setup: AssignmentSetup, status: (line: string) => void,
): PricedLayers {
  status(`energy: mapping ${netLayers.length} layers on ${setup.arch ?? "eyeriss"}`);
  const plan = planNetwork(arch, ert, netLayers, { maxEvaluations: setup.mapperEvaluations, seed: 1 });
  const exact = evaluatePlan(plan);
  const perMultiplier = candidates.map((c) => new Map(evaluatePlan(plan, () => c.scale).layers.map((l) => [l.name, l])));
  const byLayer: PricedLayers["byLayer"] = new Map();
  for (const l of exact.layers) {
    byLayer.set(l.name, {
      energyPj: [l.energyPj, ...perMultiplier.map((m) => m.get(l.name)!.energyPj)],
      multiplierPj: [l.multiplierPj, ...perMultiplier.map((m) => m.get(l.name)!.multiplierPj)],
      macs: l.macs,
    });
  }
  return { byLayer, otherPj: exact.totals.energyPj - exact.layers.reduce((s, l) => s + l.energyPj, 0) };
}

/**
 * A predictor (src/predict): "predictor" the learned one (each layer's predicted memory energy plus
 * its compute energy), its training domain checked as `axnn predict energy` checks it; "sum" the
 * compute energy alone. The multiplications' part is the MACs x the multiplier's share of the MAC
 * energy x the power ratio, as the predictors count it.
 */
function priceByPredictor(source: "predictor" | "sum", file: string | undefined, arch: string, netLayers: NetworkLayer[], candidates: readonly CandidateMultiplier[]): PricedLayers {
  const learned = source === "predictor" ? EnergyPredictors.load(file!) : undefined;
  if (learned && !learned.archs().includes(arch)) throw new AxnnError(`the predictor file has no model for "${arch}" (it has: ${learned.archs().join(", ")})`, { file, field: "--arch" });
  const { macPj, multiplierShare } = learned ? { macPj: learned.file.archs[arch]!.macPj, multiplierShare: learned.file.archs[arch]!.multiplierShare } : designConstants(arch);
  const ratios = [1, ...candidates.map((c) => c.powerRatio)];
  const byLayer: PricedLayers["byLayer"] = new Map();
  for (const layer of netLayers) {
    const macs = layerMacs(layer);
    const multiplierPj = ratios.map((r) => macs * macPj * multiplierShare * r);
    const energyPj = learned ? ratios.map((r) => learned.learned(arch, [{ layer, powerRatio: r }])) : ratios.map((r) => macs * macPj * (1 - multiplierShare + multiplierShare * r));
    byLayer.set(layer.name, { energyPj, multiplierPj, macs });
  }
  const domain = learned ? learned.domain(arch, netLayers.map((layer) => ({ layer, powerRatio: 1 }))) : undefined;
  // Only the learned predictor prices here: the sum predictor's fit (and its domain) is not used.
  if (domain) {
    domain.outside = domain.outside.filter((o) => o.predictor === "learned");
    domain.inside = domain.known && domain.outside.length === 0;
  }
  return { byLayer, otherPj: 0, ...(domain ? { domain } : {}) };
}

function modelLayerNames(model: Model): string[] {
  return model.nodes.filter((n) => n.op === "Conv2D" || n.op === "DepthwiseConv2D" || n.op === "Dense").map((n) => n.name);
}

/** The arithmetic of every layer for a per-layer choice (0 = exact, k = candidates[k-1]). */
export function layerArithmetic(p: PreparedAssignment, choice: readonly number[]): Map<string, LayerArithmetic> {
  const out = new Map<string, LayerArithmetic>();
  for (const l of p.allLayers) out.set(l, EXACT_INT8);
  p.layers.forEach((l, i) => {
    const k = choice[i]!;
    if (k === 0) return;
    const w = p.weights[i]![k];
    out.set(l, { kind: "lut", multiplier: p.candidates[k - 1]!.multiplier, ...(w ? { weights: w } : {}) });
  });
  return out;
}

/**
 * Top-1 of a per-layer choice on a set of batches, on a compiled execution plan (src/plan: one
 * compile per choice and batch shape, then every batch); `engine: "reference"` runs
 * QuantizedModel.run instead, the obviously-correct twin it matches bit for bit.
 */
export function measureAccuracy(p: PreparedAssignment, choice: readonly number[], batches: EvalBatches, engine: "plan" | "reference" = "plan"): number {
  const arithmetic = layerArithmetic(p, choice);
  const planned = engine === "plan" ? plannedRunner(p.qmodel, arithmetic) : undefined;
  const run = (x: Tensor) => (planned ? planned({ [p.inputName]: x }) : p.qmodel.run({ [p.inputName]: x }, arithmetic))[p.outputName]!;
  return evaluatePass(batches, run, { warmUp: false }).top1;
}

/** Energy of a per-layer choice: whole accelerator and multiplications only (pJ per inference). */
export function choiceEnergy(p: PreparedAssignment, choice: readonly number[]): { energyPj: number; multiplierPj: number } {
  let e = p.fixed.energyPj, m = p.fixed.multiplierPj;
  choice.forEach((k, l) => {
    e += p.energyPj[l]![k]!;
    m += p.multiplierPj[l]![k]!;
  });
  return { energyPj: e, multiplierPj: m };
}

/** What a search minimises: the validation error and one energy, or both energies. */
export type AssignmentObjective = "accuracy" | "energy" | "multiplier-energy";

export interface ChoiceResult extends GenomeEvaluation {
  info: { val_top1: number; energy_pj: number; multiplier_pj: number; choice: number[] };
}

/**
 * Scores a per-layer choice: objectives in the order given (accuracy as the validation error
 * 1 - top1, energies in pJ); `maxDrop` (points of top-1) becomes a constraint.
 */
export function scoreChoice(p: PreparedAssignment, choice: readonly number[], objectives: readonly AssignmentObjective[], maxDrop?: number): ChoiceResult {
  const top1 = measureAccuracy(p, choice, p.validation);
  const { energyPj, multiplierPj } = choiceEnergy(p, choice);
  const value = (o: AssignmentObjective) => (o === "accuracy" ? 1 - top1 : o === "energy" ? energyPj : multiplierPj);
  const drop = (p.exact.valTop1 - top1) * 100;
  return {
    objectives: objectives.map(value),
    ...(maxDrop !== undefined && drop > maxDrop ? { violation: drop - maxDrop } : {}),
    info: { val_top1: top1, energy_pj: energyPj, multiplier_pj: multiplierPj, choice: [...choice] },
  };
}
