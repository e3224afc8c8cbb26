// The training loop: seeded shuffling and augmentation, per-epoch metrics, checkpoints and resume.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { subsetIndices, UNIT, type Dataset, type Normalization } from "../data/datasets.js";
import type { Model } from "../nn/graph.js";
import type { Tensor } from "../nn/tensor.js";
import { AxnnError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { progressBar } from "../util/progress.js";
import { uniformRandom } from "../util/random.js";
import { softmaxCrossEntropy } from "./backward.js";
import { DEFAULT_SGD, learningRate, newOptimizerState, optimizerStep, type OptimizerConfig, type OptimizerState, type ScheduleConfig } from "./optim.js";
import { DEFAULT_BN_FREEZE, DEFAULT_BN_REESTIMATE, learnedParams, QAT_RANGES, qatLayers, qatSettings, QatRangeState, type QatConfig, type QatLayer, type QatRangeJson } from "./qat.js";
import type { QuantParams } from "../quant/params.js";
import { backwardTape, forwardTape, logitsValue, zeroGrads } from "./tape.js";
import { cloneModelForTraining, collectBuffers, collectParams, type StateBuffer, type Param } from "./params.js";
import { kernelBackend } from "../kernels/index.js";
import { GpuTrainingStep } from "./gpu-step.js";

export interface AugmentConfig {
  /** Random crop after zero-padding (of the raw pixels) by this many pixels on every side; 0: none. */
  cropPadding?: number;
  /** Mirror images left-right with probability 1/2. */
  horizontalFlip?: boolean;
}

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  /** Base learning rate. */
  lr: number;
  seed?: number;
  optimizer?: OptimizerConfig;
  schedule?: ScheduleConfig;
  augment?: AugmentConfig;
  normalization?: Normalization;
  /** Dropout rates of Identity nodes by node name. */
  dropout?: Record<string, number>;
  bnMomentum?: number;
  /** Train on a seeded random subset of this many training samples. */
  trainSamples?: number;
  /** Evaluate on a seeded random subset of this many test samples. */
  testSamples?: number;
  /** Directory of checkpoint.bin, written atomically after every epoch. */
  checkpointDir?: string;
  /** Continue from the checkpoint in checkpointDir when there is one. */
  resume?: boolean;
  /** No progress bar. */
  quiet?: boolean;
  /**
   * Quantization-aware training (src/train/qat.ts): the listed layers run forward in integer
   * arithmetic (through the weights folded with the BatchNorm after them, which keeps normalising
   * with batch statistics), input ranges calibrated, tracked or learned (QatConfig.ranges),
   * BatchNorm statistics re-estimated after every epoch; backward by STE or the table. The QAT
   * settings and range state go into the checkpoint; resuming with other settings is refused.
   * The test evaluation after each epoch stays float.
   */
  qat?: QatConfig;
  /** Called after every epoch, after its checkpoint is written. */
  onEpoch?: (m: EpochMetrics) => void;
  /**
   * Called after every backward pass, before the optimizer step, with the parameters and their
   * accumulated gradients, which it may change in place: e.g. cluster-aware fine-tuning (src/axp)
   * gives every weight of a bin the bin's summed gradient, so that tied weights stay tied.
   */
  transformGradients?: (params: readonly Param[]) => void;
  /**
   * Stop with a TrainingDiverged error when the largest parameter magnitude grows past this many
   * times its value at the start (checked after every step). Default DEFAULT_WEIGHT_GROWTH_LIMIT
   * for QAT (fine-tuning a trained model, whose weights move little when it converges), off for
   * float training from scratch; 0 turns it off.
   */
  maxWeightGrowth?: number;
  /**
   * On the WebGPU backend, a float run whose every step has a GPU form trains resident on the GPU
   * (src/train/gpu-step.ts: one submission per batch); otherwise its kernels run one at a time on
   * the GPU and this is called once with the reason.
   */
  onGpuFallback?: (why: string) => void;
}

