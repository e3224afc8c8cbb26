// `axnn search nas` as a library: the architecture-and-multiplier search (EvoApproxNAS-style) on the
// search engine (src/search: NSGA-II, archive, journal, resume), or beam search; every candidate
// trained in a process of its own (or through a queue, src/search/queue); energy from a predictor
// during the search and from the energy model for the final front; outputs in one directory.
import { availableParallelism } from "node:os";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadDataset, parseNormalization, subsetIndices } from "../../data/datasets.js";
import { prepareBatches } from "../../eval/accuracy.js";
import { assignmentScales, layerMacs, networkEnergy, type NetworkLayer } from "../../energy/network.js";
import { loadDesign } from "../../energy/presets.js";
import { quantizeModelWithParams } from "../../quant/model.js";
import { EnergyPredictors, rawMultiplicationSum, designConstants, savePredictors, trainPredictors, type PredictLayer } from "../../predict/predictors.js";
import { labelNetwork } from "../../predict/dataset.js";
import { multiplierPoolNames } from "../../predict/multipliers.js";
import { uniformRandom } from "../../util/random.js";
import { resolveMultiplier } from "../../multipliers/resolve.js";
import { AxnnError } from "../../util/errors.js";
import { writeFileAtomic } from "../../util/fs.js";
import { loadModel, sidecarPath } from "../../zoo/sidecar.js";
import { Archive, type ArchiveEntry, type GenomeEvaluation } from "../archive.js";
import type { BatchContext, SearchProblem, SearchProgress, SearchResult } from "../engine.js";
import { genomeKey, type Genome } from "../genome.js";
import { hypervolume } from "../hypervolume.js";
import { nsga2 } from "../nsga2.js";
import { beamSearch } from "./beam.js";
import { approximateTop1, candidateArithmetic, type CandidateResult, type CandidateSettings } from "./candidate.js";
import { evaluateInChildProcess, type CandidateJob } from "./candidate-process.js";
import { architectureAssignment, architectureLayers, architectureParams } from "./network.js";
import { decodeGenome, describeArchitecture, geneCardinalities, NAS_REFERENCE_NETWORKS, referenceGenome, repairGenome, type NasReferenceNetwork, type NasSpace } from "./space.js";
import { writeNasReport } from "./report.js";
import { NAS_OBJECTIVES, type NasBaseline, type NasCandidateInfo, type NasFromScratch, type NasFrontMember, type NasObjective, type NasProgress, type NasSearchReport } from "./records.js";

export { NAS_OBJECTIVES, type NasBaseline, type NasCandidateInfo, type NasFromScratch, type NasFrontMember, type NasObjective, type NasProgress, type NasSearchReport } from "./records.js";

/** Evaluates one candidate job somewhere (a child process, a queue) and resolves to its result; the trained model must then be at job.output. */
export type CandidateEvaluator = (job: CandidateJob) => Promise<CandidateResult>;

