// Training and scoring one NAS candidate: float training for a short schedule on a subset of the
// training split, then quantization-aware retraining with its multipliers in the loop (src/train),
// then top-1 with the approximate integer arithmetic (src/quant, as `axnn eval` computes it) on a
// validation split carved from the training data; the test split is only read for the final front.
import { loadDataset, parseNormalization, STANDARD_NORMALIZATION, type Dataset, type Normalization } from "../../data/datasets.js";
import { evaluatePass, prepareBatches, type EvalBatches } from "../../eval/accuracy.js";
import { isApproximable, type Model } from "../../nn/graph.js";
import type { Tensor } from "../../nn/tensor.js";
import { runModel } from "../../nn/run.js";
import { loadOnnx } from "../../onnx/import.js";
import { plannedRunner } from "../../plan/runner.js";
import { resolveMultiplier } from "../../multipliers/resolve.js";
import { quantizeModel, quantizeModelWithParams, type LayerArithmetic, type QuantConfig, type QuantizedModel } from "../../quant/model.js";
import type { QuantParams } from "../../quant/params.js";
import { shuffled, trainModel } from "../../train/loop.js";
import { DEFAULT_SGD } from "../../train/optim.js";
import type { QatArithmetic } from "../../train/qat.js";
import { AxnnError } from "../../util/errors.js";
import { uniformRandom } from "../../util/random.js";
import { saveModel, type ModelSidecar } from "../../zoo/sidecar.js";
import { architectureAssignment, architectureLayers, buildNetwork } from "./network.js";
import { decodeGenome, type NasArchitecture, type NasSpace } from "./space.js";

/** The training schedule every candidate of a search shares. */
export interface CandidateSettings {
  /** Dataset spec (loadDataset). */
  data: string;
  /** Float epochs before QAT (0: QAT from the start). */
  epochs: number;
  /** QAT epochs with the multipliers in the loop (0: post-training quantization only). */
  qatEpochs: number;
  /** Training samples per epoch (a seeded subset of the training split outside the validation split). */
  trainSamples: number;
  /** Validation samples (carved from the training split, the same for every candidate). */
  valSamples: number;
  batchSize: number;
  lr: number;
  /** Learning rate of the QAT epochs. */
  qatLr: number;
  seed: number;
  /** Normalisation spec (default "standard" where the dataset has standard statistics, else "unit"). */
  normalize?: string;
  /**
   * Hopeless candidates: when the first float epoch's training accuracy is below this, the candidate
   * stops there and scores that accuracy (it is not QAT-trained nor validated). 0: never.
   */
  earlyStop?: number;
  /** Calibration samples for the initial QAT ranges (default 256). */
  calibrationSize?: number;
}

export interface CandidateResult {
  /** Top-1 on the validation split with the approximate arithmetic (the first epoch's training accuracy when stopped early). */
  val_top1: number;
  /** Top-1 of the float model on the validation split (null when stopped early). */
  float_val_top1: number | null;
  stopped_early: boolean;
  /** Layers (conv, dense, BatchNorm) whose parameters came from the parent. */
  inherited: number;
  epochs_run: number;
  train_seconds: number;
}

/** The sample indices of the validation and training splits (seeded; the same for every candidate of a search). */
export function nasSplits(trainSize: number, s: Pick<CandidateSettings, "trainSamples" | "valSamples" | "seed">): { val: Int32Array; train: Int32Array } {
  if (s.valSamples + 1 > trainSize) throw new AxnnError(`the training split has ${trainSize} samples; ${s.valSamples} for validation leave none to train on`, { field: "--val-samples" });
  const all = shuffled(Int32Array.from({ length: trainSize }, (_v, i) => i), uniformRandom((s.seed ^ 0x5eed5a1d) >>> 0));
  const val = all.slice(0, s.valSamples);
  const train = all.slice(s.valSamples, s.valSamples + Math.min(s.trainSamples, trainSize - s.valSamples));
  return { val, train };
}

