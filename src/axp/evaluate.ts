import { AxnnError } from "../util/errors.js";
import { isApproximable, type ApproximableNode, type Model } from "../nn/graph.js";
import { evalNode } from "../nn/ops.js";
import { runModel } from "../nn/run.js";
import type { Tensor } from "../nn/tensor.js";
import { foldBatchNorm } from "../nn/passes.js";
import { loadOnnx } from "../onnx/import.js";
import { loadDataset, parseNormalization, subsetIndices, type Dataset, type Normalization } from "../data/datasets.js";
import { AccuracyCounter, prepareBatches, type EvalBatches } from "../eval/accuracy.js";
import { loadSidecar } from "../zoo/sidecar.js";
import { approximableLayers } from "../nn/analysis.js";
import { clusterModel, perPeClusters, type ClusteredModel, type ClusterOptions, type LayerClusters } from "./cluster.js";
import { activationScales, calibrationProfiles, emptyCounts, layerUse, makeAxpLayer, runAxp, type AxpLayer, type LayerCounts } from "./emulate.js";
import { camKeyWidth, layerEnergy, type LayerEnergyAxp, type PeModel } from "./energy.js";
import { checkFormat, int8Code, keyLayout, roundWeight, type AxpFormat } from "./formats.js";
import { perPeMemoryFromProfile, type LayerProfile } from "./memory.js";
import { finetuneClusters, type ClusterFinetuneOptions } from "./finetune.js";
import { layerMissArithmetic, missActivationParams, resolveMissMultiplier, type MissMultiplier } from "./miss.js";
import type { QuantParams } from "../quant/params.js";

/** A model and its data, prepared once for any number of AxP configurations. */
export interface AxpContext {
  /** The float model (BatchNorm folded). */
  model: Model;
  dataset: string;
  test: EvalBatches;
  calibration: Tensor[];
  normalize: string;
  normalization: Normalization;
  /** The training split (null when the data has none): calibration and fine-tuning samples. */
  train: Dataset | null;
}

export interface AxpDataSetup {
  model: string | Model;
  data: string;
  /** Test samples (a seeded subset); all by default. */
  limit?: number;
  /** Calibration samples from the training split (a seeded subset); default 256. */
  calibrationSize?: number;
  seed?: number;
  batchSize?: number;
  normalize?: string;
}

export function prepareAxpContext(setup: AxpDataSetup): AxpContext {
  const model = typeof setup.model === "string" ? loadOnnx(setup.model) : setup.model;
  if (model.inputs.length !== 1) throw new AxnnError(`the model has ${model.inputs.length} inputs; AxP needs a single-input model`, { field: "--model" });
  const side = typeof setup.model === "string" ? loadSidecar(setup.model, approximableLayers(model).map((l) => l.name))?.sidecar : undefined;
  const normalize = setup.normalize ?? side?.input?.normalize ?? "unit";
  const seed = setup.seed ?? 1;
  const batchSize = setup.batchSize ?? 64;
  const test = loadDataset(setup.data, "test");
  const limit = setup.limit ?? test.shape[0];
  if (!Number.isInteger(limit) || limit < 1) throw new AxnnError(`expected a positive integer, got ${limit}`, { field: "--limit" });
  const norm = parseNormalization(normalize, test.name);
  const declared = model.inputs[0]!.shape.slice(1);
  const sampleShape = declared.every((d) => d !== null) ? (declared as number[]) : undefined;
  let train: Dataset | null;
  try {
    train = loadDataset(setup.data, "train");
  } catch (e) {
    if (!(e instanceof AxnnError)) throw e;
    train = null;
  }
  const calibSet = train ?? test;
  const calibSize = setup.calibrationSize ?? 256;
  if (!Number.isInteger(calibSize) || calibSize < 1) throw new AxnnError(`expected a positive integer, got ${calibSize}`, { field: "--calib-size" });
  const calib = prepareBatches(calibSet, subsetIndices(calibSet.shape[0], Math.min(calibSize, calibSet.shape[0]), seed + 1), batchSize, norm, sampleShape);
  return {
    model: foldBatchNorm(model), dataset: setup.data, normalize, normalization: norm, train,
    test: prepareBatches(test, subsetIndices(test.shape[0], Math.min(limit, test.shape[0]), seed), batchSize, norm, sampleShape),
    calibration: calib.batches.map((b) => b.input),
  };
}