export interface NasSearchOptions {
  data: string;
  /** Two or three objectives, accuracy among them (all minimised: accuracy as 1 - top-1). */
  objectives: NasObjective[];
  /** Accelerator preset for energy (eyeriss, simba). */
  arch: string;
  multipliers: string[];
  budget: number;
  seed: number;
  outDir: string;
  resume?: boolean;
  algorithm?: "nsga2" | "beam";
  populationSize?: number;
  beamWidth?: number;
  training: Omit<CandidateSettings, "data" | "seed">;
  /** Test samples for the final front's test top-1 (default: the whole test split). */
  testSamples?: number;
  /**
   * Energy during the search: a predictor file (`axnn predict train`) for the learned predictor;
   * "auto": a learned predictor trained first on random architectures of this search space, labelled
   * by the energy model (outDir/predictor.json, reused on resume); "sum": the multiplications' energy
   * sum (no training; it leaves out data movement).
   */
  predictor: string;
  /** Constraints: feasible candidates have at least this validation top-1 and at most this many parameters. */
  minAccuracy?: number;
  maxParams?: number;
  /** Start every candidate from the trained weights of the earlier candidate that shares most layers with it. */
  inherit?: boolean;
  /** Candidates trained side by side (default: one per core). */
  jobs?: number;
  /** Mapper evaluations per distinct layer shape for the front's energy-model figures. */
  energyEvaluations?: number;
  /** Where candidates run (default: a child process each on this machine). */
  evaluator?: CandidateEvaluator;
  /** Seed the first population with the space's hand-designed networks (default lenet5, resnet8; exact multipliers). */
  initial?: NasReferenceNetwork[];
  /**
   * Hand-designed networks trained with the same schedule, each with every multiplier used
   * uniformly, priced and tested as the front is (default lenet5, resnet8; [] for none). Not part
   * of the budget; journaled to baselines.jsonl as each finishes (reused on resume) and reported beside the front.
   */
  baselines?: NasReferenceNetwork[];
  /**
   * After the search, train every front member that inherited weights again from scratch with
   * exactly the baselines' schedule (same settings and seed, no parent) and report those figures
   * beside the search's (`from_scratch`), so that the baselines are judged against equal training.
   * Journaled to scratch.jsonl (reused on resume); it can be added to a finished search with --resume.
   */
  retrainFront?: boolean;
  quiet?: boolean;
  onProgress?: (p: NasProgress) => void;
}

/** The search space of a dataset: its sample shape and classes. */
export function nasSpaceFor(data: string, multipliers: string[]): NasSpace {
  const ds = loadDataset(data, "test");
  const [, c, h, w] = ds.shape;
  return { inputShape: [c, h, w], classes: ds.classes, multipliers: [...multipliers] };
}

/** Prices architectures during the search: a predictor per candidate in microseconds, no mapping search. */
export class SearchEnergy {
  private readonly learned?: EnergyPredictors;
  private readonly constants: { macPj: number; multiplierShare: number };
  private readonly ratios = new Map<string, number>();

  constructor(readonly arch: string, readonly predictor: string, multipliers: readonly string[]) {
    if (predictor !== "sum") {
      this.learned = EnergyPredictors.load(predictor);
      if (!this.learned.archs().includes(arch)) throw new AxnnError(`the predictor file has no model for "${arch}" (it has: ${this.learned.archs().join(", ")})`, { file: predictor, field: "--arch" });
    }
    this.constants = designConstants(arch);
    const { arch: a } = loadDesign(arch);
    for (const m of multipliers) {
      const scales = assignmentScales({ default: m, layers: {} }, [PROBE_LAYER], a.compute);
      this.ratios.set(m, scales.get(PROBE_LAYER.name)?.powerRatio ?? 1);
    }
  }

  /** The multiplier's power relative to the exact multiplier. */
  powerRatio(multiplier: string): number {
    return this.ratios.get(multiplier) ?? 1;
  }

  predict(layers: readonly { layer: NetworkLayer; multiplier: string }[]): number {
    const input: PredictLayer[] = layers.map((l) => ({ layer: l.layer, powerRatio: this.powerRatio(l.multiplier) }));
    return this.learned ? this.learned.learned(this.arch, input) : rawMultiplicationSum(input, this.constants.macPj, this.constants.multiplierShare);
  }
}

const PROBE_LAYER: NetworkLayer = { name: "probe", kind: "dense", inChannels: 1, outChannels: 1, inH: 1, inW: 1, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, pads: [0, 0, 0, 0], dilationH: 1, dilationW: 1, groups: 1, batch: 1 };

/** Layers of two architectures that could share weights (same name and shape). */
function sharedLayers(a: readonly { layer: NetworkLayer }[], b: readonly { layer: NetworkLayer }[]): number {
  const key = (l: NetworkLayer) => `${l.name}/${l.kind}/${l.inChannels}/${l.outChannels}/${l.kernelH}/${l.groups}/${l.inH}`;
  const set = new Set(b.map((l) => key(l.layer)));
  return a.filter((l) => set.has(key(l.layer))).length;
}

