/**
 * Fidelity metrics of a predictor against the reference: linear and rank correlations, the
 * coefficient of determination and the mean absolute percentage error.
 */

function check(pred: readonly number[], ref: readonly number[]): void {
  if (pred.length !== ref.length) throw new Error(`predictions (${pred.length}) and references (${ref.length}) differ in length`);
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Pearson's r; NaN when either side is constant or there are fewer than 2 points. */
export function pearson(x: readonly number[], y: readonly number[]): number {
  check(x, y);
  if (x.length < 2) return NaN;
  const mx = mean(x), my = mean(y);
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < x.length; i++) {
    const dx = x[i]! - mx, dy = y[i]! - my;
    sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Ranks from 1, ties sharing their average rank. */
export function ranks(x: readonly number[]): number[] {
  const order = x.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(x.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[order[k]![1]] = avg;
    i = j + 1;
  }
  return r;
}

/** Spearman's rho: Pearson's r of the (tie-averaged) ranks. */
export function spearman(x: readonly number[], y: readonly number[]): number {
  check(x, y);
  return pearson(ranks(x), ranks(y));
}

/**
 * Kendall's tau-b (ties corrected), by the O(n^2) pair count: the datasets have hundreds of rows,
 * where this is milliseconds.
 */
export function kendall(x: readonly number[], y: readonly number[]): number {
  check(x, y);
  let concordant = 0, discordant = 0, tiesX = 0, tiesY = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const dx = Math.sign(x[i]! - x[j]!), dy = Math.sign(y[i]! - y[j]!);
      if (dx === 0 && dy === 0) continue;
      if (dx === 0) tiesX++;
      else if (dy === 0) tiesY++;
      else if (dx === dy) concordant++;
      else discordant++;
    }
  }
  const denom = Math.sqrt((concordant + discordant + tiesX) * (concordant + discordant + tiesY));
  return denom === 0 ? NaN : (concordant - discordant) / denom;
}

/** Coefficient of determination of predictions against references: 1 - SS_res / SS_tot (negative when worse than the mean). */
export function r2(pred: readonly number[], ref: readonly number[]): number {
  check(pred, ref);
  const m = mean(ref);
  let res = 0, tot = 0;
  for (let i = 0; i < ref.length; i++) {
    res += (ref[i]! - pred[i]!) ** 2;
    tot += (ref[i]! - m) ** 2;
  }
  return tot === 0 ? NaN : 1 - res / tot;
}

/** Mean absolute percentage error, in percent, relative to the references. */
export function mape(pred: readonly number[], ref: readonly number[]): number {
  check(pred, ref);
  if (ref.length === 0) return NaN;
  return (100 * pred.reduce((a, p, i) => a + Math.abs(p - ref[i]!) / Math.abs(ref[i]!), 0)) / ref.length;
}

export interface Fidelity {
  n: number;
  pearson: number;
  spearman: number;
  kendall: number;
  r2: number;
  /** Percent. */
  mape: number;
}

export function fidelity(pred: readonly number[], ref: readonly number[]): Fidelity {
  return { n: ref.length, pearson: pearson(pred, ref), spearman: spearman(pred, ref), kendall: kendall(pred, ref), r2: r2(pred, ref), mape: mape(pred, ref) };
}
