import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArchitecture, loadArchitecture, type Architecture } from "../src/energy/arch.js";
import { loadErt, parseErtSummary, type Ert } from "../src/energy/ert.js";
import { loadMapping, mappingToYaml, parseMapTxt, parseMappingYaml } from "../src/energy/mapping.js";
import { evaluate, type DataSpaceStats } from "../src/energy/model.js";
import { loadDesign } from "../src/energy/presets.js";
import { loadProblem, parseProblem, type Problem } from "../src/energy/problem.js";
import { formatMapTxt } from "../src/energy/report.js";
import { parseTimeloopStats } from "../src/energy/timeloop-stats.js";
import { parseYamlText } from "../src/energy/yaml.js";
import { AxnnError } from "../src/util/errors.js";
import { needsSharedData, SHARED_DATA } from "./shared.js";

const REF = join(SHARED_DATA, "timeloop-reference");

const REFERENCES = [
  { dir: "v4_eyeriss_like_default", arch: "arch.at_ref_commit_67b75f2.yaml", problem: "default_problem.yaml", preset: "eyeriss" },
  { dir: "v4_simba_like_default", arch: "arch.at_ref_commit_67b75f2.yaml", problem: "default_problem.yaml", preset: "simba" },
  { dir: "v4_ispass06_eyeriss_vgg02_layer5", arch: "eyeriss_like.yaml", problem: "VGG02_layer5.yaml", preset: "eyeriss" },
];

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

for (const ref of REFERENCES) {
  test(`${ref.dir}: Timeloop's own mapping reproduces stats.txt (total 1e-6, levels 1e-6 or the printed 0.01 pJ, cycles exact)`, needsSharedData, () => {
    const dir = join(REF, ref.dir);
    const arch = loadArchitecture(join(dir, ref.arch));
    const ert = loadErt(join(dir, "timeloop-mapper.ERT_summary.yaml"));
    const problem = loadProblem(join(dir, ref.problem));
    const mapping = loadMapping(join(dir, "timeloop-mapper.map.txt"), arch, problem);
    const ev = evaluate(arch, problem, mapping, ert);
    const stats = parseTimeloopStats(readFileSync(join(dir, "timeloop-mapper.stats.txt"), "utf8"));

    assert.equal(ev.cycles, stats.cycles);
    assert.equal(ev.macs, stats.computes);
    assert.ok(Math.abs(ev.utilization - stats.utilization) < 1e-4, `utilization ${ev.utilization} vs ${stats.utilization}`);
    assert.ok(relErr(ev.energyPj, stats.energyPj) < 1e-6, `total ${ev.energyPj} vs ${stats.energyPj}`);
    // The summary line has 4 digits; our total must round to it.
    assert.ok(Math.abs(ev.energyPj / 1e6 - stats.summaryEnergyUj) <= 0.006, `summary ${stats.summaryEnergyUj} uJ`);
    // Timeloop prints energies to 0.01 pJ: agreement is 1e-6 relative or that rounding.
    const close = (ours: number, theirs: number) => Math.abs(ours - theirs) <= Math.max(1e-6 * theirs, 0.006);
    assert.ok(close(ev.compute.energyPj, stats.computeEnergyPj), `compute ${ev.compute.energyPj} vs ${stats.computeEnergyPj}`);
    assert.equal(stats.levels.length, ev.levels.filter((l) => l.dataSpaces.length > 0).length);
    for (const tl of stats.levels) {
      const ours = ev.levels.find((l) => l.name === tl.name);
      assert.ok(ours, `level ${tl.name}`);
      assert.ok(close(ours.energyPj, tl.energyPj), `${tl.name}: ${ours.energyPj} vs ${tl.energyPj}`);
      assert.ok(close(ours.leakagePj, tl.leakagePj), `${tl.name} leakage ${ours.leakagePj} vs ${tl.leakagePj}`);
      // Beyond the tolerances: every per-instance count is Timeloop's.
      for (const [name, t] of Object.entries(tl.dataSpaces)) {
        const d: DataSpaceStats | undefined = ours.dataSpaces.find((x) => x.name === name);
        assert.ok(d, `${tl.name}.${name}`);
        assert.equal(d.reads, t.reads, `${tl.name}.${name} reads`);
        assert.equal(d.fills, t.fills, `${tl.name}.${name} fills`);
        assert.equal(d.updates, t.updates, `${tl.name}.${name} updates`);
        assert.equal(d.tile, t.utilizedCapacity, `${tl.name}.${name} tile`);
        assert.equal(ours.utilizedInstances, t.utilizedInstances, `${tl.name}.${name} instances`);
      }
    }
  });

  test(`${ref.dir}: the built-in preset "${ref.preset}" gives the same result as the reference files`, needsSharedData, () => {
    const dir = join(REF, ref.dir);
    const fromFiles = (() => {
      const arch = loadArchitecture(join(dir, ref.arch));
      const problem = loadProblem(join(dir, ref.problem));
      return evaluate(arch, problem, loadMapping(join(dir, "timeloop-mapper.map.txt"), arch, problem), loadErt(join(dir, "timeloop-mapper.ERT_summary.yaml")));
    })();
    const { arch, ert } = loadDesign(ref.preset);
    const problem = loadProblem(join(dir, ref.problem));
    const ev = evaluate(arch, problem, loadMapping(join(dir, "timeloop-mapper.map.txt"), arch, problem), ert);
    assert.ok(relErr(ev.energyPj, fromFiles.energyPj) < 1e-12);
    assert.equal(ev.cycles, fromFiles.cycles);
  });

  test(`${ref.dir}: map.txt printout and mapping YAML read back to the same mapping`, needsSharedData, () => {
    const dir = join(REF, ref.dir);
    const arch = loadArchitecture(join(dir, ref.arch));
    const problem = loadProblem(join(dir, ref.problem));
    const ert = loadErt(join(dir, "timeloop-mapper.ERT_summary.yaml"));
    const mapping = loadMapping(join(dir, "timeloop-mapper.map.txt"), arch, problem);
    const ev = evaluate(arch, problem, mapping, ert);
    const again = parseMapTxt(formatMapTxt(arch, problem, mapping, ev), arch, problem, "printed");
    assert.deepEqual(again, mapping);
    const viaYaml = parseMappingYaml(parseYamlText(mappingToYaml(mapping, arch, problem), "y"), arch, problem, "y");
    assert.equal(evaluate(arch, problem, viaYaml, ert).energyPj, ev.energyPj);
  });
}

