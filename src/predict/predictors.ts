import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { RandomForestRegression } from "ml-random-forest";
import { z } from "zod";
import { multiplierShare } from "../energy/approx.js";
import { computeEnergies } from "../energy/ert.js";
import { layerMacs, networkEnergy, type LayerMultipliers, type NetworkLayer } from "../energy/network.js";
import { loadDesign } from "../energy/presets.js";
import { AxnnError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import type { DatasetRow } from "./dataset.js";
import { LAYER_FEATURE_NAMES, layerFeatures, layerShapeKey } from "./features.js";

/**
 * The two fast predictors of a network's energy on one accelerator.
 *
 * - `sum`: the sum over layers of MACs x the energy of one multiplication with the layer's multiplier
 *   (the compute unit's MAC energy x the multiplier's share of it x the multiplier's power relative to
 *   the exact one: what the energy model charges the multiplier), then an affine correction
 *   a + b * sum fitted by least squares on the training rows of the same accelerator and family.
 * - `learned`: a random forest (mljs ml-random-forest) predicts each layer's memory energy per MAC
 *   (log) from shape features; the network's energy is the sum over its layers of MACs x that, plus
 *   the compute energy, which the predictor computes exactly: in the energy model a multiplier only
 *   scales the MAC energy, so learning that part would only add error. Training is per layer (every
 *   labelled network contributes all its layers, deduplicated by shape), which is what lets the model
 *   price architectures it has not seen as a whole.
 *
 * Why a random forest: the target is a non-smooth function of the mapping (a search result) with
 * interactions between sizes, which trees fit without feature scaling; forests are robust with few
 * hundred training shapes and little tuning; ml-random-forest is pure JavaScript (no native build),
 * seeded, and serialises to JSON (toJSON/load). Gradient-boosted trees would be the other choice, but
 * the npm implementations are either native bindings or unmaintained.
 */

export const PREDICTOR_FORMAT = "axnn-energy-predictor";
export const PREDICTOR_VERSION = 1;
export const LEARNED_LIBRARY = `ml-random-forest@${libraryVersion()}`;

function libraryVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require("ml-random-forest/package.json") as { version: string }).version;
  } catch {
    return "unknown";
  }
}

export interface AffineFit {
  a: number;
  b: number;
  n: number;
  /** The smallest and largest raw multiplication sum (pJ) it was fitted on: its training domain (absent in older files). */
  x?: [number, number];
}

export interface ArchPredictor {
  /** Energy of one MAC with the exact multiplier (the ERT's compute energy), pJ. */
  macPj: number;
  /** The multiplier's share of the MAC energy (src/energy/approx.ts). */
  multiplierShare: number;
  /** Affine corrections of the sum predictor, by family, and "*" over all training rows of the accelerator. */
  sumFits: Record<string, AffineFit>;
  learned: {
    library: string;
    features: string[];
    target: "log(memory pJ per MAC) per layer";
    trainingShapes: number;
    /** layerShapeKey of every training shape (to tell seen shapes from new ones at evaluation). */
    trainingShapeKeys: string[];
    /** The smallest and largest value of each feature over the training shapes: the forest's training domain (absent in older files). */
    featureRanges?: [number, number][];
    options: Record<string, unknown>;
    model: unknown;
  };
}

export interface PredictorFile {
  format: typeof PREDICTOR_FORMAT;
  version: number;
  created: string;
  trainingRows: number;
  archs: Record<string, ArchPredictor>;
}

export interface TrainOptions {
  seed?: number;
  trees?: number;
  /** Layer shapes (layerShapeKey, per accelerator) kept out of the forest's training: to measure generalisation to unseen shapes. */
  excludeShapes?: Map<string, Set<string>>;
}

/** One way a network lies outside a predictor's training domain. */
export interface DomainExcess {
  predictor: "sum" | "learned";
  what: string;
  value: number;
  /** The training range. */
  min: number;
  max: number;
  /** How far outside, as a factor of the size (sizes and energies; undefined for counts and flags). */
  factor?: number;
}

export interface PredictionDomain {
  /** Whether the predictor file records its training domain (files written before it did not). */
  known: boolean;
  /** Known, and nothing outside. */
  inside: boolean;
  outside: DomainExcess[];
}

/** One line per excess, for warnings. */
export function describeDomain(d: PredictionDomain): string[] {
  if (!d.known) return ["the predictor file does not record its training domain (trained by an older axnn); retrain it to check"];
  return d.outside.map((o) => `${o.predictor}: ${o.what} = ${fmt(o.value)} is outside the training range [${fmt(o.min)}, ${fmt(o.max)}]${o.factor !== undefined ? ` (${fmt(o.factor)}x beyond it)` : ""}`);
}

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-2 ? v.toExponential(3) : v.toPrecision(4));

