import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadProblem } from "../src/energy/problem.js";
import { DESIGNS, readSweep, runSweep, SWEEPS, sweepDesign, type SweepRow } from "../bench/timeloop-sweeps.js";
import { SHARED_DATA, skipUnless } from "./shared.js";

// Third-party Timeloop v0.3 layer sweeps (total, compute and data-movement energy, MACs per layer).
const DIR = join(SHARED_DATA, "timeloop-reference", "vidnerova-layer-sweeps");
const skip = skipUnless(existsSync(DIR), `${DIR} not found`, "AXNN_REQUIRE_SHARED");

/** Spearman's rank correlation, written out here (ranks with ties averaged, then Pearson on the ranks). */
function spearmanRho(x: number[], y: number[]): number {
  const rank = (v: number[]) => v.map((a) => v.filter((b) => b < a).length + (v.filter((b) => b === a).length + 1) / 2);
  const rx = rank(x), ry = rank(y);
  const m = (rx.length + 1) / 2;
  let sxy = 0, sxx = 0, syy = 0;
  rx.forEach((_, i) => { sxy += (rx[i]! - m) * (ry[i]! - m); sxx += (rx[i]! - m) ** 2; syy += (ry[i]! - m) ** 2; });
  return sxy / Math.sqrt(sxx * syy);
}

test("spearmanRho: hand-checked values", () => {
  assert.equal(spearmanRho([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]), 1);
  assert.equal(spearmanRho([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]), -1);
  // One adjacent swap among 5: 1 - 6*2/(5*24) = 0.9.
  assert.ok(Math.abs(spearmanRho([1, 2, 3, 4, 5], [1, 2, 4, 3, 5]) - 0.9) < 1e-12);
});

test("Timeloop sweeps: every row's MAC count equals our problem's, exactly", { skip }, () => {
  let rows = 0;
  for (const design of DESIGNS) {
    for (const { sweep } of SWEEPS) {
      for (const r of readSweep(design, sweep, DIR)) {
        // The MACs are the product of the seven loop bounds, independent of any mapping.
        assert.equal(loadProblem(r.problemFile).macs, r.macs, `${design} ${sweep} ${r.value}`);
        rows++;
      }
    }
  }
  // Every row of the 8 CSVs (124 per design: 64 d, 50 input sizes, 5 kernels, 5 strides; counted with grep -c).
  assert.equal(rows, 248);
});

/** Rows spread evenly over a sweep, first and last included. */
const spread = (rows: SweepRow[], n: number) => (rows.length <= n ? rows : Array.from({ length: n }, (_, k) => rows[Math.round((k * (rows.length - 1)) / (n - 1))]!));

// Spearman >= 0.9 on 5 to 6 rows allows one adjacent swap (rho = 0.9 for n = 5); full sweeps with
// 3000 evaluations per layer reach 0.984..1 (docs/energy.md, "Agreement with third-party Timeloop runs").
const MIN_SPEARMAN = 0.9;

for (const design of DESIGNS) {
  test(`Timeloop sweeps on ${design}-v03: total energy ranks the layers as Timeloop does; compute energy is a constant multiple`, { skip }, () => {
    const loaded = sweepDesign(design);
    for (const { sweep } of SWEEPS) {
      const rows = spread(readSweep(design, sweep, DIR), 6);
      // A small budget: enough for the ranking, not for the best mappings. Rows run on 2 workers
      // (each row's search is single-threaded and seeded, so the result does not depend on that).
      const ours = runSweep(design, rows, { evaluations: 500, seed: 1 }, 2, loaded);
      const rho = spearmanRho(ours.map((r) => r.ourTotalPj), ours.map((r) => r.totalPj));
      assert.ok(rho >= MIN_SPEARMAN, `${design} ${sweep}: Spearman ${rho.toFixed(3)} over ${rows.length} rows`);
      // Compute energy = MACs x energy per MAC on both sides: the ratio must not depend on the layer
      // (their figures are rounded to 0.01 pJ of ~1e6..1e9 pJ).
      const ratios = ours.map((r) => r.ourComputePj / r.computePj);
      for (const q of ratios) assert.ok(Math.abs(q / ratios[0]! - 1) < 1e-8, `${design} ${sweep}: compute ratios ${ratios.join(", ")}`);
    }
  });
}