test("v0.3 designs: architecture, constraints and ERT load into the normalised form", () => {
  const eyeriss = loadDesign("eyeriss-v03");
  assert.deepEqual(eyeriss.arch.levels.map((l) => l.name), ["DRAM", "shared_glb", "DummyBuffer", "ifmap_spad", "weights_spad", "psum_spad"]);
  assert.deepEqual(eyeriss.arch.levels.map((l) => l.instances), [1, 1, 14, 168, 168, 168]);
  // shared_glb fans out 14 along X (DummyBuffer[0..13], meshX 14), DummyBuffer 12 along Y (PE[0..167], meshX 14).
  assert.deepEqual([eyeriss.arch.levels[1]!.fanoutX, eyeriss.arch.levels[1]!.fanoutY], [14, 1]);
  assert.deepEqual([eyeriss.arch.levels[2]!.fanoutX, eyeriss.arch.levels[2]!.fanoutY], [1, 12]);
  assert.equal(eyeriss.arch.compute.instances, 168);
  assert.deepEqual(eyeriss.arch.levels[5]!.constraints.keep, ["Outputs"]);
  const simba = loadDesign("simba-v03");
  assert.deepEqual(simba.arch.levels.map((l) => l.instances), [1, 1, 16, 64, 64, 256]);
  assert.equal(simba.arch.compute.name, "LMAC");
  assert.equal(simba.arch.levels[1]!.blockSize, 32);
});