/** QAT's default TrainConfig.maxWeightGrowth: a converging LeNet-5 fine-tuning run stayed within 1.5x, a diverging one passed 40x within 40 steps (docs/training.md). */
export const DEFAULT_WEIGHT_GROWTH_LIMIT = 10;

/** Training diverged (non-finite loss, or exploding weights): where, and what was seen. */
export class TrainingDiverged extends AxnnError {
  constructor(readonly epoch: number, readonly batch: number, readonly reason: string) {
    super(`training diverged in epoch ${epoch}, batch ${batch}: ${reason}; lower the learning rate`, { field: "--lr" });
  }
}

function largestMagnitude(params: readonly Param[]): number {
  let m = 0;
  for (const p of params) {
    const d = p.data;
    for (let i = 0; i < d.length; i++) {
      const v = Math.abs(d[i]!);
      if (v > m || v !== v) m = v !== v ? Infinity : v;
    }
  }
  return m;
}

export interface EpochMetrics {
  /** 1-based. */
  epoch: number;
  lr: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number | null;
  testAccuracy: number | null;
  /** Training images per second (forward, backward and update). */
  imagesPerSecond: number;
  seconds: number;
}

export interface TrainResult {
  /** The trained model (a copy: the model passed in is unchanged). */
  model: Model;
  history: EpochMetrics[];
  /** Epoch the run started from (0 unless resumed). */
  startEpoch: number;
  /** QAT with tracked or learned ranges: each layer's input parameters at the end (what the run trained with). */
  qatInputs?: Record<string, QuantParams>;
}

const CHECKPOINT_FILE = "checkpoint.bin";
const MAGIC = "AXNNCKPT";

/** Independent seeded streams per (seed, epoch, purpose), so an epoch's randomness does not depend on earlier epochs. */
function stream(seed: number, epoch: number, purpose: number): () => number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (epoch + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (purpose + 0x165667b1), 0xc2b2ae35) >>> 0;
  return uniformRandom((h ^ (h >>> 16)) >>> 0);
}

