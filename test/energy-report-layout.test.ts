// The energy report fits its page: the per-layer figures and the per-layer components are two
// tables of page width (one table of 10 + components columns overflowed), every table scrolls
// inside its own box when it is still wider, and the chart leaves out layer labels that would overlap.
import { test } from "node:test";
import assert from "node:assert/strict";
import { networkEnergyChartSpec, networkReportBlocks } from "../src/energy/network-report.js";
import type { NetworkEnergy } from "../src/energy/network-evaluation.js";
import { renderHtmlReport } from "../src/report/html.js";

function fakeNetwork(layers: number): NetworkEnergy {
  const componentNames = ["DRAM", "shared_glb", "ifmap_spad", "weights_spad", "psum_spad", "mac"];
  const components = Object.fromEntries(componentNames.map((c) => [c, 1e6]));
  return {
    arch: "eyeriss", componentNames,
    layers: Array.from({ length: layers }, (_v, i) => ({
      name: `features.${i}.depthwise`, kind: "depthwise", shape: "C=144 R=3 S=3 N=1 P=16 Q=16 stride 2x2", multiplier: "drum_k4_u8x8",
      macs: 1000, energyPj: 6e6, cycles: 100, utilization: 0.5, components, computePj: 1e6, multiplierPj: 1e5, macEnergyScale: 0.9, mappingFromCache: false,
    })),
    totals: { energyPj: 6e6 * layers, cycles: 100 * layers, macs: 1000 * layers, components, computePj: 1e6, multiplierPj: 1e5, multiplierShare: 0.02 },
    search: { objective: "energy", seed: 1, maxEvaluations: 10, algorithm: "auto", distinctShapes: 1, searched: 1, cacheHits: 0, evaluated: 10, elapsedMs: 1, droppedConstraints: [] },
  } as unknown as NetworkEnergy;
}

test("energy report: per-layer tables of at most 10 columns, each in a scrolling box; chart labels never overlap", () => {
  const r = fakeNetwork(120);
  const blocks = networkReportBlocks(r, "<svg></svg>");
  const tables = blocks.filter((b) => b.kind === "table") as Extract<(typeof blocks)[number], { kind: "table" }>[];
  assert.deepEqual(tables.map((t) => t.caption), ["Energy per component", "Per layer", "Per layer: energy by component (uJ)"]);
  for (const t of tables) assert.ok(t.columns.length <= 10, `${t.caption}: ${t.columns.length} columns`);
  // Nothing lost in the split: every layer's components are still there.
  assert.equal(tables[2]!.rows.length, 120);
  assert.equal(tables[2]!.columns.length, 1 + r.componentNames.length);
  const html = renderHtmlReport("t", blocks);
  assert.equal((html.match(/<div class="table-wrap"><table>/g) ?? []).length, 3);
  assert.match(html, /\.table-wrap\{max-width:100%;overflow-x:auto\}/);
  const spec = networkEnergyChartSpec(r) as unknown as { width: number; encoding: { x: { axis: { labelOverlap: string; labelAngle: number } } } };
  assert.equal(spec.encoding.x.axis.labelOverlap, "greedy");
  assert.equal(spec.encoding.x.axis.labelAngle, -90);
  assert.equal(spec.width, 1600);
  assert.equal((networkEnergyChartSpec(fakeNetwork(10)) as unknown as { width: number }).width, 360);
});