test("v0.3 eyeriss: a hand-written row-stationary mapping evaluates, and its counts add up", needsSharedData, () => {
  const { arch, ert } = loadDesign("eyeriss-v03");
  const problem = loadProblem(join(REF, "vidnerova-layer-sweeps", "alexnet", "alexnet_layer2.yaml"));
  // AlexNet layer 2: C=64 M=192 R=S=5 P=Q=27.
  const mapTxt = [
    "DRAM [ Weights:307200 Inputs:50176 Outputs:139968 ]",
    "| for M in [0:24)",
    "|  for C in [0:16)",
    "|   for Q in [0:3)",
    "shared_glb [ Inputs:1612 Outputs:1944 ]",
    "|   for P in [0:27)",
    "|    for Q in [0:9) (Spatial-X)",
    "DummyBuffer [ ]",
    "|     for S in [0:5) (Spatial-Y)",
    "|      for C in [0:2) (Spatial-Y)",
    "ifmap_spad [ Inputs:10 ]",
    "weights_spad [ Weights:80 ]",
    "|       for C in [0:2)",
    "|        for R in [0:5)",
    "psum_spad [ Outputs:8 ]",
    "|         for M in [0:8)",
    "|          << Compute >>",
  ].join("\n");
  const mapping = parseMapTxt(mapTxt, arch, problem, "hand.map.txt");
  const ev = evaluate(arch, problem, mapping, ert);
  assert.equal(ev.macs, 64 * 192 * 25 * 27 * 27);
  // 9 x 10 PEs busy, one MAC per PE per cycle.
  assert.equal(ev.compute.utilizedInstances, 90);
  assert.equal(ev.cycles, ev.macs / 90);
  const sum = ev.compute.energyPj + ev.levels.reduce((a, l) => a + l.energyPj, 0);
  assert.ok(relErr(ev.energyPj, sum) < 1e-12);
  const psum = ev.levels.find((l) => l.name === "psum_spad")!.dataSpaces[0]!;
  // Each PE accumulates once per MAC; the first write of each of its outputs needs no read.
  assert.equal(psum.updates, ev.macs / 90);
  assert.equal(psum.reads, psum.updates - psum.partition);
});

// ------------------------------------------------------------- hand-computed toy

const TOY_ARCH = `
architecture:
  version: 0.4
  nodes:
  - !Container {name: sys}
  - !Component {name: MainMem, class: DRAM, attributes: {width: 8, datawidth: 8}}
  - !Component {name: Buf, class: SRAM, attributes: {depth: 64, width: 8, datawidth: 8}}
  - !Container {name: PE, spatial: {meshX: 2}}
  - !Component {name: RF, class: regfile, attributes: {depth: 4, width: 8, datawidth: 8}}
  - !Component {name: mac, class: intmac, attributes: {multiplier_width: 8, adder_width: 16}}
`;

const TOY_ERT = `
ERT_summary:
  version: '0.4'
  table_summary:
  - name: sys.MainMem[1..1]
    actions: [{name: read, energy: 10}, {name: write, energy: 10}, {name: update, energy: 10}, {name: leak, energy: 0}]
  - name: sys.Buf[1..1]
    actions: [{name: read, energy: 2}, {name: write, energy: 3}, {name: update, energy: 4}, {name: leak, energy: 0.01}]
  - name: sys.RF[1..2]
    actions: [{name: read, energy: 0.5}, {name: write, energy: 0.6}, {name: update, energy: 0.7}, {name: leak, energy: 0.001}]
  - name: sys.mac[1..2]
    actions: [{name: compute, energy: 1}, {name: leak, energy: 5}]
`;

const TOY_PROBLEM = `
problem:
  version: 0.4
  instance: {C: 1, M: 2, R: 3, S: 1, N: 1, P: 4, Q: 1}
`;

function toy(): { arch: Architecture; ert: Ert; problem: Problem } {
  return {
    arch: parseArchitecture(parseYamlText(TOY_ARCH, "toy.yaml"), "toy.yaml"),
    ert: parseErtSummary(parseYamlText(TOY_ERT, "toy-ert.yaml"), "toy-ert.yaml"),
    problem: parseProblem(parseYamlText(TOY_PROBLEM, "toy-problem.yaml"), "toy-problem.yaml"),
  };
}

function toyMap(mainMemLoops: string[]): string {
  return [
    "MainMem [ Weights:6 Inputs:6 Outputs:8 ]",
    ...mainMemLoops,
    "Buf [ Weights:3 Inputs:4 Outputs:2 ]",
    "inter_PE_spatial [ ]",
    "| for P in [0:2) (Spatial-X)",
    "RF [ Weights:3 Outputs:1 ]",
    "| for R in [0:3)",
    "| << Compute >>",
  ].join("\n");
}

