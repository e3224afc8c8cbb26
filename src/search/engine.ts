import { createHash } from "node:crypto";
import { AxnnError } from "../util/errors.js";
import { Archive, type ArchiveEntry, type GenomeEvaluation } from "./archive.js";
import { genomeKey, searchSpaceSize, type Genome } from "./genome.js";
import { hypervolume } from "./hypervolume.js";
import { constrainedDominates } from "./pareto.js";

/**
 * Evaluates a batch of genomes, in any order and with any parallelism, and resolves to their
 * results in the batch's order. Calling `onResult` as each result is known (optional) gets it
 * journaled at once, so a kill mid-batch loses none of the finished ones.
 */
export type BatchEvaluator = (genomes: Genome[], onResult: (index: number, evaluation: GenomeEvaluation) => void, context?: BatchContext) => Promise<GenomeEvaluation[]>;

/**
 * What the search knew when it asked for a batch: the archive before the batch (in a run resumed
 * from its journal, exactly what the uninterrupted run had at that point), e.g. for an evaluator
 * that starts a candidate from an earlier one's trained weights.
 */
export interface BatchContext {
  archive: readonly ArchiveEntry[];
}

/** What is searched: integer genes with their cardinalities, and how genomes are scored. */
export interface SearchProblem {
  /** Gene i takes the values 0 .. cardinalities[i] - 1. */
  cardinalities: readonly number[];
  /** How many objectives each evaluation returns; all are minimised. */
  objectives: number;
  evaluate: BatchEvaluator;
  /**
   * Makes a genome valid (e.g. an architecture whose genes contradict each other); must be a
   * pure function of the genome and the random numbers it draws from `rand`.
   */
  repair?: (genome: number[], rand: () => number) => number[];
  /**
   * Identifies the problem (model, data, settings) in the journal, so that a journal is never
   * resumed into a different search. Default: the cardinalities and objective count only.
   */
  signature?: string;
}

export interface SearchProgress {
  algorithm: string;
  /** Generation (NSGA-II), batch (random) or phase (greedy). */
  step: number;
  /** Genomes evaluated so far (including those a resumed run read back from its journal). */
  evaluations: number;
  budget: number;
  frontSize: number;
  /** Hypervolume of the front, when a reference point was given. */
  hypervolume?: number;
}

export interface SearchOptions {
  /** The most genomes to evaluate (each distinct genome is evaluated once). */
  budget: number;
  seed?: number;
  /** Journal file: every evaluation is appended as it finishes. */
  journal?: string;
  /** Continue the journal's search instead of refusing to overwrite it. */
  resume?: boolean;
  /** Reference point for the progress report's hypervolume. */
  referencePoint?: readonly number[];
  onProgress?: (p: SearchProgress) => void;
}

export interface SearchResult {
  algorithm: string;
  /** Every evaluated genome, in the order the search asked for them. */
  archive: ArchiveEntry[];
  /** The archive's non-dominated feasible members (constrained domination), in archive order. */
  front: ArchiveEntry[];
  evaluations: number;
  /** Of those, how many were read back from the journal instead of evaluated (resume). */
  fromJournal: number;
  steps: number;
}

/** The archive and budget shared by every algorithm: no genome is evaluated twice. */
export class EvaluationRunner {
  readonly archive: Archive;
  readonly budget: number;
  readonly spaceSize: number;
  fromJournal = 0;
  /** The archive's non-dominated members, kept as entries arrive (a full sort each time is O(N^2)). */
  private frontSet: ArchiveEntry[] = [];
  private readonly order = new Map<string, number>();

  constructor(readonly problem: SearchProblem, readonly opts: SearchOptions, algorithm: string, settings: Record<string, unknown>) {
    checkProblem(problem, opts);
    this.budget = opts.budget;
    this.spaceSize = searchSpaceSize(problem.cardinalities);
    if (opts.journal) {
      const signature = createHash("sha256")
        .update(JSON.stringify({ algorithm, settings, seed: opts.seed ?? 0, cardinalities: problem.cardinalities, objectives: problem.objectives, problem: problem.signature ?? "" }))
        .digest("hex");
      this.archive = Archive.open(opts.journal, signature, opts.resume ?? false);
    } else {
      this.archive = Archive.inMemory();
    }
  }

  get evaluations(): number {
    return this.archive.size;
  }

  /** Whether no further genome can be evaluated (budget spent or every genome seen). */
  get exhausted(): boolean {
    return this.archive.size >= this.budget || this.archive.size >= this.spaceSize;
  }