/** A dataset holding only `indices` of `ds`, in that order. */
export function datasetSubset(ds: Dataset, indices: Int32Array): Dataset {
  const [, c, h, w] = ds.shape;
  const per = c * h * w;
  const images = new Uint8Array(indices.length * per);
  const labels = new Uint8Array(indices.length);
  indices.forEach((k, i) => {
    images.set(ds.images.subarray(k * per, (k + 1) * per), i * per);
    labels[i] = ds.labels[k]!;
  });
  return { ...ds, shape: [indices.length, c, h, w], images, labels };
}

/** Data a process prepares once for all the candidates it evaluates. */
export interface CandidateData {
  train: Dataset;
  val: EvalBatches;
  norm: Normalization;
  normalize: string;
}

export function prepareCandidateData(s: CandidateSettings): CandidateData {
  const full = loadDataset(s.data, "train");
  const { val, train } = nasSplits(full.shape[0], s);
  const normalize = s.normalize ?? (full.name in STANDARD_NORMALIZATION ? "standard" : "unit");
  const norm = parseNormalization(normalize, full.name);
  return { train: datasetSubset(full, train), val: prepareBatches(full, val, 256, norm), norm, normalize };
}

/**
 * Copies into `model` the parameters of every layer of `parent` with the same name and the same
 * shapes (conv and dense weights and biases; BatchNorm scale, bias and running statistics). Returns
 * how many layers it copied.
 */
export function inheritWeights(model: Model, parent: Model): number {
  const byName = new Map(parent.nodes.map((n) => [n.name, n]));
  const same = (a: Tensor, b: Tensor) => a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
  let copied = 0;
  for (const n of model.nodes) {
    const p = byName.get(n.name);
    if (!p || p.op !== n.op) continue;
    if (isApproximable(n) && isApproximable(p) && same(n.weight, p.weight) && (n.bias === null) === (p.bias === null) && (!n.bias || same(n.bias, p.bias!))) {
      n.weight.data.set(p.weight.data);
      if (n.bias) n.bias.data.set(p.bias!.data);
      copied++;
    } else if (n.op === "BatchNorm" && p.op === "BatchNorm" && same(n.scale, p.scale)) {
      n.scale.data.set(p.scale.data);
      n.bias.data.set(p.bias.data);
      n.mean.data.set(p.mean.data);
      n.variance.data.set(p.variance.data);
      copied++;
    }
  }
  return copied;
}

/** Per layer, its QAT arithmetic (exact int8 for "exact"), and the quantization the multipliers need. */
export function candidateArithmetic(arch: NasArchitecture): { arithmetic: Map<string, QatArithmetic>; quant: QuantConfig } {
  const arithmetic = new Map<string, QatArithmetic>();
  const signed = new Set<boolean>();
  for (const { layer, multiplier } of architectureLayers(arch)) {
    if (multiplier === "exact") {
      arithmetic.set(layer.name, { kind: "exact" });
      continue;
    }
    const m = resolveMultiplier(multiplier).multiplier;
    signed.add(m.signed);
    arithmetic.set(layer.name, { kind: "lut", multiplier: m });
  }
  if (signed.size > 1) throw new AxnnError("the multipliers mix signed and unsigned designs; one quantization cannot feed both", { field: "--mults" });
  const quant: QuantConfig = { scheme: signed.has(true) ? "sym" : "asym", perChannel: false, calibration: { method: "minmax" }, weightCalibration: "minmax" };
  return { arithmetic, quant };
}

/**
 * Top-1 of the quantized model with each layer's arithmetic, on compiled execution plans (src/plan:
 * QuantizedModel.run's outputs bit for bit, faster; `reference: true` runs QuantizedModel.run itself).
 */
