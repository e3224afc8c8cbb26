import { AxnnError, isAxnnError } from "../util/errors.js";
import { progressBar } from "../util/progress.js";
import type { Architecture } from "./arch.js";
import type { Ert } from "./ert.js";
import type { LevelMapping, Loop, Mapping } from "./mapping.js";
import { ertToPlain, resolveThreads, runInWorkers, workerAvailable, type PlainErt } from "./mapper-pool.js";
import { evaluate, type Evaluation } from "./model.js";
import type { Problem } from "./problem.js";
import { mulberry32, uniformRandom } from "../util/random.js";

/**
 * The mapper: a search over mappings, kept apart from the model (it only calls `evaluate`).
 * The mapspace: every dimension's bound split into factors over slots (each level's temporal
 * loops and the X and Y spatial fan-out below it), the order of each level's temporal loops, and
 * keep/bypass where the architecture leaves it open; all under the architecture's constraints
 * (fixed factors, permutations, X/Y split, keep/bypass), mesh sizes and buffer capacities.
 */

export type Objective = "energy" | "delay" | "edp";
export type SearchAlgorithm = "auto" | "exhaustive" | "random" | "anneal";

export interface MapperOptions {
  objective?: Objective;
  seed?: number;
  /** Wall-clock budget (ms); default 8000. */
  timeLimitMs?: number;
  /** Stop after this many evaluations (default: unbounded, the time limit decides). */
  maxEvaluations?: number;
  algorithm?: SearchAlgorithm;
  /** Exhaustive search when the mapspace has at most this many points (default 20000). */
  exhaustiveLimit?: number;
  computeEnergyScale?: number;
  /** Show a progress bar on stderr (default false). */
  progress?: boolean;
  /**
   * Worker threads (default: defaultThreads()). 1 searches in this thread, as before. With N > 1 the
   * evaluation budget is split over N workers with seeds derived from `seed`; the same seed, budget
   * and N always give the same mapping (exhaustive search gives the same mapping for every N).
   */
  threads?: number;
}

export interface MapperResult {
  mapping: Mapping;
  evaluation: Evaluation;
  objective: Objective;
  algorithm: Exclude<SearchAlgorithm, "auto">;
  evaluated: number;
  valid: number;
  /** Mapspace size (factorisations x loop orders x keep choices), as a float (may be huge). */
  mapspaceSize: number;
  elapsedMs: number;
}

/** Seeded PRNG: uniform numbers in [0, 1). */
export const rng = uniformRandom;

