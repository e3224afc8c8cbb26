import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { applyConstraintTargets, loadArchitecture } from "../src/energy/arch.js";
import { loadErt } from "../src/energy/ert.js";
import { loadMapping } from "../src/energy/mapping.js";
import { evaluate, type DataSpaceStats, type Evaluation } from "../src/energy/model.js";
import { loadDesign, type LoadedDesign } from "../src/energy/presets.js";
import { loadProblem } from "../src/energy/problem.js";
import { parseTimeloopStats, type TimeloopStats } from "../src/energy/timeloop-stats.js";
import { readYamlFile } from "../src/energy/yaml.js";
import { dataPath } from "../src/util/paths.js";
import { needsSharedData, SHARED_DATA, skipUnless } from "./shared.js";

/**
 * ../shared/data/timeloop-crosscheck: mappings axnn's mapper chose (and Timeloop's own), evaluated by
 * the real Timeloop model. The reference build is `timeloop-model.stats.txt` (v3.0.3 for the v0.3
 * designs, the 2024 build for v0.4, as the data's README names them).
 */
const CROSS = join(SHARED_DATA, "timeloop-crosscheck");
const crossSkip = { skip: needsSharedData.skip || skipUnless(existsSync(CROSS), `needs ${CROSS}`, "AXNN_REQUIRE_SHARED") };

/** The design a case was run on, as the data's README describes it. */
function designOf(caseName: string): LoadedDesign {
  const v03 = /_v03$/.test(caseName);
  const family = /eyeriss/.test(caseName) ? "eyeriss" : "simba";
  const preset = v03 ? `${family}-v03` : family;
  if (!/^mobilenet_dw/.test(caseName)) return loadDesign(preset);
  // Depthwise layers have no M: the preset's constraints with the M entries removed.
  if (v03) {
    const arch = loadArchitecture(dataPath("energy", preset, "arch.yaml"));
    const cons = join(CROSS, "common", `v03_${family}_like.arch_constraints.no_M.yaml`);
    applyConstraintTargets(arch, readYamlFile(cons), cons);
    return { arch, ert: loadErt(dataPath("energy", preset, "ERT_summary.yaml")) };
  }
  return { arch: loadArchitecture(join(CROSS, "common", `v4_${family}_arch.no_M.yaml`)), ert: loadErt(dataPath("energy", preset, "ERT_summary.yaml")) };
}

/** Timeloop prints energies to 0.01 pJ: a level agrees when within 1e-6 relative or that rounding. */
function assertEnergy(ours: number, theirs: number, what: string): void {
  const tol = Math.max(1e-6 * Math.abs(theirs), 0.006);
  assert.ok(Math.abs(ours - theirs) <= tol, `${what}: axnn ${ours} pJ vs Timeloop ${theirs} pJ (ratio ${(ours / theirs).toFixed(6)})`);
}

function assertMatchesTimeloop(ev: Evaluation, tl: TimeloopStats, where: string): void {
  assert.equal(ev.cycles, tl.cycles, `${where}: cycles`);
  assert.equal(ev.macs, tl.computes, `${where}: MACs`);
  assertEnergy(ev.compute.energyPj, tl.computeEnergyPj, `${where}: compute`);
  for (const level of tl.levels) {
    const ours = ev.levels.find((l) => l.name === level.name);
    assert.ok(ours, `${where}: level ${level.name}`);
    assertEnergy(ours.energyPj, level.energyPj, `${where}: ${level.name}`);
    for (const [name, t] of Object.entries(level.dataSpaces)) {
      const d: DataSpaceStats | undefined = ours.dataSpaces.find((x) => x.name === name);
      assert.ok(d, `${where}: ${level.name}.${name}`);
      assert.deepEqual(
        [d.reads, d.fills, d.updates, d.tile, ours.utilizedInstances, ours.utilizedClusters],
        [t.reads, t.fills, t.updates, t.utilizedCapacity, t.utilizedInstances, t.utilizedClusters],
        `${where}: ${level.name}.${name} reads/fills/updates/tile/instances/clusters`,
      );
    }
  }
  // Levels Timeloop does not list keep nothing (or are v0.4 spatial placeholders).
  for (const l of ev.levels) if (!tl.levels.some((t) => t.name === l.name)) assert.equal(l.energyPj, 0, `${where}: ${l.name} not in Timeloop's stats`);
  // Total: 1e-6 relative against the sum of the printed per-level energies.
  assert.ok(Math.abs(ev.energyPj - tl.energyPj) <= 1e-6 * tl.energyPj, `${where}: total ${ev.energyPj} vs ${tl.energyPj} pJ (ratio ${(ev.energyPj / tl.energyPj).toFixed(6)})`);
}

