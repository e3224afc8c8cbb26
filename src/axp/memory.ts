import { AxnnError } from "../util/errors.js";
import type { KeyLayout } from "./formats.js";

/**
 * The AxP memory of one layer: entries keyed by (weight bin, activation key), each holding the
 * product centroid x representative activation. Filled on a calibration split with the most
 * frequent (bin, key) pairs; searched with the d low key bits don't-care and, optionally, up to h
 * differing bits among the variable (mantissa) bits. Sign and exponent always match exactly.
 */
export interface MemoryEntry {
  bin: number;
  key: number;
  /** Representative activation of the key's bucket: the mean of the calibration activations with that key. */
  rep: number;
  /** Multiply-accumulates with this (bin, key) on the calibration split. */
  frequency: number;
}

export interface MatchRule {
  dontCare: number;
  hamming: number;
}

export interface LayerMemory {
  layer: string;
  layout: KeyLayout;
  rule: MatchRule;
  /** In priority order (most frequent first): the first matching entry answers a search. */
  entries: MemoryEntry[];
}

/** Every (bin, key) pair seen on the calibration split, most frequent first: memories of any size are its prefixes. */
export interface LayerProfile {
  layer: string;
  layout: KeyLayout;
  /** Bins of the layer (all groups). */
  bins: number;
  candidates: MemoryEntry[];
  /** int8 activation scale of the layer (1 for float formats). */
  activationScale: number;
  /** int8 weight scale of the layer's centroids (1 for float formats). */
  weightScale: number;
}

export function checkRule(layout: KeyLayout, rule: MatchRule): void {
  if (!Number.isInteger(rule.dontCare) || rule.dontCare < 0 || rule.dontCare > layout.variableBits) {
    throw new AxnnError(`expected 0 to ${layout.variableBits} don't-care bits for ${layout.format} keys of ${layout.keyBits} bits, got ${rule.dontCare}`, { field: "--dont-care" });
  }
  if (!Number.isInteger(rule.hamming) || rule.hamming < 0 || rule.hamming > layout.variableBits - rule.dontCare) {
    throw new AxnnError(`expected a Hamming distance of 0 to ${layout.variableBits - rule.dontCare} (the compared mantissa bits), got ${rule.hamming}`, { field: "--hamming" });
  }
}

/** Keys a layer's memory can tell apart: bins x 2^width. */
export function keySpace(bins: number, layout: KeyLayout): number {
  return bins * 2 ** layout.width;
}

/** The memory of `entries` entries: the profile's most frequent pairs. */
export function memoryFromProfile(profile: LayerProfile, entries: number, rule: MatchRule): LayerMemory {
  if (!Number.isInteger(entries) || entries < 0) throw new AxnnError(`expected a whole number of entries >= 0, got ${entries}`, { field: "--entries" });
  const space = keySpace(profile.bins, profile.layout);
  if (entries > space) {
    throw new AxnnError(`${entries} entries are more than layer "${profile.layer}" has keys (${profile.bins} bins x 2^${profile.layout.width} ${profile.layout.format} keys = ${space})`, { field: "--entries" });
  }
  checkRule(profile.layout, rule);
  return { layer: profile.layer, layout: profile.layout, rule, entries: profile.candidates.slice(0, entries) };
}

/**
 * Per-PE memories: the layer's multiplications are spread over `pes` PEs and each PE has its own
 * memory of `entries` entries, filled with the most frequent pairs of its own multiplications. The
 * profile must be of the per-PE clustering (perPeClusters: bin p * binsPerPe + b is bin b on PE p),
 * so that a search (which compares the bin exactly) only finds its own PE's entries.
 */
export function perPeMemoryFromProfile(profile: LayerProfile, entries: number, rule: MatchRule, pes: number): LayerMemory {
  if (!Number.isInteger(pes) || pes < 1) throw new AxnnError(`expected a whole number of PEs >= 1, got ${pes}`, { field: "--pes" });
  if (pes === 1) return memoryFromProfile(profile, entries, rule);
  const binsPerPe = profile.bins / pes;
  if (!Number.isInteger(binsPerPe)) throw new AxnnError(`internal error: ${profile.bins} bins are not ${pes} PEs' bins`, { field: `layer "${profile.layer}"` });
  if (!Number.isInteger(entries) || entries < 0) throw new AxnnError(`expected a whole number of entries >= 0, got ${entries}`, { field: "--entries" });
  const space = keySpace(binsPerPe, profile.layout);
  if (entries > space) {
    throw new AxnnError(`${entries} entries are more than a PE of layer "${profile.layer}" has keys (${binsPerPe} bins x 2^${profile.layout.width} ${profile.layout.format} keys = ${space})`, { field: "--entries" });
  }
  checkRule(profile.layout, rule);
  const taken = new Array<number>(pes).fill(0);
  const chosen: MemoryEntry[] = [];
  for (const c of profile.candidates) {
    const pe = Math.floor(c.bin / binsPerPe);
    if (taken[pe]! < entries) {
      taken[pe]!++;
      chosen.push(c);
    }
  }
  return { layer: profile.layer, layout: profile.layout, rule, entries: chosen };
}

function popcount(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Whether a search key matches a stored key under the rule. */
export function keysMatch(layout: KeyLayout, rule: MatchRule, stored: number, searched: number): boolean {
  const vb = layout.variableBits;
  if (stored >>> vb !== searched >>> vb) return false;
  const cared = ((vb >= 32 ? 0xffffffff : (1 << vb) - 1) & ~((1 << rule.dontCare) - 1)) >>> 0;
  const diff = ((stored ^ searched) & cared) >>> 0;
  return rule.hamming === 0 ? diff === 0 : popcount(diff) <= rule.hamming;
}

/** The answering entry of a search (bin, key), or -1 for a miss: a linear scan, the definition. */
export function searchMemory(mem: LayerMemory, bin: number, key: number): number {
  const { entries, layout, rule } = mem;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.bin === bin && keysMatch(layout, rule, e.key, key)) return i;
  }
  return -1;
}

/**
 * Searches cached per distinct (bin, key): the answer of each is searchMemory's, computed once.
 * Only bins that have entries can hit.
 */
export class MemorySearcher {
  readonly binsWithEntries: number[];
  private readonly byBin = new Map<number, MemoryEntry[]>();
  private readonly cache = new Map<number, Map<number, number>>();

  constructor(readonly memory: LayerMemory) {
    memory.entries.forEach((e) => {
      if (!this.byBin.has(e.bin)) this.byBin.set(e.bin, []);
      this.byBin.get(e.bin)!.push(e);
    });
    this.binsWithEntries = [...this.byBin.keys()].sort((a, b) => a - b);
    for (const b of this.binsWithEntries) this.cache.set(b, new Map());
  }

  search(bin: number, key: number): number {
    const c = this.cache.get(bin);
    if (!c) return -1;
    let r = c.get(key);
    if (r === undefined) {
      r = searchMemory(this.memory, bin, key);
      c.set(key, r);
    }
    return r;
  }
}