function primeFactors(n: number): number[] {
  const out: number[] = [];
  for (let p = 2; p * p <= n; p++) while (n % p === 0) { out.push(p); n /= p; }
  if (n > 1) out.push(n);
  return out;
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

interface Slot {
  level: number;
  kind: "T" | "X" | "Y";
  /** Fan-out limit for spatial slots. */
  limit: number;
  /** fixed[dim]: factor forced by a constraint (undefined = free). */
  fixed: (number | undefined)[];
}

/** A point of the mapspace. */
interface Genome {
  /** factor[slot][dim] */
  factor: number[][];
  /** order[level]: dims of the temporal loops, outermost first (all dims; factor-1 loops are dropped). */
  order: number[][];
  keep: boolean[][];
}

interface Space {
  slots: Slot[];
  /** Slots each dimension may use (its factor there is free). */
  freeSlots: number[][];
  /** Bound left to distribute per dim after fixed factors. */
  residual: number[];
  /** Per level: dims in a fixed innermost-first order (from a permutation constraint). */
  fixedInner: string[][];
  /** Per level and data space: undefined = free choice, else forced. */
  keepForced: (boolean | undefined)[][];
  /** The X and Y slots of each level that has both. */
  axisPairs: [number, number][];
}

function buildSpace(arch: Architecture, problem: Problem): Space {
  const slots: Slot[] = [];
  const nd = problem.dims.length;
  const dimOf = (name: string, where: string) => {
    const i = problem.dims.indexOf(name);
    if (i < 0) throw new AxnnError(`constraint names "${name}", not a dimension of the problem (${problem.dims.join(", ")})`, { file: arch.file, field: where });
    return i;
  };
  arch.levels.forEach((lv, li) => {
    const c = lv.constraints;
    const tFixed = new Array<number | undefined>(nd).fill(undefined);
    if (lv.dummy) tFixed.fill(1);
    // 0 (Timeloop) = this level takes whatever of the dimension the other constraints leave.
    for (const [k, v] of Object.entries(c.temporalFactors ?? {})) tFixed[dimOf(k, `${lv.name}.constraints.temporal.factors`)] = v;
    slots.push({ level: li, kind: "T", limit: Infinity, fixed: tFixed });
    for (const kind of ["X", "Y"] as const) {
      const limit = kind === "X" ? lv.fanoutX : lv.fanoutY;
      if (limit <= 1) continue;
      const fixed = new Array<number | undefined>(nd).fill(undefined);
      for (const [k, v] of Object.entries(c.spatialFactors ?? {})) fixed[dimOf(k, `${lv.name}.constraints.spatial.factors`)] = v;
      if (c.spatialPermutation && c.spatialSplit !== undefined) {
        // Dimensions before `split` in the permutation go to X, the rest to Y.
        c.spatialPermutation.forEach((name, idx) => {
          const d = problem.dims.indexOf(name);
          if (d < 0) return;
          const onX = idx < c.spatialSplit!;
          if ((kind === "X") !== onX) fixed[d] = 1;
        });
      }
      // A fixed spatial factor constrains the level's total over X and Y; put it on X unless X cannot take it.
      slots.push({ level: li, kind, limit, fixed });
    }
  });
  // A spatial factor fixed for a level with both X and Y slots: keep it on one slot only.
  for (let li = 0; li < arch.levels.length; li++) {
    const xs = slots.find((s) => s.level === li && s.kind === "X");
    const ys = slots.find((s) => s.level === li && s.kind === "Y");
    if (!xs || !ys) continue;
    for (let d = 0; d < nd; d++) {
      const fx = xs.fixed[d], fy = ys.fixed[d];
      if (fx !== undefined && fx !== 1 && fy !== undefined && fy !== 1) ys.fixed[d] = 1;
    }
  }
  const residual = problem.bounds.slice();
  const freeSlots: number[][] = problem.dims.map(() => []);
  slots.forEach((s, si) => {
    for (let d = 0; d < nd; d++) {
      const f = s.fixed[d];
      if (f === undefined) freeSlots[d]!.push(si);
      else if (f > 1) {
        if (residual[d]! % f !== 0) {
          throw new AxnnError(`constraint ${problem.dims[d]}=${f} at ${arch.levels[s.level]!.name} does not divide ${problem.dims[d]}=${problem.bounds[d]}`, { file: arch.file });
        }
        residual[d]! /= f;
      }
    }
  });
  // A 0 factor takes the residual; the dimension's other free slots then get 1.
  slots.forEach((s) => {
    for (let d = 0; d < nd; d++) {
      if (s.fixed[d] !== 0) continue;
      s.fixed[d] = residual[d]!;
      residual[d] = 1;
      for (const other of freeSlots[d]!) slots[other]!.fixed[d] = 1;
      freeSlots[d] = [];
    }
  });
  problem.dims.forEach((name, d) => {
    if (residual[d]! > 1 && freeSlots[d]!.length === 0) {
      throw new AxnnError(`the constraints leave no level free to iterate over ${name}=${residual[d]}`, { file: arch.file });
    }
  });
  const fixedInner = arch.levels.map((lv) => (lv.constraints.temporalPermutation ?? []).filter((n) => problem.dims.includes(n)));
  const keepForced = arch.levels.map((lv, li) =>
    problem.dataSpaces.map((ds) => {
      if (lv.dummy) return false;
      if (lv.constraints.keep?.includes(ds.name)) return true;
      if (lv.constraints.bypass?.includes(ds.name)) return false;
      // The outermost level holds every tensor.
      if (li === 0) return true;
      // Timeloop: listing "keep" alone means the rest is bypassed.
      if (lv.constraints.keep !== undefined && lv.constraints.bypass === undefined) return false;
      return undefined;
    }),
  );
  const axisPairs: [number, number][] = [];
  arch.levels.forEach((_, li) => {
    const x = slots.findIndex((s) => s.level === li && s.kind === "X");
    const y = slots.findIndex((s) => s.level === li && s.kind === "Y");
    if (x >= 0 && y >= 0) axisPairs.push([x, y]);
  });
  return { slots, freeSlots, residual, fixedInner, keepForced, axisPairs };
}

function shuffle<T>(a: T[], rand: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function slotProduct(g: Genome, si: number): number {
  return g.factor[si]!.reduce((a, b) => a * b, 1);
}

/** A random level order honouring a permutation constraint (its dims innermost, in its order). */
function randomOrder(space: Space, li: number, problem: Problem, rand: () => number): number[] {
  const inner = space.fixedInner[li]!.map((n) => problem.dims.indexOf(n));
  const rest = shuffle(problem.dims.map((_, d) => d).filter((d) => !inner.includes(d)), rand);
  // inner is innermost-first; order is outermost-first.
  return [...rest, ...[...inner].reverse()];
}

function randomGenome(space: Space, problem: Problem, nLevels: number, rand: () => number): Genome | null {
  const factor = space.slots.map((s) => s.fixed.map((f) => (f === undefined ? 1 : f)));
  const dims = shuffle(problem.dims.map((_, d) => d), rand);
  // Half of the samples fill the meshes first: uniform choices leave most PEs idle.
  const spatialFirst = rand() < 0.5;
  for (const d of dims) {
    for (const p of shuffle(primeFactors(space.residual[d]!), rand)) {
      const options = space.freeSlots[d]!.filter((si) => slotProduct({ factor } as Genome, si) * p <= space.slots[si]!.limit);
      if (options.length === 0) return null;
      const spatial = options.filter((si) => space.slots[si]!.kind !== "T");
      const pool = spatialFirst && spatial.length > 0 && rand() < 0.8 ? spatial : options;
      const si = pool[Math.floor(rand() * pool.length)]!;
      factor[si]![d]! *= p;
    }
  }
  const order = Array.from({ length: nLevels }, (_, li) => randomOrder(space, li, problem, rand));
  const keep = space.keepForced.map((row) => row.map((k) => (k === undefined ? rand() < 0.5 : k)));
  return { factor, order, keep };
}

function toMapping(space: Space, g: Genome, arch: Architecture): Mapping {
  const levels: LevelMapping[] = arch.levels.map((_, li) => ({ temporal: [], spatial: [], keep: g.keep[li]!.slice() }));
  space.slots.forEach((s, si) => {
    const lm = levels[s.level]!;
    if (s.kind === "T") {
      lm.temporal = g.order[s.level]!.filter((d) => g.factor[si]![d]! > 1).map((d): Loop => ({ dim: d, bound: g.factor[si]![d]! }));
    } else {
      g.factor[si]!.forEach((f, d) => {
        if (f > 1) lm.spatial.push({ dim: d, bound: f, spatial: s.kind as "X" | "Y" });
      });
    }
  });
  for (const lm of levels) lm.spatial.sort((a, b) => (a.spatial === b.spatial ? 0 : a.spatial === "X" ? -1 : 1));
  return { levels };
}

/**
 * Whether a dimension has a spatial factor on both X and Y of one level: a mapping Timeloop's format
 * (one spatial factor per dimension and level, along X or Y) cannot express.
 */
function splitsOverBothAxes(space: Space, g: Genome): boolean {
  for (const [x, y] of space.axisPairs) {
    const fx = g.factor[x]!, fy = g.factor[y]!;
    for (let d = 0; d < fx.length; d++) if (fx[d]! > 1 && fy[d]! > 1) return true;
  }
  return false;
}

function score(ev: Evaluation, objective: Objective): number {
  if (objective === "energy") return ev.energyPj;
  if (objective === "delay") return ev.cycles * (1 + 1e-12 * ev.energyPj);
  return ev.energyPj * ev.cycles;
}

function mutate(space: Space, g: Genome, problem: Problem, rand: () => number): Genome | null {
  const next: Genome = { factor: g.factor.map((r) => r.slice()), order: g.order.map((r) => r.slice()), keep: g.keep.map((r) => r.slice()) };
  const r = rand();
  if (r < 0.6) {
    // Move one prime factor of one dimension to another free slot.
    const d = Math.floor(rand() * problem.dims.length);
    const from = space.freeSlots[d]!.filter((si) => next.factor[si]![d]! > 1);
    if (from.length === 0) return null;
    const a = from[Math.floor(rand() * from.length)]!;
    const primes = primeFactors(next.factor[a]![d]!);
    const p = primes[Math.floor(rand() * primes.length)]!;
    const to = space.freeSlots[d]!.filter((si) => si !== a && slotProduct(next, si) * p <= space.slots[si]!.limit);
    if (to.length === 0) return null;
    const b = to[Math.floor(rand() * to.length)]!;
    next.factor[a]![d]! /= p;
    next.factor[b]![d]! *= p;
    return next;
  }
  if (r < 0.9) {
    // Swap two free loops of one level's order.
    const li = Math.floor(rand() * next.order.length);
    const fixed = new Set(space.fixedInner[li]!.map((n) => problem.dims.indexOf(n)));
    const free = next.order[li]!.map((d, i) => ({ d, i })).filter((x) => !fixed.has(x.d));
    if (free.length < 2) return null;
    const x = free[Math.floor(rand() * free.length)]!, y = free[Math.floor(rand() * free.length)]!;
    if (x.i === y.i) return null;
    next.order[li]![x.i] = y.d;
    next.order[li]![y.i] = x.d;
    return next;
  }
  const open: [number, number][] = [];
  space.keepForced.forEach((row, li) => row.forEach((k, d) => { if (k === undefined) open.push([li, d]); }));
  if (open.length === 0) return null;
  const [li, d] = open[Math.floor(rand() * open.length)]!;
  next.keep[li]![d] = !next.keep[li]![d];
  return next;
}

/** Each factor split of each dimension over its free slots (fan-out limits not yet applied). */
function dimensionSplits(space: Space, problem: Problem): number[][][] {
  return problem.dims.map((_, d) => {
    const out: number[][] = [];
    const free = space.freeSlots[d]!;
    if (free.length === 0) return [[]];
    const rec = (i: number, left: number, acc: number[]) => {
      if (i === free.length - 1) { out.push([...acc, left]); return; }
      for (const f of divisors(left)) rec(i + 1, left / f, [...acc, f]);
    };
    rec(0, space.residual[d]!, []);
    return out;
  });
}

/** Calls `cb` with the slot factors of every factorisation that fits the meshes. */
function forEachFactorisation(space: Space, problem: Problem, cb: (factor: number[][]) => void): void {
  const nd = problem.dims.length;
  const base = space.slots.map((s) => s.fixed.map((f) => (f === undefined ? 1 : f)));
  const splits = dimensionSplits(space, problem);
  const choice = new Array<number>(nd).fill(0);
  while (true) {
    const factor = base.map((r) => r.slice());
    problem.dims.forEach((_, d) => splits[d]![choice[d]!]!.forEach((f, k) => { factor[space.freeSlots[d]![k]!]![d]! *= f; }));
    if (space.slots.every((s, si) => s.kind === "T" || slotProduct({ factor } as Genome, si) <= s.limit)) cb(factor);
    let d = 0;
    while (d < nd && ++choice[d]! >= splits[d]!.length) { choice[d] = 0; d++; }
    if (d === nd) return;
  }
}

function factorial(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}

/** Distinct loop orders of a level: permutations of its non-trivial loops outside the permutation constraint. */
function activeOrders(space: Space, problem: Problem, factor: number[][], li: number): number {
  const tSlot = space.slots.findIndex((s) => s.level === li && s.kind === "T");
  const inner = new Set(space.fixedInner[li]!);
  return factorial(problem.dims.filter((name, d) => factor[tSlot]![d]! > 1 && !inner.has(name)).length);
}

/**
 * Mapspace size: factorisations that fit the meshes x distinct loop orders x keep choices; exact
 * when there are at most 10^5 factorisations, else an upper bound (all dims free in every order).
 */
function mapspaceSize(space: Space, problem: Problem, nLevels: number): number {
  let keepChoices = 1;
  for (const row of space.keepForced) for (const k of row) if (k === undefined) keepChoices *= 2;
  const splitCounts = dimensionSplits(space, problem).map((x) => x.length);
  const factorisations = splitCounts.reduce((a, b) => a * b, 1);
  if (factorisations <= 1e5) {
    let total = 0;
    forEachFactorisation(space, problem, (factor) => {
      let orders = 1;
      for (let li = 0; li < nLevels; li++) orders *= activeOrders(space, problem, factor, li);
      total += orders;
    });
    return total * keepChoices;
  }
  let orders = 1;
  for (let li = 0; li < nLevels; li++) orders *= factorial(problem.dims.length - space.fixedInner[li]!.length);
  return factorisations * orders * keepChoices;
}

/** Every genome of the mapspace (for small spaces): all fitting factor splits, then all loop orders of the non-trivial loops. */
function* allGenomes(space: Space, problem: Problem, nLevels: number): Generator<Genome> {
  const factorisations: number[][][] = [];
  forEachFactorisation(space, problem, (f) => factorisations.push(f));
  const keepOpen: [number, number][] = [];
  space.keepForced.forEach((row, li) => row.forEach((k, d) => { if (k === undefined) keepOpen.push([li, d]); }));
  const permutations = (xs: number[]): number[][] => (xs.length <= 1 ? [xs] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p])));
  for (const factor of factorisations) {
    const perLevel = Array.from({ length: nLevels }, (_, li) => {
      const tSlot = space.slots.findIndex((s) => s.level === li && s.kind === "T");
      const inner = space.fixedInner[li]!.map((n) => problem.dims.indexOf(n));
      const active = problem.dims.map((_, d) => d).filter((d) => factor[tSlot]![d]! > 1 && !inner.includes(d));
      const idle = problem.dims.map((_, d) => d).filter((d) => factor[tSlot]![d]! <= 1 && !inner.includes(d));
      return permutations(active).map((p) => [...idle, ...p, ...[...inner].reverse()]);
    });
    const idx = new Array<number>(nLevels).fill(0);
    while (true) {
      const order = idx.map((k, li) => perLevel[li]![k]!);
      for (let mask = 0; mask < 1 << keepOpen.length; mask++) {
        const keep = space.keepForced.map((row) => row.map((k) => k ?? false));
        keepOpen.forEach(([li, d], bit) => { keep[li]![d] = ((mask >> bit) & 1) === 1; });
        yield { factor, order, keep };
      }
      let l = 0;
      while (l < nLevels && ++idx[l]! >= perLevel[l]!.length) { idx[l] = 0; l++; }
      if (l === nLevels) break;
    }
  }
}

