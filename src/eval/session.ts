import { AxnnError } from "../util/errors.js";
import type { Model } from "../nn/graph.js";
import { macsPerLayer, type LayerMacs } from "../nn/analysis.js";
import type { Tensor } from "../nn/tensor.js";
import { loadOnnx } from "../onnx/import.js";
import { loadDataset, parseNormalization, subsetIndices, type Dataset, type Split } from "../data/datasets.js";
import { loadAssignment, resolveAssignment, uniformAssignment } from "../multipliers/assignment.js";
import type { Multiplier } from "../multipliers/multiplier.js";
import type { CalibrationOptions } from "../quant/calibrate.js";
import type { QuantScheme } from "../quant/params.js";
import { checkMultiplierFits, quantizeModel, quantizeModelWithParams, type LayerArithmetic, type QuantConfig, type QuantizedModel } from "../quant/model.js";
import { loadSidecar, type ModelSidecar } from "../zoo/sidecar.js";
import { prepareBatches, type EvalBatches } from "./accuracy.js";
import { plannedRunner } from "../plan/runner.js";

/**
 * Everything `axnn eval` and `axnn sensitivity` need, as given on the command line. Settings left
 * undefined come from the model's sidecar (`<model>.axnn.json`, see src/zoo/sidecar.ts) when it
 * has one, else from the defaults given below.
 */
export interface EvalSetup {
  model: string | Model;
  data: string;
  split?: Split;
  /** Evaluate this many test samples (a seeded subset); all by default. */
  limit?: number;
  seed?: number;
  batchSize?: number;
  /** Calibration samples, from the training split (a seeded subset); default 256. */
  calibrationSize?: number;
  normalize?: string;
  /** Default: from the multipliers' signedness (signed: sym, unsigned or none: asym). */
  quant?: QuantScheme;
  perChannel?: boolean;
  calibration?: CalibrationOptions;
  weightCalibration?: "minmax" | "mse";
  /** Weight width of the exact integer baseline (and of layers assigned "exact"); default 8. */
  weightBits?: number;
  /** One multiplier for every layer (a name or a file) ... */
  mult?: string;
  /** ... or a per-layer assignment file. */
  multConfig?: string;
  /** Ignore the model's sidecar (default false). */
  ignoreSidecar?: boolean;
  /** A progress bar (images, rate, time left) on stderr when it is a terminal; default false. */
  progress?: boolean;
}

export interface PreparedEvaluation {
  model: Model;
  dataset: Dataset;
  qmodel: QuantizedModel;
  batches: EvalBatches;
  layers: LayerMacs[];
  /** The approximate run: per layer, its table, or exact int8 for layers left exact. */
  approximate: Map<string, LayerArithmetic>;
  /** Per layer, the name of its multiplier ("exact" for the int8 path). */
  multiplierNames: Record<string, string>;
  /** Whether any layer runs on a multiplier table. */
  hasMultiplier: boolean;
  /** The exact integer baseline (8-bit weights unless weightBits says otherwise). */
  exact: LayerArithmetic;
  /** The normalisation spec used (the setup's, else the sidecar's, else "unit"). */
  normalize: string;
  /** The model's sidecar, when it has one and it was read. */
  sidecar?: ModelSidecar;
  /** The file it came from. */
  sidecarFile?: string;
  /** Whether the layers' input parameters are the sidecar's (true) or calibrated now (false). */
  storedRanges: boolean;
}

function schemeFor(multipliers: Multiplier[], given: QuantScheme | undefined, field: string): QuantScheme {
  if (given) {
    if (given !== "sym" && given !== "asym") throw new AxnnError(`expected sym or asym, got "${String(given)}"`, { field: "--quant" });
    for (const m of multipliers) checkMultiplierFits(m, given, field);
    return given;
  }
  const signed = new Set(multipliers.map((m) => m.signed));
  if (signed.size > 1) {
    throw new AxnnError(`the assignment mixes signed and unsigned multipliers (${multipliers.map((m) => `${m.name}: ${m.signed ? "signed" : "unsigned"}`).join(", ")}); one quantization cannot feed both`, { field });
  }
  return signed.has(true) ? "sym" : "asym";
}

