import { AxnnError } from "../util/errors.js";
import type { Architecture } from "./arch.js";
import { computeEnergies, storageEnergies, type Ert } from "./ert.js";
import type { Loop, Mapping } from "./mapping.js";
import type { Problem } from "./problem.js";

/**
 * The model of one mapping, following Timeloop's nest analysis (v0.4 era):
 * - a level's tile is the box its own and all inner loops span; its fills are the sum, over the
 *   iterations of the loops above it, of what is new in the tile relative to the previous iteration.
 *   Like Timeloop, a loop of n iterations is evaluated at iterations #0 and #1 and #1's delta is
 *   counted n-1 times; a delta only credits overlap while the tile keeps moving by the same stride
 *   (a change of stride discards the previous tile), and a difference that is not a box is not
 *   credited at all;
 * - a parent's reads serve its children's fills, divided by the multicast factor (children whose
 *   tiles coincide share one read) and reduced by link transfers (a child taking from a mesh
 *   neighbour what it received one step earlier); outputs are reduced the same way going up;
 * - outputs: the first read of each element is elided (reads = updates - distinct elements);
 * - energy per action is the ERT's vector energy per ceil(scalar accesses / block size) vector access;
 *   clustered levels (cluster_size > 1) pay one vector access per utilized cluster;
 * - leakage = leak per cycle x utilized instances x cycles; the compute unit's own leak is not counted
 *   (Timeloop's summary does not count it either).
 */

export interface DataSpaceStats {
  name: string;
  /** Words of this data space in one instance's tile ("utilized capacity"). */
  tile: number;
  /** Distinct words one instance ever holds. */
  partition: number;
  reads: number;
  fills: number;
  updates: number;
  /** Energy of these accesses over all utilized instances (pJ). */
  energyPj: number;
}

export interface LevelStats {
  name: string;
  instances: number;
  utilizedInstances: number;
  utilizedClusters: number;
  dataSpaces: DataSpaceStats[];
  leakagePj: number;
  /** Access energy + leakage over all utilized instances (pJ). */
  energyPj: number;
  /** Cycles this level needs for its traffic at its read/write bandwidth (0 if unbounded). */
  bandwidthCycles: number;
  /** Actions its ERT entry does not name, priced by Timeloop's built-in default (as Timeloop does). */
  defaultedActions: ("read" | "write" | "update")[];
}

export interface ComputeStats {
  name: string;
  instances: number;
  utilizedInstances: number;
  energyPerMacPj: number;
  energyPj: number;
}

export interface Evaluation {
  macs: number;
  cycles: number;
  utilization: number;
  energyPj: number;
  pjPerMac: number;
  levels: LevelStats[];
  compute: ComputeStats;
}

export interface EvaluateOptions {
  /** Multiplies the compute unit's energy per MAC (approximate multipliers); default 1. */
  computeEnergyScale?: number;
  /** Skip the capacity check (the mapper checks capacity itself before calling). */
  skipCapacityCheck?: boolean;
  /** File the mapping came from, for error messages. */
  mappingFile?: string;
  /** Leave out Timeloop's neighbour-to-neighbour link transfers (on by default, as in Timeloop). */
  noLinkTransfers?: boolean;
}

interface FlatLoop extends Loop {
  level: number;
  /** Product of the bounds of inner loops of the same dimension (how far one step moves). */
  scale: number;
}

/** An axis-aligned box in one data space: lo inclusive, hi exclusive. */
interface Box {
  lo: number[];
  hi: number[];
}

function boxSize(b: Box): number {
  let s = 1;
  for (let i = 0; i < b.lo.length; i++) s *= b.hi[i]! - b.lo[i]!;
  return s;
}