test("toy layer: counts and energy match a hand calculation", () => {
  const { arch, ert, problem } = toy();
  // M outer, P inner at MainMem. By hand (per instance; 2 PEs, 24 MACs, 12 per PE):
  //  RF Weights: tile 3 (R), refetched for each M: fills 3*2 = 6, reads 12.
  //  RF Outputs: tile 1, 4 arrivals, partition 4 (P/2 x M) -> fills 0, updates 12, reads 12-4 = 8.
  //  Buf Weights: tile 3; M changes it, P does not: fills 6; reads = RF fills 6 x 2 PEs / multicast 2 = 6.
  //  Buf Inputs: tile W=4 (P2 x R3). Order (m,p): full 4, then +2 stride -> 2 new, then M step
  //   changes the stride -> full 4, then 2 again: fills 12; reads = 12 MACs x 2 PEs (no multicast) = 24.
  //  Buf Outputs: tile 2, arrivals 4 tiles = 8, partition 8 -> fills 0; updates = RF arrivals 4 x 2 = 8; reads 0.
  //  MainMem: Weights reads 6, Inputs reads 12, Outputs updates 8.
  const ev = evaluate(arch, problem, parseMapTxt(toyMap(["| for M in [0:2)", "|  for P in [0:2)"]), arch, problem, "toy.map"), ert);
  const get = (lv: string, ds: string) => ev.levels.find((l) => l.name === lv)!.dataSpaces.find((d) => d.name === ds)!;
  assert.deepEqual([get("RF", "Weights").reads, get("RF", "Weights").fills], [12, 6]);
  assert.deepEqual([get("RF", "Outputs").reads, get("RF", "Outputs").fills, get("RF", "Outputs").updates], [8, 0, 12]);
  assert.deepEqual([get("Buf", "Weights").reads, get("Buf", "Weights").fills], [6, 6]);
  assert.deepEqual([get("Buf", "Inputs").reads, get("Buf", "Inputs").fills], [24, 12]);
  assert.deepEqual([get("Buf", "Outputs").reads, get("Buf", "Outputs").fills, get("Buf", "Outputs").updates], [0, 0, 8]);
  assert.deepEqual([get("MainMem", "Weights").reads, get("MainMem", "Inputs").reads, get("MainMem", "Outputs").updates], [6, 12, 8]);
  assert.equal(ev.cycles, 12);
  // Energy by hand: RF per PE (12*0.5 + 6*0.6) + (8*0.5 + 12*0.7) = 9.6 + 12.4 = 22, two PEs 44, leak 0.001*2*12.
  // Buf: W 6*2+6*3 = 30, I 24*2+12*3 = 84, O 8*4 = 32 -> 146, leak 0.01*12. MainMem (6+12+8)*10 = 260. MACs 24*1.
  const expected = 44 + 0.024 + 146 + 0.12 + 260 + 24;
  assert.ok(Math.abs(ev.energyPj - expected) < 1e-9, `${ev.energyPj} vs ${expected}`);
});

test("toy layer: with P outer and M inner the inputs' sliding window is lost at every M step", () => {
  const { arch, ert, problem } = toy();
  // Order (p,m): full 4; M step (zero stride) -> 0; P step changes the stride -> full 4; M step -> 0: fills 8.
  const ev = evaluate(arch, problem, parseMapTxt(toyMap(["| for P in [0:2)", "|  for M in [0:2)"]), arch, problem, "toy.map"), ert);
  const inputs = ev.levels.find((l) => l.name === "Buf")!.dataSpaces.find((d) => d.name === "Inputs")!;
  assert.equal(inputs.fills, 8);
  // With a single P loop the window slides: full 4, then 2 new.
  const one = evaluate(arch, problem, parseMapTxt(toyMap(["| for P in [0:2)"]).replace("inter_PE_spatial [ ]", "| for M in [0:2)\ninter_PE_spatial [ ]"), arch, problem, "toy.map"), ert);
  assert.equal(one.levels.find((l) => l.name === "Buf")!.dataSpaces.find((d) => d.name === "Inputs")!.fills, 6);
});

// ------------------------------------------------------------- bad input

function throwsAxnn(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof AxnnError && pattern.test(e.message), `expected AxnnError matching ${pattern}`);
}

