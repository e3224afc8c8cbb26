// AxP emulation throughput: images/s of LeNet-5 (MNIST shape) with AxP arithmetic in every layer
// (K = 16 bins, 64 entries per layer, 3-bit fp32 keys, 1 don't-care bit) against plain float
// inference of the same clustered model (src/nn's TypeScript float kernels, the same loop order), and
// the per-multiplication reference kernel, timed round-robin in the same run.
import { lenet5 } from "../src/zoo/index.js";
import { Rng, type Tensor } from "../src/nn/tensor.js";
import { runModel } from "../src/nn/run.js";
import { isApproximable } from "../src/nn/graph.js";
import { clusterModel } from "../src/axp/cluster.js";
import { calibrationProfiles, makeAxpLayer, runAxp, type AxpLayer } from "../src/axp/emulate.js";
import { keyLayout } from "../src/axp/formats.js";
import { memoryFromProfile } from "../src/axp/memory.js";
import { layerMissArithmetic, missActivationParams, resolveMissMultiplier } from "../src/axp/miss.js";
import type { BenchResult } from "./harness.js";

export function benchAxp(): BenchResult[] {
  const model = lenet5({ seed: 1 });
  const rng = new Rng(5);
  // Non-negative inputs with zeros, like normalised MNIST pixels.
  const image = (n: number): Tensor => {
    const t = rng.uniformTensor([n, 1, 28, 28], -0.5, 1);
    for (let i = 0; i < t.data.length; i++) if (t.data[i]! < 0) t.data[i] = 0;
    return t;
  };
  const batch = 32;
  const x = image(batch);
  const cl = clusterModel(model, { clusters: 16, seed: 1 });
  const layout = keyLayout("fp32", 3);
  const profiles = calibrationProfiles(cl.model, cl.layers, "fp32", layout, [image(64)]);
  const layers = new Map<string, AxpLayer>();
  for (const n of cl.model.nodes.filter(isApproximable)) {
    const p = profiles.get(n.name)!;
    layers.set(n.name, makeAxpLayer(n, cl.layers.get(n.name)!, p, memoryFromProfile(p, 64, { dontCare: 1, hamming: 0 })));
  }
  const net = { model: cl.model, layers };
  // The same memories with misses on an approximate 8x8 multiplier (product planes instead of activation planes).
  const mm = resolveMissMultiplier("trunc_k4c_u8x8");
  const calib = [image(64)];
  const params = missActivationParams(cl.model, calib, mm.multiplier.signed);
  const missLayers = new Map<string, AxpLayer>();
  for (const [name, l] of layers) missLayers.set(name, makeAxpLayer(l.node, l.clusters, profiles.get(name)!, l.memory, layerMissArithmetic(mm, l.clusters, l.node.weight.data, params.get(name)!, false)));
  const missNet = { model: cl.model, layers: missLayers };
  const inName = cl.model.inputs[0]!.name;
  const small = { shape: [2, 1, 28, 28], data: x.data.subarray(0, 2 * 784) };
  const variants = [
    { name: "float (clustered model, TS float kernels)", images: batch, run: () => runModel(cl.model, { [inName]: x }), times: [] as number[] },
    { name: "AxP K16 N64 m3 d1 fp32 (fast kernel)", images: batch, run: () => runAxp(net, x), times: [] as number[] },
    { name: "AxP, with hit counting", images: batch, run: () => runAxp(net, x, { counts: new Map() }), times: [] as number[] },
    { name: "AxP, misses on trunc_k4c_u8x8 (product planes)", images: batch, run: () => runAxp(missNet, x), times: [] as number[] },
    { name: "AxP reference (one memory scan per MAC), batch 2", images: 2, run: () => runAxp(net, small, { reference: true }), times: [] as number[] },
  ];
  for (const v of variants) v.run();
  const start = performance.now();
  for (let round = 0; round < 20 && (round < 3 || performance.now() - start < 8000); round++) {
    for (const v of variants) {
      const t0 = performance.now();
      v.run();
      v.times.push(performance.now() - t0);
    }
  }
  const median = (t: number[]) => [...t].sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
  const spread = (t: number[]) => {
    const s = [...t].sort((a, b) => a - b);
    return `${s[0]!.toFixed(1)}-${s[s.length - 1]!.toFixed(1)} ms`;
  };
  const floatPerImage = median(variants[0]!.times) / batch;
  return variants.map((v) => {
    const ms = median(v.times);
    return {
      group: "axp",
      name: `lenet5 batch ${v.images}: ${v.name}`,
      ms,
      runs: v.times.length,
      figures: { images_per_s: (v.images * 1000) / ms, time_vs_float: ms / v.images / floatPerImage, spread: spread(v.times) },
    };
  });
}