/** A layer as the predictors see it: its shape and its multiplier's power ratio. */
export interface PredictLayer {
  layer: NetworkLayer;
  powerRatio: number;
}

function fitAffine(x: number[], y: number[]): AffineFit {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n, my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
  }
  // One distinct x (e.g. a single network): no slope to fit; keep the raw scale plus the mean offset.
  const b = sxx > 0 ? sxy / sxx : 1;
  return { a: my - b * mx, b, n, x: [Math.min(...x), Math.max(...x)] };
}

/** The sum of the multiplications' energies, pJ (no correction). */
export function rawMultiplicationSum(layers: readonly PredictLayer[], macPj: number, share: number): number {
  let s = 0;
  for (const l of layers) s += layerMacs(l.layer) * l.powerRatio;
  return s * macPj * share;
}

export function designConstants(arch: string): { macPj: number; multiplierShare: number } {
  const { arch: a, ert } = loadDesign(arch);
  return { macPj: computeEnergies(ert, a.compute.name).compute, multiplierShare: multiplierShare(a.compute) };
}

const rowLayers = (r: DatasetRow): PredictLayer[] => r.layers.map((l) => ({ layer: l.layer, powerRatio: l.powerRatio }));

export function trainPredictors(rows: readonly DatasetRow[], opts: TrainOptions = {}): PredictorFile {
  if (rows.length === 0) throw new AxnnError("no training rows", { field: "--data" });
  const archs: Record<string, ArchPredictor> = {};
  for (const arch of [...new Set(rows.map((r) => r.arch))].sort()) {
    const mine = rows.filter((r) => r.arch === arch);
    const { macPj, multiplierShare: share } = designConstants(arch);
    const sumFits: Record<string, AffineFit> = {};
    // Fits over the accelerator ("*"), per family, and per fixed architecture ("fixed/resnet20"): with
    // the architecture fixed, the energy model is exactly affine in the sum (memory energy and the
    // adder part are constants), so a per-architecture fit is the predictor's intended use.
    const groups = new Map<string, DatasetRow[]>([["*", mine]]);
    for (const r of mine) {
      groups.set(r.family, [...(groups.get(r.family) ?? []), r]);
      if (r.family === "fixed") groups.set(`fixed/${r.base}`, [...(groups.get(`fixed/${r.base}`) ?? []), r]);
    }
    for (const [family, rs] of groups) sumFits[family] = fitAffine(rs.map((r) => rawMultiplicationSum(rowLayers(r), macPj, share)), rs.map((r) => r.energyPj));

    // Memory energy depends on the shape alone (one mapping per shape), so equal shapes are one sample.
    const byShape = new Map<string, { x: number[]; y: number }>();
    for (const r of mine) {
      for (const l of r.layers) {
        const key = layerShapeKey(l.layer);
        if (byShape.has(key) || opts.excludeShapes?.get(arch)?.has(key)) continue;
        const memory = l.energyPj - l.computePj;
        if (!(memory > 0)) throw new AxnnError(`layer ${l.layer.name} of row ${r.id} has no memory energy (${memory} pJ)`, { field: "energy" });
        byShape.set(key, { x: layerFeatures(l.layer), y: Math.log(memory / l.macs) });
      }
    }
    const samples = [...byShape.values()];
    if (samples.length < 2) throw new AxnnError(`${arch}: the learned model needs at least 2 distinct layer shapes, got ${samples.length}`, { field: "--data" });
    const options = {
      // No bootstrap: every tree sees every shape (the labels are exact, not noisy); trees differ by
      // their random feature subsets. Chosen on a split of the training networks (docs/predict.md).
      nEstimators: opts.trees ?? 50, maxFeatures: 0.7, replacement: false, useSampleBagging: false, noOOB: true,
      seed: opts.seed ?? 1, selectionMethod: "mean" as const, treeOptions: { minNumSamples: 2 },
    };
    const rf = new RandomForestRegression(options);
    rf.train(samples.map((s) => s.x), samples.map((s) => s.y));
    archs[arch] = {
      macPj, multiplierShare: share, sumFits,
      learned: {
        library: LEARNED_LIBRARY, features: [...LAYER_FEATURE_NAMES], target: "log(memory pJ per MAC) per layer", trainingShapes: samples.length,
        trainingShapeKeys: [...byShape.keys()], featureRanges: LAYER_FEATURE_NAMES.map((_f, j) => [Math.min(...samples.map((q) => q.x[j]!)), Math.max(...samples.map((q) => q.x[j]!))] as [number, number]),
        options, model: rf.toJSON(),
      },
    };
  }
  return { format: PREDICTOR_FORMAT, version: PREDICTOR_VERSION, created: new Date().toISOString(), trainingRows: rows.length, archs };
}