/** Timeloop's AAHR subtraction: cur minus prev, crediting overlap only when the result is a box (null = empty). */
function subtractBox(cur: Box, prev: Box | null): Box | null {
  if (prev === null) return cur;
  const n = cur.lo.length;
  for (let i = 0; i < n; i++) if (prev.hi[i]! <= cur.lo[i]! || prev.lo[i]! >= cur.hi[i]!) return cur;
  let differing = -1;
  for (let i = 0; i < n; i++) {
    if (cur.lo[i] !== prev.lo[i] || cur.hi[i] !== prev.hi[i]) {
      if (differing >= 0) return cur;
      differing = i;
    }
  }
  if (differing < 0) return null;
  const i = differing;
  let lo = cur.lo[i]!, hi = cur.hi[i]!;
  if (prev.lo[i]! <= lo) {
    if (prev.hi[i]! <= hi) lo = prev.hi[i]!;
    else hi = lo;
  } else if (prev.hi[i]! < hi) {
    return cur; // a fracture: Timeloop keeps the whole tile
  } else {
    hi = prev.lo[i]!;
  }
  if (hi <= lo) return null;
  const out = { lo: cur.lo.slice(), hi: cur.hi.slice() };
  out.lo[i] = lo;
  out.hi[i] = hi;
  return out;
}

/** Everything about a mapping that does not depend on energies: loops, tiles, counts. */
export interface NestAnalysis {
  flat: FlatLoop[];
  /** Index in `flat` of each level's first loop (levels.length = compute). */
  loopStart: number[];
  /** extent[level][dim]: how much of each dimension one tile of the level spans. */
  extent: number[][];
  /** Utilized instances of each level (and the compute at index levels.length). */
  utilized: number[];
}

export function analyseNest(arch: Architecture, problem: Problem, mapping: Mapping, file?: string): NestAnalysis {
  const nLevels = arch.levels.length;
  if (mapping.levels.length !== nLevels) throw new AxnnError(`mapping has ${mapping.levels.length} levels, the architecture ${nLevels}`, { file });
  const nd = problem.dims.length;
  const flat: FlatLoop[] = [];
  const loopStart: number[] = [];
  mapping.levels.forEach((lm, li) => {
    loopStart.push(flat.length);
    const level = arch.levels[li]!;
    let fx = 1, fy = 1;
    for (const l of lm.temporal) if (l.bound > 1) flat.push({ ...l, spatial: undefined, level: li, scale: 1 });
    for (const l of lm.spatial) {
      if (l.spatial === "X") fx *= l.bound;
      else fy *= l.bound;
      if (l.bound > 1) flat.push({ ...l, level: li, scale: 1 });
    }
    if (fx > level.fanoutX || fy > level.fanoutY) {
      throw new AxnnError(
        `spatial loops of ${level.name} need a ${fx}x${fy} (X x Y) fan-out but the mesh below it is ${level.fanoutX}x${level.fanoutY}`,
        { file, field: level.name },
      );
    }
  });
  loopStart.push(flat.length);
  // Coverage: every dimension's loops must multiply to its bound exactly.
  const product = new Array<number>(nd).fill(1);
  for (const l of flat) product[l.dim]! *= l.bound;
  problem.dims.forEach((d, i) => {
    if (product[i] !== problem.bounds[i]) {
      throw new AxnnError(`the loops over ${d} multiply to ${product[i]} but the problem has ${d}=${problem.bounds[i]}`, { file, field: d });
    }
  });
  const running = new Array<number>(nd).fill(1);
  for (let i = flat.length - 1; i >= 0; i--) {
    const l = flat[i]!;
    l.scale = running[l.dim]!;
    running[l.dim]! *= l.bound;
  }
  const extent: number[][] = [];
  for (let li = 0; li <= nLevels; li++) {
    const e = new Array<number>(nd).fill(1);
    for (let i = loopStart[li]!; i < flat.length; i++) e[flat[i]!.dim]! *= flat[i]!.bound;
    extent.push(e);
  }
  const utilized: number[] = [];
  for (let li = 0; li <= nLevels; li++) {
    let u = 1;
    for (let i = 0; i < loopStart[li]!; i++) if (flat[i]!.spatial) u *= flat[i]!.bound;
    utilized.push(u);
  }
  return { flat, loopStart, extent, utilized };
}