export interface AxpConfig {
  clusters: number;
  entries: number;
  keyBits: number;
  dontCare: number;
  hamming?: number;
  format: AxpFormat;
  perChannel?: boolean;
  init?: ClusterOptions["init"];
  seed?: number;
  /** Zero gating: MACs with a zero activation are skipped whole (default off). */
  zeroGating?: boolean;
  /** Memories per layer: 1 (default) = one per layer; P = one of `entries` entries per PE, output channels spread over P PEs. */
  pes?: number;
  /** A multiplier (name or file, as `axnn eval --mult`) for the misses instead of the format's exact product (src/axp/miss.ts). */
  missMultiplier?: string;
}

/** Settings of single layers over a configuration's common ones (the format, gating and PEs stay common). */
export type PerLayerAxpConfig = ReadonlyMap<string, Partial<Pick<AxpConfig, "clusters" | "entries" | "keyBits" | "dontCare" | "missMultiplier">>>;

export interface AxpLayerResult extends LayerEnergyAxp {
  bins: number;
  keyWidth: number;
  /** Hit rate of the same memory on the calibration split (drift = test - calibration). */
  calibrationHitRate?: number;
}

export interface AxpPointResult {
  clusters: number;
  entries: number;
  key_bits: number;
  dont_care: number;
  hamming: number;
  format: AxpFormat;
  per_channel: boolean;
  zero_gating: boolean;
  /** PEs with a memory each (1: one memory per layer). */
  pes: number;
  /** The multiplier of the misses (null: the format's exact product) and its power relative to the exact multiplier. */
  miss_multiplier: string | null;
  miss_power_ratio?: number;
  top1: number;
  hit_rate: number;
  hit_rate_nonzero: number;
  zero_fraction: number;
  /** Hit rate on the first calibration batch (64 images by default). */
  calibration_hit_rate: number;
  hit_rate_drift: number;
  /** PE compute energy per inference (pJ). */
  energy_pj: number;
  /** The FPU-only PE's compute energy of the same MACs (pJ). */
  fpu_energy_pj: number;
  /** 1 - energy_pj / baseline FPU-only energy. */
  saving: number;
  /** The saving on the multiply part alone: 1 - (energy - adds) / (FPU energy - adds). */
  multiply_saving?: number;
  accelerator_energy_pj?: number;
  /** The same with every storage word as wide as the PE's format (FP32: 32 bits), same mapping: data movement of the format's operands. */
  accelerator_energy_format_words_pj?: number;
  layers: AxpLayerResult[];
}

/** Cluster-aware fine-tuning of one clustering: float top-1 on the test split before and after. */
export interface AxpFinetuneRecord {
  clusters: number;
  per_channel: boolean;
  epochs: number;
  lr: number;
  centroid_gradient: string;
  train_samples: number;
  /** The unclustered model's float top-1. */
  float_top1: number;
  /** The clustered model's float top-1 before and after fine-tuning. */
  before_top1: number;
  after_top1: number;
  /** Training loss (cross-entropy) per epoch. */
  train_loss: number[];
}

export interface AxpSessionOptions {
  /** Cluster-aware fine-tuning of every clustering (before any memory is filled); none by default. */
  finetune?: Omit<ClusterFinetuneOptions, "normalization">;
  /** Called once per fine-tuned clustering. */
  onFinetune?: (r: AxpFinetuneRecord) => void;
}

/** Caches of one context: clusterings per (K, per-channel, init, seed) and calibration profiles per (that, format, key bits). */
export class AxpSession {
  private readonly clusterings = new Map<string, ClusteredModel>();
  private readonly profiles = new Map<string, Map<string, LayerProfile>>();
  private readonly peClusters = new Map<string, Map<string, LayerClusters>>();
  private readonly missMultipliers = new Map<string, MissMultiplier>();
  private readonly missParams = new Map<string, Map<string, QuantParams>>();
  private floatTop1Cache: number | undefined;

