import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AxnnError } from "../util/errors.js";
import { exportOnnx } from "../onnx/export.js";
import { runFinetune } from "../train/finetune.js";
import { writeFileAtomic } from "../util/fs.js";
import type { ArchiveEntry } from "./archive.js";
import { EvaluationRunner, type BatchEvaluator, type SearchProblem, type SearchProgress, type SearchResult } from "./engine.js";
import type { Genome } from "./genome.js";
import { hypervolume } from "./hypervolume.js";
import { nsga2 } from "./nsga2.js";
import { greedySearch, randomSearch } from "./baselines.js";
import { choiceEnergy, measureAccuracy, prepareAssignment, scoreChoice, type AssignmentObjective, type AssignmentSetup, type ChoiceResult, type PreparedAssignment } from "./assign.js";

export interface AssignmentSearchOptions extends AssignmentSetup {
  /** Where the journals go (and, through writeAssignmentReport, the results). */
  outDir: string;
  /** Continue the journals in outDir instead of refusing to overwrite them. */
  resume?: boolean;
  /** Distinct assignments each search may evaluate (default 300). */
  budget?: number;
  seed?: number;
  /** NSGA-II population (default 24). */
  populationSize?: number;
  /** ALWANN's tiles: T multipliers, each layer on one tile (default: one multiplier per layer). */
  tiles?: number;
  /** Default ["accuracy", "energy"]; accuracy must be first. */
  objectives?: AssignmentObjective[];
  /** Constraint: at most this many points of validation top-1 lost (constrained domination). */
  maxDrop?: number;
  /** Hypervolume reference: this many points of drop (default 5) and the exact design's energy. */
  hvMaxDrop?: number;
  /** Also run the baselines (uniform, greedy, random) in the same run (default true). */
  baselines?: boolean;
  /**
   * A few QAT epochs (src/train/finetune.ts, as `axnn finetune`) for each NSGA-II front member,
   * its approximate test top-1 before and after (as `axnn eval` measures it) reported beside it;
   * the retrained models go to outDir/finetuned/. Off by default.
   */
  finetuneFront?: { epochs: number; trainSamples?: number; lr?: number };
  /** Called as evaluations finish and after each generation. */
  onProgress?: (p: AssignmentProgress) => void;
}

export interface AssignmentProgress {
  method: string;
  evaluations: number;
  budget: number;
  frontSize: number;
  hypervolume?: number;
}

/** One evaluated assignment, as reported. */
export interface AssignmentPoint {
  /** Multiplier per searched layer (index into the candidates; 0 = exact). */
  choice: number[];
  multipliers: Record<string, string>;
  val_top1: number;
  test_top1?: number;
  energy_pj: number;
  multiplier_pj: number;
  /** 1 - energy / exact energy (whole accelerator). */
  saving: number;
  /** 1 - multiplier energy / exact multiplier energy. */
  multiplier_saving: number;
  val_drop: number;
  test_drop?: number;
  /** With finetuneFront: the QAT run of this member. */
  finetune?: FrontFinetune;
}

/** A front member retrained with its multipliers in the loop (no weight tuning: QAT starts from the model's own weights). */
export interface FrontFinetune {
  epochs: number;
  /** The retrained model, relative to the output directory (its sidecar names the multipliers). */
  model: string;
  /** Approximate test top-1 before and after, as `axnn eval` measures it (its own calibration; no tuned weights). */
  before_test_top1: number;
  after_test_top1: number;
  warnings: string[];
}

export interface MethodResult {
  method: "nsga2" | "random" | "greedy" | "uniform";
  evaluations: number;
  /** Hypervolume of the validation front in (drop points, energy / exact energy) against (hvMaxDrop, 1). */
  hypervolume: number;
  front: AssignmentPoint[];
  archive: AssignmentPoint[];
}

export interface AssignmentSearchResult {
  prepared: PreparedAssignment;
  objectives: AssignmentObjective[];
  energyObjective: "energy" | "multiplier-energy";
  exact: { val_top1: number; test_top1: number; energy_pj: number; multiplier_pj: number };
  methods: MethodResult[];
  /** The NSGA-II front, re-measured on the test split. */
  front: AssignmentPoint[];
  /** Best saving per method at validation drops of at most 0.5, 1 and 2 points (the chosen member's test drop beside it). */
  savings: { method: string; max_drop: number; saving: number; multiplier_saving: number; val_drop: number; test_drop: number | null }[];
  settings: Record<string, unknown>;
  seconds: number;
}

