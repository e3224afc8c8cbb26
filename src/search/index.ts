/**
 * Multi-objective search over integer genomes (src/search).
 *
 * A problem is a list of genes, gene i taking the values 0 .. cardinalities[i]-1, and an ASYNC
 * BATCH evaluator, `evaluate(genomes, onResult) => Promise<GenomeEvaluation[]>`: it may run the batch in
 * worker threads, child processes or through a job queue, in any order, and should call
 * `onResult(i, evaluation)` as each result is known so that it is journaled at once.
 * A GenomeEvaluation is `{objectives, violation?, info?}`:
 *   - objectives: numbers, ALL MINIMISED (give accuracy as an error, 1 - top1, or negated);
 *   - violation: 0 or absent when feasible, else how far from feasible (constraints such as
 *     "accuracy drop at most X points" act through Deb's constrained domination);
 *   - info: anything JSON-serialisable kept with the result (e.g. the measured accuracy).
 * An optional `repair(genome, rand)` maps any genome to a valid one (e.g. for architectures).
 *
 * Algorithms, all on the same archive and budget (distinct genomes evaluated):
 *   - nsga2(problem, opts): seeded NSGA-II: fast non-dominated sort, crowding distance, binary
 *     tournament, uniform or one-point crossover, per-gene mutation, constrained domination;
 *   - randomSearch(problem, opts): uniform random genomes, the baseline;
 *   - greedySearch(problem, {start, ...}): single-gene sensitivities, then the greedy path.
 * Each returns {archive, front, evaluations, ...}; the archive holds every evaluated genome once
 * (keyed by genomeKey), in the order the search asked for them.
 *
 * Determinism and resume: the random numbers of generation g are a pure function of (seed, g)
 * (stepRandom), and nothing else but the evaluations steers the search. With `journal: file`
 * every evaluation is appended to the file (one fsync'd JSON line each) as it finishes; after a
 * kill, the same call with `resume: true` replays the search, takes the finished evaluations from
 * the journal (a torn last line is ignored) and evaluates only the rest, ending with exactly the
 * archive and front of an uninterrupted run with the same seed, provided the evaluator itself is
 * deterministic. The journal's header names the search (algorithm, settings, seed, genes and
 * `problem.signature`); resuming into a different search is refused. The budget is not part of
 * it: a finished search can be resumed with a larger budget to continue it.
 *
 * Also here: dominates / constrainedDominates / nonDominatedSort / crowdingDistance /
 * paretoIndices, and exact hypervolume for 2 and 3 objectives.
 */
export { dominates, constrainedDominates, nonDominatedSort, crowdingDistance, paretoIndices, type Scored } from "./pareto.js";
export { hypervolume } from "./hypervolume.js";
export { genomeKey, stepRandom, randomGenome, searchSpaceSize, type Genome } from "./genome.js";
export { Archive, type ArchiveEntry, type GenomeEvaluation } from "./archive.js";
export { EvaluationRunner, type BatchContext, type BatchEvaluator, type SearchProblem, type SearchOptions, type SearchProgress, type SearchResult } from "./engine.js";
export { nsga2, type Nsga2Options } from "./nsga2.js";
export { randomSearch, greedySearch, type RandomSearchOptions, type GreedyOptions } from "./baselines.js";
export { prepareAssignment, scoreChoice, measureAccuracy, choiceEnergy, layerArithmetic, builtinMultiplierNames, type AssignmentSetup, type PreparedAssignment, type CandidateMultiplier, type AssignmentObjective, type ChoiceResult } from "./assign.js";
export { searchAssignment, assignmentEncoding, frontCovers, SAVING_DROPS, type AssignmentSearchOptions, type AssignmentSearchResult, type AssignmentPoint, type AssignmentProgress, type MethodResult } from "./assign-search.js";
export { writeAssignmentReport, assignmentChartSpec, assignmentConfig, frontMembers, assignmentSummaryJson } from "./assign-report.js";
export { tuneWeights, activationHistograms } from "./weight-tuning.js";
