import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadMapping } from "../src/energy/mapping.js";
import { searchMapping } from "../src/energy/mapper.js";
import { evaluate } from "../src/energy/model.js";
import { loadDesign } from "../src/energy/presets.js";
import { loadProblem, parseProblem } from "../src/energy/problem.js";
import { parseYamlText } from "../src/energy/yaml.js";
import { needsSharedData, SHARED_DATA } from "./shared.js";
import { tinyDesign } from "./energy-toy.js";

const REF = join(SHARED_DATA, "timeloop-reference");

const LAYERS = [
  { dir: "v4_eyeriss_like_default", problem: "default_problem.yaml", preset: "eyeriss" },
  { dir: "v4_simba_like_default", problem: "default_problem.yaml", preset: "simba" },
  { dir: "v4_ispass06_eyeriss_vgg02_layer5", problem: "VGG02_layer5.yaml", preset: "eyeriss" },
];

for (const layer of LAYERS) {
  test(`mapper: ${layer.dir} finds a mapping with no more energy than Timeloop's (its time: npm run bench)`, needsSharedData, () => {
    const { arch, ert } = loadDesign(layer.preset);
    const problem = loadProblem(join(REF, layer.dir, layer.problem));
    const reference = evaluate(arch, problem, loadMapping(join(REF, layer.dir, "timeloop-mapper.map.txt"), arch, problem), ert);
    // An evaluation budget (not a time budget) keeps the test deterministic.
    const r = searchMapping(arch, problem, ert, { objective: "energy", seed: 1, maxEvaluations: 3000 });
    assert.ok(r.evaluation.energyPj <= reference.energyPj, `${r.evaluation.energyPj} > reference ${reference.energyPj}`);
    // The mapping it returns is a valid one (coverage, meshes, capacities, keep/bypass) and evaluates the same.
    assert.equal(evaluate(arch, problem, r.mapping, ert).energyPj, r.evaluation.energyPj);
    // Architecture constraints hold: psum_spad / PEAccuBuffer keep only outputs, weights bypass the global buffer.
    const keepNames = (name: string) => problem.dataSpaces.filter((_, d) => r.mapping.levels[arch.levels.findIndex((l) => l.name === name)]!.keep[d]).map((d) => d.name);
    if (layer.preset === "eyeriss") {
      assert.deepEqual(keepNames("psum_spad"), ["Outputs"]);
      assert.deepEqual(keepNames("shared_glb"), ["Inputs", "Outputs"]);
      // psum_spad may only iterate over M (its temporal factors fix every other dimension to 1).
      const psum = r.mapping.levels[arch.levels.findIndex((l) => l.name === "psum_spad")]!;
      assert.ok(psum.temporal.every((l) => problem.dims[l.dim] === "M"));
    } else {
      assert.deepEqual(keepNames("PEAccuBuffer"), ["Outputs"]);
      assert.deepEqual(keepNames("GlobalBuffer"), ["Inputs", "Outputs"]);
    }
  });
}

test("mapper: the same seed and budget give the same mapping; objectives trade energy for delay", needsSharedData, () => {
  const { arch, ert } = loadDesign("eyeriss");
  const problem = loadProblem(join(REF, "v4_eyeriss_like_default", "default_problem.yaml"));
  const a = searchMapping(arch, problem, ert, { seed: 7, maxEvaluations: 600 });
  const b = searchMapping(arch, problem, ert, { seed: 7, maxEvaluations: 600 });
  assert.deepEqual(a.mapping, b.mapping);
  const delay = searchMapping(arch, problem, ert, { seed: 7, maxEvaluations: 1500, objective: "delay" });
  const energy = searchMapping(arch, problem, ert, { seed: 7, maxEvaluations: 1500, objective: "energy" });
  assert.ok(delay.evaluation.cycles <= energy.evaluation.cycles);
  assert.ok(energy.evaluation.energyPj <= delay.evaluation.energyPj);
});

