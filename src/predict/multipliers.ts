import { computeScaleFor, multiplierShare, type ComputeScale } from "../energy/approx.js";
import type { ComputeLevel } from "../energy/arch.js";
import { generate, generatorName } from "../multipliers/generators/index.js";
import { withPublishedFigures } from "../multipliers/resolve.js";

/**
 * The multipliers the dataset draws from: unsigned 8x8 designs of the built-in generators, so that
 * every worker can build them without a user library. Each is priced as the energy model prices it
 * (src/energy/approx.ts: published power relative to EvoApproxLib's exact design where the table is
 * a published one, axnn's netlist estimate otherwise), so the predictors and the reference agree on
 * what one multiplication costs.
 */
const POOL_SPECS: Array<[string, Record<string, unknown>]> = [
  ["exact", {}],
  ["trunc", { k: 2, correct: true }], ["trunc", { k: 4, correct: true }], ["trunc", { k: 6, correct: true }], ["trunc", { k: 8, correct: true }], ["trunc", { k: 8 }],
  ["optrunc", { ka: 1, kw: 1, round: true }], ["optrunc", { ka: 2, kw: 2, round: true }], ["optrunc", { ka: 3, kw: 3, round: true }],
  ["bam", { hbl: 0, vbl: 5 }], ["bam", { hbl: 2, vbl: 7 }], ["bam", { hbl: 3, vbl: 9 }],
  ["drum", { k: 6 }], ["drum", { k: 5 }], ["drum", { k: 4 }], ["drum", { k: 3 }],
  ["mitchell", {}], ["mitchell", { f: 4 }],
  ["ilm", { iterations: 0 }], ["ilm", { iterations: 1 }], ["ilm", { iterations: 2 }],
  ["perf", { j: 0, m: 1 }], ["perf", { j: 0, m: 2 }], ["perf", { j: 1, m: 2 }],
];

/** Canonical names of the dataset's multiplier pool (resolvable by resolveMultiplier). */
export function multiplierPoolNames(): string[] {
  return POOL_SPECS.map(([kind, params]) => generatorName(kind, params));
}

const priced = new Map<string, ComputeScale>();

/**
 * The energy model's pricing of a pool multiplier on a compute unit (memoised per process: building
 * a netlist and estimating its power takes milliseconds, the reference and the predictors need it once).
 */
export function priceGenerated(name: string, compute: ComputeLevel): ComputeScale {
  const key = `${name}|${compute.multiplierWidth ?? 8}|${compute.adderWidth ?? ""}`;
  let s = priced.get(key);
  if (s === undefined) {
    const spec = POOL_SPECS.find(([kind, params]) => generatorName(kind, params) === name);
    const g = spec ? generate(spec[0], spec[1]) : undefined;
    if (!g) throw new Error(`${name} is not in the dataset's multiplier pool`);
    s = computeScaleFor(withPublishedFigures(g.multiplier), compute, { netlist: g.netlist });
    priced.set(key, s);
  }
  return s;
}

/** MAC-energy factor of a multiplier with power ratio r: (1 - s) + s*r, s the multiplier's share of the MAC. */
export function macScale(powerRatio: number, compute: ComputeLevel): number {
  const s = multiplierShare(compute);
  return 1 - s + s * powerRatio;
}
