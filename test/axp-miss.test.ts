import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isApproximable, type Model } from "../src/nn/graph.js";
import type { Tensor } from "../src/nn/tensor.js";
import { randomAxpInput, sameBits, tinyAxpModel } from "./axp-testkit.js";
import { clusterModel } from "../src/axp/cluster.js";
import { keyLayout, type AxpFormat } from "../src/axp/formats.js";
import { memoryFromProfile } from "../src/axp/memory.js";
import { calibrationProfiles, makeAxpLayer, runAxp, type AxpLayer, type LayerCounts } from "../src/axp/emulate.js";
import { layerEnergy, loadPeModel, readEnergyPj, searchEnergyPj } from "../src/axp/energy.js";
import { layerMissArithmetic, missActivationParams, missProduct, resolveMissMultiplier, type MissMultiplier } from "../src/axp/miss.js";
import { multiply } from "../src/multipliers/multiplier.js";
import { quantizeModelWithParams } from "../src/quant/model.js";
import { registerAxp } from "../src/cli/axp.js";
import { runCommand } from "./cli-inprocess.js";
import { writeTinyCnn, writeTwoClassIdx } from "./tiny-idx.js";

const tinyModel = (): Model => tinyAxpModel(4);
const input = randomAxpInput;

function missLayers(model: Model, mm: MissMultiplier, k: number, format: AxpFormat, keyBits: number, entries: number, calib: Tensor[], zeroGating = false) {
  const cl = clusterModel(model, { clusters: k, seed: 2 });
  const profiles = calibrationProfiles(cl.model, cl.layers, format, keyLayout(format, keyBits), calib);
  const params = missActivationParams(cl.model, calib, mm.multiplier.signed);
  const layers = new Map<string, AxpLayer>();
  for (const n of cl.model.nodes) {
    if (!isApproximable(n)) continue;
    const p = profiles.get(n.name)!;
    const miss = layerMissArithmetic(mm, cl.layers.get(n.name)!, n.weight.data, params.get(n.name)!, zeroGating);
    layers.set(n.name, makeAxpLayer(n, cl.layers.get(n.name)!, p, memoryFromProfile(p, Math.min(entries, p.candidates.length), { dontCare: 0, hamming: 0 }), miss));
  }
  return { cl, layers, params };
}

test("miss multiplier: the fast kernel equals the per-multiplication reference bit for bit, counts included", () => {
  const m = tinyModel();
  const calib = [input(6, 1)];
  const x = input(3, 2);
  const cases: [string, AxpFormat, number, number, number, boolean][] = [
    ["trunc_k4c_u8x8", "fp32", 4, 2, 40, false], ["drum_k3_u8x8", "fp16", 8, 3, 100, true], ["exact_s8x8", "int8", 4, 6, 50, false],
    ["bam_h2_v7_u8x8", "bf16", 16, 2, 0, false],
  ];
  for (const [name, format, k, bits, n, gating] of cases) {
    const mm = resolveMissMultiplier(name);
    const { cl, layers } = missLayers(m, mm, k, format, bits, n, calib, gating);
    // Batch 3 > no chunk boundary issue; 11 samples cross the 8-sample chunks of the product planes.
    for (const xs of [x, input(11, 5)]) {
      const c1 = new Map<string, LayerCounts>(), c2 = new Map<string, LayerCounts>();
      const fast = runAxp({ model: cl.model, layers }, xs, { counts: c1 });
      const ref = runAxp({ model: cl.model, layers }, xs, { counts: c2, reference: true });
      const what = `${name} ${format} K=${k} m=${bits} N=${n} batch ${xs.shape[0]}`;
      assert.ok(sameBits(fast.data, ref.data), what);
      assert.deepEqual([...c1], [...c2], what);
      for (const c of c1.values()) assert.ok(c.outputs > 0 && c.outputs < c.macs, what);
      if (n > 0) assert.ok([...c1.values()].some((c) => c.hits > 0), `${what}: some hits`);
    }
  }
});

test("miss multiplier: with no memory it is the quantized engine with the same multiplier (zero points and padding included)", () => {
  const m = tinyModel();
  const calib = [input(6, 1)];
  const x = input(4, 3);
  // Exact multipliers: the engine also multiplies the padding (by the input's zero point), which an
  // exact product cancels; an approximate one would not (AxP never multiplies padding).
  for (const name of ["exact_u8x8", "exact_s8x8"]) {
    const mm = resolveMissMultiplier(name);
    const { cl, layers, params } = missLayers(m, mm, 6, "fp32", 3, 0, calib);
    const y = runAxp({ model: cl.model, layers }, x).data;
    const q = quantizeModelWithParams(cl.model, Object.fromEntries(params), { scheme: mm.multiplier.signed ? "sym" : "asym", perChannel: false, calibration: { method: "minmax" } });
    const e = q.run({ x }, { kind: "lut", multiplier: mm.multiplier })[cl.model.outputs[0]!]!.data;
    let scale = 0, diff = 0;
    for (let i = 0; i < y.length; i++) {
      scale = Math.max(scale, Math.abs(e[i]!));
      diff = Math.max(diff, Math.abs(y[i]! - e[i]!));
    }
    // The same integers; only the float summation differs (per product here, per window there).
    assert.ok(diff <= 1e-5 * scale, `${name}: ${diff} vs ${scale}`);
    // Unsigned: asymmetric input with a zero point (the tiny model's input has negative values).
    if (!mm.multiplier.signed) assert.ok(params.get("c1")!.zeroPoint > 0);
  }
});

