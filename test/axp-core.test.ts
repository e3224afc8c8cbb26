import { test } from "node:test";
import assert from "node:assert/strict";
import { runModel } from "../src/nn/run.js";
import { isApproximable, type Model } from "../src/nn/graph.js";
import type { Tensor } from "../src/nn/tensor.js";
import { uniformRandom } from "../src/util/random.js";
import { kmeans1d, kmeansObjective, KMEANS_INITS } from "../src/axp/kmeans.js";
import { clusterModel, distinctWeights, perPeClusters } from "../src/axp/cluster.js";
import { bf16BitsToFloat, floatToBf16Bits, floatToHalfBits, halfBitsToFloat, keyLayout, type AxpFormat } from "../src/axp/formats.js";
import { checkRule, memoryFromProfile, perPeMemoryFromProfile } from "../src/axp/memory.js";
import { axpLayerForward, axpLayerReference, calibrationProfiles, emptyCounts, makeAxpLayer, runAxp, type AxpLayer, type LayerCounts } from "../src/axp/emulate.js";
import { layerEnergy, loadPeModel, readEnergyPj, searchEnergyPj } from "../src/axp/energy.js";
import { randomAxpInput, sameBits, tinyAxpModel } from "./axp-testkit.js";

const tinyModel = (): Model => tinyAxpModel(3);
const randomInput = randomAxpInput;

function axpLayers(model: Model, clusters: number, format: AxpFormat, keyBits: number, entries: number, dontCare: number, calib: Tensor[], hamming = 0) {
  const cl = clusterModel(model, { clusters, seed: 5 });
  const profiles = calibrationProfiles(cl.model, cl.layers, format, keyLayout(format, keyBits), calib);
  const layers = new Map<string, AxpLayer>();
  for (const n of cl.model.nodes) {
    if (!isApproximable(n)) continue;
    const p = profiles.get(n.name)!;
    layers.set(n.name, makeAxpLayer(n, cl.layers.get(n.name)!, p, memoryFromProfile(p, Math.min(entries, p.candidates.length), { dontCare, hamming })));
  }
  return { cl, layers, profiles };
}


test("k-means: the objective never rises, matches a brute-force evaluation, and the same seed gives the same centroids", () => {
  const rand = uniformRandom(7);
  const values = Float32Array.from({ length: 3000 }, () => (rand() - 0.5) * (rand() < 0.2 ? 3 : 0.5));
  for (const init of KMEANS_INITS) {
    for (const k of [1, 2, 5, 16]) {
      const r = kmeans1d(values, { k, init, seed: 3 });
      for (let i = 1; i < r.objectiveHistory.length; i++) assert.ok(r.objectiveHistory[i]! <= r.objectiveHistory[i - 1]!, `${init} K=${k} step ${i}`);
      const brute = kmeansObjective(values, r.centroids);
      assert.ok(Math.abs(brute - r.objective) <= 1e-9 * Math.max(1, brute), `${init} K=${k}: ${brute} vs ${r.objective}`);
      assert.ok(r.centroids.length <= k && r.centroids.length >= 1);
      assert.deepEqual(kmeans1d(values, { k, init, seed: 3 }).centroids, r.centroids);
    }
  }
  // k-means++ with more clusters fits better than with fewer (not a theorem in general; a check that seeding works here).
  assert.ok(kmeans1d(values, { k: 16, seed: 1 }).objective < kmeans1d(values, { k: 4, seed: 1 }).objective);
  // As many clusters as distinct values: each value is its own centroid, exactly.
  const few = Float32Array.from([0.5, -0.25, 0.5, 3, -0.25, 0.125]);
  assert.deepEqual([...kmeans1d(few, { k: 4 }).centroids], [-0.25, 0.125, 0.5, 3]);
  assert.throws(() => kmeans1d(few, { k: 0 }), /clusters.*>= 1/);
});

