import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerEnergy } from "../src/cli/energy.js";
import { parseTimeloopStats } from "../src/energy/timeloop-stats.js";
import { AxnnError } from "../src/util/errors.js";
import { needsSharedData, SHARED_DATA, SHARED_LUT_DIR, SHARED_METRICS_CSV } from "./shared.js";
import { runCommand } from "./cli-inprocess.js";

const REF = join(SHARED_DATA, "timeloop-reference");
const EYERISS = join(REF, "v4_eyeriss_like_default");

/** Runs `axnn energy ...` in-process and returns stdout. */
const run = (args: string[]): Promise<string> => runCommand(registerEnergy, ["energy", ...args]);

const refArgs = [
  "--arch", join(EYERISS, "arch.at_ref_commit_67b75f2.yaml"),
  "--ert", join(EYERISS, "timeloop-mapper.ERT_summary.yaml"),
  "--problem", join(EYERISS, "default_problem.yaml"),
  "--map", join(EYERISS, "timeloop-mapper.map.txt"),
];

test("cli: energy layer --map --json reproduces the reference and has the documented fields", needsSharedData, async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-energy-"));
  const json = JSON.parse(await run(["layer", ...refArgs, "--json", "--out", join(dir, "r.json")]));
  const stats = parseTimeloopStats(readFileSync(join(EYERISS, "timeloop-mapper.stats.txt"), "utf8"));
  assert.ok(Math.abs(json.energy_pj - stats.energyPj) / stats.energyPj < 1e-6);
  assert.equal(json.cycles, stats.cycles);
  assert.equal(json.macs, stats.computes);
  assert.ok(Math.abs(json.utilization - stats.utilization) < 1e-4);
  // Timeloop prints energies to 0.01 pJ.
  for (const l of stats.levels) assert.ok(Math.abs(json.levels[l.name] - l.energyPj) <= Math.max(1e-6 * l.energyPj, 0.006), l.name);
  assert.ok(Math.abs(json.levels.mac - stats.computeEnergyPj) <= 0.006);
  assert.ok(Array.isArray(json.mapping) && json.mapping.length === 7);
  assert.match(json.map_txt, /<< Compute >>/);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "r.json"), "utf8")), json);
  // The table form prints the same total.
  const table = await run(["layer", ...refArgs]);
  assert.match(table, /energy\s+: 59\.280 uJ/);
  assert.match(table, /cycles\s+: 86016/);
});

test("cli: --mult scales only the multiplier's share of the MAC energy by its power ratio", needsSharedData, async () => {
  const base = JSON.parse(await run(["layer", ...refArgs, "--json"]));
  const lut = join(SHARED_LUT_DIR, "mul8u_125K.bin");
  const approx = JSON.parse(await run(["layer", ...refArgs, "--json", "--mult", lut]));
  // Power of mul8u_125K and of the exact mul8u_1JFF from the EvoApproxLib metrics table.
  const csv = readFileSync(SHARED_METRICS_CSV, "utf8").split("\n");
  const power = (name: string) => Number(csv.find((l) => l.startsWith(`${name},`))!.split(",")[2]);
  const ratio = power("mul8u_125K") / power("mul8u_1JFF");
  // Split: Aladdin 40 nm, 8-bit multiplier = 12.7 pJ * (8/32)^2, 16-bit adder = 0.21 pJ * 16/32.
  const mul = 12.7 / 16, add = 0.21 / 2;
  const share = mul / (mul + add);
  const expectedMac = base.levels.mac * (1 - share + share * ratio);
  assert.ok(Math.abs(approx.levels.mac - expectedMac) < 1e-6 * expectedMac, `${approx.levels.mac} vs ${expectedMac}`);
  assert.ok(approx.levels.mac < base.levels.mac);
  for (const name of ["DRAM", "shared_glb", "psum_spad"]) assert.equal(approx.levels[name], base.levels[name]);
  assert.ok(Math.abs(approx.energy_pj - (base.energy_pj - base.levels.mac + approx.levels.mac)) < 1e-3);
  assert.equal(approx.multiplier.name, "mul8u_125K");
});

test("cli: without --map the mapper searches (seeded) and reports what it did", needsSharedData, async () => {
  const json = JSON.parse(await run(["layer", "--arch", "simba", "--problem", join(REF, "v4_simba_like_default", "default_problem.yaml"), "--time-limit", "1", "--objective", "edp", "--json"]));
  assert.equal(json.search.objective, "edp");
  assert.ok(json.search.valid > 0);
  assert.ok(json.energy_pj > 0 && Number.isFinite(json.energy_pj));
  assert.ok(json.cycles >= json.macs / 256);
});

test("cli: --write-mapping writes the searched mapping as Timeloop mapping YAML that --map reads back to the same result", needsSharedData, async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-energy-"));
  for (const [arch, problem] of [["eyeriss", join(EYERISS, "default_problem.yaml")], ["simba-v03", join(REF, "v4_simba_like_default", "default_problem.yaml")]] as const) {
    const file = join(dir, `${arch}.yaml`);
    const searched = JSON.parse(await run(["layer", "--arch", arch, "--problem", problem, "--evaluations", "400", "--json", "--write-mapping", file]));
    const text = readFileSync(file, "utf8");
    assert.match(text, /^mapping:\n  - target: /);
    assert.match(text, /type: spatial\n    factors: C=\d+ M=\d+/);
    const again = JSON.parse(await run(["layer", "--arch", arch, "--problem", problem, "--map", file, "--json"]));
    assert.equal(again.energy_pj, searched.energy_pj, arch);
    assert.equal(again.cycles, searched.cycles, arch);
    assert.deepEqual(again.mapping, searched.mapping, arch);
    assert.deepEqual(again.details, searched.details, arch);
  }
});

