import { AxnnError } from "../util/errors.js";
import type { ArchiveEntry } from "./archive.js";
import { checkProblem, EvaluationRunner, type SearchOptions, type SearchProblem, type SearchResult } from "./engine.js";
import { genomeKey, randomGenome, randomInt, stepRandom, type Genome } from "./genome.js";
import { crowdingDistance, nonDominatedSort } from "./pareto.js";

export interface Nsga2Options extends SearchOptions {
  /** Population size (default 40). */
  populationSize?: number;
  /** "uniform" (default): each gene from either parent; "one-point": a prefix from one, the rest from the other. */
  crossover?: "uniform" | "one-point";
  /** Probability that a pair is crossed over (default 0.9); otherwise the children copy the parents. */
  crossoverRate?: number;
  /** Per-gene probability of a mutation (default 1 / number of genes). */
  mutationRate?: number;
  /**
   * "reset" (default): a mutated gene takes any value; "creep": it moves to a neighbouring value
   * (for ordered genes, e.g. discretised numbers).
   */
  mutation?: "reset" | "creep";
  /**
   * Genomes to put in the first population (e.g. known good designs), all of them: with more than
   * `populationSize`, the first population grows to hold every one (as far as the budget allows)
   * and selection then keeps `populationSize`. The archive, hence the returned front, holds them
   * all, so the front weakly dominates every one of them. With fewer, the rest is random.
   */
  initial?: readonly Genome[];
  /** Stop after this many generations (default: when the budget is spent). */
  maxGenerations?: number;
  /** Stop after this many generations in a row that evaluated nothing new (default 25). */
  stallGenerations?: number;
}

interface Member {
  entry: ArchiveEntry;
  rank: number;
  crowding: number;
}

/** Retries to turn a child already in the archive into a new genome before accepting the duplicate. */
const DUPLICATE_RETRIES = 20;

/**
 * NSGA-II (Deb et al. 2002) for integer genomes. Generation g draws its random numbers from
 * stepRandom(seed, "nsga2", g) only, and every step depends on nothing but those numbers and the
 * (deterministic) evaluations: a run replayed from its journal retraces the same generations.
 */
export async function nsga2(problem: SearchProblem, opts: Nsga2Options): Promise<SearchResult> {
  checkProblem(problem, opts);
  const settings = {
    populationSize: opts.populationSize ?? 40,
    crossover: opts.crossover ?? "uniform",
    crossoverRate: opts.crossoverRate ?? 0.9,
    mutationRate: opts.mutationRate ?? 1 / problem.cardinalities.length,
    mutation: opts.mutation ?? "reset",
    initial: (opts.initial ?? []).map((g) => [...g]),
  };
  const { populationSize: n, crossoverRate, mutationRate } = settings;
  if (!Number.isInteger(n) || n < 2) throw new AxnnError(`expected a population of at least 2, got ${n}`, { field: "populationSize" });
  if (!(crossoverRate >= 0 && crossoverRate <= 1)) throw new AxnnError(`expected a probability in [0, 1], got ${crossoverRate}`, { field: "crossoverRate" });
  if (!(mutationRate >= 0 && mutationRate <= 1)) throw new AxnnError(`expected a probability in [0, 1], got ${mutationRate}`, { field: "mutationRate" });
  if (settings.crossover !== "uniform" && settings.crossover !== "one-point") throw new AxnnError(`expected uniform or one-point, got "${String(settings.crossover)}"`, { field: "crossover" });
  if (settings.mutation !== "reset" && settings.mutation !== "creep") throw new AxnnError(`expected reset or creep, got "${String(settings.mutation)}"`, { field: "mutation" });
  const cards = problem.cardinalities;
  for (const g of settings.initial) checkGenome(g, cards);

  const runner = new EvaluationRunner(problem, opts, "nsga2", settings);
  const maxGenerations = opts.maxGenerations ?? Infinity;
  const stallLimit = opts.stallGenerations ?? 25;
  const repair = (g: number[], rand: () => number) => (problem.repair ? problem.repair(g, rand) : g);

  // Generation 0: every given genome, then random ones up to the population size, all distinct.
  let rand = stepRandom(opts.seed ?? 0, "nsga2", 0);
  const first: Genome[] = [];
  const keys = new Set<string>();
  const push = (g: Genome) => {
    const k = genomeKey(g);
    if (keys.has(k)) return false;
    keys.add(k);
    first.push(g);
    return true;
  };
  for (const g of settings.initial) push(repair([...g], rand));
  for (let tries = 0; first.length < n && tries < n * DUPLICATE_RETRIES; tries++) push(repair(randomGenome(rand, cards), rand));
  let population = select((await runner.evaluate(first)).filter((e): e is ArchiveEntry => e !== undefined), n);
  runner.progress("nsga2", 0);

  let generation = 0;
  let stall = 0;
  while (!runner.exhausted && generation < maxGenerations && stall < stallLimit && population.length > 0) {
    generation++;
    rand = stepRandom(opts.seed ?? 0, "nsga2", generation);
    const children: Genome[] = [];
    const batch = new Set<string>();
    while (children.length < n) {
      const a = tournament(population, rand).entry.genome;
      const b = tournament(population, rand).entry.genome;
      const pair = rand() < crossoverRate ? crossover(a, b, settings.crossover, rand) : [[...a], [...b]];
      for (let c of pair) {
        if (children.length >= n) break;
        c = repair(mutate(c, cards, mutationRate, settings.mutation, rand), rand);
        for (let t = 0; t < DUPLICATE_RETRIES && (batch.has(genomeKey(c)) || runner.archive.get(c)); t++) {
          c = repair(mutate(c, cards, Math.max(mutationRate, 1 / cards.length), settings.mutation, rand, true), rand);
        }
        batch.add(genomeKey(c));
        children.push(c);
      }
    }
    const before = runner.evaluations;
    const evaluated = (await runner.evaluate(children)).filter((e): e is ArchiveEntry => e !== undefined);
    stall = runner.evaluations === before ? stall + 1 : 0;
    const pool = new Map<string, ArchiveEntry>();
    for (const m of population) pool.set(m.entry.key, m.entry);
    for (const e of evaluated) pool.set(e.key, e);
    population = select([...pool.values()], n);
    runner.progress("nsga2", generation);
  }
  return runner.result("nsga2", generation);
}