/** A seeded Fisher-Yates permutation of `indices`. */
export function shuffled(indices: Int32Array, random: () => number): Int32Array {
  const a = Int32Array.from(indices);
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

/**
 * Samples `indices[from..to)` as a normalised float batch [n, C, H, W], each randomly cropped
 * (from the image zero-padded by cropPadding) and flipped when `augment` asks for it.
 */
export function augmentedBatch(ds: Dataset, indices: Int32Array, from: number, to: number, norm: Normalization, augment: AugmentConfig, random: () => number): Tensor {
  const [, C, H, W] = ds.shape;
  const per = C * H * W, plane = H * W;
  const n = to - from;
  const data = new Float32Array(n * per);
  const pad = augment.cropPadding ?? 0;
  for (let s = 0; s < n; s++) {
    const src = indices[from + s]! * per;
    const dy = pad > 0 ? Math.floor(random() * (2 * pad + 1)) - pad : 0;
    const dx = pad > 0 ? Math.floor(random() * (2 * pad + 1)) - pad : 0;
    const flip = augment.horizontalFlip ? random() < 0.5 : false;
    for (let c = 0; c < C; c++) {
      const mean = norm.mean.length === 1 ? norm.mean[0]! : norm.mean[c]!;
      const inv = 1 / (norm.std.length === 1 ? norm.std[0]! : norm.std[c]!);
      const o = s * per + c * plane, i = src + c * plane;
      for (let y = 0; y < H; y++) {
        const sy = y + dy;
        for (let x = 0; x < W; x++) {
          const sx = (flip ? W - 1 - x : x) + dx;
          const p = sy < 0 || sy >= H || sx < 0 || sx >= W ? 0 : ds.images[i + sy * W + sx]!;
          data[o + y * W + x] = (p / 255 - mean) * inv;
        }
      }
    }
  }
  return { shape: [n, C, H, W], data };
}

function sampleShapeOf(model: Model, ds: Dataset): number[] {
  const declared = model.inputs[0]!.shape.slice(1);
  if (declared.every((d): d is number => d !== null)) {
    const per = ds.shape[1] * ds.shape[2] * ds.shape[3];
    if (declared.reduce((a, b) => a * b, 1) !== per) {
      throw new AxnnError(`the model expects samples of shape [${declared.join(", ")}], the dataset ${ds.name} has [${ds.shape.slice(1).join(", ")}]`, { field: "--data" });
    }
    return declared;
  }
  return ds.shape.slice(1);
}

function labelsOf(ds: Dataset, indices: Int32Array, from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  for (let i = from; i < to; i++) out[i - from] = ds.labels[indices[i]!]!;
  return out;
}

/** Loss and top-1 accuracy of the model (evaluation mode: BatchNorm running statistics, no dropout). */
export function evaluate(model: Model, ds: Dataset, indices: Int32Array, batchSize: number, norm: Normalization = UNIT): { loss: number; accuracy: number } {
  if (model.inputs.length !== 1) throw new AxnnError(`training needs a single-input model; this one has ${model.inputs.length}`, { field: "--model" });
  const logits = logitsValue(model).value;
  const shape = sampleShapeOf(model, ds);
  const inName = model.inputs[0]!.name;
  let loss = 0, correct = 0;
  for (let from = 0; from < indices.length; from += batchSize) {
    const to = Math.min(indices.length, from + batchSize);
    const x = augmentedBatch(ds, indices, from, to, norm, {}, () => 0);
    const tape = forwardTape(model, { [inName]: { shape: [to - from, ...shape], data: x.data } }, { training: false, target: logits });
    const r = softmaxCrossEntropy(tape.values.get(logits)!, labelsOf(ds, indices, from, to));
    loss += r.loss * (to - from);
    correct += r.correct;
  }
  return { loss: loss / Math.max(indices.length, 1), accuracy: correct / Math.max(indices.length, 1) };
}

interface CheckpointTensor { name: string; kind: "param" | "buffer" | "slot"; slot?: number; dtype: "f32" | "f64"; offset: number; length: number }
/** The settings a resumed run must share with the run that wrote the checkpoint (else it would not continue that run). */
interface RunSettings { seed: number; epochs: number; batchSize: number; lr: number; optimizer: OptimizerConfig; schedule: ScheduleConfig; augment: AugmentConfig; normalization: Normalization; dropout: Record<string, number>; bnMomentum: number; trainSamples: number }
/** A QAT run's settings (qatSettings) and its tracked or learned range state. */
interface QatCheckpoint { settings: Record<string, unknown>; ranges?: QatRangeJson }
interface CheckpointHeader { version: 1; epoch: number; settings: RunSettings; qat?: QatCheckpoint; step: number; history: EpochMetrics[]; tensors: CheckpointTensor[] }

/** JSON with object keys sorted, so that settings compare equal whatever order they were written in. */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === "object" && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : val);
}

/** Writes weights, BatchNorm statistics, optimizer state and history after `epoch` completed epochs. */
function saveCheckpoint(file: string, header: Omit<CheckpointHeader, "tensors" | "version">, params: Param[], buffers: StateBuffer[], opt: OptimizerState): void {
  const tensors: CheckpointTensor[] = [];
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const add = (name: string, kind: CheckpointTensor["kind"], arr: Float32Array | Float64Array, slot?: number): void => {
    const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength).slice();
    tensors.push({ name, kind, slot, dtype: arr instanceof Float64Array ? "f64" : "f32", offset, length: arr.length });
    // Keep every blob 8-byte aligned so it can be viewed as a Float64Array in place.
    const padded = new Uint8Array(Math.ceil(bytes.length / 8) * 8);
    padded.set(bytes);
    blobs.push(padded);
    offset += padded.length;
  };
  for (const p of params) add(p.name, "param", p.data);
  for (const b of buffers) add(b.name, "buffer", b.data);
  for (const p of params) opt.slots.get(p.name)!.forEach((s, k) => add(p.name, "slot", s, k));
  const json = new TextEncoder().encode(JSON.stringify({ version: 1, ...header, tensors }));
  const headLen = 16 + Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(headLen + offset);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 16);
  let pos = headLen;
  for (const b of blobs) {
    out.set(b, pos);
    pos += b.length;
  }
  writeFileAtomic(file, out);
}