test("bad input: unknown keys and tags, inconsistent meshes, bad mappings, missing ERT entries", () => {
  const { arch, ert, problem } = toy();
  throwsAxnn(() => parseArchitecture(parseYamlText(TOY_ARCH.replace("attributes: {depth: 64", "atributes: {depth: 64"), "a.yaml"), "a.yaml"), /a\.yaml: architecture\.nodes\[2\]: unknown key "atributes"/);
  throwsAxnn(() => parseYamlText(TOY_ARCH.replace("!Container {name: PE", "!Contaner {name: PE"), "a.yaml"), /a\.yaml:8: YAML: Unresolved tag: !Contaner/);
  throwsAxnn(() => parseProblem(parseYamlText(TOY_PROBLEM.replace("P: 4", "P: 4, Z: 3"), "p.yaml"), "p.yaml"), /p\.yaml: problem\.instance\.Z: unknown key "Z"/);
  const v03 = `architecture:\n  version: 0.3\n  subtree:\n  - name: sys\n    local:\n    - {name: DRAM, class: DRAM, attributes: {width: 64, word-bits: 8}}\n    subtree:\n    - name: PE[0..9]\n      local:\n      - {name: rf, class: regfile, attributes: {depth: 4, word-bits: 8, meshX: 4}}\n      - {name: mac, class: intmac, attributes: {datawidth: 8, meshX: 4}}\n`;
  throwsAxnn(() => parseArchitecture(parseYamlText(v03, "m.yaml"), "m.yaml"), /m\.yaml: .*meshX 4 does not divide the 10 instances/);
  throwsAxnn(() => evaluate(arch, problem, parseMapTxt(toyMap(["| for M in [0:2)"]), arch, problem, "short.map"), ert, { mappingFile: "short.map" }), /short\.map: P: the loops over P multiply to 2 but the problem has P=4/);
  throwsAxnn(
    () => evaluate(arch, problem, parseMapTxt(toyMap(["| for M in [0:2)", "|  for P in [0:2)"]).replace("RF [ Weights:3 Outputs:1 ]", "RF [ Weights:3 Inputs:3 Outputs:1 ]"), arch, problem, "big.map"), ert, { mappingFile: "big.map" }),
    /big\.map: RF: the mapping does not fit RF: its tiles need 7 words, it holds 4/,
  );
  throwsAxnn(
    () => evaluate(arch, problem, parseMapTxt(toyMap(["| for M in [0:2)"]).replace("| for P in [0:2) (Spatial-X)", "| for P in [0:4) (Spatial-X)"), arch, problem, "wide.map"), ert, { mappingFile: "wide.map" }),
    /wide\.map: inter_PE_spatial: spatial loops of inter_PE_spatial need a 4x1 \(X x Y\) fan-out but the mesh below it is 2x1/,
  );
  throwsAxnn(() => parseMapTxt(toyMap([]).replace("Buf [", "Buffer ["), arch, problem, "n.map"), /n\.map:2: level: no storage level named "Buffer"/);
  const noRf = parseErtSummary(parseYamlText(TOY_ERT.replace(/  - name: sys\.RF[\s\S]*?\n(?=  - name: sys\.mac)/, ""), "e.yaml"), "e.yaml");
  const m = parseMapTxt(toyMap(["| for M in [0:2)", "|  for P in [0:2)"]), arch, problem, "toy.map");
  throwsAxnn(() => evaluate(arch, problem, m, noRf), /e\.yaml: ERT_summary\.table_summary: no entry for component "RF"/);
  throwsAxnn(() => loadDesign("no-such-design"), /no-such-design: --arch: neither a preset/);
});

test("a Timeloop mapping YAML written by hand reads as the same mapping as the reference map.txt", needsSharedData, () => {
  const dir = join(REF, "v4_eyeriss_like_default");
  const arch = loadArchitecture(join(dir, "arch.at_ref_commit_67b75f2.yaml"));
  const problem = loadProblem(join(dir, "default_problem.yaml"));
  const yaml = `
mapping:
  - {target: DRAM, type: temporal, factors: C=1 M=4 R=1 S=1 N=1 P=8 Q=2, permutation: MQPCRSN}
  - {target: DRAM, type: bypass, keep: [Weights, Inputs, Outputs]}
  - {target: shared_glb, type: temporal, factors: P=14 Q=4, permutation: QP}
  - {target: shared_glb, type: bypass, keep: [Inputs, Outputs], bypass: [Weights]}
  - {target: inter_PE_column_spatial, type: spatial, factors: Q=14, permutation: QNCPRSM, split: 7}
  - {target: inter_PE_spatial, type: spatial, factors: C=3 S=3, permutation: SCNPQRM, split: 0}
  - {target: ifmap_spad, type: bypass, keep: [Inputs], bypass: [Weights, Outputs]}
  - {target: weights_spad, type: temporal, factors: R=3, permutation: RCMNPQS}
  - {target: weights_spad, type: bypass, keep: [Weights], bypass: [Inputs, Outputs]}
  - {target: psum_spad, type: temporal, factors: M=8, permutation: MNCPQRS}
  - {target: psum_spad, type: bypass, keep: [Outputs], bypass: [Inputs, Weights]}
`;
  const fromYaml = parseMappingYaml(parseYamlText(yaml, "m.yaml"), arch, problem, "m.yaml");
  const fromTxt = loadMapping(join(dir, "timeloop-mapper.map.txt"), arch, problem);
  assert.deepEqual(fromYaml, fromTxt);
});