  constructor(readonly ctx: AxpContext, readonly pe: PeModel, readonly options: AxpSessionOptions = {}) {
    if (options.finetune && !ctx.train) throw new AxnnError(`fine-tuning needs a training split; "${ctx.dataset}" has none`, { field: "--finetune" });
  }

  clustering(c: AxpConfig): ClusteredModel {
    const k = `${c.clusters}/${c.perChannel ?? false}/${c.init ?? "kmeans++"}/${c.seed ?? 1}`;
    let r = this.clusterings.get(k);
    if (!r) {
      r = clusterModel(this.ctx.model, { clusters: c.clusters, perChannel: c.perChannel, init: c.init, seed: c.seed, foldBatchNorm: false });
      const ft = this.options.finetune;
      if (ft) {
        const before = this.floatTop1(r.model);
        const t = finetuneClusters(r, this.ctx.train!, { ...ft, normalization: this.ctx.normalization });
        r = t.clustered;
        this.options.onFinetune?.({
          clusters: c.clusters, per_channel: c.perChannel ?? false, epochs: ft.epochs, lr: t.lr, centroid_gradient: t.centroidGradient,
          train_samples: Math.min(ft.trainSamples ?? Infinity, this.ctx.train!.shape[0]),
          float_top1: this.originalTop1(), before_top1: before, after_top1: this.floatTop1(r.model), train_loss: t.history.map((h) => h.trainLoss),
        });
      }
      this.clusterings.set(k, r);
    }
    return r;
  }

  /** Float top-1 of a model on the test split. */
  floatTop1(model: Model): number {
    const inName = model.inputs[0]!.name;
    const acc = new AccuracyCounter();
    for (const b of this.ctx.test.batches) acc.add(runModel(model, { [inName]: b.input })[model.outputs[0]!]!, b.labels);
    return acc.result().top1;
  }

  /** Float top-1 of the unclustered model on the test split (cached). */
  originalTop1(): number {
    this.floatTop1Cache ??= this.floatTop1(this.ctx.model);
    return this.floatTop1Cache;
  }

  /** The clustering of every layer as the configuration's memories see it (per-PE bins with pes > 1; cached). */
  memoryClusters(c: AxpConfig): Map<string, LayerClusters> {
    const pes = c.pes ?? 1;
    const cl = this.clustering(c);
    if (pes === 1) return cl.layers;
    const k = `${c.clusters}/${c.perChannel ?? false}/${c.init ?? "kmeans++"}/${c.seed ?? 1}/P${pes}`;
    let r = this.peClusters.get(k);
    if (!r) {
      r = new Map();
      for (const n of cl.model.nodes) if (isApproximable(n)) r.set(n.name, perPeClusters(cl.layers.get(n.name)!, n.weight.shape[0]!, pes));
      this.peClusters.set(k, r);
    }
    return r;
  }

  profile(c: AxpConfig): Map<string, LayerProfile> {
    const format = checkFormat(c.format);
    const layout = keyLayout(format, c.keyBits);
    const pes = c.pes ?? 1;
    const k = `${c.clusters}/${c.perChannel ?? false}/${c.init ?? "kmeans++"}/${c.seed ?? 1}/${format}/${c.keyBits}${pes > 1 ? `/P${pes}` : ""}`;
    let r = this.profiles.get(k);
    if (!r) {
      const cl = this.clustering(c);
      r = calibrationProfiles(cl.model, this.memoryClusters(c), format, layout, this.ctx.calibration);
      this.profiles.set(k, r);
    }
    return r;
  }

  /** The miss multiplier of a name or file (resolved once). */
  missMultiplier(ref: string): MissMultiplier {
    let m = this.missMultipliers.get(ref);
    if (!m) this.missMultipliers.set(ref, (m = resolveMissMultiplier(ref)));
    return m;
  }