/** The seed of worker `index` of a parallel search: a hash of (seed, index), so streams do not overlap by a shift. */
export function workerSeed(seed: number, index: number): number {
  return mulberry32((seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0)();
}

/** The evaluation budget of worker `index` of `count`: an even split, the remainder to the first workers. */
export function workerBudget(maxEvaluations: number, index: number, count: number): number {
  if (!Number.isFinite(maxEvaluations)) return maxEvaluations;
  return Math.floor(maxEvaluations / count) + (index < maxEvaluations % count ? 1 : 0);
}

/** One worker's share of a parallel search (exhaustive: the genomes whose enumeration index is `index` modulo `count`). */
export interface SearchPart {
  index: number;
  count: number;
}

/** A search result with what a parallel search needs to pick the winner deterministically. */
export interface PartResult extends MapperResult {
  /** Objective value of the best mapping. */
  score: number;
  /** Enumeration index of the best mapping (exhaustive search; -1 otherwise). */
  bestIndex: number;
}

/** Reports evaluations done so far (for a progress bar in another thread). */
export type EvaluationCounter = (evaluated: number) => void;

/** The single-threaded search (the whole of it, or one part of an exhaustive search). */
export function searchSequential(arch: Architecture, problem: Problem, ert: Ert, opts: MapperOptions = {}, part?: SearchPart, counter?: EvaluationCounter): PartResult {
  const objective = opts.objective ?? "energy";
  const seed = opts.seed ?? 1;
  const timeLimit = opts.timeLimitMs ?? 8000;
  const maxEvals = opts.maxEvaluations ?? Infinity;
  const rand = rng(seed);
  const space = buildSpace(arch, problem);
  const nLevels = arch.levels.length;
  const size = mapspaceSize(space, problem, nLevels);
  const algorithm = chooseAlgorithm(opts, size);
  const start = Date.now();
  const deadline = start + timeLimit;
  const bar = progressBar(`mapper (${algorithm}, ${objective})`, algorithm === "exhaustive" ? Math.min(size, maxEvals) : 100, { quiet: !opts.progress, unit: algorithm === "exhaustive" ? "mappings" : "%" });
  let evaluated = 0, valid = 0, lastPct = 0;
  let best: { g: Genome; ev: Evaluation; s: number; index: number } | null = null;
  let genomeIndex = -1;

  const tryGenome = (g: Genome): { ev: Evaluation; s: number } | null => {
    evaluated++;
    if (counter && (evaluated & 15) === 0) counter(evaluated);
    // Stay in Timeloop's mapspace, so that every mapping found can be checked in Timeloop.
    if (splitsOverBothAxes(space, g)) return null;
    try {
      const ev = evaluate(arch, problem, toMapping(space, g, arch), ert, { computeEnergyScale: opts.computeEnergyScale });
      valid++;
      const s = score(ev, objective);
      if (best === null || s < best.s) best = { g, ev, s, index: genomeIndex };
      return { ev, s };
    } catch (e) {
      if (isAxnnError(e)) return null;
      throw e;
    }
  };
  const tick = () => {
    if (algorithm === "exhaustive") { bar.tick(); return; }
    const pct = Math.min(100, Math.floor(((Date.now() - start) / timeLimit) * 100));
    if (pct > lastPct) { bar.tick(pct - lastPct); lastPct = pct; }
  };
  const outOfBudget = () => evaluated >= maxEvals || (maxEvals === Infinity && Date.now() > deadline);

  if (algorithm === "exhaustive") {
    for (const g of allGenomes(space, problem, nLevels)) {
      genomeIndex++;
      if (genomeIndex >= maxEvals) break;
      if (part && genomeIndex % part.count !== part.index) continue;
      tryGenome(g);
      tick();
    }
  } else {
    // Random phase: all of the budget for "random", a tenth (at least 200 samples) before annealing.
    const randomShare = algorithm === "random" ? 1 : 0.1;
    const randomEvals = algorithm === "random" ? maxEvals : Math.max(200, maxEvals === Infinity ? 0 : Math.floor(maxEvals * randomShare));
    const randomDeadline = start + timeLimit * randomShare;
    let attempts = 0;
    while (!outOfBudget()) {
      if (algorithm !== "random" && ((maxEvals === Infinity && Date.now() > randomDeadline && valid > 0) || (maxEvals !== Infinity && evaluated >= randomEvals && valid > 0))) break;
      attempts++;
      const g = randomGenome(space, problem, nLevels, rand);
      if (g) tryGenome(g);
      else evaluated++;
      if (attempts % 16 === 0) tick();
    }
    if (algorithm === "anneal" && best !== null) {
      // Simulated annealing on log(score), restarting from the best point every 2000 steps.
      let cur: { g: Genome; s: number } = { g: (best as { g: Genome }).g, s: (best as { s: number }).s };
      let step = 0;
      while (!outOfBudget()) {
        step++;
        const frac = maxEvals === Infinity ? (Date.now() - start) / timeLimit : evaluated / maxEvals;
        const temp = 0.05 * Math.max(0.001, 1 - frac);
        const cand = mutate(space, cur.g, problem, rand);
        if (!cand) { evaluated++; continue; }
        const r = tryGenome(cand);
        if (r) {
          const dlog = Math.log(r.s) - Math.log(cur.s);
          if (dlog <= 0 || rand() < Math.exp(-dlog / temp)) cur = { g: cand, s: r.s };
        }
        if (step % 2000 === 0) {
          const b = best as unknown as { g: Genome; s: number };
          cur = { g: b.g, s: b.s };
        }
        if (step % 16 === 0) tick();
      }
    }
  }
  bar.stop();
  counter?.(evaluated);
  if (best === null) {
    // A part of an exhaustive search may hold no valid mapping while another part does.
    if (part) return { mapping: { levels: [] }, evaluation: undefined as unknown as Evaluation, objective, algorithm, evaluated, valid, mapspaceSize: size, elapsedMs: Date.now() - start, score: Infinity, bestIndex: -1 };
    throw noValidMapping(arch, evaluated);
  }
  const b = best as { g: Genome; ev: Evaluation; s: number; index: number };
  return { mapping: toMapping(space, b.g, arch), evaluation: b.ev, objective, algorithm, evaluated, valid, mapspaceSize: size, elapsedMs: Date.now() - start, score: b.s, bestIndex: b.index };
}

function noValidMapping(arch: Architecture, evaluated: number): AxnnError {
  return new AxnnError(`no valid mapping found (${evaluated} tried): the layer may not fit the buffers under the constraints`, { file: arch.file });
}

/**
 * "auto": exhaustive only when the budget covers the whole mapspace; a partial enumeration in
 * order sees only one corner of the space (and may find no valid mapping at all).
 */
function chooseAlgorithm(opts: MapperOptions, size: number): Exclude<SearchAlgorithm, "auto"> {
  if (opts.algorithm !== undefined && opts.algorithm !== "auto") return opts.algorithm;
  const budget = opts.maxEvaluations ?? Infinity;
  return size <= (opts.exhaustiveLimit ?? 20000) && size <= budget ? "exhaustive" : "anneal";
}

/** Below this mapspace size an exhaustive search stays in this thread: worker start-up would cost more (same result either way). */
const PARALLEL_EXHAUSTIVE_MIN = 2000;

/**
 * Searches the mapspace for the mapping that minimises the objective. Deterministic for a seed,
 * an evaluation budget and a thread count. With threads > 1 the search runs in worker threads
 * and this call blocks until they finish.
 */
export function searchMapping(arch: Architecture, problem: Problem, ert: Ert, opts: MapperOptions = {}): MapperResult {
  // One thread unless asked: a split search's result depends on the thread count, and a
  // default that followed the machine's cores would make results machine-dependent.
  let threads = resolveThreads(opts.threads ?? 1);
  const maxEvals = opts.maxEvaluations ?? Infinity;
  if (Number.isFinite(maxEvals)) threads = Math.min(threads, Math.max(1, maxEvals));
  if (threads > 1 && opts.threads === undefined && !workerAvailable()) threads = 1;
  if (threads <= 1) return stripPart(searchSequential(arch, problem, ert, opts));
  const start = Date.now();
  // The algorithm is chosen once here, so every worker runs the same one.
  const space = buildSpace(arch, problem);
  const size = mapspaceSize(space, problem, arch.levels.length);
  const algorithm = chooseAlgorithm(opts, size);
  if (algorithm === "exhaustive" && Math.min(size, maxEvals) < PARALLEL_EXHAUSTIVE_MIN) return stripPart(searchSequential(arch, problem, ert, { ...opts, algorithm }));
  const objective = opts.objective ?? "energy";
  const seed = opts.seed ?? 1;
  const tasks: SearchTask[] = Array.from({ length: threads }, (_, i) => ({
    kind: "search",
    arch, problem, ert: ertToPlain(ert),
    opts: algorithm === "exhaustive"
      ? { ...opts, algorithm, progress: false, threads: 1 }
      : { ...opts, algorithm, progress: false, threads: 1, seed: workerSeed(seed, i), maxEvaluations: workerBudget(maxEvals, i, threads) },
    // The part also tells the worker that finding no valid mapping is not an error by itself.
    part: { index: i, count: threads },
  }));
  const total = algorithm === "exhaustive" ? Math.min(size, maxEvals) : maxEvals;
  const bar = progressBar(`mapper (${algorithm}, ${objective}, ${threads} threads)`, Number.isFinite(total) ? total : 100, { quiet: !opts.progress, unit: Number.isFinite(total) ? "mappings" : "%" });
  const timeLimit = opts.timeLimitMs ?? 8000;
  let shown = 0;
  const results = runInWorkers<PartResult>(tasks, threads, (evaluated) => {
    const value = Number.isFinite(total) ? Math.min(total, evaluated) : Math.min(100, Math.floor(((Date.now() - start) / timeLimit) * 100));
    if (value > shown) { bar.tick(value - shown); shown = value; }
  });
  bar.stop();
  // Lowest score wins; ties go to the lowest enumeration index (exhaustive: as a sequential
  // search would), else to the lowest worker index.
  let winner: PartResult | null = null;
  for (const r of results) {
    if (r.score === Infinity) continue;
    if (winner === null || r.score < winner.score || (r.score === winner.score && algorithm === "exhaustive" && r.bestIndex < winner.bestIndex)) winner = r;
  }
  const evaluated = results.reduce((a, r) => a + r.evaluated, 0);
  if (winner === null) throw noValidMapping(arch, evaluated);
  return {
    mapping: winner.mapping, evaluation: winner.evaluation, objective, algorithm, evaluated,
    valid: results.reduce((a, r) => a + r.valid, 0), mapspaceSize: size, elapsedMs: Date.now() - start,
  };
}

function stripPart(r: PartResult): MapperResult {
  const { score: _score, bestIndex: _bestIndex, ...rest } = r;
  return rest;
}

/** One search in a worker: a part of a parallel searchMapping, or a whole single-threaded search (planNetwork). */
export interface SearchTask {
  kind: "search";
  arch: Architecture;
  problem: Problem;
  ert: PlainErt;
  opts: MapperOptions;
  part?: SearchPart;
}