test("miss multiplier: the product definition; an approximate table differs from the exact one", () => {
  const mm = resolveMissMultiplier("drum_k3_u8x8");
  const m = tinyModel();
  const cl = clusterModel(m, { clusters: 4, seed: 2 });
  const c1 = cl.model.nodes.find((n) => n.name === "c1")!;
  assert.ok(isApproximable(c1));
  const act = { scale: 0.01, zeroPoint: 7, qmin: 0, qmax: 255 };
  const miss = layerMissArithmetic(mm, cl.layers.get("c1")!, c1.weight.data, act, false);
  const b = 1, qw = miss.binCode[b]!, qa = 200;
  const want = 0.01 * miss.weight.scale * (multiply(mm.multiplier, qa, qw) - 7 * qw - miss.weight.zeroPoint * qa + 7 * miss.weight.zeroPoint);
  assert.equal(missProduct(miss, qa, qw), want);
  assert.equal(miss.table[(b << 8) | qa], want);
  // DRUM is approximate: some table entry differs from the exact product's.
  const exact = layerMissArithmetic(resolveMissMultiplier("exact_u8x8"), cl.layers.get("c1")!, c1.weight.data, act, false);
  assert.ok(miss.table.some((v, i) => v !== exact.table[i]));
  assert.ok(mm.powerRatio > 0 && mm.powerRatio < 1, `${mm.powerRatio}`);
  assert.throws(() => resolveMissMultiplier("no_such_mult"), /no_such_mult/);
});

test("miss multiplier energy: hits read and add, misses multiply with the multiplier and accumulate as integers, one merge per output", () => {
  const pe = loadPeModel();
  const f = pe.arithmetic.fp32, i8 = pe.arithmetic.int8;
  const counts = { macs: 200, hits: 120, zeroMacs: 80, zeroHits: 80, outputs: 20, samples: 2 };
  const miss = { multiplier: "m", powerRatio: 0.5, weightBits: 8 };
  const e = layerEnergy(pe, "fp32", "l", counts, 16, 20, { miss });
  const search = searchEnergyPj(pe, 16, 20), read = readEnergyPj(pe, 16, 32);
  // Per sample: 100 MACs, 60 hits, 40 misses, 10 outputs.
  const want = 60 * (f.add_pj + read) + 40 * (0.5 * i8.mul_pj + i8.add_pj) + 100 * search + 10 * (f.mul_pj + f.add_pj);
  assert.ok(Math.abs(e.energyPj - want) < 1e-9, `${e.energyPj} vs ${want}`);
  assert.ok(Math.abs(e.fpuEnergyPj - 100 * (f.mul_pj + f.add_pj)) < 1e-9);
  // An 8x4 multiplier: half the partial products.
  const narrow = layerEnergy(pe, "fp32", "l", counts, 16, 20, { miss: { ...miss, weightBits: 4 } });
  assert.ok(Math.abs(e.energyPj - narrow.energyPj - 40 * 0.25 * i8.mul_pj) < 1e-9);
  // Zero gating: the 40 zero MACs (all hits) are skipped.
  const gated = layerEnergy(pe, "fp32", "l", counts, 16, 20, { miss, zeroGating: true });
  assert.ok(Math.abs(gated.energyPj - (want - 40 * (f.add_pj + read) - 40 * search)) < 1e-9);
});

test("axp sweep --miss-mult: points per multiplier, the FPU's unchanged, clear error for an unknown one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-axp-miss-"));
  const { data } = writeTwoClassIdx(dir, 30, 3);
  const model = join(dir, "tiny.onnx");
  writeTinyCnn(model, 4);
  const axp = (args: string[]) => runCommand(registerAxp, ["axp", ...args]);
  const base = ["sweep", "--model", model, "--data", data, "--clusters", "3", "--entries", "0,4", "--key-bits", "1", "--arch", "none", "--limit", "12", "--calib-size", "6", "--json"];
  const plain = JSON.parse(await axp(base));
  const r = JSON.parse(await axp([...base, "--miss-mult", "fpu,trunc_k4c_u8x8"]));
  assert.equal(r.points.length, 4);
  const fpu = r.points.filter((p: { miss_multiplier: string | null }) => p.miss_multiplier === null);
  assert.deepEqual(fpu, plain.points);
  const tr = r.points.filter((p: { miss_multiplier: string | null }) => p.miss_multiplier === "trunc_k4c_u8x8");
  assert.equal(tr.length, 2);
  for (const p of tr) {
    assert.ok(p.miss_power_ratio > 0 && p.miss_power_ratio < 1);
    // Misses on an int8 multiplier cost far less than the FP32 multiply.
    const q = fpu.find((x: { entries: number }) => x.entries === p.entries);
    assert.ok(p.energy_pj < 0.5 * q.energy_pj, `${p.energy_pj} vs ${q.energy_pj}`);
  }
  await assert.rejects(axp([...base, "--miss-mult", "fpu,no_such_mult"]), /no_such_mult/);
});
