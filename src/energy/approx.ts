import { AxnnError } from "../util/errors.js";
import type { Multiplier } from "../multipliers/multiplier.js";
import { evoApproxCatalogue } from "../multipliers/evoapprox-catalogue.js";
import { generate } from "../multipliers/generators/index.js";
import { estimatePower } from "../multipliers/netlist/cost.js";
import type { Netlist } from "../multipliers/netlist/ir.js";
import type { ComputeLevel } from "./arch.js";

/**
 * Pricing a MAC with an approximate multiplier. The ERT gives one energy per MAC; we split it into
 * a multiplier part and an adder part and scale only the multiplier part by the approximate
 * multiplier's power relative to the exact multiplier of the same width.
 *
 * The split: Accelergy's intmac is an intmultiplier plus an intadder, estimated from the Aladdin
 * 40 nm table (32-bit add 0.21 pJ, 32-bit multiply 12.7 pJ), the adder scaled linearly and the
 * multiplier quadratically with width. For the multiplier_width/adder_width of the compute unit
 * (8/16 in both presets) that is 0.794 pJ vs 0.105 pJ: the multiplier is 88.3% of the MAC.
 */
const ALADDIN_ADD32_PJ = 0.21;
const ALADDIN_MUL32_PJ = 12.7;

/** Share of the MAC energy taken by the multiplier, from the compute unit's widths (default 8 and 16). */
export function multiplierShare(compute: ComputeLevel): number {
  const mw = compute.multiplierWidth ?? 8;
  const aw = compute.adderWidth ?? 2 * mw;
  const mul = ALADDIN_MUL32_PJ * (mw / 32) ** 2;
  const add = ALADDIN_ADD32_PJ * (aw / 32);
  return mul / (mul + add);
}

/** Power of the exact 8x8 multiplier of the same signedness in EvoApproxLib (the reference of its figures). */
export function exactReferencePowerMw(signed: boolean, weightBits: number): number {
  if (weightBits !== 8) {
    throw new AxnnError(`no exact 8x${weightBits} reference power is known; pass the exact multiplier's power explicitly`, { field: "--exact-power-mw" });
  }
  const exact = evoApproxCatalogue().find((e) => e.signed === signed && e.maeAbs === 0 && e.wceAbs === 0);
  if (!exact) throw new AxnnError("the EvoApproxLib catalogue has no exact multiplier entry");
  return exact.powerMw;
}

/**
 * Power of a netlist relative to the exact (array) multiplier of the same width and signedness,
 * both priced by axnn's own cost model (src/multipliers/netlist/cost.ts): for designs without a
 * published power figure.
 */
export function estimatedPowerRatio(netlist: Netlist, signed: boolean, weightBits: number): number {
  const exact = generate("exact", { signed, n: weightBits }).netlist;
  return estimatePower(netlist).totalMw / estimatePower(exact).totalMw;
}

export interface ComputeScale {
  /** Factor on the MAC energy: (1 - share) + share * powerRatio. */
  scale: number;
  share: number;
  powerRatio: number;
  multiplier: string;
  exactPowerMw?: number;
  /** Undefined when the ratio comes from the netlist cost model. */
  powerMw?: number;
  powerSource: "published" | "netlist estimate" | "axp pe model";
}

/**
 * The MAC-energy factor for an approximate multiplier: from meta.powerMw (published figures) when
 * it has one, else from its netlist through the cost model.
 */
export function computeScaleFor(m: Multiplier, compute: ComputeLevel, opts: { exactPowerMw?: number; netlist?: Netlist } = {}): ComputeScale {
  const share = multiplierShare(compute);
  const power = m.meta.powerMw;
  if (power === undefined) {
    if (!opts.netlist) {
      throw new AxnnError(`multiplier ${m.name} has neither a power figure (meta.powerMw) nor a netlist to estimate one from`, { field: "--mult" });
    }
    const powerRatio = estimatedPowerRatio(opts.netlist, m.signed, m.weightBits);
    return { scale: 1 - share + share * powerRatio, share, powerRatio, multiplier: m.name, powerSource: "netlist estimate" };
  }
  const exact = opts.exactPowerMw ?? exactReferencePowerMw(m.signed, m.weightBits);
  const powerRatio = power / exact;
  return { scale: 1 - share + share * powerRatio, share, powerRatio, multiplier: m.name, exactPowerMw: exact, powerMw: power, powerSource: "published" };
}