  /**
   * The archive entries of these genomes, evaluating those not yet in the archive (as one batch,
   * in order, as many as the budget allows); genomes beyond the budget come back undefined.
   */
  async evaluate(genomes: readonly Genome[]): Promise<(ArchiveEntry | undefined)[]> {
    const fresh: Genome[] = [];
    const seen = new Set<string>();
    for (const g of genomes) {
      const k = genomeKey(g);
      if (seen.has(k) || this.archive.get(g)) continue;
      seen.add(k);
      fresh.push(g);
    }
    const allowed = fresh.slice(0, Math.max(0, this.budget - this.archive.size));
    const results: (GenomeEvaluation | undefined)[] = allowed.map((g) => this.archive.journaledResult(g));
    const todo = allowed.map((_, i) => i).filter((i) => results[i] === undefined);
    this.fromJournal += allowed.length - todo.length;
    if (todo.length > 0) {
      const batch = todo.map((i) => allowed[i]!);
      const out = await this.problem.evaluate(batch, (j, ev) => {
        if (!Number.isInteger(j) || j < 0 || j >= batch.length) throw new Error(`search evaluator: onResult index ${j} outside the batch of ${batch.length}`);
        this.checkEvaluation(ev, batch[j]!);
        this.archive.journal(batch[j]!, ev);
      }, { archive: [...this.archive.entries] });
      if (!Array.isArray(out) || out.length !== batch.length) throw new Error(`search evaluator: returned ${Array.isArray(out) ? out.length : "no"} results for ${batch.length} genomes`);
      out.forEach((ev, j) => {
        this.checkEvaluation(ev, batch[j]!);
        this.archive.journal(batch[j]!, ev);
        results[todo[j]!] = ev;
      });
    }
    allowed.forEach((g, i) => this.admit(this.archive.add(g, results[i]!)));
    return genomes.map((g) => this.archive.get(g));
  }

  /** Updates the front with a new entry; constrained domination is transitive, so this equals a full sort's first front. */
  private admit(e: ArchiveEntry): void {
    this.order.set(e.key, this.order.size);
    if (this.frontSet.some((f) => constrainedDominates(f, e))) return;
    this.frontSet = this.frontSet.filter((f) => !constrainedDominates(e, f));
    this.frontSet.push(e);
  }

  /** The archive's non-dominated members (constrained domination), in archive order. */
  front(): ArchiveEntry[] {
    return [...this.frontSet].sort((a, b) => this.order.get(a.key)! - this.order.get(b.key)!);
  }

  result(algorithm: string, steps: number): SearchResult {
    this.archive.close();
    const entries = this.archive.entries;
    return { algorithm, archive: entries, front: this.front(), evaluations: entries.length, fromJournal: this.fromJournal, steps };
  }

  progress(algorithm: string, step: number): void {
    if (!this.opts.onProgress) return;
    const entries = this.archive.entries;
    const feasible = this.frontSet.filter((e) => e.violation <= 0);
    const hv = this.opts.referencePoint ? hypervolume(feasible.map((e) => e.objectives), this.opts.referencePoint) : undefined;
    this.opts.onProgress({ algorithm, step, evaluations: entries.length, budget: this.budget, frontSize: feasible.length, ...(hv !== undefined ? { hypervolume: hv } : {}) });
  }

  private checkEvaluation(ev: GenomeEvaluation, g: Genome): void {
    const ok = ev && Array.isArray(ev.objectives) && ev.objectives.length === this.problem.objectives && ev.objectives.every((v) => Number.isFinite(v));
    if (!ok) throw new Error(`search evaluator: genome ${g.join(",")} got objectives ${JSON.stringify(ev?.objectives)}; expected ${this.problem.objectives} finite numbers`);
    if (ev.violation !== undefined && !(Number.isFinite(ev.violation) && ev.violation >= 0)) throw new Error(`search evaluator: genome ${g.join(",")} got violation ${ev.violation}; expected a finite number >= 0`);
  }
}

export function checkProblem(problem: SearchProblem, opts: SearchOptions): void {
  if (!Number.isInteger(opts.budget) || opts.budget < 1) throw new AxnnError(`expected a whole number of evaluations >= 1, got ${opts.budget}`, { field: "budget" });
  if (problem.cardinalities.length === 0) throw new AxnnError(`the genome has no genes (nothing to search)`, { field: "cardinalities" });
  problem.cardinalities.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 1) throw new AxnnError(`gene ${i} has cardinality ${c}; expected a whole number >= 1`, { field: "cardinalities" });
  });
  if (!Number.isInteger(problem.objectives) || problem.objectives < 1) throw new AxnnError(`expected at least one objective, got ${problem.objectives}`, { field: "objectives" });
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw new AxnnError(`expected a whole number, got ${opts.seed}`, { field: "seed" });
}
