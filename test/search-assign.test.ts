import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadAssignment, resolveAssignment } from "../src/multipliers/assignment.js";
import { resolveMultiplier } from "../src/multipliers/resolve.js";
import { decodeOperand, tableIndex, type Multiplier } from "../src/multipliers/multiplier.js";
import { assignmentScales, evaluatePlan, layersFromModel, planNetwork } from "../src/energy/network.js";
import { loadDesign } from "../src/energy/presets.js";
import { loadOnnx } from "../src/onnx/import.js";
import type { QuantizedWeights } from "../src/quant/model.js";
import { assignmentChartSpec, frontCovers, layerArithmetic, measureAccuracy, prepareAssignment, searchAssignment, tuneWeights, writeAssignmentReport } from "../src/search/index.js";
import { plannedRunner } from "../src/plan/index.js";
import { registerSearch } from "../src/cli/search.js";
import { isAxnnError } from "../src/util/errors.js";
import { runCommand } from "./cli-inprocess.js";
import { writeTinyCnn, writeTwoClassIdx } from "./tiny-idx.js";

const MULTS = ["trunc_k8_u8x8", "drum_k3_u8x8", "bam_h3_v9_u8x8"];

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), "axnn-assign-"));
  const { data } = writeTwoClassIdx(dir, 160, 3);
  const model = join(dir, "tiny.onnx");
  writeTinyCnn(model, 4);
  return { dir, data, model };
}

const SMALL = { validationSize: 64, calibrationSize: 32, testLimit: 64, budget: 12, populationSize: 4, mapperEvaluations: 200 };