/** Reads a checkpoint into params, buffers and optimizer state; `check` sees the header first (and throws when the run differs). */
function loadCheckpoint(file: string, params: Param[], buffers: StateBuffer[], opt: OptimizerState, check: (h: CheckpointHeader) => void): CheckpointHeader {
  const bytes = new Uint8Array(readFileSync(file));
  if (bytes.length < 16 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) throw new AxnnError("not an axnn training checkpoint", { file });
  const jsonLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + jsonLen))) as CheckpointHeader;
  } catch {
    throw new AxnnError("the checkpoint header is corrupt", { file });
  }
  if (!header || typeof header.epoch !== "number" || !Array.isArray(header.tensors) || !Array.isArray(header.history)) throw new AxnnError("the checkpoint header is incomplete", { file });
  check(header);
  const base = 16 + Math.ceil(jsonLen / 8) * 8;
  const find = (name: string, kind: CheckpointTensor["kind"], slot?: number): CheckpointTensor => {
    const t = header.tensors.find((e) => e.name === name && e.kind === kind && e.slot === slot);
    if (!t) throw new AxnnError(`the checkpoint has no ${kind} "${name}"; it belongs to another model or optimizer`, { file });
    return t;
  };
  const copyInto = (t: CheckpointTensor, into: Float32Array | Float64Array): void => {
    const want = into instanceof Float64Array ? "f64" : "f32";
    if (t.length !== into.length || t.dtype !== want) throw new AxnnError(`"${t.name}" has ${t.length} ${t.dtype} values in the checkpoint, the model needs ${into.length} ${want}`, { file });
    const size = want === "f64" ? 8 : 4;
    if (base + t.offset + t.length * size > bytes.length) throw new AxnnError("the checkpoint is truncated", { file });
    const src = bytes.slice(base + t.offset, base + t.offset + t.length * size);
    into.set(want === "f64" ? new Float64Array(src.buffer) : new Float32Array(src.buffer));
  };
  for (const p of params) copyInto(find(p.name, "param"), p.data);
  for (const b of buffers) copyInto(find(b.name, "buffer"), b.data);
  for (const p of params) opt.slots.get(p.name)!.forEach((s, k) => copyInto(find(p.name, "slot", k), s));
  opt.step = header.step;
  return header;
}

/**
 * Trains a copy of `model` (single input, first output = class scores or their softmax) with
 * softmax cross-entropy. Deterministic for a seed: shuffling, augmentation and dropout of each
 * epoch come from streams seeded by (seed, epoch), so a run resumed from the checkpoint of
 * epoch k continues exactly as the uninterrupted run would.
 */