export const SAVING_DROPS = [0.5, 1, 2];

/** Genome <-> per-layer choice: one gene per layer, or ALWANN's tiles (T multipliers, then a tile per layer). */
export function assignmentEncoding(layers: number, candidates: number, tiles?: number): { cardinalities: number[]; decode: (g: Genome) => number[] } {
  if (tiles === undefined) return { cardinalities: new Array(layers).fill(candidates + 1), decode: (g) => [...g] };
  if (!Number.isInteger(tiles) || tiles < 1) throw new AxnnError(`expected a positive integer, got ${tiles}`, { field: "--tiles" });
  return {
    cardinalities: [...new Array(tiles).fill(candidates + 1), ...new Array(layers).fill(tiles)],
    decode: (g) => g.slice(tiles).map((t) => g[t]!),
  };
}

/**
 * Searches per-layer multiplier assignments of a trained model: NSGA-II plus, at the same budget,
 * random search and greedy by per-layer sensitivity, and every uniform assignment. Accuracy is the
 * validation split's (carved from the training data); the NSGA-II front and the baselines' fronts
 * are re-measured on the test split. Evaluations are deterministic (the native kernels' sums do not
 * depend on their thread count), so results do not depend on the number of threads.
 */
export async function searchAssignment(opts: AssignmentSearchOptions): Promise<AssignmentSearchResult> {
  const start = Date.now();
  const budget = opts.budget ?? 300;
  if (!Number.isInteger(budget) || budget < 1) throw new AxnnError(`expected a whole number of evaluations >= 1, got ${budget}`, { field: "--budget" });
  const objectives = opts.objectives ?? ["accuracy", "energy"];
  if (objectives[0] !== "accuracy" || objectives.length < 2 || objectives.length > 3 || new Set(objectives).size !== objectives.length) {
    throw new AxnnError(`expected accuracy first, then energy and/or multiplier-energy (e.g. accuracy,energy), got ${objectives.join(",")}`, { field: "--objectives" });
  }
  const energyObjective = objectives[1] as "energy" | "multiplier-energy";
  if (opts.maxDrop !== undefined && !(opts.maxDrop >= 0)) throw new AxnnError(`expected a number of points >= 0, got ${opts.maxDrop}`, { field: "--max-drop" });
  const hvMaxDrop = opts.hvMaxDrop ?? 5;
  const seed = opts.seed ?? 1;
  const p = prepareAssignment(opts);
  const L = p.layers.length, M = p.candidates.length;
  mkdirSync(join(opts.outDir, "journal"), { recursive: true });

  // One cache of measured choices shared by every method: a choice is measured once per run.
  const cache = new Map<string, ChoiceResult>();
  const measure = (choice: number[]): ChoiceResult => {
    const k = choice.join(",");
    let r = cache.get(k);
    if (!r) {
      r = scoreChoice(p, choice, objectives, opts.maxDrop);
      cache.set(k, r);
    }
    return r;
  };
  let current = { method: "", evaluations: 0, frontSize: 0, hypervolume: undefined as number | undefined };
  const evaluatorFor = (decode: (g: Genome) => number[]): BatchEvaluator => async (genomes, onResult) => {
    const out: ChoiceResult[] = [];
    for (let i = 0; i < genomes.length; i++) {
      // Yield between candidates so a terminal's progress line keeps moving.
      await new Promise((r) => setImmediate(r));
      out.push(measure(decode(genomes[i]!)));
      onResult(i, out[i]!);
      current.evaluations++;
      opts.onProgress?.({ method: current.method, evaluations: current.evaluations, budget, frontSize: current.frontSize, ...(current.hypervolume !== undefined ? { hypervolume: current.hypervolume } : {}) });
    }
    return out;
  };
  const signature = createHash("sha256").update(JSON.stringify({
    model: createHash("sha256").update(typeof opts.model === "string" ? readFileSync(opts.model) : exportOnnx(opts.model)).digest("hex"), data: opts.data, candidates: p.candidates.map((c) => c.ref), layers: p.layers,
    tune: p.tunedWeights, objectives, maxDrop: opts.maxDrop ?? null, val: opts.validationSize ?? 1000, calib: opts.calibrationSize ?? 256,
    dataSeed: opts.dataSeed ?? 1, arch: p.arch, scheme: p.scheme,
    // The energies themselves: another energy source or predictor file is another search.
    energy: createHash("sha256").update(JSON.stringify([p.energySource, p.energyPj, p.multiplierPj, p.fixed])).digest("hex"),
  })).digest("hex");
  const norm = (e: ArchiveEntry) => {
    const info = e.info as ChoiceResult["info"];
    return [(p.exact.valTop1 - info.val_top1) * 100, (energyObjective === "energy" ? info.energy_pj / p.exact.energyPj : info.multiplier_pj / p.exact.multiplierPj)];
  };
  const hvOf = (entries: ArchiveEntry[]) => hypervolume(entries.filter((e) => e.violation <= 0).map(norm), [hvMaxDrop, 1]);
  // The engine's hypervolume (raw objectives) against the reference, rescaled to (points, fraction of exact) units.
  const rawRef = objectives.map((o) => (o === "accuracy" ? 1 - p.exact.valTop1 + hvMaxDrop / 100 : o === "energy" ? p.exact.energyPj : p.exact.multiplierPj));
  const rawUnit = objectives.map((o) => (o === "accuracy" ? 0.01 : o === "energy" ? p.exact.energyPj : p.exact.multiplierPj)).reduce((a, b) => a * b, 1);
  const common = (journal: string) => ({
    budget, seed, journal: join(opts.outDir, "journal", journal), resume: opts.resume ?? false, referencePoint: rawRef,
    onProgress: (s: SearchProgress) => {
      current.frontSize = s.frontSize;
      current.hypervolume = s.hypervolume === undefined ? undefined : s.hypervolume / rawUnit;
    },
  });
  const run = async (method: string, f: () => Promise<SearchResult>) => {
    current = { method, evaluations: 0, frontSize: 0, hypervolume: undefined };
    return f();
  };
  const perLayer = assignmentEncoding(L, M);
  const problem = (decode: (g: Genome) => number[], cards: number[]): SearchProblem => ({ cardinalities: cards, objectives: objectives.length, evaluate: evaluatorFor(decode), signature });

  const results: { method: MethodResult["method"]; r: SearchResult }[] = [];
  const uniformChoices = Array.from({ length: M + 1 }, (_, k) => new Array<number>(L).fill(k));
  if (opts.baselines ?? true) {
    // Every uniform assignment (exact included): not budgeted, it is the reference front.
    results.push({ method: "uniform", r: await run("uniform", () => evaluateList(uniformChoices, problem(perLayer.decode, perLayer.cardinalities), join(opts.outDir, "journal", "uniform.jsonl"), opts.resume ?? false)) });
    // Greedy's table tries the candidates in an order that spreads over their power range, so a
    // budget that buys only part of the table still sees cheap, middling and costly multipliers.
    const byPower = p.candidates.map((c, k) => ({ k: k + 1, power: c.powerRatio })).sort((a, b) => a.power - b.power || a.k - b.k).map((c) => c.k);
    const valueOrder = new Array(L).fill(spreadOrder(M).map((j) => byPower[j]!));
    results.push({ method: "greedy", r: await run("greedy", () => greedySearch(problem(perLayer.decode, perLayer.cardinalities), { ...common("greedy.jsonl"), start: new Array(L).fill(0), lossObjective: 0, costObjective: 1, valueOrder })) });
    results.push({ method: "random", r: await run("random", () => randomSearch(problem(perLayer.decode, perLayer.cardinalities), { ...common("random.jsonl"), batchSize: opts.populationSize ?? 24 })) });
  }
  const enc = assignmentEncoding(L, M, opts.tiles);
  // The first population holds every uniform assignment (as ALWANN's does; it grows beyond the
  // population size if needed), so the NSGA-II front weakly dominates the uniform front whenever
  // the budget covers them (they count against it; measuring them again costs nothing, the cache has them).
  const initial = opts.tiles === undefined ? uniformChoices : uniformChoices.map((c) => [...new Array(opts.tiles!).fill(c[0]!), ...new Array(L).fill(0)]);
  results.push({
    method: "nsga2",
    r: await run("nsga2", () => nsga2(problem(enc.decode, enc.cardinalities), {
      ...common(opts.tiles === undefined ? "nsga2.jsonl" : `nsga2-tiles${opts.tiles}.jsonl`),
      populationSize: opts.populationSize ?? 24, initial,
    })),
  });

  // Re-measure every method's front on the test split (each choice once).
  const testCache = new Map<string, number>();
  const testTop1 = (choice: number[]) => {
    const k = choice.join(",");
    let v = testCache.get(k);
    if (v === undefined) {
      v = measureAccuracy(p, choice, p.test());
      testCache.set(k, v);
    }
    return v;
  };
  const exactTest = testTop1(new Array(L).fill(0));
  const point = (e: ArchiveEntry, withTest: boolean): AssignmentPoint => {
    const info = e.info as ChoiceResult["info"];
    const choice = info.choice;
    const { energyPj, multiplierPj } = choiceEnergy(p, choice);
    const t = withTest ? testTop1(choice) : undefined;
    return {
      choice, multipliers: Object.fromEntries(p.layers.map((l, i) => [l, choice[i] === 0 ? "exact" : p.candidates[choice[i]! - 1]!.name])),
      val_top1: info.val_top1, ...(t !== undefined ? { test_top1: t } : {}), energy_pj: energyPj, multiplier_pj: multiplierPj,
      saving: 1 - energyPj / p.exact.energyPj, multiplier_saving: 1 - multiplierPj / p.exact.multiplierPj,
      val_drop: (p.exact.valTop1 - info.val_top1) * 100, ...(t !== undefined ? { test_drop: (exactTest - t) * 100 } : {}),
    };
  };
  const byEnergy = (a: AssignmentPoint, b: AssignmentPoint) => a.energy_pj - b.energy_pj || a.val_drop - b.val_drop;
  const methods: MethodResult[] = results.map(({ method, r }) => {
    // The reported front: feasible, non-dominated in (validation error, chosen energy).
    const feasible = r.front.filter((e) => e.violation <= 0);
    return {
      method, evaluations: r.evaluations, hypervolume: hvOf(r.archive),
      front: feasible.map((e) => point(e, true)).sort(byEnergy),
      archive: r.archive.map((e) => point(e, false)),
    };
  });
  const savingOf = (pt: AssignmentPoint) => (energyObjective === "energy" ? pt.saving : pt.multiplier_saving);
  const savings: AssignmentSearchResult["savings"] = [];
  for (const m of methods) {
    for (const d of SAVING_DROPS) {
      const ok = m.front.filter((pt) => pt.val_drop <= d);
      const best = ok.sort((a, b) => savingOf(b) - savingOf(a))[0];
      savings.push({ method: m.method, max_drop: d, saving: best ? savingOf(best) : 0, multiplier_saving: best ? best.multiplier_saving : 0, val_drop: best ? best.val_drop : 0, test_drop: best?.test_drop ?? null });
    }
  }
  const front = methods.find((m) => m.method === "nsga2")!.front;
  if (opts.finetuneFront) finetuneFrontMembers(p, front, opts, seed, (line) => opts.onStatus?.(line));
  return {
    prepared: p, objectives, energyObjective,
    exact: { val_top1: p.exact.valTop1, test_top1: exactTest, energy_pj: p.exact.energyPj, multiplier_pj: p.exact.multiplierPj },
    methods, front, savings,
    settings: {
      model: p.modelFile, data: opts.data, budget, seed, population: opts.populationSize ?? 24, tiles: opts.tiles ?? null, objectives,
      finetune_front: opts.finetuneFront ?? null, max_drop: opts.maxDrop ?? null, hv_reference: { max_drop_points: hvMaxDrop, energy_fraction: 1 }, tune_weights: p.tunedWeights,
      validation_size: p.validation.count, test_size: p.test().count, arch: p.arch, scheme: p.scheme,
      energy: p.energySource, ...(opts.predictor !== undefined ? { predictor: opts.predictor } : {}),
      ...(p.predictorDomain ? { predictor_domain: { known: p.predictorDomain.known, inside: p.predictorDomain.inside, outside: p.predictorDomain.outside } } : {}),
      candidates: p.candidates.map((c) => ({ name: c.name, ref: c.ref, power_ratio: c.powerRatio, power_source: c.powerSource })),
      layers: p.layers,
    },
    seconds: (Date.now() - start) / 1000,
  };
}