function dataBox(problem: Problem, ds: number, offset: number[], extent: number[]): Box {
  const proj = problem.dataSpaces[ds]!.projection;
  const lo: number[] = [], hi: number[] = [];
  for (const terms of proj) {
    let a = 0, b = 0;
    for (const t of terms) {
      a += t.coef * offset[t.dim]!;
      b += t.coef * (offset[t.dim]! + extent[t.dim]! - 1);
    }
    lo.push(a);
    hi.push(b + 1);
  }
  return { lo, hi };
}

/**
 * The deltas of one instance of a level's tile, visit by visit, over the loops above it
 * (Timeloop's temporal deltas with extrapolation and reset on stride change): calls
 * `onVisit(weight, deltas)` with one box (or null when nothing is new) per data space.
 */
function forEachTileDelta(problem: Problem, nest: NestAnalysis, level: number, onVisit: (weight: number, deltas: (Box | null)[]) => void): void {
  const above = nest.flat.slice(0, nest.loopStart[level]).filter((l) => !l.spatial);
  const extent = nest.extent[level]!;
  const nds = problem.dataSpaces.length;
  const prev: (Box | null)[] = new Array(nds).fill(null);
  // Translation between the two previous tiles (null = none yet / reset).
  const prevTrans: (number[] | null)[] = new Array(nds).fill(null);
  const offset = new Array<number>(problem.dims.length).fill(0);
  const deltas: (Box | null)[] = new Array(nds).fill(null);

  const visit = (weight: number): void => {
    for (let d = 0; d < nds; d++) {
      const cur = dataBox(problem, d, offset, extent);
      const p = prev[d]!;
      const trans = p === null ? null : cur.lo.map((v, i) => v - p.lo[i]!);
      const pt = prevTrans[d]!;
      if (pt === null) {
        deltas[d] = subtractBox(cur, p);
        prevTrans[d] = trans;
      } else if (trans !== null && trans.every((v, i) => v === pt[i])) {
        deltas[d] = subtractBox(cur, p);
      } else {
        deltas[d] = cur;
        prevTrans[d] = null;
      }
      prev[d] = cur;
    }
    onVisit(weight, deltas);
  };
  const walk = (i: number, weight: number): void => {
    if (i === above.length) {
      visit(weight);
      return;
    }
    const l = above[i]!;
    walk(i + 1, weight);
    if (l.bound >= 2) {
      offset[l.dim]! += l.scale;
      walk(i + 1, weight * (l.bound - 1));
      offset[l.dim]! -= l.scale;
    }
  };
  walk(0, 1);
}

/** Words entering one instance of a level's tile over the whole run, per data space. */
function tileArrivals(problem: Problem, nest: NestAnalysis, level: number): number[] {
  const totals = new Array<number>(problem.dataSpaces.length).fill(0);
  forEachTileDelta(problem, nest, level, (weight, deltas) => {
    deltas.forEach((b, d) => {
      if (b) totals[d]! += boxSize(b) * weight;
    });
  });
  return totals;
}

/**
 * How many children share each word sent from `from` down to `to` (multicast for reads, spatial
 * reduction for output updates): at each fan-out in between, children whose tiles coincide share.
 */
function multicastFactor(problem: Problem, nest: NestAnalysis, ds: number, from: number, to: number): number {
  let factor = 1;
  for (let lv = from; lv < to; lv++) {
    const loops = nest.flat.slice(nest.loopStart[lv], nest.loopStart[lv + 1]).filter((l) => l.spatial);
    if (loops.length === 0) continue;
    const count = loops.reduce((a, l) => a * l.bound, 1);
    const seen = new Set<string>();
    const offset = new Array<number>(problem.dims.length).fill(0);
    const zero = new Array<number>(problem.dims.length).fill(1);
    const rec = (k: number): void => {
      if (k === loops.length) {
        seen.add(dataBox(problem, ds, offset, zero).lo.join(","));
        return;
      }
      const l = loops[k]!;
      for (let i = 0; i < l.bound; i++) {
        offset[l.dim]! += i * l.scale;
        rec(k + 1);
        offset[l.dim]! -= i * l.scale;
      }
    };
    rec(0);
    factor *= count / seen.size;
  }
  return factor;
}

