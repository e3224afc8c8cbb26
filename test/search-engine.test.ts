import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  constrainedDominates, crowdingDistance, genomeKey, greedySearch, hypervolume, nonDominatedSort, nsga2, randomSearch,
  type Genome, type GenomeEvaluation, type Scored, type SearchProblem, type SearchResult,
} from "../src/search/index.js";
import { isAxnnError } from "../src/util/errors.js";
import { uniformRandom } from "../src/util/random.js";
import { RESUME_SETTINGS, zdt } from "./search-zdt.js";

function randomPoints(rand: () => number, n: number, m: number, levels: number, violations: boolean): Scored[] {
  return Array.from({ length: n }, () => ({
    objectives: Array.from({ length: m }, () => Math.floor(rand() * levels)),
    violation: violations && rand() < 0.3 ? Math.floor(rand() * 3) + 1 : 0,
  }));
}

/** Ranks by repeatedly peeling off the points nothing left dominates. */
function bruteRanks(points: Scored[]): number[] {
  const rank = new Array<number>(points.length).fill(-1);
  for (let r = 0; rank.includes(-1); r++) {
    const left = points.map((_, i) => i).filter((i) => rank[i] === -1);
    const front = left.filter((i) => !left.some((j) => constrainedDominates(points[j]!, points[i]!)));
    for (const i of front) rank[i] = r;
  }
  return rank;
}

test("non-dominated sort matches peeling fronts by brute force on random point sets (ties, constraints, 2-4 objectives)", () => {
  const rand = uniformRandom(5);
  for (let trial = 0; trial < 60; trial++) {
    const pts = randomPoints(rand, 1 + Math.floor(rand() * 40), 2 + (trial % 3), trial % 2 ? 6 : 1000, trial % 4 === 3);
    const fronts = nonDominatedSort(pts);
    const rank = new Array<number>(pts.length).fill(-1);
    fronts.forEach((f, r) => f.forEach((i) => (rank[i] = r)));
    assert.deepEqual(rank, bruteRanks(pts));
    assert.equal(fronts.flat().length, pts.length);
  }
});

test("crowding distance: boundary points infinite, interior points the normalised neighbour gaps", () => {
  const pts: Scored[] = [[0, 4], [1, 2], [3, 1], [4, 0]].map((o) => ({ objectives: o, violation: 0 }));
  const d = crowdingDistance(pts, [0, 1, 2, 3]);
  assert.equal(d[0], Infinity);
  assert.equal(d[3], Infinity);
  assert.equal(d[1], 3 / 4 + 3 / 4); // x: (3-0)/4, y: (4-1)/4
  assert.equal(d[2], 3 / 4 + 2 / 4);
});

/** Hypervolume by summing the grid cells (over every point's coordinates) that some point dominates. */
function bruteHypervolume(points: number[][], ref: number[]): number {
  const m = ref.length;
  const axes = Array.from({ length: m }, (_, k) => [...new Set([...points.map((p) => p[k]!), ref[k]!])].filter((v) => v <= ref[k]!).sort((a, b) => a - b));
  let vol = 0;
  const idx = new Array<number>(m).fill(0);
  const walk = (k: number) => {
    if (k === m) {
      const lo = idx.map((i, a) => axes[a]![i]!);
      if (points.some((p) => p.every((v, a) => v <= lo[a]!))) vol += idx.reduce((s, i, a) => s * (axes[a]![i + 1]! - axes[a]![i]!), 1);
      return;
    }
    for (let i = 0; i + 1 < axes[k]!.length; i++) {
      idx[k] = i;
      walk(k + 1);
    }
  };
  walk(0);
  return vol;
}