const cases = existsSync(CROSS) ? readdirSync(CROSS).filter((d) => existsSync(join(CROSS, d, "axnn.map.txt"))).sort() : [];

test("the cross-check holds 25 cases of axnn's own mappings", crossSkip, () => {
  assert.equal(cases.length, 25);
});

for (const name of cases) {
  test(`cross-check ${name}: axnn's mapping reproduces the reference Timeloop build's stats (levels 1e-6 or 0.01 pJ, cycles exact)`, crossSkip, () => {
    const dir = join(CROSS, name);
    const { arch, ert } = designOf(name);
    const problem = loadProblem(join(dir, "problem.yaml"));
    const tl = parseTimeloopStats(readFileSync(join(dir, "timeloop-model.stats.txt"), "utf8"), join(dir, "timeloop-model.stats.txt"));
    const fromYaml = evaluate(arch, problem, loadMapping(join(dir, "mapping.yaml"), arch, problem), ert);
    assertMatchesTimeloop(fromYaml, tl, name);
    // The map.txt printout is the same mapping.
    const fromTxt = evaluate(arch, problem, loadMapping(join(dir, "axnn.map.txt"), arch, problem), ert);
    assert.equal(fromTxt.energyPj, fromYaml.energyPj);
    assert.equal(fromTxt.cycles, fromYaml.cycles);
  });
}

/** The layer of a case without its own problem.yaml (the AlexNet sanity checks). */
function problemOf(dir: string, caseName: string): string {
  const own = join(dir, "problem.yaml");
  if (existsSync(own)) return own;
  return join(CROSS, caseName.replace(/^sanity_ref_/, ""), "problem.yaml");
}

const sanity = existsSync(CROSS) ? readdirSync(CROSS).filter((d) => d.startsWith("sanity_ref_")).sort() : [];
for (const name of sanity) {
  test(`cross-check ${name}: Timeloop's own reference mapping reproduces the reference build's stats`, crossSkip, () => {
    const dir = join(CROSS, name);
    const { arch, ert } = designOf(name.replace(/^sanity_ref_/, "").replace(/^default_/, ""));
    const problem = loadProblem(problemOf(dir, name));
    const tl = parseTimeloopStats(readFileSync(join(dir, "timeloop-model.stats.txt"), "utf8"));
    assertMatchesTimeloop(evaluate(arch, problem, loadMapping(join(dir, "mapping.yaml"), arch, problem), ert), tl, name);
  });
}

const tlmapper = existsSync(CROSS) ? readdirSync(CROSS).filter((d) => d.startsWith("tlmapper_")).sort() : [];
for (const name of tlmapper) {
  test(`cross-check ${name}: Timeloop v3.0.3's mapper output (factors "C1 M8", map.txt without << Compute >>) reads and reproduces its stats`, crossSkip, () => {
    const dir = join(CROSS, name);
    const { arch, ert } = designOf(name.replace(/^tlmapper_/, ""));
    const problem = loadProblem(join(dir, "problem.yaml"));
    assert.match(readFileSync(join(dir, "timeloop-mapper.map.yaml"), "utf8"), /factors: C\d+ M\d+/);
    assert.doesNotMatch(readFileSync(join(dir, "timeloop-mapper.map.txt"), "utf8"), /<< Compute >>/);
    const fromYaml = evaluate(arch, problem, loadMapping(join(dir, "timeloop-mapper.map.yaml"), arch, problem), ert);
    const fromTxt = evaluate(arch, problem, loadMapping(join(dir, "timeloop-mapper.map.txt"), arch, problem), ert);
    assert.equal(fromTxt.energyPj, fromYaml.energyPj);
    const tl = parseTimeloopStats(readFileSync(join(dir, "timeloop-mapper.stats.txt"), "utf8"));
    assertMatchesTimeloop(fromYaml, tl, name);
  });
}

test("the full Accelergy ERT.yaml Timeloop read prices every action as the presets' ERT summaries do (max over arguments)", crossSkip, () => {
  for (const [preset, full] of [["eyeriss-v03", "v03_eyeriss_like.ERT.yaml"], ["simba-v03", "v03_simba_like.ERT.yaml"], ["eyeriss", "v4_eyeriss_like.ERT.yaml"], ["simba", "v4_simba_like.ERT.yaml"]] as const) {
    const summary = loadErt(dataPath("energy", preset, "ERT_summary.yaml"));
    const ert = loadErt(join(CROSS, "common", full));
    for (const [name, table] of summary.components) {
      const t = ert.components.get(name);
      assert.ok(t, `${preset}: ${name} in ${full}`);
      for (const [action, e] of Object.entries(table)) assert.ok(Math.abs(t[action]! - e) <= 1e-9 * Math.max(1, e), `${preset}: ${name}.${action} ${t[action]} vs ${e}`);
    }
  }
});