test("depthwise (custom shape) and dense layers evaluate with hand-checkable counts", () => {
  const { arch, ert } = toy();
  // Depthwise: one 3-tap filter per channel; Weights[C,R], Inputs[C, W=P+R], Outputs[C,P].
  const dw = parseProblem(parseYamlText(`
problem:
  shape:
    name: depthwise1d
    dimensions: [C, R, P]
    data_spaces:
    - {name: Weights, projection: [[[C]], [[R]]]}
    - {name: Inputs, projection: [[[C]], [[R], [P]]]}
    - {name: Outputs, projection: [[[C]], [[P]]], read_write: true}
  instance: {C: 2, R: 3, P: 4}
`, "dw.yaml"), "dw.yaml");
  assert.equal(dw.macs, 24);
  const map = [
    "MainMem [ Weights:6 Inputs:12 Outputs:8 ]",
    "| for C in [0:2)",
    "Buf [ Weights:3 Inputs:6 Outputs:4 ]",
    "| for P in [0:2)",
    "inter_PE_spatial [ ]",
    "| for P in [0:2) (Spatial-X)",
    "RF [ Weights:3 Outputs:1 ]",
    "|  for R in [0:3)",
    "| << Compute >>",
  ].join("\n");
  const ev = evaluate(arch, dw, parseMapTxt(map, arch, dw, "dw.map"), ert);
  const get = (lv: string, ds: string) => ev.levels.find((l) => l.name === lv)!.dataSpaces.find((d) => d.name === ds)!;
  // Each channel's 3 weights go to both PEs once (multicast 2): MainMem reads 6, Buf fills 6, Buf reads 6.
  assert.deepEqual([get("MainMem", "Weights").reads, get("Buf", "Weights").fills, get("Buf", "Weights").reads], [6, 6, 6]);
  // Inputs: per channel W = 4 + 3 - 1 = 6 words; Buf fills 12, no reuse across channels.
  assert.equal(get("Buf", "Inputs").fills, 12);
  // Outputs: every output written once to MainMem.
  assert.equal(get("MainMem", "Outputs").updates, 8);
  assert.equal(ev.cycles, 12);

  // Dense layer: a 1x1 conv on a 1x1 image (C inputs -> M outputs).
  const dense = parseProblem(parseYamlText("problem:\n  instance: {C: 8, M: 4, R: 1, S: 1, N: 1, P: 1, Q: 1}\n", "d.yaml"), "d.yaml");
  const dmap = ["MainMem [ ]", "| for C in [0:4)", "Buf [ ]", "| for M in [0:2)", "inter_PE_spatial [ ]", "| for M in [0:2) (Spatial-X)", "RF [ Weights:2 Outputs:1 ]", "|  for C in [0:2)", "| << Compute >>"]
    .join("\n").replace("MainMem [ ]", "MainMem [ Weights:32 Inputs:8 Outputs:4 ]").replace("Buf [ ]", "Buf [ Inputs:2 Outputs:4 ]");
  const dev = evaluate(arch, dense, parseMapTxt(dmap, arch, dense, "d.map"), ert);
  const dget = (lv: string, ds: string) => dev.levels.find((l) => l.name === lv)!.dataSpaces.find((d) => d.name === ds)!;
  assert.equal(dev.macs, 32);
  // Weights bypass Buf and are read from MainMem once each; inputs are multicast to both PEs.
  assert.equal(dget("MainMem", "Weights").reads, 32);
  assert.equal(dget("MainMem", "Inputs").reads, 8);
  assert.equal(dget("Buf", "Inputs").reads, 32 / 2);
  // Outputs: each PE's 1-word tile arrives 8 times (4 C steps x 2 M steps) and holds 2 distinct
  // outputs: RF fills 8 - 2 = 6; Buf gets 8 x 2 PEs = 16 updates, reads 16 - 4 (first touches).
  assert.equal(dget("RF", "Outputs").fills, 6);
  assert.deepEqual([dget("Buf", "Outputs").updates, dget("Buf", "Outputs").reads], [16, 12]);
});

