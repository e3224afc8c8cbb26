import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { searchMapping, workerBudget, workerSeed } from "../src/energy/mapper.js";
import { evaluate } from "../src/energy/model.js";
import { loadDesign } from "../src/energy/presets.js";
import { convProblem, loadProblem, parseProblem, type Problem } from "../src/energy/problem.js";
import { parseYamlText } from "../src/energy/yaml.js";
import { convLayer, denseLayer, depthwiseLayer, evaluatePlan, planNetwork, type NetworkLayer } from "../src/energy/network.js";
import { zooLayers } from "../src/energy/zoo-shapes.js";
import { isAxnnError } from "../src/util/errors.js";
import { registerEnergy } from "../src/cli/energy.js";
import { needsSharedData, REPO_ROOT, SHARED_DATA } from "./shared.js";
import { runCommand } from "./cli-inprocess.js";
import { tinyDesign } from "./energy-toy.js";

const tinyArch = () => tinyDesign({ bufDepth: 64, meshX: 4, rfDepth: 8 }).arch;
const tinyErt = () => tinyDesign({ bufDepth: 64, meshX: 4, rfDepth: 8 }).ert;
const tinyProblem = (): Problem => parseProblem(parseYamlText("problem:\n  instance: {C: 4, M: 2, R: 1, S: 1, N: 1, P: 4, Q: 2}\n", "p.yaml"), "p.yaml");

test("parallel mapper: the same seed, budget and thread count give the same mapping", () => {
  const { arch, ert } = loadDesign("eyeriss");
  const problem = convProblem({ C: 16, M: 32, R: 3, S: 3, P: 14, Q: 14 });
  const a = searchMapping(arch, problem, ert, { seed: 5, maxEvaluations: 500, threads: 2 });
  const b = searchMapping(arch, problem, ert, { seed: 5, maxEvaluations: 500, threads: 2 });
  assert.equal(a.algorithm, "anneal");
  assert.deepEqual(a.mapping, b.mapping);
  assert.equal(a.evaluation.energyPj, b.evaluation.energyPj);
  // The whole budget is spent, over both workers.
  assert.equal(a.evaluated, 500);
  assert.equal(evaluate(arch, problem, a.mapping, ert).energyPj, a.evaluation.energyPj);
});

test("parallel mapper: N threads = the best of N single-threaded searches with the derived seeds and budget shares", () => {
  const { arch, ert } = loadDesign("simba");
  const problem = convProblem({ C: 32, M: 16, R: 3, S: 3, P: 8, Q: 8 });
  const opts = { seed: 11, maxEvaluations: 601, algorithm: "random" as const };
  const parallel = searchMapping(arch, problem, ert, { ...opts, threads: 3 });
  // The reference: three searches run one after another in this thread; lowest energy, ties to the first.
  const parts = [0, 1, 2].map((i) => searchMapping(arch, problem, ert, { ...opts, threads: 1, seed: workerSeed(opts.seed, i), maxEvaluations: workerBudget(opts.maxEvaluations, i, 3) }));
  assert.deepEqual(parts.map((p) => p.evaluated), [201, 200, 200]);
  const best = parts.reduce((b, p) => (p.evaluation.energyPj < b.evaluation.energyPj ? p : b));
  assert.deepEqual(parallel.mapping, best.mapping);
  assert.equal(parallel.evaluated, 601);
  assert.equal(parallel.valid, parts.reduce((a, p) => a + p.valid, 0));
  // Derived seeds differ from each other and from the seed itself.
  assert.equal(new Set([opts.seed, ...[0, 1, 2].map((i) => workerSeed(opts.seed, i))]).size, 4);
});

test("parallel mapper: exhaustive search returns the same mapping (ties included) for 1, 2 and 3 threads", () => {
  const arch = tinyArch(), ert = tinyErt(), problem = tinyProblem();
  // A truncated exhaustive search (the first 4000 mappings of the enumeration) keeps the test short;
  // the tiny mapspace has many mappings of equal energy, so the tie-break is exercised.
  const opts = { algorithm: "exhaustive" as const, maxEvaluations: 4000 };
  const one = searchMapping(arch, problem, ert, { ...opts, threads: 1 });
  for (const threads of [2, 3]) {
    const r = searchMapping(arch, problem, ert, { ...opts, threads });
    assert.deepEqual(r.mapping, one.mapping, `threads ${threads}`);
    assert.equal(r.evaluation.energyPj, one.evaluation.energyPj);
    assert.equal(r.evaluated, 4000);
    assert.equal(r.valid, one.valid);
  }
});

test("parallel mapper: errors in a worker reach the caller (an AxnnError stays one) and the budget is checked", () => {
  const arch = tinyArch(), problem = tinyProblem();
  // An ERT without the compute unit: every mapping fails to evaluate, so no valid mapping exists.
  const ert = tinyErt();
  ert.components.delete("mac");
  assert.throws(() => searchMapping(arch, problem, ert, { algorithm: "random", maxEvaluations: 50, threads: 2 }), (e: unknown) => isAxnnError(e) && /no valid mapping found/.test((e as Error).message));
  // A malformed problem (a programming error, not an input error: parsed problems always have
  // projections) fails only inside the workers' evaluations; it surfaces as a worker failure naming the cause.
  const broken = tinyProblem();
  broken.dataSpaces[0]!.projection = null as unknown as [];
  assert.throws(() => searchMapping(arch, broken, tinyErt(), { algorithm: "random", maxEvaluations: 50, threads: 2 }), /mapper worker thread failed: TypeError/);
  assert.throws(() => searchMapping(arch, problem, tinyErt(), { threads: 0 }), (e: unknown) => isAxnnError(e) && /threads/.test((e as Error).message));
});