export function savePredictors(file: string, p: PredictorFile): void {
  writeFileAtomic(file, JSON.stringify(p) + "\n");
}

const fileSchema = z.object({
  format: z.literal(PREDICTOR_FORMAT),
  version: z.literal(PREDICTOR_VERSION),
  created: z.string(),
  trainingRows: z.number(),
  archs: z.record(z.string(), z.object({
    macPj: z.number().positive(),
    multiplierShare: z.number().min(0).max(1),
    sumFits: z.record(z.string(), z.object({ a: z.number(), b: z.number(), n: z.number(), x: z.tuple([z.number(), z.number()]).optional() })),
    learned: z.object({
      library: z.string(), features: z.array(z.string()), target: z.string(), trainingShapes: z.number(), trainingShapeKeys: z.array(z.string()),
      featureRanges: z.array(z.tuple([z.number(), z.number()])).optional(), options: z.record(z.string(), z.unknown()), model: z.unknown(),
    }),
  })),
});

/** A loaded predictor file: per accelerator, the two predictors ready to run. */
export class EnergyPredictors {
  private forests = new Map<string, RandomForestRegression>();
  constructor(readonly file: PredictorFile) {
    for (const [arch, p] of Object.entries(file.archs)) {
      if (p.learned.features.join(",") !== LAYER_FEATURE_NAMES.join(",")) {
        throw new AxnnError(`the learned predictor for ${arch} uses other features (${p.learned.features.join(", ")}); retrain it with this version`, { field: `archs.${arch}.learned.features` });
      }
      this.forests.set(arch, RandomForestRegression.load(p.learned.model as Parameters<typeof RandomForestRegression.load>[0]));
    }
  }

