// Where one batch's time goes: ResNet-20 (zoo, CIFAR shapes, batch 64, asym per-channel) on the
// reference engine (QuantizedModel.run, timed per node through its kernel hook) and on compiled
// plans (profile: true), for float32, exact int8 and drum_k4_u8x8. `node dist/bench/profile-network.js
// [model] [batch]`; prints milliseconds per batch by kind of work (medians would need many runs;
// these are means over the runs, after one warm-up), then a table of the plans' fused conv steps
// layer by layer: shape, MACs, wall and CPU time (all threads) per batch, G-MAC/s, and the ratios
// approximate / float and approximate / exact int8 of their CPU times (the CPU time is less
// disturbed than the wall time by other work on a shared machine).
import { buildZooModel } from "../src/zoo/index.js";
import { macsPerLayer } from "../src/nn/analysis.js";
import { inferShapes } from "../src/nn/shapes.js";
import type { PlanProfile } from "../src/plan/index.js";
import { Rng } from "../src/nn/tensor.js";
import { isApproximable, type Node } from "../src/nn/graph.js";
import { runModel } from "../src/nn/run.js";
import { generateByName } from "../src/multipliers/generators/index.js";
import { quantizeModel, EXACT_INT8, FLOAT, type LayerArithmetic } from "../src/quant/index.js";
import { compilePlan } from "../src/plan/index.js";
import { setLutAlgorithm, type LutAlgorithm } from "../src/kernels/index.js";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const name = args[0] ?? "resnet20";
const batch = Number(args[1] ?? 64);
const runs = 3;
// --plans-only: leave out the reference engine's (slow) profile; --lut=auto|direct|planes|separable: the LUT algorithm.
const plansOnly = process.argv.includes("--plans-only");
const lutFlag = process.argv.find((a) => a.startsWith("--lut="));
if (lutFlag) setLutAlgorithm(lutFlag.slice("--lut=".length) as LutAlgorithm);
const model = buildZooModel(name);
const inName = model.inputs[0]!.name;
const sample = model.inputs[0]!.shape.slice(1) as number[];
const rng = new Rng(3);
const x = rng.uniformTensor([batch, ...sample], -1, 1);
const q = quantizeModel(model, [{ [inName]: rng.uniformTensor([32, ...sample], -1, 1) }], { scheme: "asym", perChannel: true, calibration: { method: "minmax" } });
const arithmetics: [string, LayerArithmetic][] = [["float32", FLOAT], ["exact int8", EXACT_INT8], ["drum_k4_u8x8", { kind: "lut", multiplier: generateByName("drum_k4_u8x8").multiplier }]];

const kindOf = (n: Node): string => (isApproximable(n) ? (n.op === "Dense" ? "dense layers" : "conv layers (quantize, kernel, dequantize)") : n.op);
const fmt = (m: Map<string, number>, total: number) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `  ${k.padEnd(44)} ${(v / runs).toFixed(1).padStart(8)} ms  ${((100 * v) / total).toFixed(0).padStart(3)}%`).join("\n");

const profiles = new Map<string, PlanProfile>();
for (const [label, arith] of arithmetics) {
  if (!plansOnly) profileReference(label, arith);
  profilePlan(label, arith);
}

function profileReference(label: string, arith: LayerArithmetic): void {
  // Reference engine: its kernel hook timed per node (the hook runs every node, fused ReLUs included).
  const options = q.runOptions(arith);
  const byKind = new Map<string, number>();
  const timed = {
    kernel: (node: Node, ins: Parameters<NonNullable<typeof options.kernel>>[1]) => {
      const t0 = performance.now();
      const r = options.kernel!(node, ins);
      byKind.set(kindOf(node), (byKind.get(kindOf(node)) ?? 0) + performance.now() - t0);
      return r;
    },
  };
  runModel(q.model, { [inName]: x }, timed);
  byKind.clear();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) runModel(q.model, { [inName]: x }, timed);
  const refTotal = performance.now() - t0;
  byKind.set("(graph walk, allocation, rest)", refTotal - [...byKind.values()].reduce((a, b) => a + b, 0));
  process.stdout.write(`${name} batch ${batch}, ${label}, reference engine: ${(refTotal / runs).toFixed(1)} ms per batch\n${fmt(byKind, refTotal)}\n`);
}

