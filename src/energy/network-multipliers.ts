import { resolveAssignment, type MultiplierAssignment } from "../multipliers/assignment.js";
import type { MultiplierLibrary } from "../multipliers/library.js";
import { withPublishedFigures, type ResolvedMultiplier } from "../multipliers/resolve.js";
import { computeScaleFor, type ComputeScale } from "./approx.js";
import type { ComputeLevel } from "./arch.js";
import type { NetworkLayer } from "./network-layers.js";

/** Multipliers per layer of a network, as factors on the MAC energy. */

/** How one layer's MACs are priced: `computeScaleFor`'s result, or undefined for the exact multiplier. */
export type LayerMultipliers = Map<string, ComputeScale> | ((layer: NetworkLayer) => ComputeScale | undefined);

/**
 * The MAC-energy factor of every layer under an assignment (each distinct multiplier priced once);
 * layers on the exact multiplier are left out (factor 1).
 */
export function assignmentScales(
  a: MultiplierAssignment,
  layers: readonly NetworkLayer[],
  compute: ComputeLevel,
  opts: { exactPowerMw?: number; library?: MultiplierLibrary } = {},
): Map<string, ComputeScale> {
  const resolved = resolveAssignment(a, layers.map((l) => l.name), { library: opts.library });
  const priced = new Map<ResolvedMultiplier, ComputeScale>();
  const out = new Map<string, ComputeScale>();
  for (const [name, r] of resolved) {
    if (r === undefined) continue;
    let scale = priced.get(r);
    if (scale === undefined) {
      // Published figures also reach generated designs whose table EvoApproxLib has.
      scale = computeScaleFor(withPublishedFigures(r.multiplier), compute, { exactPowerMw: opts.exactPowerMw, netlist: r.netlist });
      priced.set(r, scale);
    }
    out.set(name, scale);
  }
  return out;
}
