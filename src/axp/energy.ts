import { readFileSync } from "node:fs";
import { z } from "zod";
import { AxnnError } from "../util/errors.js";
import { checkSchema, parseJson } from "../util/json.js";
import { dataPath } from "../util/paths.js";
import { FORMAT_INFO, type AxpFormat } from "./formats.js";
import type { LayerCounts } from "./emulate.js";

/**
 * The AxP processing element's energy: a multiplier and an adder of the chosen format (the FPU, or an
 * int8 MAC), plus a CAM of N entries whose key is (bin id, activation key) and a small memory of the
 * N stored products. Every MAC searches the CAM (when N > 0); a hit reads the stored product instead
 * of multiplying; every MAC adds. With N = 0 the PE is the plain FPU.
 */
export interface PeModel {
  arithmetic: Record<AxpFormat, { mul_pj: number; add_pj: number }>;
  /** CAM search: search_fj_per_bit x entries x key width (bits) + search_fixed_pj. */
  cam: { search_fj_per_bit: number; search_fixed_pj: number };
  /** Read of one stored product: reference_pj / reference_bits per bit, scaled by sqrt(memory bytes / reference_bytes). */
  read: { reference_pj: number; reference_bits: number; reference_bytes: number };
}

const positive = z.number().nonnegative();
const unit = z.object({ mul_pj: positive, add_pj: positive }).strict();
const schema = z.object({
  format: z.literal("axnn-axp-pe").optional(),
  version: z.literal(1).optional(),
  note: z.string().optional(),
  arithmetic: z.object({ fp32: unit, fp16: unit, bf16: unit, int8: unit }).strict(),
  cam: z.object({ search_fj_per_bit: positive, search_fixed_pj: positive }).strict(),
  read: z.object({ reference_pj: positive, reference_bits: z.number().positive(), reference_bytes: z.number().positive() }).strict(),
}).strict();

/** The PE model of a JSON file (default: the built-in data/axp-pe.json). */
export function loadPeModel(file?: string): PeModel {
  const path = file ?? dataPath("axp-pe.json");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new AxnnError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: path });
  }
  return checkSchema(schema, parseJson(text, path), path) as PeModel;
}

/** Energy of one CAM search (pJ). */
export function searchEnergyPj(pe: PeModel, entries: number, keyWidthBits: number): number {
  if (entries === 0) return 0;
  return (pe.cam.search_fj_per_bit * entries * keyWidthBits) / 1000 + pe.cam.search_fixed_pj;
}

/** Energy of reading one stored product of `bits` bits from a memory of `entries` such words (pJ). */
export function readEnergyPj(pe: PeModel, entries: number, bits: number): number {
  if (entries === 0) return 0;
  const bytes = (entries * bits) / 8;
  return (pe.read.reference_pj / pe.read.reference_bits) * bits * Math.sqrt(bytes / pe.read.reference_bytes);
}

/** Bits of a CAM key: the bin id and the activation key. */
export function camKeyWidth(bins: number, activationKeyBits: number): number {
  return Math.max(0, Math.ceil(Math.log2(Math.max(1, bins)))) + activationKeyBits;
}

export interface LayerEnergyAxp {
  layer: string;
  /** Per inference (one sample). */
  macs: number;
  hits: number;
  zeroMacs: number;
  zeroHits: number;
  hitRate: number;
  /** Hit rate among the MACs with a non-zero activation. */
  hitRateNonZero: number;
  /** PE compute energy per inference (pJ). */
  energyPj: number;
  /** The FPU-only PE's compute energy for the same MACs (pJ). */
  fpuEnergyPj: number;
  /** energyPj / macs. */
  pjPerMac: number;
}

/**
 * An approximate multiplier on the misses, as priced: its multiply is the int8 multiply of the PE
 * model scaled by the multiplier's power ratio and by its weight width over 8 (an 8xN array has N/8
 * of the 8x8 array's partial products), and its products accumulate in an integer accumulator (the
 * int8 MAC's accumulate). Once per output that integer sum is scaled by sa x sw and added to the
 * format's accumulator: one multiply and one add of the format. (The zero-point terms of an unsigned
 * multiplier are not priced, as in the library's quantized energy model.)
 */
export interface MissPricing {
  multiplier: string;
  powerRatio: number;
  weightBits: number;
}

/** Energy of one miss product and its accumulate (pJ). */
export function missMacEnergyPj(pe: PeModel, miss: MissPricing): { mulPj: number; addPj: number } {
  const i8 = pe.arithmetic.int8;
  return { mulPj: i8.mul_pj * miss.powerRatio * (miss.weightBits / 8), addPj: i8.add_pj };
}

/**
 * A layer's PE energy per inference from its measured counts. With zero gating, a MAC whose
 * activation is zero is skipped whole (no search, multiply, read or add; the zero detector's own
 * energy is neglected), in the FPU-only PE of `fpuEnergyPj` too. With `miss`, misses go to that
 * multiplier (MissPricing).
 */
export function layerEnergy(pe: PeModel, format: AxpFormat, layer: string, counts: LayerCounts, entries: number, keyWidthBits: number, opts: { zeroGating?: boolean; miss?: MissPricing } = {}): LayerEnergyAxp {
  const s = Math.max(1, counts.samples);
  const macs = counts.macs / s, hits = counts.hits / s, zeroMacs = counts.zeroMacs / s, zeroHits = counts.zeroHits / s;
  const a = pe.arithmetic[format];
  const search = searchEnergyPj(pe, entries, keyWidthBits);
  const read = readEnergyPj(pe, entries, FORMAT_INFO[format].bits);
  // The MACs (and hits) the PE works on.
  const active = opts.zeroGating ? macs - zeroMacs : macs;
  const activeHits = opts.zeroGating ? hits - zeroHits : hits;
  // Same expression shape for both, so that no entries (no search, no hit) gives the FPU's energy exactly.
  const fpuEnergyPj = active * a.add_pj + active * a.mul_pj;
  let energyPj: number;
  if (opts.miss) {
    const m = missMacEnergyPj(pe, opts.miss);
    const outputs = counts.outputs / s;
    energyPj = activeHits * (a.add_pj + read) + (active - activeHits) * (m.mulPj + m.addPj) + active * search + outputs * (a.mul_pj + a.add_pj);
  } else energyPj = active * a.add_pj + (active - activeHits) * a.mul_pj + active * search + activeHits * read;
  const nonZero = macs - zeroMacs;
  return {
    layer, macs, hits, zeroMacs, zeroHits,
    hitRate: macs > 0 ? hits / macs : 0,
    hitRateNonZero: nonZero > 0 ? (hits - zeroHits) / nonZero : 0,
    energyPj, fpuEnergyPj, pjPerMac: macs > 0 ? energyPj / macs : 0,
  };
}