test("clustering: at most K distinct weights per layer (per channel too), each weight at its nearest centroid, seeded", () => {
  const m = tinyModel();
  const a = clusterModel(m, { clusters: 4, seed: 9 });
  const b = clusterModel(m, { clusters: 4, seed: 9 });
  for (const n of a.model.nodes.filter(isApproximable)) {
    assert.ok(distinctWeights(n) <= 4, n.name);
    const cl = a.layers.get(n.name)!;
    const orig = m.nodes.find((o) => o.name === n.name) as typeof n;
    for (let i = 0; i < n.weight.data.length; i++) {
      // Brute force: no centroid is nearer than the chosen one.
      const w = orig.weight.data[i]!;
      const chosen = Math.abs(w - cl.centroids[cl.binOf[i]!]!);
      for (const c of cl.centroids) assert.ok(chosen <= Math.abs(w - c) + 1e-7);
    }
    assert.ok(sameBits(n.weight.data, (b.model.nodes.find((o) => o.name === n.name) as typeof n).weight.data));
  }
  const pc = clusterModel(m, { clusters: 2, perChannel: true });
  const c1 = pc.model.nodes.find((n) => n.name === "c1")! as unknown as { weight: Tensor };
  assert.equal(pc.layers.get("c1")!.groups, 6);
  for (let oc = 0; oc < 6; oc++) assert.ok(new Set(c1.weight.data.subarray(oc * 18, (oc + 1) * 18)).size <= 2);
});