/** NSGA-II's environmental selection: whole fronts while they fit, then the least crowded of the next. */
function select(entries: ArchiveEntry[], n: number): Member[] {
  const fronts = nonDominatedSort(entries);
  const out: Member[] = [];
  for (let r = 0; r < fronts.length && out.length < n; r++) {
    const front = fronts[r]!;
    const dist = crowdingDistance(entries, front);
    const order = front.map((_, i) => i);
    if (out.length + front.length > n) order.sort((a, b) => dist[b]! - dist[a]! || front[a]! - front[b]!);
    for (const i of order) {
      if (out.length >= n) break;
      out.push({ entry: entries[front[i]!]!, rank: r, crowding: dist[i]! });
    }
  }
  return out;
}

/** Binary tournament by the crowded comparison: lower rank, then larger crowding distance. */
function tournament(pop: readonly Member[], rand: () => number): Member {
  const a = pop[randomInt(rand, pop.length)]!;
  const b = pop[randomInt(rand, pop.length)]!;
  if (a.rank !== b.rank) return a.rank < b.rank ? a : b;
  if (a.crowding !== b.crowding) return a.crowding > b.crowding ? a : b;
  return rand() < 0.5 ? a : b;
}

function crossover(a: readonly number[], b: readonly number[], kind: "uniform" | "one-point", rand: () => number): [number[], number[]] {
  const x = [...a], y = [...b];
  if (kind === "uniform") {
    for (let i = 0; i < a.length; i++) {
      if (rand() < 0.5) {
        x[i] = b[i]!;
        y[i] = a[i]!;
      }
    }
  } else if (a.length > 1) {
    const cut = 1 + randomInt(rand, a.length - 1);
    for (let i = cut; i < a.length; i++) {
      x[i] = b[i]!;
      y[i] = a[i]!;
    }
  }
  return [x, y];
}

/** Per-gene mutation; `atLeastOne` forces a change (used to step off a duplicate). */
function mutate(g: number[], cards: readonly number[], rate: number, kind: "reset" | "creep", rand: () => number, atLeastOne = false): number[] {
  const out = [...g];
  let changed = false;
  const change = (i: number) => {
    const c = cards[i]!;
    if (c < 2) return;
    if (kind === "reset") {
      // Any other value, uniformly.
      const v = randomInt(rand, c - 1);
      out[i] = v >= out[i]! ? v + 1 : v;
    } else {
      const step = rand() < 0.5 ? -1 : 1;
      out[i] = out[i]! + step < 0 || out[i]! + step >= c ? out[i]! - step : out[i]! + step;
    }
    changed = true;
  };
  for (let i = 0; i < out.length; i++) if (rand() < rate) change(i);
  if (atLeastOne && !changed) change(randomInt(rand, out.length));
  return out;
}

export function checkGenome(g: Genome, cards: readonly number[]): void {
  if (g.length !== cards.length || g.some((v, i) => !Number.isInteger(v) || v < 0 || v >= cards[i]!)) {
    throw new AxnnError(`genome ${g.join(",")} does not fit the genes' cardinalities (${cards.join(",")})`, { field: "initial" });
  }
}
