/**
 * Pareto dominance, NSGA-II's fast non-dominated sort and crowding distance. Every objective is
 * minimised (give accuracy as an error, or negated).
 */

/** Whether `a` Pareto-dominates `b`: no worse in every objective and better in one. */
export function dominates(a: readonly number[], b: readonly number[]): boolean {
  let better = false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]! > b[i]!) return false;
    if (a[i]! < b[i]!) better = true;
  }
  return better;
}

/** A point with its constraint violation (0 = feasible; larger = further from feasible). */
export interface Scored {
  objectives: readonly number[];
  violation: number;
}

/**
 * Deb's constrained domination: a feasible point beats an infeasible one, of two infeasible
 * points the less violating wins, and two feasible ones compare by Pareto dominance.
 */
export function constrainedDominates(a: Scored, b: Scored): boolean {
  const fa = a.violation <= 0, fb = b.violation <= 0;
  if (fa && !fb) return true;
  if (!fa && fb) return false;
  if (!fa && !fb) return a.violation < b.violation;
  return dominates(a.objectives, b.objectives);
}

/**
 * Fast non-dominated sort (Deb et al. 2002): the indices of `points` in fronts, front 0 being
 * non-dominated. Within a front, indices ascend. O(M N^2).
 */
export function nonDominatedSort(points: readonly Scored[]): number[][] {
  const n = points.length;
  const dominatedBy: number[][] = Array.from({ length: n }, () => []);
  const count = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (constrainedDominates(points[i]!, points[j]!)) {
        dominatedBy[i]!.push(j);
        count[j]!++;
      } else if (constrainedDominates(points[j]!, points[i]!)) {
        dominatedBy[j]!.push(i);
        count[i]!++;
      }
    }
  }
  const fronts: number[][] = [];
  let current: number[] = [];
  for (let i = 0; i < n; i++) if (count[i] === 0) current.push(i);
  while (current.length > 0) {
    fronts.push(current);
    const next: number[] = [];
    for (const i of current) {
      for (const j of dominatedBy[i]!) {
        if (--count[j]! === 0) next.push(j);
      }
    }
    next.sort((a, b) => a - b);
    current = next;
  }
  return fronts;
}

/**
 * Crowding distance of each member of one front (same order as `front`): the sum over objectives
 * of the normalised gap between its neighbours; boundary points get Infinity.
 */
export function crowdingDistance(points: readonly Scored[], front: readonly number[]): number[] {
  const n = front.length;
  const dist = new Array<number>(n).fill(0);
  if (n === 0) return dist;
  const m = points[front[0]!]!.objectives.length;
  for (let k = 0; k < m; k++) {
    const order = Array.from({ length: n }, (_, i) => i);
    const v = (i: number) => points[front[i]!]!.objectives[k]!;
    order.sort((a, b) => v(a) - v(b) || front[a]! - front[b]!);
    const lo = v(order[0]!), hi = v(order[n - 1]!);
    dist[order[0]!] = Infinity;
    dist[order[n - 1]!] = Infinity;
    if (hi === lo) continue;
    for (let r = 1; r < n - 1; r++) {
      dist[order[r]!]! += (v(order[r + 1]!) - v(order[r - 1]!)) / (hi - lo);
    }
  }
  return dist;
}

/**
 * The indices of the non-dominated feasible points (ascending). When no point is feasible, the
 * least-violating points are returned instead, so a caller always gets something to report.
 */
export function paretoIndices(points: readonly Scored[]): number[] {
  return points.length === 0 ? [] : nonDominatedSort(points)[0]!;
}