test("without sliding windows, fills follow the classic closed form on random mappings", async () => {
  const { searchMapping } = await import("../src/energy/mapper.js");
  const { analyseNest } = await import("../src/energy/model.js");
  const { convProblem } = await import("../src/energy/problem.js");
  for (const preset of ["eyeriss", "simba"]) {
    const { arch, ert } = loadDesign(preset);
    // A 1x1 convolution: no two distinct tiles of a tensor overlap, so no partial reuse.
    const problem = convProblem({ C: 16, M: 32, R: 1, S: 1, P: 14, Q: 14 });
    for (let seed = 1; seed <= 12; seed++) {
      const { mapping, evaluation } = searchMapping(arch, problem, ert, { algorithm: "random", seed, maxEvaluations: 40 });
      const nest = analyseNest(arch, problem, mapping);
      mapping.levels.forEach((lm, li) => {
        problem.dataSpaces.forEach((ds, d) => {
          if (!lm.keep[d] || ds.readWrite || !mapping.levels.slice(0, li).some((m) => m.keep[d])) return;
          const relevant = new Set(ds.projection.flat().map((t) => t.dim));
          // Walking outwards from the level: a loop refetches the tile if it moves it, or if a loop
          // inside it (still above the level) already did.
          let factor = 1, moved = false;
          for (let i = nest.loopStart[li]! - 1; i >= 0; i--) {
            const l = nest.flat[i]!;
            if (l.spatial) continue;
            if (relevant.has(l.dim)) moved = true;
            if (moved) factor *= l.bound;
          }
          const stats = evaluation.levels[li]!.dataSpaces.find((x) => x.name === ds.name)!;
          assert.equal(stats.fills, stats.tile * factor, `${preset} seed ${seed} ${arch.levels[li]!.name}.${ds.name}`);
        });
      });
    }
  }
});

test("link transfers: a PE takes the input its neighbour held one step earlier (systolic shift)", () => {
  const { arch, ert } = toy();
  const problem = parseProblem(parseYamlText("problem:\n  instance: {C: 1, M: 1, R: 3, S: 1, N: 1, P: 2, Q: 1}\n", "p.yaml"), "p.yaml");
  const map = [
    "MainMem [ Weights:3 Inputs:4 Outputs:2 ]",
    "Buf [ Weights:3 Inputs:4 Outputs:2 ]",
    "| for R in [0:3)",
    "inter_PE_spatial [ ]",
    "| for P in [0:2) (Spatial-X)",
    "RF [ Weights:1 Inputs:1 Outputs:1 ]",
    "| << Compute >>",
  ].join("\n");
  const mapping = parseMapTxt(map, arch, problem, "sys.map");
  const inputs = (ev: ReturnType<typeof evaluate>, lv: string) => ev.levels.find((l) => l.name === lv)!.dataSpaces.find((d) => d.name === "Inputs")!;
  // PE p needs input W = p + r at step r. Step 0: the Buf sends W=0 and W=1. At each later step PE 0
  // needs what PE 1 held one step before (W = r), so only PE 1's new word W = r + 1 comes from the
  // Buf: 2 + 1 + 1 = 4 reads. Without link transfers every PE fetches its own: 2 x 3 = 6.
  const ev = evaluate(arch, problem, mapping, ert);
  assert.equal(inputs(ev, "RF").fills, 3);
  assert.equal(inputs(ev, "Buf").reads, 4);
  const noLinks = evaluate(arch, problem, mapping, ert, { noLinkTransfers: true });
  assert.equal(inputs(noLinks, "Buf").reads, 6);
  // Weights are the same in both PEs (multicast), and not shifted: 3 reads either way.
  assert.equal(ev.levels.find((l) => l.name === "Buf")!.dataSpaces.find((d) => d.name === "Weights")!.reads, 3);
});

// ------------------------------------------------------------- attribute keys