/** Checks the options and fills in defaults; errors name the option. */
export function checkNasOptions(o: NasSearchOptions): void {
  if (o.objectives.length < 2 || o.objectives.length > 3) throw new AxnnError(`expected two or three objectives, got ${o.objectives.length}`, { field: "--objectives" });
  for (const k of o.objectives) if (!(NAS_OBJECTIVES as readonly string[]).includes(k)) throw new AxnnError(`unknown objective "${k}"; expected some of ${NAS_OBJECTIVES.join(", ")}`, { field: "--objectives" });
  if (!o.objectives.includes("accuracy")) throw new AxnnError("the objectives must include accuracy", { field: "--objectives" });
  if (new Set(o.objectives).size !== o.objectives.length) throw new AxnnError("an objective is listed twice", { field: "--objectives" });
  if (!Number.isInteger(o.budget) || o.budget < 1) throw new AxnnError(`expected a whole number >= 1, got ${o.budget}`, { field: "--budget" });
  const t = o.training;
  if (t.epochs + t.qatEpochs < 1) throw new AxnnError("a candidate needs at least one epoch (--epochs or --qat-epochs)", { field: "--epochs" });
  if (o.minAccuracy !== undefined && !(o.minAccuracy >= 0 && o.minAccuracy <= 1)) throw new AxnnError(`expected a fraction from 0 to 1, got ${o.minAccuracy}`, { field: "--min-accuracy" });
  if (o.maxParams !== undefined && !(o.maxParams > 0)) throw new AxnnError(`expected a positive number, got ${o.maxParams}`, { field: "--max-params" });
  const signed = new Set(o.multipliers.filter((m) => m !== "exact").map((m) => resolveMultiplier(m).multiplier.signed));
  if (signed.size > 1) throw new AxnnError("the multipliers mix signed and unsigned designs; one quantization cannot feed both", { field: "--mults" });
}

/** The objective vector of a candidate (all minimised). */
function objectivesOf(objectives: readonly NasObjective[], info: NasCandidateInfo): number[] {
  return objectives.map((k) => (k === "accuracy" ? 1 - info.val_top1 : k === "energy" ? info.predicted_energy_pj : k === "params" ? info.params : info.macs));
}

