import { test } from "node:test";
import assert from "node:assert/strict";
import { fidelity, kendall, mape, pearson, r2, ranks, spearman } from "../src/predict/metrics.js";

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test("metrics: hand-computed Pearson, Spearman and Kendall on three points", () => {
  // x = 1,2,3; y = 1,3,2: deviations (-1,0,1) and (-1,1,0): sxy = 1, sxx = syy = 2, r = 1/2.
  const x = [1, 2, 3], y = [1, 3, 2];
  close(pearson(x, y), 0.5);
  close(spearman(x, y), 0.5); // the data are their own ranks
  // pairs (1,2) and (1,3) concordant, (2,3) discordant: (2 - 1) / 3
  close(kendall(x, y), 1 / 3);
});

test("metrics: ties get average ranks and tau-b's correction", () => {
  assert.deepEqual(ranks([10, 20, 20, 30]), [1, 2.5, 2.5, 4]);
  // x = 1,2,2,3 vs y = 1,2,3,4: 5 concordant pairs, one tied in x only: 5 / sqrt(6 * 5)
  close(kendall([1, 2, 2, 3], [1, 2, 3, 4]), 5 / Math.sqrt(30));
  // Spearman = Pearson of ranks (1,2.5,2.5,4) vs (1,2,3,4): sxy = 4.5, sxx = 4.5, syy = 5
  close(spearman([1, 2, 2, 3], [1, 2, 3, 4]), 4.5 / Math.sqrt(4.5 * 5));
});

test("metrics: rank correlations are 1 under a monotone transform, Pearson is not", () => {
  const x = [0.1, 0.5, 1, 2, 3, 5, 8];
  const y = x.map(Math.exp);
  close(spearman(x, y), 1);
  close(kendall(x, y), 1);
  assert.ok(pearson(x, y) < 0.95);
  close(kendall(x, y.map((v) => -v)), -1);
});

test("metrics: R^2 and MAPE", () => {
  const ref = [100, 200, 300];
  close(r2(ref, ref), 1);
  close(r2([200, 200, 200], ref), 0); // the mean predicts nothing
  assert.ok(r2([300, 200, 100], ref) < 0);
  close(mape([110, 90], [100, 100]), 10);
  close(mape([150, 300], [100, 200]), 50);
  const f = fidelity([1, 2, 3], [1, 2, 3]);
  assert.equal(f.n, 3);
  close(f.pearson, 1);
  close(f.mape, 0);
  assert.throws(() => pearson([1, 2], [1]), /differ in length/);
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
});