/**
 * Timeloop's link transfers at the fan-out below level `lv`, for data space `ds`: a child whose
 * new data is exactly what a mesh neighbour (left/right/up/down) received one step earlier takes
 * it from the neighbour instead of the parent. Per step, the parent then sends only the distinct
 * tiles of the children not served that way (Timeloop keeps the link-transfer count only where it
 * lowers the parent's accesses, which this never raises). Returns the factor (<= 1) on the words
 * the parent sends through this fan-out.
 */
function linkTransferFactor(problem: Problem, nest: NestAnalysis, ds: number, lv: number): number {
  const loops = nest.flat.slice(nest.loopStart[lv], nest.loopStart[lv + 1]).filter((l) => l.spatial);
  if (loops.length === 0) return 1;
  const nd = problem.dims.length;
  const ones = new Array<number>(nd).fill(1);
  const children: { t: string; tv: number[]; h: number; v: number }[] = [];
  const offset = new Array<number>(nd).fill(0);
  const rec = (k: number, h: number, v: number): void => {
    if (k === loops.length) {
      const tv = dataBox(problem, ds, offset, ones).lo;
      children.push({ t: tv.join(","), tv, h, v });
      return;
    }
    const l = loops[k]!;
    for (let i = 0; i < l.bound; i++) {
      offset[l.dim]! += i * l.scale;
      rec(k + 1, l.spatial === "X" ? h * l.bound + i : h, l.spatial === "Y" ? v * l.bound + i : v);
      offset[l.dim]! -= i * l.scale;
    }
  };
  rec(0, 0, 0);
  const at = new Map<string, number>();
  children.forEach((c, i) => at.set(`${c.h},${c.v}`, i));
  // For each neighbour translation: which children have a neighbour holding data shifted by it.
  const servedBy = new Map<string, Set<number>>();
  children.forEach((c, i) => {
    for (const [dh, dv] of [[1, 0], [-1, 0], [0, 1], [0, -1]] as const) {
      const j = at.get(`${c.h + dh},${c.v + dv}`);
      if (j === undefined) continue;
      const shift = children[j]!.tv.map((x, k) => x - c.tv[k]!);
      // A neighbour holding the same tile is multicast, not a link transfer: Timeloop credits none
      // there (checked against its 2024 build on a Simba mapping with all children sharing Inputs).
      if (shift.every((x) => x === 0)) continue;
      const key = shift.join(",");
      let set = servedBy.get(key);
      if (!set) servedBy.set(key, (set = new Set()));
      set.add(i);
    }
  });
  const groupsAll = new Set(children.map((c) => c.t)).size;
  const groupsLeft = new Map<string, number>();
  for (const [key, served] of servedBy) {
    const left = new Set(children.filter((_, i) => !served.has(i)).map((c) => c.t)).size;
    if (left < groupsAll) groupsLeft.set(key, left);
  }
  if (groupsLeft.size === 0) return 1;
  // Cheap necessary condition: consecutive deltas move by one loop step (the loop advancing, the
  // loops inside it, at their second iteration under extrapolation, going back to their first).
  const temporalAbove = nest.flat.slice(0, nest.loopStart[lv + 1]).filter((l) => !l.spatial);
  const zero = new Array<number>(nd).fill(0);
  const origin = dataBox(problem, ds, zero, ones).lo;
  let possible = false;
  temporalAbove.forEach((l, i) => {
    const step = new Array<number>(nd).fill(0);
    step[l.dim]! += l.scale;
    for (const inner of temporalAbove.slice(i + 1)) if (inner.bound >= 2) step[inner.dim]! -= inner.scale;
    const moved = dataBox(problem, ds, step, ones).lo.map((x, k) => x - origin[k]!);
    if (groupsLeft.has(moved.join(","))) possible = true;
  });
  if (!possible) return 1;
  let without = 0, withLinks = 0;
  let prevDelta: Box | null = null;
  forEachTileDelta(problem, nest, lv + 1, (weight, deltas) => {
    const cur = deltas[ds]!;
    if (cur) {
      const size = boxSize(cur) * weight;
      without += size * groupsAll;
      let groups = groupsAll;
      if (prevDelta && cur.lo.every((x, k) => cur.hi[k]! - x === prevDelta!.hi[k]! - prevDelta!.lo[k]!)) {
        groups = groupsLeft.get(cur.lo.map((x, k) => x - prevDelta!.lo[k]!).join(",")) ?? groupsAll;
      }
      withLinks += size * groups;
    }
    prevDelta = cur ? { lo: cur.lo.slice(), hi: cur.hi.slice() } : null;
  });
  return without > 0 ? withLinks / without : 1;
}