/** Runs the search; writes journal, models, archive, front, charts and report under opts.outDir. */
export async function runNasSearch(o: NasSearchOptions): Promise<NasSearchReport> {
  checkNasOptions(o);
  const t0 = performance.now();
  const space = nasSpaceFor(o.data, o.multipliers);
  const predictorFile = o.predictor === "auto" ? autoPredictor(space, o) : o.predictor;
  const energy = new SearchEnergy(o.arch, predictorFile, o.multipliers);
  const settings: CandidateSettings = { ...o.training, data: o.data, seed: o.seed };
  const modelsDir = join(o.outDir, "models");
  mkdirSync(modelsDir, { recursive: true });
  const jobs = o.jobs ?? Math.max(1, availableParallelism());
  const evaluator: CandidateEvaluator = o.evaluator ?? ((job) => evaluateInChildProcess(job, { threads: jobs > 1 ? 1 : undefined }));
  const modelPath = (key: string) => join(modelsDir, `${key}.onnx`);
  // A baseline's own file: the search may train the same genome again (a seed, or a child that inherited weights).
  const baselineModelPath = (key: string) => join(modelsDir, `baseline-${key}.onnx`);

  // Reference point of the hypervolume: zero accuracy, and twice the largest hand-designed network's cost.
  const refs = (["lenet5", "resnet8", "resnet20", "mobilenetv2"] as const).map((n) => infoBase(space, energy, referenceGenome(space, n)));
  const referencePoint = o.objectives.map((k) => (k === "accuracy" ? 1 : 2 * Math.max(...refs.map((r) => objectivesOf([k], { ...r, val_top1: 0, float_val_top1: null, stopped_early: false, inherited: 0, parent: null, train_seconds: 0 })[0]!))));

  const generations: { step: number; evaluations: number; front: number[][] }[] = [];
  let sessionDone = 0;
  // Baselines by genome: a candidate with the same genome and no parent would be trained exactly as its baseline was (same settings and seed).
  const trainedBaselines = new Map<string, ArchiveEntry>();
  const evaluate = async (genomes: Genome[], onResult: (i: number, ev: GenomeEvaluation) => void, context?: BatchContext): Promise<GenomeEvaluation[]> => {
    const archive = context?.archive ?? [];
    const out: GenomeEvaluation[] = new Array(genomes.length);
    let next = 0;
    const work = async () => {
      while (next < genomes.length) {
        const i = next++;
        const genome = [...genomes[i]!];
        const key = genomeKey(genome);
        const parent = o.inherit ? chooseParent(space, genome, archive) : null;
        const job: CandidateJob = { space, genome, settings, output: modelPath(key), ...(parent ? { parent: modelPath(parent) } : {}) };
        const r = parent === null && trainedBaselines.has(key) ? reuseBaseline(trainedBaselines.get(key)!, baselineModelPath(key), modelPath(key)) : await evaluator(job);
        if (!r.stopped_early && !existsSync(modelPath(key))) throw new Error(`the candidate ${key} was evaluated but its model ${modelPath(key)} is missing`);
        const info: NasCandidateInfo = { ...infoBase(space, energy, genome), ...r, parent };
        const violation = (o.minAccuracy !== undefined ? Math.max(0, o.minAccuracy - info.val_top1) : 0) + (o.maxParams !== undefined ? Math.max(0, info.params / o.maxParams - 1) : 0);
        out[i] = { objectives: objectivesOf(o.objectives, info), violation, info };
        sessionDone++;
        onResult(i, out[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, genomes.length) }, work));
    return out;
  };
  const problem: SearchProblem = {
    cardinalities: geneCardinalities(space),
    objectives: o.objectives.length,
    evaluate,
    repair: (g) => repairGenome(space, g),
    signature: JSON.stringify({ space, settings, objectives: o.objectives, arch: o.arch, predictor: o.predictor, minAccuracy: o.minAccuracy, maxParams: o.maxParams, inherit: o.inherit ?? false }),
  };
  const initial = (o.initial ?? ["lenet5", "resnet8"]).map((n) => referenceGenome(space, n));
  // Refused before the baselines are trained, not after.
  if (!o.resume && existsSync(join(o.outDir, "journal.jsonl"))) throw new AxnnError(`a search journal already exists; resume it (--resume) or write to another directory`, { file: join(o.outDir, "journal.jsonl") });
  const baselineEntries = await evaluateBaselines(o, problem.signature!, space, energy, settings, evaluator, jobs, baselineModelPath);
  for (const b of baselineEntries) trainedBaselines.set(b.entry.key, b.entry);
  let lastReport = 0;
  let liveReport: Promise<void> = Promise.resolve();
  const onProgress = (p: SearchProgress) => {
    const elapsed = (performance.now() - t0) / 1000;
    const left = p.budget - p.evaluations;
    const progress: NasProgress = { ...p, elapsedSeconds: elapsed, secondsLeft: sessionDone > 0 ? (left * elapsed) / sessionDone : null };
    // The front so far (what the journal holds; recomputed from the archive's order at the end, as a resumed run's journal may hold later results).
    const soFar = readArchiveSoFar(o.outDir);
    generations.push({ step: p.step, evaluations: p.evaluations, front: frontOf(soFar).map((e) => e.objectives) });
    o.onProgress?.(progress);
    writeFileAtomic(join(o.outDir, "progress.json"), JSON.stringify(progress, null, 2) + "\n");
    if (performance.now() - lastReport > 2000) {
      lastReport = performance.now();
      // One live report at a time, and never one finishing after the final report.
      liveReport = liveReport.then(() => writeNasReport(o.outDir, { running: true, objectives: o.objectives, progress, archive: soFar, generations: generations.map((g) => ({ ...g })) })).catch(() => undefined);
    }
  };
  const common = { budget: o.budget, seed: o.seed, journal: join(o.outDir, "journal.jsonl"), resume: o.resume, referencePoint, onProgress };
  const result: SearchResult = o.algorithm === "beam"
    ? await beamSearch(problem, { ...common, initial, beamWidth: o.beamWidth })
    : await nsga2(problem, { ...common, initial, populationSize: o.populationSize ?? 20 });

  // The front per generation, from the archive order (the engine evaluates generation by generation).
  let seen = 0;
  for (const g of generations) {
    seen = g.evaluations;
    const upTo = result.archive.slice(0, seen);
    g.front = frontOf(upTo).map((e) => e.objectives);
  }
  const members = await finishFront(o, space, result.front, modelPath);
  await addFromScratch(o, problem.signature!, space, settings, evaluator, jobs, members, (key) => join(modelsDir, `scratch-${key}.onnx`));
  const scoredBaselines = await finishFront(o, space, baselineEntries.map((b) => b.entry), baselineModelPath, "baselines");
  const fair = members.every((f) => f.from_scratch !== undefined);
  const baselines: NasBaseline[] = baselineEntries.map((b) => {
    const m = scoredBaselines.find((x) => x.key === b.entry.key)!;
    const dominated = members.some((f) => f.val_top1 >= m.val_top1 && f.predicted_energy_pj <= m.predicted_energy_pj && (f.val_top1 > m.val_top1 || f.predicted_energy_pj < m.predicted_energy_pj));
    const dominatedFromScratch = !fair ? null : members.some((f) => {
      const s = f.from_scratch!;
      return s.val_top1 >= m.val_top1 && s.test_top1 >= m.test_top1 && f.energy_pj <= m.energy_pj && (s.val_top1 > m.val_top1 || s.test_top1 > m.test_top1 || f.energy_pj < m.energy_pj);
    });
    return { ...m, name: b.name, multiplier: b.multiplier, dominated_by_front: dominated, dominated_by_front_from_scratch: dominatedFromScratch };
  }).filter((b) => b.key !== undefined);
  const feasible = result.front.filter((e) => e.violation <= 0).map((e) => e.objectives);
  const report: NasSearchReport = {
    data: o.data, arch: o.arch, objectives: o.objectives, algorithm: result.algorithm, predictor: o.predictor === "sum" ? "sum" : o.predictor === "auto" ? "learned (auto)" : "learned",
    budget: o.budget, seed: o.seed, evaluations: result.evaluations, from_journal: result.fromJournal,
    hypervolume: hypervolume(feasible, referencePoint), reference_point: referencePoint, members, baselines, seconds: (performance.now() - t0) / 1000,
  };
  writeFileAtomic(join(o.outDir, "archive.json"), JSON.stringify(result.archive, null, 1) + "\n");
  writeFileAtomic(join(o.outDir, "front.json"), JSON.stringify(report, null, 2) + "\n");
  writeFileAtomic(join(o.outDir, "generations.json"), JSON.stringify(generations) + "\n");
  await liveReport;
  await writeNasReport(o.outDir, { running: false, objectives: o.objectives, archive: result.archive, generations, report });
  return report;
}