export function approximateTop1(q: QuantizedModel, arithmetic: Map<string, QatArithmetic>, batches: EvalBatches, opts: { reference?: boolean } = {}): number {
  const run = new Map<string, LayerArithmetic>(arithmetic);
  const input = q.model.inputs[0]!.name, output = q.model.outputs[0]!;
  const forward = opts.reference ? (inputs: Record<string, Tensor>) => q.run(inputs, run) : plannedRunner(q, run);
  return evaluatePass(batches, (x) => forward({ [input]: x })[output]!, { warmUp: false }).top1;
}

class EarlyStop extends Error {
  constructor(readonly accuracy: number) {
    super("early stop");
  }
}

/**
 * Trains and scores one candidate. `parent`: an ONNX file whose same-shaped layers the candidate
 * starts from. `output`: where to save the trained model (float, BatchNorm unfolded, so children can
 * inherit from it) and its sidecar (quantization with the trained input ranges, the multipliers),
 * which `axnn eval` reads as it is.
 */
export function evaluateCandidate(space: NasSpace, genome: readonly number[], s: CandidateSettings, data: CandidateData, opts: { parent?: string; output?: string } = {}): CandidateResult {
  const t0 = performance.now();
  const arch = decodeGenome(space, genome);
  let model = buildNetwork(arch, { seed: s.seed });
  const inherited = opts.parent ? inheritWeights(model, loadOnnx(opts.parent)) : 0;
  const { arithmetic, quant } = candidateArithmetic(arch);
  const inputName = model.inputs[0]!.name;
  let epochsRun = 0;
  if (s.epochs > 0) {
    try {
      const r = trainModel(model, data.train, null, {
        epochs: s.epochs, batchSize: s.batchSize, lr: s.lr, seed: s.seed, optimizer: DEFAULT_SGD, schedule: { kind: "cosine" }, normalization: data.norm, quiet: true,
        onEpoch: (m) => {
          if (m.epoch === 1 && s.earlyStop !== undefined && m.trainAccuracy < s.earlyStop) throw new EarlyStop(m.trainAccuracy);
        },
      });
      model = r.model;
      epochsRun += s.epochs;
    } catch (e) {
      if (!(e instanceof EarlyStop)) throw e;
      return { val_top1: e.accuracy, float_val_top1: null, stopped_early: true, inherited, epochs_run: 1, train_seconds: (performance.now() - t0) / 1000 };
    }
  }
  const calibIdx = Int32Array.from({ length: Math.min(s.calibrationSize ?? 256, data.train.shape[0]) }, (_v, i) => i);
  const calib = prepareBatches(data.train, calibIdx, s.batchSize, data.norm).batches.map((b) => ({ [inputName]: b.input }));
  let activations: Record<string, QuantParams> | undefined;
  if (s.qatEpochs > 0) {
    const r = trainModel(model, data.train, null, {
      epochs: s.qatEpochs, batchSize: s.batchSize, lr: s.qatLr, seed: s.seed + 1, optimizer: DEFAULT_SGD, schedule: { kind: "cosine" }, normalization: data.norm, quiet: true,
      qat: { arithmetic, quant, calibrationBatches: calib, ranges: "track" },
    });
    model = r.model;
    activations = r.qatInputs;
    epochsRun += s.qatEpochs;
  }
  const q = activations ? quantizeModelWithParams(model, activations, quant) : quantizeModel(model, calib, quant);
  const val = approximateTop1(q, arithmetic, data.val);
  const trained = model;
  const floatVal = evaluatePass(data.val, (x) => runModel(trained, { [inputName]: x })[trained.outputs[0]!]!, { warmUp: false }).top1;
  if (opts.output) {
    const assignment = architectureAssignment(arch);
    const sidecar: ModelSidecar = {
      quantization: { ...quant, activations: activations ?? Object.fromEntries([...q.layers].map(([n, l]) => [n, l.input])) },
      multipliers: { default: assignment.default, layers: assignment.layers },
      input: { normalize: data.normalize },
    };
    saveModel(opts.output, model, sidecar);
  }
  return { val_top1: val, float_val_top1: floatVal, stopped_early: false, inherited, epochs_run: epochsRun, train_seconds: (performance.now() - t0) / 1000 };
}