export function trainModel(model: Model, train: Dataset, test: Dataset | null, config: TrainConfig): TrainResult {
  if (model.inputs.length !== 1) throw new AxnnError(`training needs a single-input model; this one has ${model.inputs.length}`, { field: "--model" });
  if (!Number.isInteger(config.epochs) || config.epochs < 1) throw new AxnnError(`expected a positive integer, got ${config.epochs}`, { field: "--epochs" });
  if (!Number.isInteger(config.batchSize) || config.batchSize < 1) throw new AxnnError(`expected a positive integer, got ${config.batchSize}`, { field: "--batch-size" });
  if (!(config.lr > 0)) throw new AxnnError(`expected a positive number, got ${config.lr}`, { field: "--lr" });
  const seed = config.seed ?? 1;
  const optimizer = config.optimizer ?? DEFAULT_SGD;
  const schedule = config.schedule ?? { kind: "constant" };
  const norm = config.normalization ?? UNIT;
  const net = cloneModelForTraining(model);
  if (config.qat) checkQatConfig(config.qat);
  // Tracked or learned input ranges start from the calibration of the initial weights and then carry
  // over from epoch to epoch: their layers are set up once. Calibrated ones are redone every epoch.
  const qatRanges = config.qat?.ranges ?? "calibrate";
  const carriedLayers = config.qat && qatRanges !== "calibrate" ? qatLayers(net, config.qat) : undefined;
  const rangeState = carriedLayers ? QatRangeState.initial(qatRanges, config.qat!.quant.scheme, carriedLayers) : undefined;
  const params = [...collectParams(net), ...(rangeState?.params() ?? [])];
  const buffers = collectBuffers(net);
  const opt = newOptimizerState(optimizer, params);
  const { value: logits } = logitsValue(net);
  const inName = net.inputs[0]!.name;
  const shape = sampleShapeOf(net, train);
  const trainIdx = subsetIndices(train.shape[0], config.trainSamples ?? train.shape[0], seed);
  const testIdx = test ? subsetIndices(test.shape[0], config.testSamples ?? test.shape[0], seed + 1) : null;
  if (test) sampleShapeOf(net, test);

  const settings: RunSettings = {
    seed, epochs: config.epochs, batchSize: config.batchSize, lr: config.lr, optimizer, schedule, augment: config.augment ?? {},
    normalization: norm, dropout: config.dropout ?? {}, bnMomentum: config.bnMomentum ?? 0.1, trainSamples: trainIdx.length,
  };
  let history: EpochMetrics[] = [];
  let startEpoch = 0;
  const ckptFile = config.checkpointDir ? join(config.checkpointDir, CHECKPOINT_FILE) : null;
  if (config.resume && !ckptFile) throw new AxnnError("resuming needs a checkpoint directory", { field: "--resume" });
  const qatRun = config.qat ? qatSettings(config.qat) : undefined;
  if (config.resume && ckptFile && existsSync(ckptFile)) {
    const h = loadCheckpoint(ckptFile, params, buffers, opt, (h) => {
      const differs = (Object.keys(settings) as (keyof RunSettings)[]).filter((k) => canonicalJson(h.settings?.[k]) !== canonicalJson(settings[k]));
      if (differs.length > 0) {
        const was = differs.map((k) => `${k} ${JSON.stringify(h.settings?.[k])}`).join(", ");
        throw new AxnnError(`the checkpoint was written by a run with ${was}; resume with the same settings`, { file: ckptFile });
      }
      checkQatSettings(h.qat?.settings, qatRun, ckptFile);
    });
    if (rangeState) rangeState.restore(h.qat?.ranges ?? { tracked: {}, zeroPoints: {} }, ckptFile);
    startEpoch = h.epoch;
    history = h.history;
  }
  if (rangeState) rangeState.attach(carriedLayers!);

  const batches = Math.ceil(trainIdx.length / config.batchSize);
  const growth = config.maxWeightGrowth ?? (config.qat ? DEFAULT_WEIGHT_GROWTH_LIMIT : 0);
  const startMagnitude = largestMagnitude(params);
  const weightLimit = growth > 0 ? growth * startMagnitude : 0;
  // QAT: BatchNorm uses its running statistics from this training step on (QatConfig.freezeBatchNorm).
  const bnFrozenAt = (step: number): boolean => config.qat !== undefined && step >= (config.qat.freezeBatchNorm ?? DEFAULT_BN_FREEZE) * config.epochs * batches;
  const gpuStep = kernelBackend() === "webgpu" ? residentStep(net, params, opt, shape, { logits, bnMomentum: settings.bnMomentum, optimizer }, config, weightLimit) : null;
  for (let epoch = startEpoch; epoch < config.epochs; epoch++) {
    const order = shuffled(trainIdx, stream(seed, epoch, 0));
    const random = stream(seed, epoch, 1);
    const bar = progressBar(`epoch ${epoch + 1}/${config.epochs}`, order.length, { quiet: config.quiet, unit: "img" });
    const t0 = performance.now();
    const qat: Map<string, QatLayer> | undefined = carriedLayers ?? (config.qat ? qatLayers(net, config.qat) : undefined);
    let lossSum = 0, correct = 0, lr = config.lr;
    for (let b = 0; b < batches; b++) {
      const from = b * config.batchSize, to = Math.min(order.length, from + config.batchSize);
      const x = augmentedBatch(train, order, from, to, norm, config.augment ?? {}, random);
      if (gpuStep) {
        lr = learningRate(schedule, config.lr, epoch, b, batches, config.epochs);
        const r = gpuStep.step(x.data, labelsOf(train, order, from, to), lr);
        if (!Number.isFinite(r.loss)) throw new TrainingDiverged(epoch + 1, b + 1, `the loss became ${r.loss}`);
        lossSum += r.loss * (to - from);
        correct += r.correct;
        bar.tick(to - from);
        continue;
      }
      const frozenBatchNorm = bnFrozenAt(epoch * batches + b);
      const tape = forwardTape(net, { [inName]: { shape: [to - from, ...shape], data: x.data } }, {
        training: true, bnMomentum: settings.bnMomentum, dropout: config.dropout, random, target: logits, qat, frozenBatchNorm,
      });
      const r = softmaxCrossEntropy(tape.values.get(logits)!, labelsOf(train, order, from, to));
      if (!Number.isFinite(r.loss)) throw new TrainingDiverged(epoch + 1, b + 1, `the loss became ${r.loss}`);
      zeroGrads(params);
      backwardTape(tape, new Map([[logits, r.grad]]), params);
      config.transformGradients?.(params);
      lr = learningRate(schedule, config.lr, epoch, b, batches, config.epochs);
      optimizerStep(optimizer, opt, params, lr);
      if (weightLimit > 0) {
        const now = largestMagnitude(params);
        if (!(now <= weightLimit)) throw new TrainingDiverged(epoch + 1, b + 1, `the largest weight grew from ${startMagnitude.toPrecision(3)} to ${now.toPrecision(3)} (over ${growth}x)`);
      }
      lossSum += r.loss * (to - from);
      correct += r.correct;
      bar.tick(to - from);
    }
    bar.stop();
    gpuStep?.sync(opt);
    const trainSeconds = (performance.now() - t0) / 1000;
    // Not once BatchNorm is frozen: training then fitted the weights to the frozen statistics.
    const frozenAtEnd = bnFrozenAt((epoch + 1) * batches - 1);
    if (qat && config.qat && !frozenAtEnd) reestimateBatchNorm(net, config.qat.reestimateBatches ?? DEFAULT_BN_REESTIMATE, qat, (from, to) => ({
      [inName]: { shape: [to - from, ...shape], data: augmentedBatch(train, order, from, to, norm, {}, () => 0).data },
    }), order.length, config.batchSize);
    const evalResult = test && testIdx ? evaluate(net, test, testIdx, Math.max(config.batchSize, 64), norm) : null;
    const m: EpochMetrics = {
      epoch: epoch + 1,
      lr,
      trainLoss: lossSum / trainIdx.length,
      trainAccuracy: correct / trainIdx.length,
      testLoss: evalResult?.loss ?? null,
      testAccuracy: evalResult?.accuracy ?? null,
      imagesPerSecond: trainIdx.length / trainSeconds,
      seconds: (performance.now() - t0) / 1000,
    };
    history.push(m);
    if (ckptFile) {
      const qatState = qatRun ? { settings: qatRun, ...(rangeState ? { ranges: rangeState.toJson() } : {}) } : undefined;
      saveCheckpoint(ckptFile, { epoch: epoch + 1, settings, ...(qatState ? { qat: qatState } : {}), step: opt.step, history }, params, buffers, opt);
    }
    config.onEpoch?.(m);
  }
  return { model: net, history, startEpoch, ...(rangeState ? { qatInputs: rangeState.inputParams() } : {}) };
}

