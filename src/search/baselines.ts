import { AxnnError } from "../util/errors.js";
import { EvaluationRunner, type SearchOptions, type SearchProblem, type SearchResult } from "./engine.js";
import { genomeKey, randomGenome, stepRandom, type Genome } from "./genome.js";
import { checkGenome } from "./nsga2.js";

export interface RandomSearchOptions extends SearchOptions {
  /** Genomes per evaluated batch (default 40); batch b draws from stepRandom(seed, "random", b). */
  batchSize?: number;
}

/** Uniform random genomes (repaired, distinct) until the budget is spent: the baseline any search must beat. */
export async function randomSearch(problem: SearchProblem, opts: RandomSearchOptions): Promise<SearchResult> {
  const batchSize = opts.batchSize ?? 40;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new AxnnError(`expected a whole number >= 1, got ${batchSize}`, { field: "batchSize" });
  const runner = new EvaluationRunner(problem, opts, "random", { batchSize });
  let step = 0;
  let stall = 0;
  while (!runner.exhausted && stall < 25) {
    const rand = stepRandom(opts.seed ?? 0, "random", step);
    const batch: Genome[] = [];
    const keys = new Set<string>();
    for (let tries = 0; batch.length < batchSize && tries < batchSize * 20; tries++) {
      let g = randomGenome(rand, problem.cardinalities);
      if (problem.repair) g = problem.repair(g, rand);
      const k = genomeKey(g);
      if (keys.has(k) || runner.archive.get(g)) continue;
      keys.add(k);
      batch.push(g);
    }
    const before = runner.evaluations;
    await runner.evaluate(batch);
    stall = runner.evaluations === before ? stall + 1 : 0;
    runner.progress("random", step);
    step++;
  }
  return runner.result("random", step);
}

export interface GreedyOptions extends SearchOptions {
  /** The starting genome (e.g. every layer exact). */
  start: Genome;
  /** The objective a move may worsen (e.g. the error); default 0. */
  lossObjective?: number;
  /** The objective moves reduce (e.g. the energy); default the last. */
  costObjective?: number;
  /**
   * Per gene, the order in which the sensitivity table tries its values (default ascending);
   * values left out are never tried. Matters when the budget cannot buy the whole table: the
   * table then holds a prefix of this order for every gene.
   */
  valueOrder?: readonly (readonly number[])[];
}

/**
 * Greedy by sensitivity: first single-gene changes of `start` are evaluated (the sensitivity
 * table); then, assuming the changes add up, the path that repeatedly takes the change with the
 * most cost saved per unit of loss added is evaluated, one genome per step, until no change
 * saves cost or the budget is spent. The path is planned from the table alone, so it is evaluated
 * as one parallel batch. The table goes round-robin over the genes (each gene's next value in
 * `valueOrder`), so a budget smaller than the whole table still covers every gene; it then gets
 * at most two thirds of the budget, and the path the rest.
 */
export async function greedySearch(problem: SearchProblem, opts: GreedyOptions): Promise<SearchResult> {
  const cards = problem.cardinalities;
  checkGenome(opts.start, cards);
  const lossK = opts.lossObjective ?? 0;
  const costK = opts.costObjective ?? problem.objectives - 1;
  for (const [k, f] of [[lossK, "lossObjective"], [costK, "costObjective"]] as const) {
    if (!Number.isInteger(k) || k < 0 || k >= problem.objectives) throw new AxnnError(`expected an objective index in 0..${problem.objectives - 1}, got ${k}`, { field: f });
  }
  const order = cards.map((c, i) => {
    const o = opts.valueOrder?.[i] ?? Array.from({ length: c }, (_, v) => v);
    if (o.some((v) => !Number.isInteger(v) || v < 0 || v >= c) || new Set(o).size !== o.length) {
      throw new AxnnError(`gene ${i}: expected distinct values in 0..${c - 1}, got ${o.join(",")}`, { field: "valueOrder" });
    }
    return o.filter((v) => v !== opts.start[i]);
  });
  const runner = new EvaluationRunner(problem, opts, "greedy", { start: [...opts.start], lossK, costK, table: "round-robin", order });
  const start = [...opts.start];
  const singles: Genome[] = [start];
  const singleIndex = cards.map((c) => new Array<number>(c).fill(0));
  for (let r = 0; r < Math.max(0, ...order.map((o) => o.length)); r++) {
    for (let i = 0; i < cards.length; i++) {
      const v = order[i]![r];
      if (v === undefined) continue;
      singleIndex[i]![v] = singles.length;
      singles.push(start.map((s, j) => (j === i ? v : s)));
    }
  }
  // A table the budget cannot buy whole leaves a third of the budget for the path.
  if (singles.length > opts.budget) singles.length = Math.max(1, opts.budget - Math.floor(opts.budget / 3));
  const table = await runner.evaluate(singles);
  runner.progress("greedy", 0);
  const base = table[0];
  if (!base) return runner.result("greedy", 1);
  // delta[i][v]: the change of (loss, cost) when gene i takes value v, all else at start.
  const delta = cards.map((c, i) => Array.from({ length: c }, (_, v) => {
    if (v === start[i]) return { loss: 0, cost: 0 };
    const j = singleIndex[i]![v]!;
    const e = j > 0 ? table[j] : undefined;
    return e ? { loss: e.objectives[lossK]! - base.objectives[lossK]!, cost: e.objectives[costK]! - base.objectives[costK]! } : undefined;
  }));
  const path: Genome[] = [];
  const current = [...start];
  const seen = new Set<string>([genomeKey(current)]);
  for (;;) {
    let best: { i: number; v: number; score: number; saving: number } | undefined;
    for (let i = 0; i < cards.length; i++) {
      const here = delta[i]![current[i]!]!;
      for (let v = 0; v < cards[i]!; v++) {
        const d = delta[i]![v];
        if (!d || v === current[i]) continue;
        const saving = here.cost - d.cost;
        if (!(saving > 0)) continue;
        const added = d.loss - here.loss;
        // Free savings first (largest first), then the most saving per unit of added loss.
        const score = added <= 0 ? Infinity : saving / added;
        if (!best || score > best.score || (score === best.score && saving > best.saving)) best = { i, v, score, saving };
      }
    }
    if (!best) break;
    current[best.i] = best.v;
    const k = genomeKey(current);
    if (seen.has(k)) break;
    seen.add(k);
    path.push([...current]);
  }
  await runner.evaluate(path);
  runner.progress("greedy", 1);
  return runner.result("greedy", 2);
}
