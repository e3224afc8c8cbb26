// Beam search in the style of Google's Model Search: keep the best few networks found so far (the
// beam, ranked by non-dominated rank then crowding distance, as NSGA-II ranks), and grow each of them
// by a few small changes (a deeper or wider stage, one more stage, another multiplier for a layer), on
// the same archive, budget, journal and resume as the engine's algorithms.
import { EvaluationRunner, type SearchOptions, type SearchProblem, type SearchResult } from "../engine.js";
import type { ArchiveEntry } from "../archive.js";
import { genomeKey, randomGenome, randomInt, stepRandom, type Genome } from "../genome.js";
import { crowdingDistance, nonDominatedSort } from "../pareto.js";
import { AxnnError } from "../../util/errors.js";

export interface BeamSearchOptions extends SearchOptions {
  /** Networks kept and grown per step (default 4). */
  beamWidth?: number;
  /** Children per beam member per step (default 4). */
  childrenPerMember?: number;
  /** Genomes to start from (e.g. small reference networks); random ones fill the first beam. */
  initial?: readonly Genome[];
  /** Genes a child changes, at most (default 2; each child changes 1 to this many). */
  maxChanges?: number;
  /** Stop after this many steps in a row that evaluated nothing new (default 10). */
  stallSteps?: number;
}

/** The best `n` entries: by constrained non-dominated rank, then by larger crowding distance, then archive order. */
export function beamOf(entries: readonly ArchiveEntry[], n: number): ArchiveEntry[] {
  const out: ArchiveEntry[] = [];
  for (const front of nonDominatedSort(entries)) {
    if (out.length >= n) break;
    const dist = crowdingDistance(entries, front);
    const order = front.map((_, i) => i).sort((a, b) => dist[b]! - dist[a]! || front[a]! - front[b]!);
    for (const i of order) if (out.length < n) out.push(entries[front[i]!]!);
  }
  return out;
}

export async function beamSearch(problem: SearchProblem, opts: BeamSearchOptions): Promise<SearchResult> {
  const settings = { beamWidth: opts.beamWidth ?? 4, childrenPerMember: opts.childrenPerMember ?? 4, maxChanges: opts.maxChanges ?? 2, initial: (opts.initial ?? []).map((g) => [...g]) };
  for (const [k, v] of [["beamWidth", settings.beamWidth], ["childrenPerMember", settings.childrenPerMember], ["maxChanges", settings.maxChanges]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new AxnnError(`expected a whole number >= 1, got ${v}`, { field: k });
  }
  const runner = new EvaluationRunner(problem, opts, "beam", settings);
  const cards = problem.cardinalities;
  const repair = (g: number[], rand: () => number) => (problem.repair ? problem.repair(g, rand) : g);
  let rand = stepRandom(opts.seed ?? 0, "beam", 0);
  const first: Genome[] = [];
  const keys = new Set<string>();
  const push = (g: Genome) => {
    if (keys.has(genomeKey(g))) return;
    keys.add(genomeKey(g));
    first.push(g);
  };
  for (const g of settings.initial) push(repair([...g], rand));
  for (let t = 0; first.length < settings.beamWidth && t < 100; t++) push(repair(randomGenome(rand, cards), rand));
  await runner.evaluate(first);
  runner.progress("beam", 0);
  let step = 0, stall = 0;
  const stallLimit = opts.stallSteps ?? 10;
  while (!runner.exhausted && stall < stallLimit) {
    step++;
    rand = stepRandom(opts.seed ?? 0, "beam", step);
    const beam = beamOf(runner.archive.entries, settings.beamWidth);
    const children: Genome[] = [];
    const batch = new Set<string>();
    for (const member of beam) {
      for (let c = 0; c < settings.childrenPerMember; c++) {
        let child: number[] = [];
        for (let t = 0; t < 20; t++) {
          child = [...member.genome];
          const changes = 1 + randomInt(rand, settings.maxChanges);
          for (let k = 0; k < changes; k++) {
            const i = randomInt(rand, cards.length);
            if (cards[i]! > 1) child[i] = (child[i]! + 1 + randomInt(rand, cards[i]! - 1)) % cards[i]!;
          }
          child = repair(child, rand);
          if (!batch.has(genomeKey(child)) && !runner.archive.get(child)) break;
        }
        batch.add(genomeKey(child));
        children.push(child);
      }
    }
    const before = runner.evaluations;
    await runner.evaluate(children);
    stall = runner.evaluations === before ? stall + 1 : 0;
    runner.progress("beam", step);
  }
  return runner.result("beam", step);
}