/**
 * Utilized clusters of a level, as Timeloop counts them: the utilized instances assumed spread
 * uniformly over the clusters, min(utilized instances, clusters) (buffer.cpp, "sprinkled uniformly").
 */
function utilizedClusters(arch: Architecture, nest: NestAnalysis, level: number): number {
  const lv = arch.levels[level]!;
  if (lv.clusterSize <= 1) return nest.utilized[level]!;
  return Math.min(nest.utilized[level]!, Math.floor(lv.instances / lv.clusterSize));
}

/** Evaluates a mapping: counts per level and data space, energy, cycles, utilization. */
export function evaluate(arch: Architecture, problem: Problem, mapping: Mapping, ert: Ert, opts: EvaluateOptions = {}): Evaluation {
  const file = opts.mappingFile;
  const nest = analyseNest(arch, problem, mapping, file);
  const nLevels = arch.levels.length;
  const nds = problem.dataSpaces.length;

  // Keep/bypass constraints of the architecture.
  mapping.levels.forEach((lm, li) => {
    const c = arch.levels[li]!.constraints;
    problem.dataSpaces.forEach((ds, d) => {
      if (lm.keep[d] && (c.bypass?.includes(ds.name) || arch.levels[li]!.dummy)) {
        throw new AxnnError(`level ${arch.levels[li]!.name} must bypass ${ds.name} (architecture constraint) but the mapping keeps it`, { file, field: arch.levels[li]!.name });
      }
      if (!lm.keep[d] && c.keep?.includes(ds.name)) {
        throw new AxnnError(`level ${arch.levels[li]!.name} must keep ${ds.name} (architecture constraint) but the mapping bypasses it`, { file, field: arch.levels[li]!.name });
      }
    });
  });
  for (let d = 0; d < nds; d++) {
    if (!mapping.levels.some((lm) => lm.keep[d])) throw new AxnnError(`no level keeps ${problem.dataSpaces[d]!.name}: the outermost level must hold every tensor`, { file });
  }

  const tiles: number[][] = [];
  for (let li = 0; li < nLevels; li++) {
    const zero = new Array<number>(problem.dims.length).fill(0);
    tiles.push(problem.dataSpaces.map((_, d) => boxSize(dataBox(problem, d, zero, nest.extent[li]!))));
    const lv = arch.levels[li]!;
    const used = tiles[li]!.reduce((a, t, d) => a + (mapping.levels[li]!.keep[d] ? t : 0), 0);
    if (!opts.skipCapacityCheck && lv.sizeWords !== undefined && used > lv.sizeWords) {
      throw new AxnnError(`the mapping does not fit ${lv.name}: its tiles need ${used} words, it holds ${lv.sizeWords}`, { file, field: lv.name });
    }
  }

  const macsPerCompute = problem.macs / nest.utilized[nLevels]!;
  const arrivals: number[][] = [];
  for (let li = 0; li < nLevels; li++) {
    arrivals.push(mapping.levels[li]!.keep.some((k) => k) ? tileArrivals(problem, nest, li) : new Array<number>(nds).fill(0));
  }
  // Distinct elements of each data space one instance of a level ever holds.
  const partitions: number[][] = [];
  for (let li = 0; li < nLevels; li++) {
    const ext = problem.bounds.map((b, dim) => {
      let spatial = 1;
      for (let i = 0; i < nest.loopStart[li]!; i++) if (nest.flat[i]!.spatial && nest.flat[i]!.dim === dim) spatial *= nest.flat[i]!.bound;
      return b / spatial;
    });
    const zero = new Array<number>(problem.dims.length).fill(0);
    partitions.push(problem.dataSpaces.map((_, d) => boxSize(dataBox(problem, d, zero, ext))));
  }

  const levelsOut: LevelStats[] = [];
  const ce = computeEnergies(ert, arch.compute.name);
  let computeCycles = macsPerCompute;
  for (let li = 0; li < nLevels; li++) {
    const lv = arch.levels[li]!;
    const lm = mapping.levels[li]!;
    const energies = lv.dummy ? { read: 0, write: 0, update: 0, leak: 0 } : storageEnergies(ert, lv, arch.version);
    const util = nest.utilized[li]!;
    const clusters = utilizedClusters(arch, nest, li);
    const dsStats: DataSpaceStats[] = [];
    let readsAll = 0, writesAll = 0, energy = 0;
    problem.dataSpaces.forEach((ds, d) => {
      if (!lm.keep[d]) return;
      let child = li + 1;
      while (child < nLevels && !mapping.levels[child]!.keep[d]) child++;
      const hasParent = mapping.levels.slice(0, li).some((m) => m.keep[d]);
      const childPerParent = nest.utilized[child]! / util;
      const childTraffic = child === nLevels ? macsPerCompute : arrivals[child]![d]!;
      const shared = multicastFactor(problem, nest, d, li, child);
      let links = 1;
      if (!opts.noLinkTransfers) for (let lv = li; lv < child; lv++) links *= linkTransferFactor(problem, nest, d, lv);
      const toChildren = ((childTraffic * childPerParent) / shared) * links;
      const partition = partitions[li]![d]!;
      let reads: number, fills: number, updates: number;
      if (ds.readWrite) {
        updates = toChildren;
        reads = Math.max(0, updates - partition);
        fills = hasParent ? Math.max(0, arrivals[li]![d]! - partition) : 0;
      } else {
        updates = 0;
        reads = toChildren;
        fills = hasParent ? arrivals[li]![d]! : 0;
      }
      const bs = lv.blockSize;
      const perInstance = Math.ceil(reads / bs) * energies.read + Math.ceil(fills / bs) * energies.write + Math.ceil(updates / bs) * energies.update;
      const e = perInstance * clusters;
      energy += e;
      readsAll += reads;
      writesAll += fills + updates;
      dsStats.push({ name: ds.name, tile: tiles[li]![d]!, partition, reads, fills, updates, energyPj: e });
    });
    let bwCycles = 0;
    if (lv.readBandwidth) bwCycles = Math.max(bwCycles, Math.ceil(readsAll / lv.readBandwidth));
    if (lv.writeBandwidth) bwCycles = Math.max(bwCycles, Math.ceil(writesAll / lv.writeBandwidth));
    computeCycles = Math.max(computeCycles, bwCycles);
    levelsOut.push({
      name: lv.name, instances: lv.instances, utilizedInstances: util, utilizedClusters: clusters, dataSpaces: dsStats, leakagePj: 0, energyPj: energy,
      bandwidthCycles: bwCycles, defaultedActions: "defaulted" in energies ? energies.defaulted : [],
    });
  }
  const cycles = computeCycles;
  for (let li = 0; li < nLevels; li++) {
    const lv = arch.levels[li]!;
    if (lv.dummy || levelsOut[li]!.dataSpaces.length === 0) continue;
    const leak = storageEnergies(ert, lv, arch.version).leak * nest.utilized[li]! * cycles;
    levelsOut[li]!.leakagePj = leak;
    levelsOut[li]!.energyPj += leak;
  }
  const perMac = ce.compute * (opts.computeEnergyScale ?? 1);
  const compute: ComputeStats = {
    name: arch.compute.name, instances: arch.compute.instances, utilizedInstances: nest.utilized[nLevels]!,
    energyPerMacPj: perMac, energyPj: perMac * problem.macs,
  };
  const energyPj = compute.energyPj + levelsOut.reduce((a, l) => a + l.energyPj, 0);
  return {
    macs: problem.macs, cycles, utilization: problem.macs / (cycles * arch.compute.instances),
    energyPj, pjPerMac: energyPj / problem.macs, levels: levelsOut, compute,
  };
}
