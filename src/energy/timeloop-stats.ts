import { AxnnError } from "../util/errors.js";

/** Counts of one data space at one level, as Timeloop's stats.txt prints them. */
export interface TimeloopDataSpaceStats {
  reads: number;
  fills: number;
  updates: number;
  utilizedInstances: number;
  utilizedClusters: number;
  utilizedCapacity: number;
  energyPj: number;
}

export interface TimeloopLevelStats {
  name: string;
  leakagePj: number;
  /** Sum of the data spaces' energies and the leakage (what Timeloop's summary counts per level). */
  energyPj: number;
  dataSpaces: Record<string, TimeloopDataSpaceStats>;
}

/** The parts of a Timeloop `timeloop-mapper.stats.txt` we compare against. */
export interface TimeloopStats {
  computeName: string;
  computeEnergyPj: number;
  computes: number;
  cycles: number;
  utilization: number;
  /** Storage levels in file order (innermost first). */
  levels: TimeloopLevelStats[];
  /** Total energy: compute + every level (pJ), from the per-level totals (more digits than the summary line). */
  energyPj: number;
  /** The summary's rounded "Energy: x uJ", for cross-checking. */
  summaryEnergyUj: number;
}

function num(s: string): number {
  const v = Number(s.replace(/,/g, ""));
  if (!Number.isFinite(v)) throw new AxnnError(`not a number: "${s}"`);
  return v;
}

/** Parses Timeloop's stats.txt (v0.4 layout: "Level N", "=== name ===", SPECS/STATS, then the summary). */
export function parseTimeloopStats(text: string, file = "stats.txt"): TimeloopStats {
  const lines = text.split(/\r?\n/);
  const levels: TimeloopLevelStats[] = [];
  let computeName = "";
  let computeEnergyPj = NaN;
  let computes = NaN, cycles = NaN, utilization = NaN, summaryEnergyUj = NaN;
  let level: TimeloopLevelStats | null = null;
  let ds: TimeloopDataSpaceStats | null = null;
  let inLevels = true;
  let sawFirstLevel = false;
  for (const raw of lines) {
    const line = raw.trimEnd();
    if (/^Networks\b/.test(line) || /^Operational Intensity Stats/.test(line)) inLevels = false;
    if (inLevels) {
      const head = /^=== (.+) ===$/.exec(line.trim());
      if (head) {
        if (!sawFirstLevel) {
          computeName = head[1]!;
          sawFirstLevel = true;
          level = null;
        } else {
          level = { name: head[1]!, leakagePj: 0, energyPj: 0, dataSpaces: {} };
          levels.push(level);
        }
        ds = null;
        continue;
      }
      let m: RegExpExecArray | null;
      if (!level && (m = /^\s*Energy \(total\)\s*:\s*([\d.e+-]+) pJ/.exec(line))) computeEnergyPj = num(m[1]!);
      if (!level) continue;
      if ((m = /^\s*Leakage energy \(total\)\s*:\s*([\d.e+-]+) pJ/.exec(line))) level.leakagePj = num(m[1]!);
      if ((m = /^    ([A-Za-z_]\w*):\s*$/.exec(line))) {
        ds = { reads: 0, fills: 0, updates: 0, utilizedInstances: 0, utilizedClusters: 0, utilizedCapacity: 0, energyPj: 0 };
        level.dataSpaces[m[1]!] = ds;
        continue;
      }
      if (!ds) continue;
      if ((m = /^\s*Scalar reads \(per-instance\)\s*:\s*(\d+)/.exec(line))) ds.reads = num(m[1]!);
      else if ((m = /^\s*Scalar fills \(per-instance\)\s*:\s*(\d+)/.exec(line))) ds.fills = num(m[1]!);
      else if ((m = /^\s*Scalar updates \(per-instance\)\s*:\s*(\d+)/.exec(line))) ds.updates = num(m[1]!);
      else if ((m = /^\s*Utilized instances \(max\)\s*:\s*(\d+)/.exec(line))) ds.utilizedInstances = num(m[1]!);
      else if ((m = /^\s*Utilized clusters \(max\)\s*:\s*(\d+)/.exec(line))) ds.utilizedClusters = num(m[1]!);
      else if ((m = /^\s*Utilized capacity\s*:\s*(\d+)/.exec(line))) ds.utilizedCapacity = num(m[1]!);
      else if ((m = /^\s*Energy \(total\)\s*:\s*([\d.e+-]+) pJ/.exec(line))) ds.energyPj = num(m[1]!);
    } else {
      let m: RegExpExecArray | null;
      if ((m = /^Utilization:\s*([\d.]+)%/.exec(line))) utilization = num(m[1]!) / 100;
      else if ((m = /^Cycles:\s*(\d+)/.exec(line))) cycles = num(m[1]!);
      else if ((m = /^Energy:\s*([\d.]+) uJ/.exec(line))) summaryEnergyUj = num(m[1]!);
      else if ((m = /^Computes = (\d+)/.exec(line))) computes = num(m[1]!);
    }
  }
  for (const l of levels) l.energyPj = l.leakagePj + Object.values(l.dataSpaces).reduce((a, d) => a + d.energyPj, 0);
  if (!computeName || levels.length === 0 || !Number.isFinite(cycles) || !Number.isFinite(computeEnergyPj)) {
    throw new AxnnError("not a Timeloop stats.txt (missing levels, compute energy or summary)", { file });
  }
  const energyPj = computeEnergyPj + levels.reduce((a, l) => a + l.energyPj, 0);
  return { computeName, computeEnergyPj, computes, cycles, utilization, levels, energyPj, summaryEnergyUj };
}