/** Loads the model and the data, resolves the multipliers, calibrates. */
export function prepareEvaluation(setup: EvalSetup): PreparedEvaluation {
  if (setup.mult !== undefined && setup.multConfig !== undefined) throw new AxnnError("give --mult or --mult-config, not both", { field: "--mult" });
  const model = typeof setup.model === "string" ? loadOnnx(setup.model) : setup.model;
  if (model.inputs.length !== 1) throw new AxnnError(`the model has ${model.inputs.length} inputs; evaluation needs a single-input model`, { field: "--model" });
  const input = model.inputs[0]!;
  const declared = input.shape.slice(1);

  const layerNames = macsPerLayerSafe(model, undefined).map((l) => l.name);
  const found = typeof setup.model === "string" && !setup.ignoreSidecar ? loadSidecar(setup.model, layerNames) : undefined;
  const side: ModelSidecar = found?.sidecar ?? {};
  const fromSidecar = setup.mult === undefined && setup.multConfig === undefined && side.multipliers !== undefined;
  const assignment = setup.multConfig !== undefined ? loadAssignment(setup.multConfig, layerNames)
    : fromSidecar ? side.multipliers! : uniformAssignment(setup.mult ?? "exact");
  const resolved = resolveAssignment(assignment, layerNames);
  const multipliers = [...new Set([...resolved.values()].filter((r) => r !== undefined).map((r) => r!.multiplier))];
  const field = setup.multConfig ?? (fromSidecar ? found!.sidecarFile : "--mult");
  const scheme = schemeFor(multipliers, setup.quant ?? side.quantization?.scheme, field);

  const weightBits = setup.weightBits ?? 8;
  if (!Number.isInteger(weightBits) || weightBits < 2 || weightBits > 8) throw new AxnnError(`expected an integer from 2 to 8, got ${weightBits}`, { field: "--weight-bits" });
  const exact: LayerArithmetic = { kind: "exact", weightBits };
  const approximate = new Map<string, LayerArithmetic>();
  const multiplierNames: Record<string, string> = {};
  for (const name of layerNames) {
    const r = resolved.get(name);
    approximate.set(name, r ? { kind: "lut", multiplier: r.multiplier } : exact);
    multiplierNames[name] = r ? r.multiplier.name : "exact";
  }

  const split = setup.split ?? "test";
  const dataset = loadDataset(setup.data, split);
  const seed = setup.seed ?? 1;
  const batchSize = setup.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new AxnnError(`expected a positive integer, got ${batchSize}`, { field: "--batch-size" });
  const limit = setup.limit ?? dataset.shape[0];
  if (!Number.isInteger(limit) || limit < 1) throw new AxnnError(`expected a positive integer, got ${limit}`, { field: "--limit" });
  const normalize = setup.normalize ?? side.input?.normalize ?? "unit";
  const norm = parseNormalization(normalize, dataset.name);
  const sampleShape = declared.every((d) => d !== null) ? (declared as number[]) : undefined;
  const batches = prepareBatches(dataset, subsetIndices(dataset.shape[0], limit, seed), batchSize, norm, sampleShape);
  const calibrationSize = setup.calibrationSize ?? 256;
  if (!Number.isInteger(calibrationSize) || calibrationSize < 1) throw new AxnnError(`expected a positive integer, got ${calibrationSize}`, { field: "--calib-size" });
  const sq = side.quantization;
  const config: QuantConfig = {
    scheme,
    perChannel: setup.perChannel ?? sq?.perChannel ?? false,
    calibration: setup.calibration ?? sq?.calibration ?? { method: "minmax" },
    weightCalibration: setup.weightCalibration ?? sq?.weightCalibration ?? "minmax",
  };
  // The sidecar's calibrated ranges hold only for the quantization they were calibrated for.
  const storedRanges = sq?.activations !== undefined && sq.scheme === config.scheme && sq.perChannel === config.perChannel &&
    setup.calibration === undefined && layerNames.every((n) => sq.activations![n] !== undefined);
  let qmodel: QuantizedModel;
  if (storedRanges) {
    qmodel = quantizeModelWithParams(model, sq.activations!, config, `${found!.sidecarFile}: quantization.activations`);
  } else {
    // Calibration comes from the training split where there is one, so it never sees the test samples.
    let calibSet: Dataset = dataset;
    if (split === "test" && !setup.data.startsWith("idx:")) {
      try {
        calibSet = loadDataset(setup.data, "train");
      } catch (e) {
        if (!(e instanceof AxnnError)) throw e;
        // A test-only copy (e.g. CIFAR-10 with just test_batch.bin): calibrate on another seeded subset of it.
        process.stderr.write(`axnn: no training split (${e.message}); calibrating on a subset of the test split\n`);
      }
    }
    const calib = prepareBatches(calibSet, subsetIndices(calibSet.shape[0], calibrationSize, seed + 1), batchSize, norm, sampleShape);
    qmodel = quantizeModel(model, calib.batches.map((b) => ({ [input.name]: b.input })), config);
  }
  const sample = batches.batches[0]!.input.shape.slice(1);
  const layers = macsPerLayerSafe(model, sample);
  return {
    model, dataset, qmodel, batches, layers, approximate, multiplierNames, hasMultiplier: multipliers.length > 0, exact,
    normalize, ...(found ? { sidecar: found.sidecar, sidecarFile: found.sidecarFile } : {}), storedRanges,
  };
}

/** MACs per layer; a model with open non-batch dimensions gets them from the data. */
function macsPerLayerSafe(model: Model, sample: number[] | undefined): LayerMacs[] {
  if (sample) return macsPerLayer(model, [1, ...sample]);
  const open = model.inputs[0]!.shape.slice(1).some((d) => d === null);
  if (open) {
    // Layer names do not depend on shapes: list them without shape inference.
    return model.nodes.filter((n) => n.op === "Conv2D" || n.op === "DepthwiseConv2D" || n.op === "Dense").map((n) => ({ name: n.name, kind: n.op as LayerMacs["kind"], macs: NaN, inputShape: [], outputShape: [], weightShape: [] }));
  }
  return macsPerLayer(model);
}

/** The model's single input name, for building run inputs. */
export function inputName(p: PreparedEvaluation): string {
  return p.model.inputs[0]!.name;
}

/**
 * A run function of one arithmetic assignment, for evaluatePass: on compiled execution plans
 * (src/plan; the engine's results, the float pass on im2col + GEMM).
 */
export function runner(p: PreparedEvaluation, arithmetic: LayerArithmetic | Map<string, LayerArithmetic>): (x: Tensor) => Tensor {
  const name = inputName(p);
  const out = p.model.outputs[0]!;
  const run = plannedRunner(p.qmodel, arithmetic);
  return (x) => run({ [name]: x })[out]!;
}