/**
 * The baselines' candidates (hand-designed genomes with each multiplier uniform), evaluated like any
 * candidate (no inheritance), before the search; each is journaled (baselines.jsonl) as it finishes,
 * so a run killed during the baselines and resumed evaluates only those it had not finished.
 */
async function evaluateBaselines(o: NasSearchOptions, signature: string, space: NasSpace, energy: SearchEnergy, settings: CandidateSettings, evaluator: CandidateEvaluator, jobs: number, modelPath: (key: string) => string): Promise<{ name: NasReferenceNetwork; multiplier: string; entry: ArchiveEntry }[]> {
  const todo = (o.baselines ?? ["lenet5", "resnet8"]).flatMap((name) => space.multipliers.map((multiplier, m) => ({ name, multiplier, genome: referenceGenome(space, name, m) })));
  if (todo.length === 0) return [];
  const journal = Archive.open(join(o.outDir, "baselines.jsonl"), JSON.stringify({ baselines: signature }), o.resume ?? false);
  try {
    const out: { name: NasReferenceNetwork; multiplier: string; entry: ArchiveEntry }[] = [];
    const pending = todo.filter((t) => {
      const e = journal.journaledResult(t.genome);
      if (e) out.push({ name: t.name, multiplier: t.multiplier, entry: e });
      return !e;
    });
    let next = 0, done = out.length;
    const work = async () => {
      while (next < pending.length) {
        const t = pending[next++]!;
        const key = genomeKey(t.genome);
        const r = await evaluator({ space, genome: t.genome, settings, output: modelPath(key) });
        const info: NasCandidateInfo = { ...infoBase(space, energy, t.genome), ...r, parent: null };
        const ev = { objectives: objectivesOf(o.objectives, info), violation: 0, info };
        journal.journal(t.genome, ev);
        out.push({ name: t.name, multiplier: t.multiplier, entry: { key, genome: [...t.genome], ...ev } });
        if (!o.quiet) process.stderr.write(`axnn: baseline ${++done}/${todo.length}: ${t.name} with ${t.multiplier}: top-1 ${(100 * r.val_top1).toFixed(2)}%\n`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, pending.length) }, work));
    const order = new Map(todo.map((t, i) => [genomeKey(t.genome), i]));
    return out.sort((a, b) => order.get(a.entry.key)! - order.get(b.entry.key)!);
  } finally {
    journal.close();
  }
}