function profilePlan(label: string, arith: LayerArithmetic): void {
  const plan = compilePlan(label === "float32" ? model : q, arith, { [inName]: [batch, ...sample] }, { profile: true });
  plan.run({ [inName]: x });
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) plan.run({ [inName]: x });
  const planTotal = performance.now() - t0;
  profiles.set(label, plan.profile());
  const steps = plan.profile().steps;
  const byStep = new Map<string, number>();
  const warm = new Map<string, number>();
  for (const s of steps) warm.set(s.kind, (warm.get(s.kind) ?? 0) + s.ms);
  // The profile includes the warm-up run: scale to the timed runs.
  const scale = runs / (runs + 1);
  for (const [k, v] of warm) byStep.set(k === "conv-int" || k === "conv-float" ? `fused conv steps (${k})` : k === "node" ? "other ops (pooling, pad, flatten)" : k === "layer" ? "dense layers" : k, v * scale);
  byStep.set("(plan overhead)", planTotal - [...byStep.values()].reduce((a, b) => a + b, 0));
  process.stdout.write(`${name} batch ${batch}, ${label}, plan: ${(planTotal / runs).toFixed(1)} ms per batch\n${fmt(byStep, planTotal)}\n\n`);
}

// ---- layer by layer ----
const macs = new Map(macsPerLayer(q.model, [1, ...sample]).map((l) => [l.name, l.macs * batch]));
const shapes = inferShapes(q.model, { [inName]: [batch, ...sample] });
const perStep = (label: string) => new Map(profiles.get(label)!.steps.filter((s) => s.kind.startsWith("conv")).map((s) => [s.name, s]));
const [fl, ex, ap] = ["float32", "exact int8", "drum_k4_u8x8"].map(perStep) as [ReturnType<typeof perStep>, ReturnType<typeof perStep>, ReturnType<typeof perStep>];
const perBatch = (ms: number) => ms / (runs + 1);
const rows = [...ap.values()].map((s) => {
  const node = q.model.nodes.find((n) => n.name === s.name)!;
  const x = shapes.get(node.inputs[0]!)!, y = shapes.get(node.outputs[0]!)!;
  const w = (node as { weight: { shape: number[] } }).weight.shape;
  const shape = `${x[1]}x${x[2]}x${x[3]} -> ${y[1]}x${y[2]}x${y[3]} k${w[2]}${node.op === "DepthwiseConv2D" ? " dw" : ""}`;
  const m = macs.get(s.name)!;
  const f = fl.get(s.name), e = ex.get(s.name);
  return { name: s.name, shape, m, ms: perBatch(s.ms), cpu: perBatch(s.cpuMs), fCpu: f ? perBatch(f.cpuMs) : NaN, eCpu: e ? perBatch(e.cpuMs) : NaN, algorithm: s.algorithm ?? "float" };
});
const total = (k: "ms" | "cpu" | "fCpu" | "eCpu") => rows.reduce((a, r) => a + r[k], 0);
process.stdout.write(`${name} batch ${batch}, the fused conv steps of the ${arithmetics[2]![0]} plan (ms per batch; CPU ms = every thread's; G-MAC/s of the CPU time)\n`);
process.stdout.write(`${"layer".padEnd(22)} ${"shape".padEnd(30)} ${"M-MAC".padStart(7)} ${"wall ms".padStart(8)} ${"CPU ms".padStart(8)} ${"share".padStart(6)} ${"GMAC/s".padStart(7)} ${"/float".padStart(7)} ${"/exact".padStart(7)} algorithm\n`);
for (const r of rows) {
  process.stdout.write(`${r.name.padEnd(22)} ${r.shape.padEnd(30)} ${(r.m / 1e6).toFixed(0).padStart(7)} ${r.ms.toFixed(1).padStart(8)} ${r.cpu.toFixed(1).padStart(8)} ${((100 * r.cpu) / total("cpu")).toFixed(1).padStart(5)}% ${(r.m / (r.cpu * 1e6)).toFixed(2).padStart(7)} ${(r.cpu / r.fCpu).toFixed(2).padStart(7)} ${(r.cpu / r.eCpu).toFixed(2).padStart(7)} ${r.algorithm}\n`);
}
const allMacs = rows.reduce((a, r) => a + r.m, 0);
process.stdout.write(`${"all conv steps".padEnd(22)} ${"".padEnd(30)} ${(allMacs / 1e6).toFixed(0).padStart(7)} ${total("ms").toFixed(1).padStart(8)} ${total("cpu").toFixed(1).padStart(8)} ${"100%".padStart(6)} ${(allMacs / (total("cpu") * 1e6)).toFixed(2).padStart(7)} ${(total("cpu") / total("fCpu")).toFixed(2).padStart(7)} ${(total("cpu") / total("eCpu")).toFixed(2).padStart(7)}\n`);
