// Where one batch's time goes: ResNet-20 (zoo, CIFAR shapes, batch 64, asym per-channel) on the
// reference engine (QuantizedModel.run, timed per node through its kernel hook) and on compiled
// plans (profile: true), for float32, exact int8 and drum_k4_u8x8. `node dist/bench/profile-network.js
// [model] [batch]`; prints milliseconds per batch by kind of work (medians would need many runs;
// these are means over the runs, after one warm-up).
import { buildZooModel } from "../src/zoo/index.js";
import { Rng } from "../src/nn/tensor.js";
import { isApproximable, type Node } from "../src/nn/graph.js";
import { runModel } from "../src/nn/run.js";
import { generateByName } from "../src/multipliers/generators/index.js";
import { quantizeModel, EXACT_INT8, FLOAT, type LayerArithmetic } from "../src/quant/index.js";
import { compilePlan } from "../src/plan/index.js";

const name = process.argv[2] ?? "resnet20";
const batch = Number(process.argv[3] ?? 64);
const runs = 3;
const model = buildZooModel(name);
const inName = model.inputs[0]!.name;
const sample = model.inputs[0]!.shape.slice(1) as number[];
const rng = new Rng(3);
const x = rng.uniformTensor([batch, ...sample], -1, 1);
const q = quantizeModel(model, [{ [inName]: rng.uniformTensor([32, ...sample], -1, 1) }], { scheme: "asym", perChannel: true, calibration: { method: "minmax" } });
const arithmetics: [string, LayerArithmetic][] = [["float32", FLOAT], ["exact int8", EXACT_INT8], ["drum_k4_u8x8", { kind: "lut", multiplier: generateByName("drum_k4_u8x8").multiplier }]];

const kindOf = (n: Node): string => (isApproximable(n) ? (n.op === "Dense" ? "dense layers" : "conv layers (quantize, kernel, dequantize)") : n.op);
const fmt = (m: Map<string, number>, total: number) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `  ${k.padEnd(44)} ${(v / runs).toFixed(1).padStart(8)} ms  ${((100 * v) / total).toFixed(0).padStart(3)}%`).join("\n");

for (const [label, arith] of arithmetics) {
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
  let t0 = performance.now();
  for (let i = 0; i < runs; i++) runModel(q.model, { [inName]: x }, timed);
  const refTotal = performance.now() - t0;
  byKind.set("(graph walk, allocation, rest)", refTotal - [...byKind.values()].reduce((a, b) => a + b, 0));
  process.stdout.write(`${name} batch ${batch}, ${label}, reference engine: ${(refTotal / runs).toFixed(1)} ms per batch\n${fmt(byKind, refTotal)}\n`);

  const plan = compilePlan(label === "float32" ? model : q, arith, { [inName]: [batch, ...sample] }, { profile: true });
  plan.run({ [inName]: x });
  t0 = performance.now();
  for (let i = 0; i < runs; i++) plan.run({ [inName]: x });
  const planTotal = performance.now() - t0;
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