/** A baseline's result as a candidate's (its model copied to the candidate's file): the same genome, settings and seed without a parent train to the same weights. */
function reuseBaseline(entry: ArchiveEntry, from: string, to: string): CandidateResult {
  const i = entry.info as NasCandidateInfo & { epochs_run: number };
  if (!i.stopped_early) {
    copyFileSync(from, to);
    copyFileSync(sidecarPath(from), sidecarPath(to));
  }
  return { val_top1: i.val_top1, float_val_top1: i.float_val_top1, stopped_early: i.stopped_early, inherited: i.inherited, epochs_run: i.epochs_run, train_seconds: i.train_seconds };
}

/** Architectures of the space the "auto" predictor is trained on (random ones plus the hand-designed ones). */
export const AUTO_PREDICTOR_NETWORKS = 40;

/** Trains the "auto" learned predictor on the space's own layer shapes (once; reused when outDir/predictor.json exists). */
function autoPredictor(space: NasSpace, o: NasSearchOptions): string {
  const file = join(o.outDir, "predictor.json");
  if (existsSync(file)) return file;
  const { arch, ert } = loadDesign(o.arch); // before creating anything: a mistyped --arch leaves no folder behind
  mkdirSync(o.outDir, { recursive: true });
  const rand = uniformRandom((o.seed ^ 0x0ed1c7) >>> 0);
  const card = geneCardinalities(space);
  const genomes = [...NAS_REFERENCE_NETWORKS.map((n) => referenceGenome(space, n)), ...Array.from({ length: AUTO_PREDICTOR_NETWORKS }, () => card.map((c) => Math.floor(rand() * c)))];
  const pool = multiplierPoolNames();
  const rows = genomes.map((g, index) => {
    const layers = architectureLayers(decodeGenome(space, g)).map((l) => l.layer);
    if (!o.quiet) process.stderr.write(`axnn: pricing architecture ${index + 1}/${genomes.length} with the energy model for the predictor\r`);
    return labelNetwork(o.arch, arch, ert, { index, family: "variable", base: "nas", layers, multipliers: layers.map((_, i) => pool[(index + i) % pool.length]!) }, o.seed, { maxEvaluations: o.energyEvaluations ?? 1000 });
  });
  if (!o.quiet) process.stderr.write("\n");
  savePredictors(file, trainPredictors(rows, { seed: o.seed }));
  return file;
}

