import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDesign } from "../src/energy/presets.js";
import { assignmentScales, layerMacs, layerOutputSize, layerWorkload, networkEnergy } from "../src/energy/network.js";
import { generateDataset, labelNetwork, parseDatasetCsv, readDataset, rowsToCsv } from "../src/predict/dataset.js";
import { multiplierPoolNames } from "../src/predict/multipliers.js";
import { FIXED_BASES, sampleFixedNetwork, sampleVariableNetwork } from "../src/predict/sampling.js";
import { AxnnError } from "../src/util/errors.js";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `axnn-predict-${p}-`));
// Tiny mapper budgets: these tests check sampling and bookkeeping, not mapping quality.
const EVALS = 15;

test("sampling: seeded, one stream per row, and every sampled network is well-formed", () => {
  const pool = multiplierPoolNames();
  assert.deepEqual(sampleVariableNetwork(5, 3, pool), sampleVariableNetwork(5, 3, pool));
  assert.notDeepEqual(sampleVariableNetwork(5, 3, pool).layers, sampleVariableNetwork(5, 4, pool).layers);
  const bases = new Set<string>();
  for (let i = 0; i < 60; i++) {
    const f = sampleFixedNetwork(1, i, pool);
    bases.add(f.base);
    assert.equal(f.multipliers.length, f.layers.length);
    const v = sampleVariableNetwork(1, i, pool);
    assert.equal(v.multipliers.length, v.layers.length);
    assert.ok(v.multipliers.every((m) => pool.includes(m)));
    assert.equal(v.layers[0]!.inChannels, 3);
    assert.equal(v.layers.at(-1)!.outChannels, 10);
    // Channels chain: each layer reads what the previous one wrote (dense after global pooling too).
    for (let k = 1; k < v.layers.length; k++) assert.equal(v.layers[k]!.inChannels, v.layers[k - 1]!.outChannels, `row ${i} layer ${v.layers[k]!.name}`);
    // Spatial sizes chain for the conv part, and every layer is a valid energy-model workload.
    for (let k = 1; k < v.layers.length; k++) {
      const l = v.layers[k]!;
      if (l.kind !== "dense") assert.equal(l.inH, layerOutputSize(v.layers[k - 1]!)[0]);
      layerWorkload(l);
    }
  }
  assert.deepEqual([...bases].sort(), [...FIXED_BASES].sort());
});

test("dataset: a row's energy is the energy model's, with multipliers priced as the energy CLI prices them", () => {
  const { arch, ert } = loadDesign("eyeriss");
  const cacheDir = tmp("cache");
  const sample = sampleVariableNetwork(2, 0, multiplierPoolNames());
  const row = labelNetwork("eyeriss", arch, ert, sample, 2, { maxEvaluations: EVALS, cacheDir });
  // Independent path: the per-layer assignment resolved by name (resolveMultiplier) as `axnn energy net --mult-config` does.
  const assignment = { default: "exact", layers: Object.fromEntries(sample.layers.map((l, i) => [l.name, sample.multipliers[i]!])) };
  const scales = assignmentScales(assignment, sample.layers, arch.compute);
  const ref = networkEnergy(arch, ert, sample.layers, { maxEvaluations: EVALS, exhaustiveLimit: EVALS, seed: 1, cacheDir, multipliers: scales, threads: 1 });
  assert.ok(Math.abs(row.energyPj - ref.totals.energyPj) <= 1e-9 * ref.totals.energyPj);
  assert.equal(row.macs, sample.layers.reduce((a, l) => a + layerMacs(l), 0));
  assert.ok(Math.abs(row.layers.reduce((a, l) => a + l.energyPj, 0) - row.energyPj) <= 1e-6 * row.energyPj);
  assert.ok(row.searchMs > 0 && row.referenceMs >= row.searchMs);
  assert.equal(row.distinctShapes, ref.search.distinctShapes);
});

test("dataset: CSV round trip, resume without relabelling, workers agree with one thread", async () => {
  const dir = tmp("ds");
  const out = join(dir, "v.csv");
  const labelled: number[] = [];
  const first = await generateDataset({ arch: "eyeriss", family: "variable", n: 2, seed: 9, out, maxEvaluations: EVALS, cacheDir: join(dir, "c"), jobs: 1, onRow: (r) => labelled.push(r.index) });
  assert.deepEqual(labelled, [0, 1]);
  assert.deepEqual(readDataset(out), first);
  const more = await generateDataset({ arch: "eyeriss", family: "variable", n: 3, seed: 9, out, maxEvaluations: EVALS, cacheDir: join(dir, "c"), jobs: 1, onRow: (r) => labelled.push(r.index) });
  assert.deepEqual(labelled, [0, 1, 2]); // only the new row
  assert.deepEqual(more.slice(0, 2), first);
  // Two worker threads, fresh output and cache: the same networks and energies.
  const par = await generateDataset({ arch: "eyeriss", family: "variable", n: 3, seed: 9, out: join(dir, "p.csv"), maxEvaluations: EVALS, cacheDir: join(dir, "c2"), jobs: 2 });
  assert.deepEqual(par.map((r) => [r.id, r.energyPj, r.layers.map((l) => l.multiplier)]), more.map((r) => [r.id, r.energyPj, r.layers.map((l) => l.multiplier)]));
  await assert.rejects(generateDataset({ arch: "eyeriss", family: "variable", n: 3, seed: 10, out, maxEvaluations: EVALS, jobs: 1 }), (e: unknown) => e instanceof AxnnError && /another run/.test(e.message));
  // A row whose network is not what the sampler draws for its index (another version) is refused.
  const tampered = more.map((r) => (r.index === 1 ? { ...r, layers: r.layers.map((l, i) => (i === 0 ? { ...l, multiplier: l.multiplier === "exact_u8x8" ? "drum_k4_u8x8" : "exact_u8x8" } : l)) } : r));
  writeFileSync(join(dir, "t.csv"), rowsToCsv(tampered));
  await assert.rejects(generateDataset({ arch: "eyeriss", family: "variable", n: 3, seed: 9, out: join(dir, "t.csv"), maxEvaluations: EVALS, jobs: 1 }), (e: unknown) => e instanceof AxnnError && /not the network this version samples/.test(e.message));
});

test("dataset: malformed CSV is an error naming file and line", () => {
  const dir = tmp("bad");
  const good = rowsToCsv([]);
  assert.deepEqual(parseDatasetCsv(good, "x.csv"), []);
  const file = join(dir, "bad.csv");
  writeFileSync(file, "id,arch\n1,eyeriss\n");
  assert.throws(() => readDataset(file), (e: unknown) => e instanceof AxnnError && /missing column/.test(e.message) && e.message.includes(file));
  const row = "r,eyeriss,variable,nas,1,0,1,10,5,1,0.5,1,1,1,2,2,500,\"[]\"";
  assert.throws(() => parseDatasetCsv(`${good.trim()}\n${row}\n`, "t.csv"), (e: unknown) => e instanceof AxnnError && /n_layers is 1 but the layers column has 0/.test(e.message) && /t\.csv/.test(e.message) && /2/.test(e.message));
});