test("search assign: baselines and NSGA-II on one archive each; fronts re-measured; mult-configs that eval and energy take as they are", async () => {
  const { dir, data, model } = fixture();
  try {
    const out = join(dir, "out");
    const r = await searchAssignment({ model, data, multipliers: MULTS, outDir: out, seed: 3, ...SMALL });
    const byMethod = new Map(r.methods.map((m) => [m.method, m]));
    assert.deepEqual([...byMethod.keys()], ["uniform", "greedy", "random", "nsga2"]);
    assert.equal(byMethod.get("uniform")!.evaluations, MULTS.length + 1);
    for (const m of ["random", "nsga2"] as const) assert.equal(byMethod.get(m)!.evaluations, 12);
    // Greedy: the 1 + 2 x 3 single-layer table, then its path (at most one step per multiplier per layer).
    const greedy = byMethod.get("greedy")!.evaluations;
    assert.ok(greedy > 7 && greedy <= 12, `greedy ${greedy}`);
    // NSGA-II's first population holds every uniform assignment (more than its population of 4): its front covers theirs.
    assert.deepEqual(byMethod.get("nsga2")!.archive.slice(0, MULTS.length + 1).map((a) => a.choice), byMethod.get("uniform")!.archive.map((a) => a.choice));
    assert.ok(frontCovers(byMethod.get("nsga2")!.front, byMethod.get("uniform")!.front));
    // Every archive holds distinct assignments.
    for (const m of r.methods) assert.equal(new Set(m.archive.map((a) => a.choice.join(","))).size, m.archive.length);
    // Reported figures are what measuring again gives.
    for (const pt of r.front) {
      assert.equal(measureAccuracy(r.prepared, pt.choice, r.prepared.validation), pt.val_top1);
      assert.equal(measureAccuracy(r.prepared, pt.choice, r.prepared.test()), pt.test_top1);
    }
    const files = await writeAssignmentReport(r, out);
    for (const f of ["front.json", "archive.json", "pareto.svg", "pareto.png", "report.html"]) assert.ok(files.includes(join(out, f)) && existsSync(join(out, f)), f);
    const front = JSON.parse(readFileSync(join(out, "front.json"), "utf8")) as { members: { mult_config: string; energy_pj: number; multipliers: Record<string, string> }[] };
    assert.equal(front.members.length, r.front.length);
    // Each member's config, read as axnn eval / energy net read it, prices to the member's energy.
    const m = loadOnnx(model);
    const layers = layersFromModel(m, { inputShape: [1, 1, 6, 6] });
    const { arch, ert } = loadDesign("eyeriss");
    const plan = planNetwork(arch, ert, layers, { maxEvaluations: 200, seed: 1 });
    for (const member of front.members) {
      const a = loadAssignment(join(out, member.mult_config), layers.map((l) => l.name));
      const resolved = resolveAssignment(a, layers.map((l) => l.name));
      for (const [name, mult] of Object.entries(member.multipliers)) assert.equal(resolved.get(name)?.multiplier.name ?? "exact", mult);
      const e = evaluatePlan(plan, assignmentScales(a, layers, arch.compute)).totals.energyPj;
      assert.ok(Math.abs(e - member.energy_pj) <= 1e-9 * e, `${e} vs ${member.energy_pj}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("search assign gives the same front with 1 and 2 kernel threads, and --resume of a finished search evaluates nothing new", () => {
  const { dir, data, model } = fixture();
  try {
    const cli = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
    const args = (out: string) => ["search", "assign", "--model", model, "--data", data, "--mults", MULTS.join(","), "--budget", "10", "--population", "4",
      "--val-size", "64", "--calib-size", "32", "--test-limit", "64", "--seed", "2", "-o", out, "--json"];
    const strip = (s: string) => {
      const j = JSON.parse(s) as { members: unknown; methods: unknown; savings: unknown; exact: unknown };
      return { members: j.members, methods: j.methods, savings: j.savings, exact: j.exact };
    };
    const runs = ["1", "2"].map((threads) => {
      const r = spawnSync(process.execPath, [cli, ...args(join(dir, `t${threads}`))], { env: { ...process.env, AXNN_THREADS: threads }, encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      return strip(r.stdout);
    });
    assert.deepEqual(runs[0], runs[1]);
    const again = spawnSync(process.execPath, [cli, ...args(join(dir, "t1")), "--resume"], { encoding: "utf8" });
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(strip(again.stdout), runs[0]);
    const refused = spawnSync(process.execPath, [cli, ...args(join(dir, "t1"))], { encoding: "utf8" });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^axnn: error: .*journal.*already exists; resume it \(--resume\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("search assign: bad input gets a clear error naming what is wrong", async () => {
  const { dir, data, model } = fixture();
  try {
    const run = (extra: string[]) => runCommand(registerSearch, ["search", "assign", "--model", model, "--data", data, "-o", join(dir, "o"), "--val-size", "64", "--calib-size", "32", ...extra]);
    const fails = async (extra: string[], re: RegExp) => assert.rejects(run(extra), (e) => isAxnnError(e) && re.test(e.message), `${extra.join(" ")}`);
    await fails(["--mults", "trunc_k8_u8x8,no_such_mult"], /--mults \(no_such_mult\): unknown multiplier "no_such_mult"/);
    await fails(["--mults", "drum_k4_s8x8", "--quant", "asym"], /multiplier "drum_k4_s8x8" is signed.*asymmetric/);
    await fails(["--mults", "trunc_k8_u8x8,drum_k4_s8x8"], /mix signed and unsigned/);
    await fails(["--mults", "trunc_k8_u8x8", "--layers", "nope"], /--layers: unknown layer "nope"; the model's approximable layers are: /);
    await fails(["--mults", "trunc_k8_u8x8", "--budget", "0"], /--budget: expected a whole number of evaluations >= 1, got 0/);
    await fails(["--mults", "trunc_k8_u8x8", "--objectives", "energy,accuracy"], /--objectives: expected accuracy first/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("candidates are measured on compiled plans, bit for bit the reference engine's results, tuned weights included", () => {
  const { dir, data, model } = fixture();
  try {
    const p = prepareAssignment({ model, data, multipliers: MULTS, tuneWeights: true, validationSize: 64, calibrationSize: 32, batchSize: 25, mapperEvaluations: 200 });
    // The tuned weights differ from the layer's own (else this test could not see them ignored).
    const own = (l: number) => p.qmodel.weights(p.layers[l]!, 8).codes;
    assert.ok(p.layers.every((_, l) => p.weights[l]!.some((w) => w !== undefined && !w.codes.every((c, i) => c === own(l)[i]))));
    for (let a = 0; a <= MULTS.length; a++) {
      for (let b = 0; b <= MULTS.length; b++) {
        const arithmetic = layerArithmetic(p, [a, b]);
        const planned = plannedRunner(p.qmodel, arithmetic);
        for (const batch of p.validation.batches) {
          const x = { [p.inputName]: batch.input };
          assert.deepEqual(planned(x)[p.outputName]!.data, p.qmodel.run(x, arithmetic)[p.outputName]!.data, `choice ${a},${b}`);
        }
        assert.equal(measureAccuracy(p, [a, b], p.validation), measureAccuracy(p, [a, b], p.validation, "reference"));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The exhaustive twin of tuneWeights: every representable integer, no early exit. */
function tuneOneByBruteForce(v: number, m: Multiplier, hist: Float64Array, qmin: number, qmax: number, window: number): number {
  let best = v, bestErr = Infinity, bestDist = Infinity;
  for (let c = Math.max(qmin, v - window); c <= Math.min(qmax, v + window); c++) {
    let err = 0;
    for (let a = 0; a < 256; a++) {
      const e = m.table[tableIndex(a, c & 0xff, 8)]! - decodeOperand(a, 8, false) * v;
      err += hist[a]! * e * e;
    }
    const dist = Math.abs(c - v);
    if (err < bestErr || (err === bestErr && (dist < bestDist || (dist === bestDist && c < best)))) {
      bestErr = err;
      best = c;
      bestDist = dist;
    }
  }
  return best;
}

test("ALWANN weight tuning picks, for each weight, the integer with the least expected product error (vs exhaustive search); exact tables change nothing", () => {
  const values = Int32Array.from({ length: 256 }, (_, i) => i);
  const w: QuantizedWeights = {
    bits: 8, scheme: "asym", params: [{ scale: 1, zeroPoint: 0, qmin: 0, qmax: 255 }], values,
    codes: Uint8Array.from(values), codes8: Uint8Array.from(values), channelSums: Float64Array.of(values.reduce((a, b) => a + b, 0)),
  } as QuantizedWeights;
  const hist = Float64Array.from({ length: 256 }, (_, a) => (a < 40 ? 0 : Math.exp(-((a - 120) ** 2) / 800)));
  const exact = resolveMultiplier("exact_u8x8").multiplier;
  assert.deepEqual(tuneWeights(w, exact, hist).codes, w.codes);
  for (const name of ["drum_k3_u8x8", "trunc_k8_u8x8"]) {
    const m = resolveMultiplier(name).multiplier;
    const tuned = tuneWeights(w, m, hist, 8);
    let changed = 0;
    for (let v = 0; v < 256; v++) {
      assert.equal(tuned.codes[v], tuneOneByBruteForce(v, m, hist, 0, 255, 8), `${name} w=${v}`);
      if (tuned.codes[v] !== v) changed++;
    }
    assert.ok(changed > 0, `${name}: some weight moves`);
    assert.deepEqual(tuned.values, w.values); // the exact cross terms keep the original integers
  }
});

test("the Pareto chart leaves off drops beyond twice the hypervolume's and assignments costing over 20 % more than exact", () => {
  const pt = (val_drop: number, multiplier_saving: number) => ({ val_drop, multiplier_saving, saving: 0 });
  const archive = [pt(0, 0), pt(1, 0.3), pt(11, 0.5), pt(0.5, -0.25), pt(0.5, -0.2)];
  const spec = assignmentChartSpec({
    methods: [{ method: "nsga2", archive, front: [archive[0]!, archive[1]!, archive[2]!] }] as never,
    settings: { model: "m.onnx", data: "mnist", hv_reference: { max_drop_points: 5 } } as never, energyObjective: "multiplier-energy",
  }) as unknown as { layer: { data: { values: { drop: number; saving: number }[] } }[] };
  const shown = (i: number) => spec.layer[i]!.data.values.map((v) => [v.drop, Math.round(v.saving)]);
  assert.deepEqual(shown(0), [[0, 0], [1, 30], [0.5, -20]]);
  assert.deepEqual(shown(1), [[0, 0], [1, 30]]);
});