test("number formats: float16 and bfloat16 rounding to nearest even, overflow and subnormals", () => {
  assert.equal(floatToHalfBits(1), 0x3c00);
  assert.equal(floatToHalfBits(-2), 0xc000);
  assert.equal(floatToHalfBits(65504), 0x7bff);
  assert.equal(floatToHalfBits(65520), 0x7c00);
  assert.equal(floatToHalfBits(2 ** -24), 1);
  assert.equal(floatToHalfBits(1 + 2 ** -11), 0x3c00); // tie to even
  assert.equal(floatToHalfBits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(halfBitsToFloat(0x3555), 0.333251953125);
  assert.equal(floatToBf16Bits(1 + 2 ** -8), 0x3f80); // tie to even
  assert.equal(floatToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
  assert.equal(bf16BitsToFloat(0x3f80), 1);
  assert.equal(keyLayout("fp32", 3).width, 12);
  assert.equal(keyLayout("fp16", 3).width, 9);
  assert.equal(keyLayout("int8", 5).width, 5);
  assert.throws(() => keyLayout("bf16", 8), /--key-bits: bf16 keys keep 0 to 7 mantissa bits/);
  assert.throws(() => checkRule(keyLayout("fp32", 2), { dontCare: 3, hamming: 0 }), /--dont-care: expected 0 to 2/);
});

test("emulation: the fast kernel equals the per-multiplication reference bit for bit, counts included", () => {
  const m = tinyModel();
  const calib = [randomInput(6, 1)];
  const x = randomInput(3, 2);
  const cases: [AxpFormat, number, number, number, number][] = [
    ["fp32", 4, 3, 40, 0], ["fp32", 8, 2, 200, 1], ["fp16", 4, 4, 30, 2], ["bf16", 16, 3, 100, 0], ["int8", 4, 6, 50, 2],
  ];
  for (const [format, k, bits, n, d] of cases) {
    for (const hamming of [0, 1]) {
      if (hamming > (format === "int8" ? bits - 1 : bits) - d) continue;
      const { cl, layers } = axpLayers(m, k, format, bits, n, d, calib, hamming);
      const net = { model: cl.model, layers };
      const c1 = new Map<string, LayerCounts>(), c2 = new Map<string, LayerCounts>();
      const fast = runAxp(net, x, { counts: c1 });
      const ref = runAxp(net, x, { counts: c2, reference: true });
      const what = `${format} K=${k} m=${bits} N=${n} d=${d} h=${hamming}`;
      assert.ok(sameBits(fast.data, ref.data), what);
      assert.deepEqual([...c1], [...c2], what);
      const hits = [...c1.values()].reduce((a, c) => a + c.hits, 0);
      assert.ok(hits > 0, `${what}: some hits`);
    }
  }
});

test("invariants: zero entries = the clustered model and FPU-only energy; K = distinct weights with full keys = the original outputs", () => {
  const m = tinyModel();
  const calib = [randomInput(4, 3)];
  const x = randomInput(4, 4);
  const { cl, layers } = axpLayers(m, 4, "fp32", 3, 0, 0, calib);
  const counts = new Map<string, LayerCounts>();
  const y = runAxp({ model: cl.model, layers }, x, { counts });
  assert.ok(sameBits(y.data, runModel(cl.model, { x })[cl.model.outputs[0]!]!.data));
  const pe = loadPeModel();
  for (const [name, c] of counts) {
    assert.equal(c.hits, 0);
    const e = layerEnergy(pe, "fp32", name, c, 0, 20);
    assert.equal(e.energyPj, e.fpuEnergyPj);
    assert.ok(e.energyPj > 0);
  }
  // K = number of distinct weights (every weight its own bin), full 23-bit keys, a memory of every pair seen on the
  // calibration data, run on that data: many hits, and the original model's outputs exactly.
  const kMax = Math.max(...m.nodes.filter(isApproximable).map(distinctWeights));
  const full = axpLayers(m, kMax, "fp32", 23, 1e9, 0, [x]);
  const c2 = new Map<string, LayerCounts>();
  const y2 = runAxp({ model: full.cl.model, layers: full.layers }, x, { counts: c2 });
  assert.ok(sameBits(y2.data, runModel(m, { x })[m.outputs[0]!]!.data));
  for (const [name, c] of c2) assert.equal(c.hits, c.macs, `${name}: every pair is in the memory`);
});

test("invariants: a layer's hit rate never falls as the memory grows or more bits are don't-care", () => {
  const m = tinyModel();
  const calib = [randomInput(6, 5)];
  const x = randomInput(3, 6);
  const { cl, profiles } = axpLayers(m, 8, "fp32", 4, 0, 0, calib);
  // Fixed inputs per layer: the clustered model's activations.
  const inputs = new Map<string, Tensor>();
  runModel(cl.model, { x }, { kernel: (node, ins) => (isApproximable(node) && inputs.set(node.name, ins[0]!), undefined) });
  for (const n of cl.model.nodes.filter(isApproximable)) {
    const p = profiles.get(n.name)!;
    let prevN = -1;
    for (const entries of [0, 1, 4, 16, 64, p.candidates.length]) {
      let prevD = -1;
      for (const d of [0, 1, 2, 3, 4]) {
        const c = emptyCounts();
        axpLayerForward(makeAxpLayer(n, cl.layers.get(n.name)!, p, memoryFromProfile(p, entries, { dontCare: d, hamming: 0 })), inputs.get(n.name)!, c);
        assert.ok(c.hits >= prevD, `${n.name} N=${entries} d=${d}: ${c.hits} < ${prevD}`);
        prevD = c.hits;
        if (d === 0) {
          assert.ok(c.hits >= prevN, `${n.name} N=${entries}: ${c.hits} < ${prevN}`);
          prevN = c.hits;
        }
      }
    }
    assert.ok(prevN > 0);
  }
});

test("memory and energy: a memory larger than the key space is refused; search energy grows with entries and key width", () => {
  const m = tinyModel();
  const { profiles } = axpLayers(m, 2, "int8", 2, 0, 0, [randomInput(2, 7)]);
  const p = profiles.get("c1")!;
  assert.throws(() => memoryFromProfile(p, 9, { dontCare: 0, hamming: 0 }), /--entries: 9 entries are more than layer "c1" has keys \(2 bins x 2\^2 int8 keys = 8\)/);
  const pe = loadPeModel();
  assert.equal(searchEnergyPj(pe, 0, 20), 0);
  assert.ok(searchEnergyPj(pe, 64, 20) > searchEnergyPj(pe, 16, 20));
  assert.ok(searchEnergyPj(pe, 16, 24) > searchEnergyPj(pe, 16, 20));
  // Every MAC a hit with a free memory: only the adds remain.
  const free = { ...pe, cam: { search_fj_per_bit: 0, search_fixed_pj: 0 }, read: { ...pe.read, reference_pj: 0 } };
  const e = layerEnergy(free, "fp32", "l", { macs: 100, hits: 100, zeroMacs: 0, zeroHits: 0, outputs: 10, samples: 1 }, 16, 20);
  assert.ok(Math.abs(e.energyPj - 100 * pe.arithmetic.fp32.add_pj) < 1e-9);
});

test("zero gating: MACs with a zero activation cost nothing, in the FPU-only PE too; no memory still equals the FPU", () => {
  const pe = loadPeModel();
  const a = pe.arithmetic.fp32;
  const counts = { macs: 200, hits: 120, zeroMacs: 80, zeroHits: 80, outputs: 20, samples: 2 };
  const off = layerEnergy(pe, "fp32", "l", counts, 16, 20);
  const on = layerEnergy(pe, "fp32", "l", counts, 16, 20, { zeroGating: true });
  // Per sample: 100 MACs, 40 zero (all hits), 60 non-zero of which 20 hit.
  const search = searchEnergyPj(pe, 16, 20), read = readEnergyPj(pe, 16, 32);
  assert.ok(Math.abs(off.energyPj - (100 * a.add_pj + 40 * a.mul_pj + 100 * search + 60 * read)) < 1e-9);
  assert.ok(Math.abs(on.energyPj - (60 * a.add_pj + 40 * a.mul_pj + 60 * search + 20 * read)) < 1e-9);
  assert.ok(Math.abs(on.fpuEnergyPj - 60 * (a.add_pj + a.mul_pj)) < 1e-9);
  const none = layerEnergy(pe, "fp32", "l", { ...counts, hits: 0, zeroHits: 0 }, 0, 20, { zeroGating: true });
  assert.equal(none.energyPj, none.fpuEnergyPj);
  // The hit rates do not depend on gating.
  assert.equal(on.hitRate, off.hitRate);
  assert.equal(on.hitRateNonZero, 20 / 60);
});

test("per-PE memories: each PE's N most frequent pairs hit at least as often as one N-entry memory per layer; fast = reference; P = 1 is the per-layer memory", () => {
  const m = tinyModel();
  const calib = [randomInput(6, 8)];
  const cl = clusterModel(m, { clusters: 4, seed: 5 });
  const layout = keyLayout("fp32", 2);
  const rule = { dontCare: 0, hamming: 0 };
  // On the calibration data itself, layer by layer on the clustered model's activations (so that the profile's frequencies are the hits).
  const inputs = new Map<string, Tensor>();
  runModel(cl.model, { x: calib[0]! }, { kernel: (node, ins) => (isApproximable(node) && inputs.set(node.name, ins[0]!), undefined) });
  const perLayer = calibrationProfiles(cl.model, cl.layers, "fp32", layout, calib);
  assert.equal(perPeClusters(cl.layers.get("c1")!, 6, 1), cl.layers.get("c1"));
  for (const pes of [2, 3]) {
    const peLayers = new Map([...cl.layers].map(([name, l]) => [name, perPeClusters(l, (m.nodes.find((n) => n.name === name) as { weight: { shape: number[] } }).weight.shape[0]!, pes)]));
    const perPe = calibrationProfiles(cl.model, peLayers, "fp32", layout, calib);
    let gained = 0;
    for (const n of cl.model.nodes.filter(isApproximable)) {
      const pc = peLayers.get(n.name)!;
      assert.equal(pc.centroids.length, pes * cl.layers.get(n.name)!.centroids.length);
      for (const entries of [1, 3, 8]) {
        const a = emptyCounts(), b = emptyCounts(), r = emptyCounts();
        const one = makeAxpLayer(n, cl.layers.get(n.name)!, perLayer.get(n.name)!, memoryFromProfile(perLayer.get(n.name)!, entries, rule));
        const mem = perPeMemoryFromProfile(perPe.get(n.name)!, entries, rule, pes);
        // At most N entries per PE.
        for (let p = 0; p < pes; p++) assert.ok(mem.entries.filter((e) => Math.floor(e.bin / cl.layers.get(n.name)!.centroids.length) === p).length <= entries);
        const many = makeAxpLayer(n, pc, perPe.get(n.name)!, mem);
        axpLayerForward(one, inputs.get(n.name)!, a);
        const y = axpLayerForward(many, inputs.get(n.name)!, b);
        const yr = axpLayerReference(many, inputs.get(n.name)!, r);
        assert.ok(sameBits(y.data, yr.data), `${n.name} P=${pes} N=${entries}: fast = reference`);
        assert.deepEqual(b, r);
        assert.equal(b.macs, a.macs);
        assert.ok(b.hits >= a.hits, `${n.name} P=${pes} N=${entries}: ${b.hits} < ${a.hits}`);
        if (b.hits > a.hits) gained++;
      }
    }
    assert.ok(gained > 0, `P=${pes}: some layer gains hits`);
  }
  const p1 = perPeMemoryFromProfile(perLayer.get("c2")!, 5, rule, 1);
  assert.deepEqual(p1, memoryFromProfile(perLayer.get("c2")!, 5, rule));
  assert.throws(() => perPeMemoryFromProfile(perLayer.get("c2")!, 5, rule, 0), /--pes: expected a whole number of PEs >= 1, got 0/);
});