test("parallel mapper: a process that searched with workers exits by itself", () => {
  const script = `
    import { loadDesign } from "./dist/src/energy/presets.js";
    import { convProblem } from "./dist/src/energy/problem.js";
    import { searchMapping } from "./dist/src/energy/mapper.js";
    const { arch, ert } = loadDesign("eyeriss");
    const r = searchMapping(arch, convProblem({ C: 8, M: 8, R: 3, S: 3, P: 8, Q: 8 }), ert, { seed: 1, maxEvaluations: 100, threads: 2 });
    console.log(r.evaluated);`;
  const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: REPO_ROOT, encoding: "utf8", timeout: 30_000 });
  assert.equal(out.error, undefined);
  assert.equal(out.status, 0, out.stderr);
  assert.equal(out.stdout.trim(), "100");
});

function smallNet(): NetworkLayer[] {
  return [
    convLayer("a", { inChannels: 8, outChannels: 16, inSize: 8, kernel: 3 }),
    convLayer("b", { inChannels: 8, outChannels: 16, inSize: 8, kernel: 3 }),
    convLayer("c", { inChannels: 16, outChannels: 16, inSize: 8, kernel: 3, stride: 2 }),
    depthwiseLayer("dw", { inChannels: 16, inSize: 8, kernel: 3, stride: 2 }),
    denseLayer("fc", { inFeatures: 256, outFeatures: 10 }),
  ];
}

test("parallel network plan: equal to the sequential plan; the cache it writes serves a later run", () => {
  const { arch, ert } = loadDesign("eyeriss");
  const opts = { maxEvaluations: 150, seed: 3 };
  const sequential = planNetwork(arch, ert, smallNet(), { ...opts, cache: false, threads: 1 });
  const cacheDir = mkdtempSync(join(tmpdir(), "axnn-parallel-plan-"));
  const parallel = planNetwork(arch, ert, smallNet(), { ...opts, cacheDir, threads: 2 });
  assert.deepEqual(parallel.shapeOf, sequential.shapeOf);
  assert.equal(parallel.shapes.length, 4);
  parallel.shapes.forEach((s, i) => {
    const seq = sequential.shapes[i]!;
    assert.equal(s.fromCache, false);
    assert.equal(s.key, seq.key);
    assert.deepEqual(s.mapping, seq.mapping);
    assert.deepEqual(s.evaluation, seq.evaluation);
    assert.equal(s.evaluated, seq.evaluated);
    assert.deepEqual(s.droppedConstraints, seq.droppedConstraints);
  });
  // One complete file per shape (atomic writes leave no temporary files), all read back by a sequential run.
  assert.deepEqual(readdirSync(cacheDir).sort(), parallel.shapes.map((s) => `${s.key}.json`).sort());
  const warm = planNetwork(arch, ert, smallNet(), { ...opts, cacheDir, threads: 1 });
  assert.ok(warm.shapes.every((s) => s.fromCache));
  warm.shapes.forEach((s, i) => assert.deepEqual(s.mapping, sequential.shapes[i]!.mapping));
});

/** Runs `axnn energy ...` in-process and returns stdout. */
const runCli = (args: string[]): Promise<string> => runCommand(registerEnergy, ["energy", ...args]);

test("CLI: --threads and --evaluations reach the mapper; a bad --threads names the flag", needsSharedData, async () => {
  const problem = join(SHARED_DATA, "timeloop-reference", "v4_eyeriss_like_default", "default_problem.yaml");
  const args = ["layer", "--arch", "eyeriss", "--problem", problem, "--evaluations", "300", "--seed", "4", "--json"];
  const two = JSON.parse(await runCli([...args, "--threads", "2"]));
  assert.equal(two.search.threads, 2);
  assert.equal(two.search.evaluated, 300);
  // The same search through the API, 2 threads: the CLI adds nothing of its own.
  const { arch, ert } = loadDesign("eyeriss");
  const api = searchMapping(arch, loadProblem(problem), ert, { seed: 4, maxEvaluations: 300, threads: 2 });
  assert.equal(two.energy_pj, api.evaluation.energyPj);
  await assert.rejects(runCli([...args, "--threads", "0"]), (e: unknown) => isAxnnError(e) && /--threads/.test((e as Error).message));
  const net = JSON.parse(await runCli(["net", "--zoo", "resnet8", "--arch", "simba", "--evaluations", "40", "--threads", "2", "--no-cache", "--json"]));
  // The same network planned in this thread, 1 thread: the parallel CLI run must give the same energy.
  const simba = loadDesign("simba");
  const total = evaluatePlan(planNetwork(simba.arch, simba.ert, zooLayers("resnet8"), { maxEvaluations: 40, seed: 1, cache: false, threads: 1 })).totals.energyPj;
  assert.equal(net.energy_pj, total);
});
