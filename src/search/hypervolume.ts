import { AxnnError } from "../util/errors.js";

/**
 * Exact hypervolume (all objectives minimised) of a point set against a reference point: the
 * volume of the region dominated by the points and bounded by the reference. Points not strictly
 * better than the reference in every objective add nothing. Two and three objectives.
 */
export function hypervolume(points: readonly (readonly number[])[], reference: readonly number[]): number {
  const m = reference.length;
  for (const p of points) {
    if (p.length !== m) throw new AxnnError(`hypervolume: a point has ${p.length} objectives, the reference point ${m}`);
  }
  if (reference.some((r) => !Number.isFinite(r))) throw new AxnnError(`hypervolume: the reference point must be finite, got (${reference.join(", ")})`);
  const inside = points.filter((p) => p.every((v, i) => v < reference[i]!));
  if (m === 2) return hv2(inside, reference[0]!, reference[1]!);
  if (m === 3) return hv3(inside, reference);
  if (m === 1) return inside.length === 0 ? 0 : reference[0]! - Math.min(...inside.map((p) => p[0]!));
  throw new AxnnError(`hypervolume: only 1, 2 and 3 objectives are supported, got ${m}`);
}

/** Sweep in x: each point (sorted by x, then y) adds the strip down to the lowest y so far. */
function hv2(points: readonly (readonly number[])[], rx: number, ry: number): number {
  const sorted = [...points].sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let volume = 0;
  let bestY = ry;
  for (let i = 0; i < sorted.length; i++) {
    const y = sorted[i]![1]!;
    if (y >= bestY) continue;
    // Each new lower y starts a strip that runs in x up to the reference.
    volume += (rx - sorted[i]![0]!) * (bestY - y);
    bestY = y;
  }
  return volume;
}

/** Slices along z: between consecutive z levels the dominated area is the 2-D hypervolume so far. */
function hv3(points: readonly (readonly number[])[], ref: readonly number[]): number {
  const sorted = [...points].sort((a, b) => a[2]! - b[2]!);
  let volume = 0;
  const slice: (readonly number[])[] = [];
  for (let i = 0; i < sorted.length; i++) {
    slice.push(sorted[i]!);
    const zNext = i + 1 < sorted.length ? sorted[i + 1]![2]! : ref[2]!;
    const depth = zNext - sorted[i]![2]!;
    if (depth > 0) volume += hv2(slice, ref[0]!, ref[1]!) * depth;
  }
  return volume;
}