test("exact hypervolume in 2 and 3 objectives equals the brute-force cell sum on random point sets", () => {
  const rand = uniformRandom(9);
  for (let trial = 0; trial < 80; trial++) {
    const m = 2 + (trial % 2);
    const n = Math.floor(rand() * 25);
    const pts = Array.from({ length: n }, () => Array.from({ length: m }, () => (trial % 3 === 0 ? Math.floor(rand() * 5) : rand() * 1.2)));
    const ref = new Array<number>(m).fill(1);
    const hv = hypervolume(pts, ref);
    assert.ok(Math.abs(hv - bruteHypervolume(pts, ref)) < 1e-12, `trial ${trial}: ${hv} vs ${bruteHypervolume(pts, ref)}`);
  }
  assert.equal(hypervolume([[0.5, 0.5]], [1, 1]), 0.25);
  assert.equal(hypervolume([[0.5, 0.5, 0.5]], [1, 1, 1]), 0.125);
  assert.equal(hypervolume([[1, 0], [2, 2]], [1, 1]), 0); // on or beyond the reference: nothing
});

for (const [kind, optimum] of [[1, 2 / 3], [2, 1 / 3]] as const) {
  test(`NSGA-II on ZDT${kind} reaches within 2% of the optimal hypervolume (${optimum.toFixed(4)}, reference (1, 1))`, async () => {
    const r = await nsga2(zdt(kind, 10), { budget: 20000, seed: 1, populationSize: 100 });
    const hv = hypervolume(r.front.map((e) => e.objectives), [1, 1]);
    assert.ok(hv >= 0.98 * optimum && hv <= optimum, `hypervolume ${hv} vs optimum ${optimum}`);
  });
}

test("the same seed gives the same search; another seed a different one", async () => {
  const a = await nsga2(zdt(1, 5), { budget: 300, seed: 3, populationSize: 20 });
  const b = await nsga2(zdt(1, 5), { budget: 300, seed: 3, populationSize: 20 });
  const c = await nsga2(zdt(1, 5), { budget: 300, seed: 4, populationSize: 20 });
  assert.deepEqual(a.archive, b.archive);
  assert.notDeepEqual(a.archive.map((e) => e.key), c.archive.map((e) => e.key));
});

function countingProblem(cards: number[], counts: Map<string, number>): SearchProblem {
  return {
    cardinalities: cards,
    objectives: 2,
    evaluate: async (batch) => batch.map((g) => {
      counts.set(genomeKey(g), (counts.get(genomeKey(g)) ?? 0) + 1);
      const s = g.reduce((a, b) => a + b, 0);
      return { objectives: [s, g.length * 2 - s + (g[0] === 1 ? 0.5 : 0)] };
    }),
  };
}

test("no genome is evaluated twice: a search of a 27-genome space with budget 100 evaluates each once and stops", async () => {
  for (const search of [(p: SearchProblem) => nsga2(p, { budget: 100, seed: 1, populationSize: 8 }), (p: SearchProblem) => randomSearch(p, { budget: 100, seed: 1, batchSize: 5 })]) {
    const counts = new Map<string, number>();
    const r = await search(countingProblem([3, 3, 3], counts));
    assert.equal(counts.size, 27);
    assert.ok([...counts.values()].every((c) => c === 1));
    assert.equal(r.evaluations, 27);
    assert.equal(new Set(r.archive.map((e) => e.key)).size, 27);
  }
  const counts = new Map<string, number>();
  const r = await nsga2(countingProblem([5, 5, 5, 5], counts), { budget: 50, seed: 2, populationSize: 12 });
  assert.equal(r.evaluations, 50);
  assert.equal(counts.size, 50);
});

test("constraints: infeasible genomes never enter the front while a feasible one exists", async () => {
  const p: SearchProblem = {
    cardinalities: [4, 4, 4],
    objectives: 2,
    evaluate: async (batch) => batch.map((g): GenomeEvaluation => ({ objectives: [g[0]! + g[1]!, 6 - g[0]! - g[1]! + g[2]!], violation: g[0]! === 3 ? 1 : 0 })),
  };
  const r = await nsga2(p, { budget: 64, seed: 0, populationSize: 10 });
  assert.equal(r.evaluations, 64);
  assert.ok(r.front.length > 0 && r.front.every((e) => e.violation === 0 && e.genome[2] === 0 && e.genome[0] !== 3));
});