  /** The AxP layers of a configuration (memories checked against each layer's key space). */
  layers(c: AxpConfig): Map<string, AxpLayer> {
    const cl = this.clustering(c);
    const profiles = this.profile(c);
    const clusters = this.memoryClusters(c);
    const mm = c.missMultiplier === undefined ? undefined : this.missMultiplier(c.missMultiplier);
    let actParams: Map<string, QuantParams> | undefined;
    if (mm) {
      // The miss multiplier's input ranges: the clustered float model's, on the calibration split.
      const k = `${c.clusters}/${c.perChannel ?? false}/${c.init ?? "kmeans++"}/${c.seed ?? 1}/${mm.multiplier.signed}`;
      actParams = this.missParams.get(k);
      if (!actParams) this.missParams.set(k, (actParams = missActivationParams(cl.model, this.ctx.calibration, mm.multiplier.signed)));
    }
    const out = new Map<string, AxpLayer>();
    for (const n of cl.model.nodes) {
      if (!isApproximable(n)) continue;
      const prof = profiles.get(n.name)!;
      const mem = perPeMemoryFromProfile(prof, c.entries, { dontCare: c.dontCare, hamming: c.hamming ?? 0 }, c.pes ?? 1);
      const lc = clusters.get(n.name)!;
      const miss = mm ? layerMissArithmetic(mm, lc, n.weight.data, actParams!.get(n.name)!, c.zeroGating ?? false) : undefined;
      out.set(n.name, makeAxpLayer(n, lc, prof, mem, miss));
    }
    return out;
  }

  /** Accuracy, hit rates and PE energy of one configuration on the test split (and the hit rates on the calibration split). */
  evaluate(c: AxpConfig, baselineEnergyPj?: number, perLayer?: PerLayerAxpConfig): AxpPointResult {
    const cl = this.clustering(c);
    // A layer's own settings (per-layer search) over the common ones; each layer is taken from the
    // AxP layers of its own configuration (its clustering is that layer's alone: k-means runs per layer).
    const configOf = (layer: string): AxpConfig => ({ ...c, ...perLayer?.get(layer) });
    const layers = new Map<string, AxpLayer>();
    for (const n of cl.model.nodes) if (isApproximable(n)) layers.set(n.name, this.layers(configOf(n.name)).get(n.name)!);
    const mmOf = (layer: string) => {
      const m = configOf(layer).missMultiplier;
      return m === undefined ? undefined : this.missMultiplier(m);
    };
    const mm = mmOf(cl.model.nodes.find(isApproximable)!.name);
    const net = { model: cl.model, layers };
    const counts = new Map<string, LayerCounts>();
    const acc = new AccuracyCounter();
    for (const b of this.ctx.test.batches) acc.add(runAxp(net, b.input, { counts }), b.labels);
    const calibCounts = new Map<string, LayerCounts>();
    // Drift: the same memory's hit rate on the first calibration batch (the memory was filled from the whole split).
    if ([...layers.keys()].some((l) => configOf(l).entries > 0) && this.ctx.calibration.length > 0) runAxp(net, this.ctx.calibration[0]!, { counts: calibCounts });
    const rows: AxpLayerResult[] = [...layers.values()].map((l) => {
      // A PE's memory tells apart the bins of the layer (not the PEs).
      const bins = l.weights.length / (c.pes ?? 1);
      const kw = camKeyWidth(bins, l.layout.width);
      const lm = mmOf(l.node.name);
      const miss = lm ? { multiplier: lm.multiplier.name, powerRatio: lm.powerRatio, weightBits: lm.multiplier.weightBits } : undefined;
      const e = layerEnergy(this.pe, c.format, l.node.name, counts.get(l.node.name) ?? emptyCounts(), configOf(l.node.name).entries, kw, { zeroGating: c.zeroGating, miss });
      const cc = calibCounts.get(l.node.name);
      return { ...e, bins, keyWidth: kw, ...(cc ? { calibrationHitRate: cc.macs > 0 ? cc.hits / cc.macs : 0 } : {}) };
    });
    const sum = (f: (r: AxpLayerResult) => number) => rows.reduce((a, r) => a + f(r), 0);
    const macs = sum((r) => r.macs), hits = sum((r) => r.hits), zero = sum((r) => r.zeroMacs), zeroHits = sum((r) => r.zeroHits);
    let cm = 0, ch = 0;
    for (const v of calibCounts.values()) {
      cm += v.macs / v.samples;
      ch += v.hits / v.samples;
    }
    const energy = sum((r) => r.energyPj), fpu = sum((r) => r.fpuEnergyPj);
    const hitRate = macs > 0 ? hits / macs : 0;
    const calibRate = cm > 0 ? ch / cm : 0;
    return {
      clusters: c.clusters, entries: c.entries, key_bits: c.keyBits, dont_care: c.dontCare, hamming: c.hamming ?? 0, format: c.format, per_channel: c.perChannel ?? false, zero_gating: c.zeroGating ?? false, pes: c.pes ?? 1,
      miss_multiplier: mm ? mm.multiplier.name : null, ...(mm ? { miss_power_ratio: mm.powerRatio } : {}),
      top1: acc.result().top1, hit_rate: hitRate, hit_rate_nonzero: macs - zero > 0 ? (hits - zeroHits) / (macs - zero) : 0, zero_fraction: macs > 0 ? zero / macs : 0,
      calibration_hit_rate: calibRate, hit_rate_drift: hitRate - calibRate,
      energy_pj: energy, fpu_energy_pj: fpu, saving: 1 - energy / (baselineEnergyPj ?? fpu), layers: rows,
    };
  }