/** The mult-config file of front member i (0-based), relative to the output directory. */
export function memberConfigPath(i: number): string {
  return `configs/member-${String(i + 1).padStart(2, "0")}.json`;
}

/** The mult-config of one assignment: what `axnn eval`, `axnn energy net` and `axnn finetune` take. */
export function choiceConfig(p: PreparedAssignment, choice: readonly number[]): { default: string; layers: Record<string, string> } {
  const layers: Record<string, string> = {};
  p.layers.forEach((l, i) => {
    const k = choice[i]!;
    if (k > 0) layers[l] = p.candidates[k - 1]!.ref;
  });
  return { default: "exact", layers };
}

/**
 * QAT for each front member (runFinetune, as `axnn finetune --mult-config`), one after another;
 * each finished member's record is kept in finetuned/, so a resumed search retrains only the rest.
 */
function finetuneFrontMembers(p: PreparedAssignment, front: AssignmentPoint[], opts: AssignmentSearchOptions, seed: number, status: (line: string) => void): void {
  const ft = opts.finetuneFront!;
  if (!Number.isInteger(ft.epochs) || ft.epochs < 1) throw new AxnnError(`expected a whole number of epochs >= 1, got ${ft.epochs}`, { field: "--finetune-front" });
  mkdirSync(join(opts.outDir, "finetuned"), { recursive: true });
  front.forEach((pt, i) => {
    const config = choiceConfig(p, pt.choice);
    const configFile = memberConfigPath(i);
    const model = `finetuned/member-${String(i + 1).padStart(2, "0")}.onnx`;
    const recordFile = join(opts.outDir, model.replace(/\.onnx$/, ".json"));
    const key = JSON.stringify({ config, ...ft, seed });
    if (opts.resume && existsSync(recordFile) && existsSync(join(opts.outDir, model))) {
      const rec = JSON.parse(readFileSync(recordFile, "utf8")) as { key: string; finetune: FrontFinetune };
      if (rec.key === key) {
        pt.finetune = rec.finetune;
        return;
      }
    }
    writeFileAtomic(join(opts.outDir, configFile), JSON.stringify(config, null, 2) + "\n");
    status(`fine-tuning front member ${i + 1}/${front.length} (${ft.epochs} QAT epoch${ft.epochs > 1 ? "s" : ""})`);
    const { report } = runFinetune({
      model: typeof opts.model === "string" ? opts.model : p.model, data: opts.data, multConfig: join(opts.outDir, configFile), epochs: ft.epochs, seed, quiet: true, quant: p.scheme,
      ...(ft.trainSamples !== undefined ? { trainSamples: ft.trainSamples } : {}), ...(ft.lr !== undefined ? { lr: ft.lr } : {}),
      ...(opts.testLimit !== undefined ? { limit: opts.testLimit } : {}), calibrationSize: opts.calibrationSize ?? 256,
      normalize: p.normalize, output: join(opts.outDir, model),
    });
    pt.finetune = { epochs: ft.epochs, model, before_test_top1: report.before_top1, after_test_top1: report.after_top1, warnings: report.warnings };
    writeFileAtomic(recordFile, JSON.stringify({ key, finetune: pt.finetune }, null, 2) + "\n");
  });
}

/** 0 .. n-1 in bit-reversed order (0, n/2, n/4, 3n/4, ...): every prefix spreads evenly over the range. */
export function spreadOrder(n: number): number[] {
  let bits = 0;
  while (1 << bits < n) bits++;
  const out: number[] = [];
  for (let i = 0; i < 1 << bits; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
    if (r < n) out.push(r);
  }
  return out;
}

/** Evaluates a fixed list of genomes through the engine (journaled like the searches). */
async function evaluateList(genomes: number[][], problem: SearchProblem, journal: string, resume: boolean): Promise<SearchResult> {
  const runner = new EvaluationRunner(problem, { budget: genomes.length, journal, resume }, "list", { genomes });
  await runner.evaluate(genomes);
  return runner.result("list", 1);
}

/** Whether every point of `b` is weakly dominated by a point of `a` (validation drop and energy). */
export function frontCovers(a: readonly AssignmentPoint[], b: readonly AssignmentPoint[]): boolean {
  return b.every((q) => a.some((pt) => pt.val_drop <= q.val_drop && pt.energy_pj <= q.energy_pj));
}