test("mapper: exhaustive search on a small mapspace is never beaten by random samples of it", () => {
  const { arch, ert } = tinyDesign({ bufDepth: 16, meshX: 2, rfDepth: 4 });
  const problem = parseProblem(parseYamlText("problem:\n  instance: {C: 2, M: 2, R: 3, S: 1, N: 1, P: 4, Q: 1}\n", "p.yaml"), "p.yaml");
  const ex = searchMapping(arch, problem, ert, { algorithm: "exhaustive", timeLimitMs: 60_000 });
  assert.equal(ex.algorithm, "exhaustive");
  assert.equal(ex.evaluated, ex.mapspaceSize);
  assert.ok(ex.valid > 0);
  const auto = searchMapping(arch, problem, ert, { timeLimitMs: 60_000 });
  assert.equal(auto.algorithm, "exhaustive");
  for (const seed of [1, 2, 3]) {
    const rnd = searchMapping(arch, problem, ert, { algorithm: "random", seed, maxEvaluations: 300 });
    assert.ok(ex.evaluation.energyPj <= rnd.evaluation.energyPj);
    const sa = searchMapping(arch, problem, ert, { algorithm: "anneal", seed, maxEvaluations: 600 });
    assert.ok(ex.evaluation.energyPj <= sa.evaluation.energyPj);
  }
});

test("mapper: on a 2x2 mesh it never splits one dimension over both X and Y (outside Timeloop's mapspace), and finds the best expressible mapping", async () => {
  const { parseArchitecture } = await import("../src/energy/arch.js");
  const { parseErtSummary } = await import("../src/energy/ert.js");
  const { timeloopInexpressible } = await import("../src/energy/mapping.js");
  const { convProblem } = await import("../src/energy/problem.js");
  const yaml = "architecture:\n  version: 0.4\n  nodes:\n  - !Component {name: Mem, class: DRAM, attributes: {width: 8, datawidth: 8}}\n  - !Component {name: RF, class: regfile, spatial: {meshX: 2, meshY: 2}, attributes: {depth: 4, width: 8, datawidth: 8}}\n  - !Component {name: mac, class: intmac, attributes: {multiplier_width: 8, adder_width: 16}}\n";
  const arch = parseArchitecture(parseYamlText(yaml, "xy.yaml"), "xy.yaml");
  const ert = parseErtSummary(parseYamlText("ERT_summary:\n  table_summary:\n  - {name: Mem, actions: [{name: read, energy: 10}, {name: write, energy: 10}, {name: update, energy: 10}]}\n  - {name: RF, actions: [{name: read, energy: 1}, {name: write, energy: 1}, {name: update, energy: 1}]}\n  - {name: mac, actions: [{name: compute, energy: 1}]}\n", "xy-ert.yaml"), "xy-ert.yaml");
  // M = 4 alone could only fill the 2x2 mesh as M2 x M2; with P = 2 it can be M on X and P on Y.
  const problem = convProblem({ C: 1, M: 4, R: 1, S: 1, N: 1, P: 2, Q: 1 });
  const r = searchMapping(arch, problem, ert, { algorithm: "exhaustive", objective: "delay", maxEvaluations: 100000 });
  assert.equal(timeloopInexpressible(r.mapping, arch, problem), null);
  assert.equal(r.evaluation.cycles, 2); // 8 MACs on 4 MACs
  const only = searchMapping(arch, convProblem({ C: 1, M: 4, R: 1, S: 1, N: 1, P: 1, Q: 1 }), ert, { algorithm: "exhaustive", objective: "delay", maxEvaluations: 100000 });
  assert.equal(timeloopInexpressible(only.mapping, arch, convProblem({ C: 1, M: 4, R: 1, S: 1, N: 1, P: 1, Q: 1 })), null);
  assert.equal(only.evaluation.cycles, 2); // M2 x M2 would take 1 cycle, but Timeloop cannot express it
});