/** What a candidate is without training: its architecture, size and predicted energy. */
function infoBase(space: NasSpace, energy: SearchEnergy, genome: readonly number[]) {
  const arch = decodeGenome(space, genome);
  const layers = architectureLayers(arch);
  return {
    architecture: describeArchitecture(arch),
    predicted_energy_pj: energy.predict(layers),
    params: architectureParams(arch),
    macs: layers.reduce((s, l) => s + layerMacs(l.layer), 0),
    layers: layers.length,
    multipliers: architectureAssignment(arch).layers,
  };
}

/** The earlier candidate (trained, not stopped early) sharing the most layers with `genome`; ties: better accuracy, then earlier. */
function chooseParent(space: NasSpace, genome: readonly number[], archive: readonly ArchiveEntry[]): string | null {
  const mine = architectureLayers(decodeGenome(space, genome));
  let best: { key: string; shared: number; acc: number } | null = null;
  for (const e of archive) {
    const info = e.info as Partial<NasCandidateInfo> | undefined;
    if (!info || info.stopped_early) continue;
    const shared = sharedLayers(mine, architectureLayers(decodeGenome(space, e.genome)));
    const acc = info.val_top1 ?? 0;
    if (shared > 0 && (!best || shared > best.shared || (shared === best.shared && acc > best.acc))) best = { key: e.key, shared, acc };
  }
  return best?.key ?? null;
}

function frontOf(entries: readonly ArchiveEntry[]): ArchiveEntry[] {
  const feasible = entries.filter((e) => e.violation <= 0);
  return feasible.filter((a) => !feasible.some((b) => b !== a && b.objectives.every((v, i) => v <= a.objectives[i]!) && b.objectives.some((v, i) => v < a.objectives[i]!)));
}

/** The journal's entries so far (for the live report). */
function readArchiveSoFar(outDir: string): ArchiveEntry[] {
  const file = join(outDir, "journal.jsonl");
  if (!existsSync(file)) return [];
  const out: ArchiveEntry[] = [];
  for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
    try {
      const e = JSON.parse(line) as ArchiveEntry;
      if (Array.isArray(e.objectives)) out.push(e);
    } catch {
      // A line being written.
    }
  }
  return out;
}

/**
 * The final front: each feasible member's test top-1 (approximate arithmetic, the sidecar's trained
 * ranges) and energy from the energy model (mapping search per distinct shape, cached); its model,
 * sidecar and mult-config copied under front/.
 */
async function finishFront(o: NasSearchOptions, space: NasSpace, front: readonly ArchiveEntry[], modelPath: (key: string) => string, dirName = "front"): Promise<NasFrontMember[]> {
  const feasible = front.filter((e) => (dirName !== "front" || e.violation <= 0) && !(e.info as NasCandidateInfo).stopped_early);
  if (feasible.length === 0) return [];
  const test = loadDataset(o.data, "test");
  const { arch, ert } = loadDesign(o.arch);
  const frontDir = join(o.outDir, dirName);
  mkdirSync(frontDir, { recursive: true });
  const members: NasFrontMember[] = [];
  for (const e of feasible) {
    const info = e.info as NasCandidateInfo;
    const a = decodeGenome(space, e.genome);
    const layers = architectureLayers(a);
    const assignment = architectureAssignment(a);
    const scales = assignmentScales(assignment, layers.map((l) => l.layer), arch.compute);
    const ne = networkEnergy(arch, ert, layers.map((l) => l.layer), { multipliers: scales, maxEvaluations: o.energyEvaluations ?? 1000, threads: 1 });
    const testTop1 = testTop1Of(o, space, e.genome, modelPath(e.key), test);
    const base = `${dirName}/${e.key}`;
    copyFileSync(modelPath(e.key), join(o.outDir, `${base}.onnx`));
    copyFileSync(modelPath(e.key).replace(/\.onnx$/, ".axnn.json"), join(o.outDir, `${base}.axnn.json`));
    writeFileAtomic(join(o.outDir, `${base}.mult.json`), JSON.stringify({ default: assignment.default, layers: assignment.layers }, null, 2) + "\n");
    members.push({ key: e.key, genome: e.genome, ...info, model: `${base}.onnx`, mult_config: `${base}.mult.json`, test_top1: testTop1, energy_pj: ne.totals.energyPj, multiplier_pj: ne.totals.multiplierPj });
  }
  return members.sort((x, y) => y.val_top1 - x.val_top1 || x.predicted_energy_pj - y.predicted_energy_pj);
}

