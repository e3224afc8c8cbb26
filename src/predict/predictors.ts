import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { RandomForestRegression } from "ml-random-forest";
import { z } from "zod";
import { multiplierShare } from "../energy/approx.js";
import { computeEnergies } from "../energy/ert.js";
import { layerMacs, type NetworkLayer } from "../energy/network.js";
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

export interface AffineFit { a: number; b: number; n: number }

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
  return { a: my - b * mx, b, n };
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
      learned: { library: LEARNED_LIBRARY, features: [...LAYER_FEATURE_NAMES], target: "log(memory pJ per MAC) per layer", trainingShapes: samples.length, trainingShapeKeys: [...byShape.keys()], options, model: rf.toJSON() },
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
    sumFits: z.record(z.string(), z.object({ a: z.number(), b: z.number(), n: z.number() })),
    learned: z.object({ library: z.string(), features: z.array(z.string()), target: z.string(), trainingShapes: z.number(), trainingShapeKeys: z.array(z.string()), options: z.record(z.string(), z.unknown()), model: z.unknown() }),
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

  /**
   * The sum predictor with its affine correction: the fit of the fixed architecture `base` when the
   * family is "fixed" and it was trained, else the family's, else the accelerator-wide one.
   */
  sum(arch: string, layers: readonly PredictLayer[], family?: string, base?: string): number {
    const p = this.arch(arch);
    const fit = (family === "fixed" && base !== undefined ? p.sumFits[`fixed/${base}`] : undefined) ?? (family !== undefined ? p.sumFits[family] : undefined) ?? p.sumFits["*"]!;
    return fit.a + fit.b * rawMultiplicationSum(layers, p.macPj, p.multiplierShare);
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