/**
 * The GPU-resident training step for a float run on the WebGPU backend, or null (and the reason to
 * onGpuFallback) when the run needs what it does not do: QAT, dropout, gradient transforms, the
 * weight-growth check (every step reads the weights), or a node without a GPU form.
 */
function residentStep(net: Model, params: Param[], opt: OptimizerState, shape: number[], options: ConstructorParameters<typeof GpuTrainingStep>[4], config: TrainConfig, weightLimit: number): GpuTrainingStep | null {
  const why = config.qat ? "quantization-aware training"
    : Object.values(config.dropout ?? {}).some((r) => r > 0) ? "dropout"
    : config.transformGradients ? "a gradient transform"
    : weightLimit > 0 ? "the weight-growth check"
    : "";
  try {
    if (why) throw new AxnnError(`${why} does not train resident on the GPU yet`, { field: "gpu training" });
    return new GpuTrainingStep(net, params, opt, shape, options);
  } catch (e) {
    if (!(e instanceof AxnnError && e.field === "gpu training")) throw e;
    config.onGpuFallback?.(`training step by step on the GPU, one round trip per kernel: ${e.message.replace(/^gpu training: /, "")}`);
    return null;
  }
}

/**
 * Re-estimates BatchNorm's running statistics of a QAT model with its final weights of the epoch:
 * the QAT forward (batch statistics) over the first `batches` training batches, the running values
 * set to their plain average (momentum 1 / (i + 1)); no weight changes. The running statistics
 * tracked during the epoch lag behind weights that keep moving, and evaluation (the folded model)
 * uses them. The input ranges stay as they are (tracking paused).
 */