  /**
   * The unclustered model on the FPU-only PE in the format: top-1, compute energy per inference and
   * the MACs the PE works on (with zero gating, those with a non-zero activation of this model).
   */
  baseline(format: AxpFormat, macsPerLayer: Map<string, number>, opts: { zeroGating?: boolean } = {}): { top1: number; energy_pj: number; active_macs: number } {
    const model = this.ctx.model;
    const inName = model.inputs[0]!.name;
    const scales = format === "int8" ? activationScales(model, this.ctx.calibration) : new Map<string, number>();
    const rounded = new Map<string, ApproximableNode>();
    for (const n of model.nodes) {
      if (!isApproximable(n)) continue;
      let wmax = 0;
      for (const v of n.weight.data) wmax = Math.max(wmax, Math.abs(v));
      const ws = wmax / 127 || 1;
      rounded.set(n.name, { ...n, weight: { shape: n.weight.shape, data: Float32Array.from(n.weight.data, (v) => roundWeight(v, format, ws)) } } as ApproximableNode);
    }
    const acc = new AccuracyCounter();
    // Zero MACs per layer (for zero gating): a one-bin "clustering" gives layerUse's MACs per input position.
    const oneBin = new Map<string, LayerClusters>();
    let zeroMacs = 0, samples = 0;
    for (const b of this.ctx.test.batches) {
      samples += b.input.shape[0]!;
      const y = runModel(model, { [inName]: b.input }, {
        kernel: (node, ins) => {
          const r = rounded.get(node.name);
          if (!r) return undefined;
          const x = ins[0]!;
          const s = scales.get(node.name) ?? 1;
          const data = format === "fp32" ? x.data : format === "int8" ? Float32Array.from(x.data, (v) => int8Code(v, s) * s)
            : Float32Array.from(x.data, (v) => roundWeight(v, format, 1));
          if (opts.zeroGating) {
            let one = oneBin.get(node.name);
            if (!one) oneBin.set(node.name, (one = { centroids: new Float32Array(1), binOf: new Uint16Array(r.weight.data.length) } as LayerClusters));
            const use = layerUse(r, one, x.shape);
            for (let i = 0; i < data.length; i++) if (data[i] === 0) zeroMacs += use.useAll[i % use.positions]!;
          }
          return format === "fp32" ? undefined : evalNode(r, [{ shape: x.shape, data }]);
        },
      })[model.outputs[0]!]!;
      acc.add(y, b.labels);
    }
    const a = this.pe.arithmetic[format];
    let macs = 0;
    for (const m of macsPerLayer.values()) macs += m;
    const active = opts.zeroGating ? macs - zeroMacs / Math.max(1, samples) : macs;
    return { top1: acc.result().top1, energy_pj: active * (a.mul_pj + a.add_pj), active_macs: active };
  }
}