  static load(path: string): EnergyPredictors {
    if (!existsSync(path)) throw new AxnnError("no such file", { file: path });
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw new AxnnError(`not valid JSON: ${(e as Error).message}`, { file: path });
    }
    const parsed = fileSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new AxnnError(`not an axnn predictor file: ${issue.message}`, { file: path, field: issue.path.join(".") || undefined });
    }
    return new EnergyPredictors(parsed.data as PredictorFile);
  }

  archs(): string[] {
    return Object.keys(this.file.archs);
  }

  private arch(arch: string): ArchPredictor {
    const p = this.file.archs[arch];
    if (!p) throw new AxnnError(`the predictor file has no model for "${arch}" (it has: ${this.archs().join(", ")})`, { field: "--arch" });
    return p;
  }

  /** The sum of the multiplications' energies, without correction (pJ). */
  sumRaw(arch: string, layers: readonly PredictLayer[]): number {
    const p = this.arch(arch);
    return rawMultiplicationSum(layers, p.macPj, p.multiplierShare);
  }

  /** The fit the sum predictor uses: the fixed architecture `base`'s when the family is "fixed" and it was trained, else the family's, else the accelerator-wide one. */
  private sumFit(p: ArchPredictor, family?: string, base?: string): { key: string; fit: AffineFit } {
    const keys = [family === "fixed" && base !== undefined ? `fixed/${base}` : undefined, family, "*"];
    const key = keys.find((k) => k !== undefined && p.sumFits[k] !== undefined)!;
    return { key, fit: p.sumFits[key]! };
  }

  /**
   * The compute energy of the layers (pJ): MACs x the MAC energy with each layer's multiplier. The
   * energy model charges every network at least this (memory energy is never negative), so it is
   * the floor under the sum predictor, whose affine fit can go below it (even below zero) far from
   * its training domain.
   */
  computeEnergy(arch: string, layers: readonly PredictLayer[]): number {
    const p = this.arch(arch);
    let e = 0;
    for (const l of layers) e += layerMacs(l.layer) * p.macPj * (1 - p.multiplierShare + p.multiplierShare * l.powerRatio);
    return e;
  }

  /**
   * The sum predictor with its affine correction (see sumFit), never below the layers' compute
   * energy (an affine fit extrapolated far outside its domain can be impossible; domain() says so).
   */
  sum(arch: string, layers: readonly PredictLayer[], family?: string, base?: string): number {
    const p = this.arch(arch);
    const { fit } = this.sumFit(p, family, base);
    return Math.max(fit.a + fit.b * rawMultiplicationSum(layers, p.macPj, p.multiplierShare), this.computeEnergy(arch, layers));
  }

  /**
   * Where a network lies against the predictors' training domain: the sum predictor's raw sum
   * against the range its fit saw, each layer's features against the ranges of the forest's
   * training shapes. `outside` lists each excess with how far out it is (as a factor for sizes).
   */
  domain(arch: string, layers: readonly PredictLayer[], family?: string, base?: string): PredictionDomain {
    const p = this.arch(arch);
    const outside: DomainExcess[] = [];
    const { key, fit } = this.sumFit(p, family, base);
    const raw = rawMultiplicationSum(layers, p.macPj, p.multiplierShare);
    const known = fit.x !== undefined && p.learned.featureRanges !== undefined;
    if (fit.x) {
      const [lo, hi] = fit.x;
      // Relative tolerance: the rows at the ends of the range are inside, with their rounding.
      if (raw < lo * (1 - 1e-9) || raw > hi * (1 + 1e-9)) {
        outside.push({ predictor: "sum", what: `raw multiplication energy (fit "${key}")`, value: raw, min: lo, max: hi, factor: raw > hi ? raw / hi : lo / raw });
      }
    }
    const ranges = p.learned.featureRanges;
    if (ranges) {
      for (const l of layers) {
        const f = layerFeatures(l.layer);
        f.forEach((v, j) => {
          const [lo, hi] = ranges[j]!;
          if (v >= lo - 1e-9 && v <= hi + 1e-9) return;
          const name = LAYER_FEATURE_NAMES[j]!;
          const distance = v > hi ? v - hi : lo - v;
          // log2 features: a distance d is a factor 2^d in the size itself.
          outside.push({ predictor: "learned", what: `layer ${l.layer.name}: ${name}`, value: v, min: lo, max: hi, factor: name.startsWith("log2_") ? 2 ** distance : undefined });
        });
      }
    }
    return { known, inside: known && outside.length === 0, outside };
  }

  /** The learned predictor (pJ): forest-predicted memory energy of each layer plus its exact compute energy. */
  learned(arch: string, layers: readonly PredictLayer[]): number {
    const p = this.arch(arch);
    const rf = this.forests.get(arch)!;
    // Layers of equal shape have equal memory energy per MAC: one forest query per distinct shape.
    const slot = new Map<string, number>();
    const features: number[][] = [];
    const shapeOf = layers.map((l) => {
      const key = layerShapeKey(l.layer);
      let i = slot.get(key);
      if (i === undefined) {
        i = features.length;
        slot.set(key, i);
        features.push(layerFeatures(l.layer));
      }
      return i;
    });
    const logPerMac = rf.predict(features);
    let e = 0;
    layers.forEach((l, i) => {
      const macs = layerMacs(l.layer);
      e += macs * (Math.exp(logPerMac[shapeOf[i]!]!) + p.macPj * (1 - p.multiplierShare + p.multiplierShare * l.powerRatio));
    });
    return e;
  }
}

/** Both predictors on one network, with the domain check and, when asked, the energy model as fallback. */
export interface NetworkPrediction {
  sumPj: number;
  /** The sum predictor's affine fit fell below the compute energy, so it returns that floor. */
  sumAtFloor: boolean;
  learnedPj: number;
  sumRawPj: number;
  computePj: number;
  domain: PredictionDomain;
  /** The energy model's result, when `fallback` was asked for and the network is outside the domain (or the domain is unknown). */
  fallback?: { energyPj: number; cycles: number };
}

export function predictNetwork(
  p: EnergyPredictors, arch: string, layers: readonly PredictLayer[],
  opts: { family?: string; base?: string; fallback?: boolean; multipliers?: LayerMultipliers; maxEvaluations?: number } = {},
): NetworkPrediction {
  const computePj = p.computeEnergy(arch, layers);
  const sumPj = p.sum(arch, layers, opts.family, opts.base);
  const domain = p.domain(arch, layers, opts.family, opts.base);
  const out: NetworkPrediction = { sumPj, sumAtFloor: sumPj === computePj, learnedPj: p.learned(arch, layers), sumRawPj: p.sumRaw(arch, layers), computePj, domain };
  if (opts.fallback && !domain.inside) {
    const { arch: design, ert } = loadDesign(arch);
    const r = networkEnergy(design, ert, layers.map((l) => l.layer), { multipliers: opts.multipliers, maxEvaluations: opts.maxEvaluations, seed: 1 });
    out.fallback = { energyPj: r.totals.energyPj, cycles: r.totals.cycles };
  }
  return out;
}
