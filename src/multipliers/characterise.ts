import { errorMetrics, type ErrorMetrics, type OperandDistribution } from "./metrics.js";
import { lutHash } from "./multiplier.js";
import { netlistCost, type NetlistCost, type PowerOptions } from "./netlist/cost.js";
import type { ResolvedMultiplier } from "./resolve.js";

/**
 * Everything axnn knows about one multiplier, in the shape `axnn mult metrics --json`
 * prints: the error metrics (uniform, or under a distribution), the table hash, published
 * cost where known and, for netlists, gate counts and the switching-activity power estimate.
 */
export interface Characterisation extends ErrorMetrics {
  name: string;
  signed: boolean;
  weight_bits: number;
  hash: string;
  /** "uniform" or "distribution". */
  operands: string;
  source: string;
  power_mw?: number;
  area_um2?: number;
  delay_ns?: number;
  power_source?: string;
  aliases?: string[];
  /** Netlists only: cells and gates by type. */
  gates?: Record<string, number>;
  /** Netlists only: estimated total power, mW (details in power_estimate_detail). */
  power_estimate?: number;
  power_estimate_detail?: NetlistCost["power_estimate"];
  area_estimate_um2?: number;
}

export function characterise(r: ResolvedMultiplier, opts: { distribution?: OperandDistribution; power?: PowerOptions } = {}): Characterisation {
  const m = r.multiplier;
  const out: Characterisation = {
    name: m.name,
    signed: m.signed,
    weight_bits: m.weightBits,
    ...errorMetrics(m, opts.distribution),
    hash: lutHash(m),
    operands: opts.distribution ? "distribution" : "uniform",
    source: m.meta.source,
  };
  if (m.meta.powerMw !== undefined) {
    out.power_mw = m.meta.powerMw;
    out.power_source = m.meta.costSource ?? "given";
  }
  if (m.meta.areaUm2 !== undefined) out.area_um2 = m.meta.areaUm2;
  if (m.meta.delayNs !== undefined) out.delay_ns = m.meta.delayNs;
  if (m.meta.aliases?.length) out.aliases = m.meta.aliases;
  if (r.netlist) {
    const cost = netlistCost(r.netlist, opts.power);
    out.gates = cost.gates;
    out.power_estimate = cost.power_estimate.total_mW;
    out.power_estimate_detail = cost.power_estimate;
    out.area_estimate_um2 = cost.area_estimate_um2;
  }
  return out;
}