test("greedy by sensitivity: evaluates the single-gene table, then walks the best saving-per-loss path", async () => {
  // loss = sum of gene losses, cost = sum of gene costs; gene i value v.
  const loss = [[0, 1, 5], [0, 4, 5]];
  const cost = [[10, 6, 0], [10, 2, 1]];
  const p: SearchProblem = {
    cardinalities: [3, 3],
    objectives: 2,
    evaluate: async (batch) => batch.map((g) => ({ objectives: [loss[0]![g[0]!]! + loss[1]![g[1]!]!, cost[0]![g[0]!]! + cost[1]![g[1]!]!] })),
  };
  const r = await greedySearch(p, { budget: 100, start: [0, 0] });
  // Table: (0,0) (1,0) (2,0) (0,1) (0,2); path: gene 0 -> 1 (4 per loss), gene 1 -> 1 (8/4 = 2),
  // gene 0 -> 2 (6/4), gene 1 -> 2 (1/1).
  // The table goes round-robin over the genes.
  assert.deepEqual(r.archive.map((e) => e.genome), [[0, 0], [1, 0], [0, 1], [2, 0], [0, 2], [1, 1], [2, 1], [2, 2]]);
  // (loss, cost): (0,20) (1,16) (4,12) (5,10) (5,11) (5,8) (9,2) (10,1); (5,8) dominates (5,10) and (5,11).
  assert.deepEqual(r.front.map((e) => e.genome), [[0, 0], [1, 0], [0, 1], [1, 1], [2, 1], [2, 2]]);
});

test("greedy on a budget smaller than its table: every gene in the table, in valueOrder, and a third of the budget walks the path", async () => {
  // 4 genes x 6 values, the table limited by valueOrder to 1 + 3 + 2 + 1 + 2 = 9 genomes (the start value
  // is skipped); budget 8 buys 6 of them and a path of 2.
  // Gene value v costs 10 - 2v and loses v * (gene + 1).
  const p: SearchProblem = {
    cardinalities: [6, 6, 6, 6],
    objectives: 2,
    evaluate: async (batch) => batch.map((g) => ({ objectives: [g.reduce((s, v, i) => s + v * (i + 1), 0), g.reduce((s, v) => s + 10 - 2 * v, 0)] })),
  };
  const valueOrder = [[5, 3, 1], [2, 4], [1], [4, 0, 1]];
  const r = await greedySearch(p, { budget: 8, start: [0, 0, 0, 0], valueOrder });
  assert.equal(r.evaluations, 8);
  assert.deepEqual(r.archive.slice(0, 6).map((e) => e.genome), [[0, 0, 0, 0], [5, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 4], [3, 0, 0, 0]]);
  // Saving per loss from the table: gene 0 -> 5 (10/5 = 2) and -> 3 (6/3 = 2, less saving), gene 1 -> 2 (4/4),
  // gene 2 -> 1 (2/3), gene 3 -> 4 (8/16). Path: gene 0 -> 5 (already in the table), gene 1 -> 2, gene 2 -> 1, gene 3 -> 4.
  assert.deepEqual(r.archive.slice(6).map((e) => e.genome), [[5, 2, 0, 0], [5, 2, 1, 0]]);
  await assert.rejects(greedySearch(p, { budget: 9, start: [0, 0, 0, 0], valueOrder: [[6], [], [], []] }), (e) => isAxnnError(e) && /gene 0: expected distinct values in 0..5/.test(e.message));
});

test("NSGA-II evaluates every initial genome, even more than a population, so its front weakly dominates them all", async () => {
  const counts = new Map<string, number>();
  const p = countingProblem([6, 6, 6], counts);
  const initial = Array.from({ length: 6 }, (_, v) => [v, v, v]).concat(Array.from({ length: 6 }, (_, v) => [v, 5 - v, v]));
  const r = await nsga2(p, { budget: 40, seed: 5, populationSize: 4, initial });
  assert.equal(r.evaluations, 40);
  const archived = new Set(r.archive.map((e) => genomeKey(e.genome)));
  for (const g of initial) assert.ok(archived.has(genomeKey(g)), `initial ${g} not evaluated`);
  // The first 12 evaluations are the initial genomes, in order.
  assert.deepEqual(r.archive.slice(0, 12).map((e) => e.genome), initial);
  for (const g of initial) {
    const e = r.archive.find((a) => genomeKey(a.genome) === genomeKey(g))!;
    assert.ok(r.front.some((f) => f.objectives.every((v, k) => v <= e.objectives[k]!)), `initial ${g} not weakly dominated by the front`);
  }
});