test("architecture YAML: an unknown attribute key (deepth, datawith) is an error naming the file, component and nearest key; lenient makes it a warning", () => {
  const typo = TOY_ARCH.replace("{depth: 64, width: 8", "{deepth: 64, width: 8");
  throwsAxnn(() => parseArchitecture(parseYamlText(typo, "a.yaml"), "a.yaml"), /^a\.yaml: architecture\.nodes\[2\]\.attributes\.deepth: unknown attribute "deepth" of Buf; did you mean "depth"\? \(--lenient makes this a warning\)$/);
  const lenient = parseArchitecture(parseYamlText(typo, "a.yaml"), "a.yaml", { lenient: true });
  assert.deepEqual(lenient.warnings, ['a.yaml: architecture.nodes[2].attributes.deepth: unknown attribute "deepth" of Buf; did you mean "depth"?; ignored']);
  // What the typo does when let through: the buffer has no capacity.
  assert.equal(lenient.levels.find((l) => l.name === "Buf")!.sizeWords, undefined);
  assert.equal(parseArchitecture(parseYamlText(TOY_ARCH, "a.yaml"), "a.yaml").levels.find((l) => l.name === "Buf")!.sizeWords, 64);
  assert.deepEqual(parseArchitecture(parseYamlText(TOY_ARCH, "a.yaml"), "a.yaml").warnings, []);
  // v0.3, on a subtree's and on a local component's attributes.
  const v03 = `architecture:\n  version: 0.3\n  subtree:\n  - name: sys\n    attributes: {technology: 45nm}\n    local:\n    - {name: DRAM, class: DRAM, attributes: {width: 64, word-bits: 8}}\n    subtree:\n    - name: PE[0..3]\n      local:\n      - {name: rf, class: regfile, attributes: {depth: 4, datawith: 8, meshX: 4}}\n      - {name: mac, class: intmac, attributes: {datawidth: 8, meshX: 4}}\n`;
  throwsAxnn(() => parseArchitecture(parseYamlText(v03, "v3.yaml"), "v3.yaml"), /v3\.yaml: architecture\.subtree\[0\]\.subtree\[0\]\.local\[0\]\.attributes\.datawith: unknown attribute "datawith" of rf; did you mean "datawidth"\?/);
  throwsAxnn(() => parseArchitecture(parseYamlText(v03.replace("technology: 45nm", "technolgy: 45nm").replace("datawith", "datawidth"), "v3.yaml"), "v3.yaml"), /attributes\.technolgy: unknown attribute "technolgy" of sys; did you mean "technology"\?/);
  assert.equal(parseArchitecture(parseYamlText(v03.replace("datawith", "datawidth"), "v3.yaml"), "v3.yaml").levels.length, 2);
  // Keys Timeloop reads but this model does not are refused unless at their default.
  throwsAxnn(() => parseArchitecture(parseYamlText(TOY_ARCH.replace("{depth: 64,", "{depth: 64, multiple_buffering: 2,"), "a.yaml"), "a.yaml", { lenient: true }), /attributes\.multiple_buffering: attribute "multiple_buffering" of Buf changes Timeloop's result but is not modelled here \(only 1\)/);
  assert.equal(parseArchitecture(parseYamlText(TOY_ARCH.replace("{depth: 64,", "{depth: 64, multiple_buffering: 1,"), "a.yaml"), "a.yaml").levels.length, 4);
  // Timeloop's `entries` is the capacity in words.
  assert.equal(parseArchitecture(parseYamlText(TOY_ARCH.replace("{depth: 64,", "{entries: 48,"), "a.yaml"), "a.yaml").levels.find((l) => l.name === "Buf")!.sizeWords, 48);
});

test("architecture YAML: the presets and every shared reference architecture load with the strict attribute check", needsSharedData, () => {
  for (const preset of ["eyeriss", "simba", "eyeriss-v03", "simba-v03"]) assert.deepEqual(loadDesign(preset).arch.warnings, []);
  const files = [
    "timeloop-reference/v4_eyeriss_like_default/arch.at_ref_commit_67b75f2.yaml", "timeloop-reference/v4_simba_like_default/arch.at_ref_commit_67b75f2.yaml",
    "timeloop-reference/v4_ispass06_eyeriss_vgg02_layer5/eyeriss_like.yaml", "timeloop-reference/v03_eyeriss_like/eyeriss_like.yaml",
    "timeloop-reference/v03_simba_like/simba_like.yaml", "timeloop-reference/vidnerova-layer-sweeps/eyeriss_like/arch/eyeriss_like.yaml",
    "timeloop-reference/vidnerova-layer-sweeps/simba_like/arch/simba_like.yaml", "timeloop-crosscheck/common/v4_eyeriss_arch.no_M.yaml",
    "timeloop-crosscheck/common/v4_simba_arch.no_M.yaml",
  ];
  for (const f of files) assert.deepEqual(loadArchitecture(join(SHARED_DATA, f)).warnings, [], f);
});