test("mapping YAML: a mapping Timeloop's format cannot express (one dimension over both X and Y of a level) is refused, not written wrong", async () => {
  const { mappingToYaml, timeloopInexpressible } = await import("../src/energy/mapping.js");
  const { parseArchitecture } = await import("../src/energy/arch.js");
  const { parseYamlText } = await import("../src/energy/yaml.js");
  const { convProblem } = await import("../src/energy/problem.js");
  const yaml = "architecture:\n  version: 0.4\n  nodes:\n  - !Component {name: Mem, class: DRAM, attributes: {width: 8, datawidth: 8}}\n  - !Component {name: RF, class: regfile, spatial: {meshX: 2, meshY: 2}, attributes: {depth: 4, width: 8, datawidth: 8}}\n  - !Component {name: mac, class: intmac, attributes: {multiplier_width: 8, adder_width: 16}}\n";
  const arch = parseArchitecture(parseYamlText(yaml, "xy.yaml"), "xy.yaml");
  const problem = convProblem({ C: 1, M: 4, R: 1, S: 1, N: 1, P: 1, Q: 1 });
  const M = problem.dims.indexOf("M");
  const glb = arch.levels.findIndex((l) => l.fanoutX > 1 && l.fanoutY > 1);
  assert.equal(arch.levels[glb]!.name, "Mem");
  const levels = arch.levels.map(() => ({ temporal: [], spatial: [] as { dim: number; bound: number; spatial: "X" | "Y" }[], keep: [true, true, true] }));
  levels[glb]!.spatial = [{ dim: M, bound: 2, spatial: "X" }, { dim: M, bound: 2, spatial: "Y" }];
  assert.match(timeloopInexpressible({ levels }, arch, problem) ?? "", /splits M over both X and Y/);
  assert.throws(() => mappingToYaml({ levels }, arch, problem), (e: unknown) => e instanceof AxnnError && /cannot be written as Timeloop mapping YAML/.test(e.message));
  levels[glb]!.spatial = [{ dim: M, bound: 4, spatial: "X" }];
  assert.equal(timeloopInexpressible({ levels }, arch, problem), null);
});

test("cli: a typo in an architecture attribute stops energy layer; --lenient runs it with a warning on stderr", needsSharedData, async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-energy-"));
  const typo = join(dir, "arch.yaml");
  writeFileSync(typo, readFileSync(join(EYERISS, "arch.at_ref_commit_67b75f2.yaml"), "utf8").replace(/datawidth: 16/, "datawith: 16"));
  const args = ["layer", "--arch", typo, "--ert", join(EYERISS, "timeloop-mapper.ERT_summary.yaml"), "--problem", join(EYERISS, "default_problem.yaml"), "--map", join(EYERISS, "timeloop-mapper.map.txt"), "--json"];
  await assert.rejects(run(args), (e: unknown) => e instanceof AxnnError && /arch\.yaml: .*attributes\.datawith: unknown attribute "datawith" of \w+; did you mean "datawidth"\?/.test(e.message));
  let err = "";
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => ((err += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const json = JSON.parse(await run([...args, "--lenient"]));
    assert.ok(json.energy_pj > 0);
  } finally {
    process.stderr.write = original;
  }
  assert.match(err, /^axnn: warning: .*arch\.yaml: .*unknown attribute "datawith" .*ignored\n$/);
});

test("cli: user mistakes are AxnnErrors naming the flag or file", needsSharedData, async () => {
  await assert.rejects(run(["layer", "--arch", join(EYERISS, "arch.at_ref_commit_67b75f2.yaml"), "--problem", join(EYERISS, "default_problem.yaml")]), (e: unknown) => e instanceof AxnnError && /--ert/.test(e.message));
  await assert.rejects(run(["layer", ...refArgs, "--objective", "speed"]), (e: unknown) => e instanceof AxnnError && /--objective/.test(e.message));
  await assert.rejects(run(["layer", "--arch", "eyeriss", "--problem", join(EYERISS, "nope.yaml")]), (e: unknown) => e instanceof AxnnError && /nope\.yaml: cannot read file/.test(e.message));
});

test("approx: without a published power the netlist is priced against the exact netlist; the split follows the widths", async () => {
  const { computeScaleFor, multiplierShare } = await import("../src/energy/approx.js");
  const { generate } = await import("../src/multipliers/generators/index.js");
  const { loadDesign } = await import("../src/energy/presets.js");
  const { arch } = loadDesign("eyeriss");
  const exact = generate("exact", { signed: false, n: 8 });
  const noFigure = { ...exact.multiplier, meta: { ...exact.multiplier.meta, powerMw: undefined } };
  const s = computeScaleFor(noFigure, arch.compute, { netlist: exact.netlist });
  assert.equal(s.powerSource, "netlist estimate");
  assert.ok(Math.abs(s.powerRatio - 1) < 1e-12);
  assert.ok(Math.abs(s.scale - 1) < 1e-12);
  assert.throws(() => computeScaleFor(noFigure, arch.compute), (e: unknown) => e instanceof AxnnError && /--mult/.test(e.message));
  // A 16-bit multiplier with a 32-bit adder: 12.7*(1/2)^2 vs 0.21*1.
  const wide = multiplierShare({ ...arch.compute, multiplierWidth: 16, adderWidth: 32 });
  assert.ok(Math.abs(wide - 3.175 / (3.175 + 0.21)) < 1e-12);
});