test("bad settings and journals get clear errors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-search-"));
  try {
    const p = zdt(1, 3);
    await assert.rejects(nsga2(p, { budget: 0 }), (e) => isAxnnError(e) && /budget: expected a whole number of evaluations >= 1, got 0/.test(e.message));
    await assert.rejects(nsga2({ ...p, cardinalities: [] }, { budget: 5 }), (e) => isAxnnError(e) && /no genes/.test(e.message));
    await assert.rejects(nsga2(p, { budget: 5, initial: [[1, 2]] }), (e) => isAxnnError(e) && /does not fit/.test(e.message));
    const journal = join(dir, "j.jsonl");
    await nsga2(p, { budget: 30, seed: 1, journal });
    await assert.rejects(nsga2(p, { budget: 30, seed: 1, journal }), (e) => isAxnnError(e) && /already exists; resume it/.test(e.message));
    await assert.rejects(nsga2(p, { budget: 30, seed: 2, journal, resume: true }), (e) => isAxnnError(e) && /different search/.test(e.message));
    const bad: SearchProblem = { ...p, evaluate: async (b) => b.map(() => ({ objectives: [NaN, 1] })) };
    await assert.rejects(nsga2(bad, { budget: 5 }), /expected 2 finite numbers/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function summary(r: SearchResult) {
  return { archive: r.archive.map((e) => [e.key, e.objectives]), front: r.front.map((e) => e.key), evaluations: r.evaluations };
}

test("resume after SIGKILL: a child killed mid-search, resumed, ends with the archive and front of an uninterrupted run", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-search-"));
  try {
    const journal = join(dir, "journal.jsonl");
    const child = spawn(process.execPath, [fileURLToPath(new URL("./search-zdt.js", import.meta.url)), "--child", journal], { stdio: "ignore" });
    const lines = () => (existsSync(journal) ? readFileSync(journal, "utf8").split("\n").length - 2 : 0);
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        if (lines() >= 150) {
          clearInterval(poll);
          child.kill("SIGKILL");
          resolve();
        }
      }, 5);
      child.on("exit", (code) => {
        clearInterval(poll);
        if (lines() < 150) reject(new Error(`child exited (${code}) before it was killed`));
      });
    });
    await new Promise((r) => child.once("exit", r));
    const done = lines();
    assert.ok(done >= 150 && done < RESUME_SETTINGS.budget, `killed after ${done} evaluations`);
    // A torn line, as a power loss mid-write leaves it.
    appendFileSync(journal, '{"key":"00ff","genome":[1,');
    const evaluatedAgain: Genome[] = [];
    const resumed = await nsga2(zdt(1, 6, (g) => evaluatedAgain.push(g)), { ...RESUME_SETTINGS, journal, resume: true });
    const straight = await nsga2(zdt(1, 6), RESUME_SETTINGS);
    assert.deepEqual(summary(resumed), summary(straight));
    assert.equal(resumed.evaluations, RESUME_SETTINGS.budget);
    assert.ok(resumed.fromJournal >= done - 1, `${resumed.fromJournal} read back of ${done} journaled`);
    // Nothing journaled was evaluated again.
    const journaled = new Set(readFileSync(journal, "utf8").split("\n").slice(1, done + 1).map((l) => (JSON.parse(l) as { key: string }).key));
    assert.ok(evaluatedAgain.every((g) => !journaled.has(genomeKey(g))));
    assert.equal(evaluatedAgain.length + resumed.fromJournal, RESUME_SETTINGS.budget);
    // The journal now holds every evaluation once, and a second resume evaluates nothing.
    const again: Genome[] = [];
    const third = await nsga2(zdt(1, 6, (g) => again.push(g)), { ...RESUME_SETTINGS, journal, resume: true });
    assert.deepEqual(summary(third), summary(straight));
    assert.equal(again.length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