/** Test top-1 of a trained candidate's model file (approximate arithmetic, the sidecar's trained ranges) on the search's test subset. */
function testTop1Of(o: NasSearchOptions, space: NasSpace, genome: readonly number[], modelFile: string, test = loadDataset(o.data, "test")): number {
  const { model, sidecar } = loadModel(modelFile);
  const normalize = sidecar?.input?.normalize ?? "standard";
  const batches = prepareBatches(test, subsetIndices(test.shape[0], o.testSamples ?? test.shape[0], o.seed + 2), 256, parseNormalization(normalize, test.name));
  const { arithmetic, quant } = candidateArithmetic(decodeGenome(space, genome));
  return approximateTop1(quantizeModelWithParams(model, sidecar!.quantization!.activations!, quant), arithmetic, batches);
}

/**
 * Fills in each front member's `from_scratch` figures: a member without a parent was trained by the
 * search exactly as the baselines are (its own figures); with --retrain-front, a member that
 * inherited weights is trained again without its parent (same settings and seed), each journaled
 * to scratch.jsonl as it finishes so a resumed run trains none twice, and tested as the front is.
 */
async function addFromScratch(o: NasSearchOptions, signature: string, space: NasSpace, settings: CandidateSettings, evaluator: CandidateEvaluator, jobs: number, members: NasFrontMember[], modelPath: (key: string) => string): Promise<void> {
  for (const m of members) {
    if (m.parent === null) m.from_scratch = { retrained: false, val_top1: m.val_top1, float_val_top1: m.float_val_top1, test_top1: m.test_top1, train_seconds: m.train_seconds, model: m.model };
  }
  const todo = members.filter((m) => m.from_scratch === undefined);
  if (!o.retrainFront || todo.length === 0) return;
  const journal = Archive.open(join(o.outDir, "scratch.jsonl"), JSON.stringify({ scratch: signature }), existsSync(join(o.outDir, "scratch.jsonl")));
  try {
    const test = loadDataset(o.data, "test");
    let next = 0, done = 0;
    const work = async () => {
      while (next < todo.length) {
        const m = todo[next++]!;
        let entry = journal.journaledResult(m.genome);
        if (!entry || !existsSync(modelPath(m.key))) {
          // The whole schedule, as every baseline on the report had (--early-stop only cuts a schedule short).
          const r = await evaluator({ space, genome: [...m.genome], settings: { ...settings, earlyStop: undefined }, output: modelPath(m.key) });
          journal.journal(m.genome, { objectives: [1 - r.val_top1], violation: 0, info: { ...r } });
          entry = journal.journaledResult(m.genome)!;
        }
        const r = entry.info as unknown as CandidateResult;
        const base = `front/scratch-${m.key}`;
        copyFileSync(modelPath(m.key), join(o.outDir, `${base}.onnx`));
        copyFileSync(modelPath(m.key).replace(/\.onnx$/, ".axnn.json"), join(o.outDir, `${base}.axnn.json`));
        const s: NasFromScratch = { retrained: true, val_top1: r.val_top1, float_val_top1: r.float_val_top1, test_top1: testTop1Of(o, space, m.genome, modelPath(m.key), test), train_seconds: r.train_seconds, model: `${base}.onnx` };
        m.from_scratch = s;
        if (!o.quiet) process.stderr.write(`axnn: front member ${++done}/${todo.length} trained from scratch: top-1 ${(100 * s.val_top1).toFixed(2)}% (${(100 * m.val_top1).toFixed(2)}% with inherited weights)\n`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, todo.length) }, work));
  } finally {
    journal.close();
  }
}