function reestimateBatchNorm(net: Model, batches: number, qat: Map<string, QatLayer>, batchAt: (from: number, to: number) => Record<string, Tensor>, samples: number, batchSize: number): void {
  if (batches <= 0 || !net.nodes.some((n) => n.op === "BatchNorm")) return;
  const paused = new Map([...qat].map(([name, l]) => [name, { ...l, input: l.learned ? learnedParams(l.learned, l.scheme) : l.input, tracked: undefined, learned: undefined }]));
  for (let i = 0; i < batches && i * batchSize < samples; i++) {
    const from = i * batchSize, to = Math.min(samples, from + batchSize);
    forwardTape(net, batchAt(from, to), { training: true, bnMomentum: 1 / (i + 1), qat: paused, target: logitsValue(net).value });
  }
}

function checkQatConfig(q: QatConfig): void {
  if (q.ranges !== undefined && !QAT_RANGES.includes(q.ranges)) throw new AxnnError(`expected one of ${QAT_RANGES.join(", ")}, got "${String(q.ranges)}"`, { field: "--ranges" });
  if (q.rangeMomentum !== undefined && !(q.rangeMomentum >= 0 && q.rangeMomentum <= 1)) throw new AxnnError(`expected a number from 0 to 1, got ${q.rangeMomentum}`, { field: "--range-momentum" });
  if (q.freezeBatchNorm !== undefined && !(q.freezeBatchNorm >= 0 && q.freezeBatchNorm <= 1)) throw new AxnnError(`expected a number from 0 to 1, got ${q.freezeBatchNorm}`, { field: "--bn-freeze" });
  if (q.reestimateBatches !== undefined && !(Number.isInteger(q.reestimateBatches) && q.reestimateBatches >= 0)) throw new AxnnError(`expected an integer >= 0, got ${q.reestimateBatches}`, { field: "--bn-reestimate" });
}

/** Refuses to resume a QAT run with other QAT settings (or a float run as QAT, or the reverse), naming what differs. */
function checkQatSettings(saved: Record<string, unknown> | undefined, now: Record<string, unknown> | undefined, file: string): void {
  if (!saved && !now) return;
  if (!saved || !now) {
    throw new AxnnError(`the checkpoint was written by a ${saved ? "quantization-aware" : "float"} training run, this one is ${now ? "quantization-aware" : "float"}; resume the same kind of run`, { file });
  }
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])].sort();
  const differs = keys.filter((k) => canonicalJson(saved[k]) !== canonicalJson(now[k]));
  if (differs.length > 0) {
    const was = differs.map((k) => `${k} ${JSON.stringify(saved[k])} (now ${JSON.stringify(now[k])})`).join(", ");
    throw new AxnnError(`the checkpoint was written by a QAT run with ${was}; resume with the same QAT settings`, { file });
  }
}
