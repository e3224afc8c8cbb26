// The WebGPU backend beside the CPU's: a LUT and an exact int8 convolution (G-MAC/s) and a
// whole ResNet-20 (images/s) in float32, exact int8 and approximate on each device, with
// onnxruntime-node's float32 run of the same model (CPU) as the common reference; the ratio of
// approximate to exact inference on the same device (TFApprox4IL reports 13.6x on its GPUs); and
// the quantized network resident on the GPU (GpuQuantizedNetwork: one submission per batch)
// beside the same network run layer by layer on the GPU (one round trip per layer).
// Rows are timed round-robin. Without a WebGPU adapter the suite says so in one row. On a
// software driver (SwiftShader) the GPU figures measure correctness plumbing, not a GPU: docs/gpu.md.
import * as ort from "onnxruntime-node";
import { exportOnnx } from "../src/onnx/index.js";
import { macsPerLayer } from "../src/nn/analysis.js";
import { Rng } from "../src/nn/tensor.js";
import { generateByName } from "../src/multipliers/generators/index.js";
import { conv2dExact, conv2dLut, kernelBackend, kernelThreads, setBackend, type BackendName } from "../src/kernels/index.js";
import { webGpuAdapter } from "../src/kernels/webgpu/backend.js";
import { quantizeModel, EXACT_INT8, FLOAT, GpuQuantizedNetwork, type LayerArithmetic } from "../src/quant/index.js";
import type { BenchResult } from "./harness.js";
import { resnet20 } from "./inference.js";

const median = (t: number[]) => [...t].sort((a, b) => a - b)[Math.floor(t.length / 2)]!;

/** Round-robin timing of named variants, each run with its backend selected; medians. */
async function roundRobin(variants: { name: string; backend: BackendName; run: () => unknown }[], budgetMs: number): Promise<Map<string, { ms: number; runs: number; spread: number }>> {
  const before = kernelBackend();
  const times = variants.map(() => [] as number[]);
  try {
    for (const v of variants) {
      setBackend(v.backend);
      await v.run(); // warm-up: pipelines, uploads, prepared tables, onnxruntime's first-run allocations
    }
    const start = performance.now();
    for (let round = 0; round < 20 && (round < 3 || performance.now() - start < budgetMs); round++) {
      for (const [i, v] of variants.entries()) {
        setBackend(v.backend);
        const t0 = performance.now();
        await v.run();
        times[i]!.push(performance.now() - t0);
      }
    }
  } finally {
    setBackend(before);
  }
  return new Map(variants.map((v, i) => {
    const t = times[i]!.sort((a, b) => a - b);
    return [v.name, { ms: median(t), runs: t.length, spread: t[t.length - 1]! / t[0]! }];
  }));
}

export async function benchGpu(): Promise<BenchResult[]> {
  const adapter = webGpuAdapter();
  if (!adapter.info) return [{ group: "gpu", name: `no WebGPU adapter: ${adapter.why}`, ms: 0, runs: 0, figures: {} }];
  const device = `${adapter.info.description}`;
  const cpu = kernelBackend();
  const results: BenchResult[] = [];

  // One layer: 64 -> 64 channels, 3x3, 16x16, batch 8 (75.5 M MAC).
  const rng = new Rng(5);
  const inputShape = [8, 64, 16, 16], weightShape = [64, 64, 3, 3];
  const x = Uint8Array.from(rng.uniformTensor([8 * 64 * 16 * 16], 0, 255).data, (v) => v);
  const w = Uint8Array.from(rng.uniformTensor([64 * 64 * 9], 0, 255).data, (v) => v);
  const lut = generateByName("drum_k4_u8x8").multiplier;
  const options = { padding: [1, 1, 1, 1] as const, padCode: 3 };
  const layerMacs = 8 * 64 * 16 * 16 * 64 * 9;
  const kernels = [cpu, "webgpu" as const].flatMap((b) => [
    { name: `${b}: conv LUT`, backend: b, run: () => conv2dLut(x, inputShape, w, weightShape, lut, options) },
    { name: `${b}: conv exact`, backend: b, run: () => conv2dExact(x, inputShape, w, weightShape, false, options) },
  ]);
  const k = await roundRobin(kernels, 4000);
  for (const b of [cpu, "webgpu"]) {
    const lutT = k.get(`${b}: conv LUT`)!, exactT = k.get(`${b}: conv exact`)!;
    for (const [what, t] of [["LUT drum_k4_u8x8", lutT], ["exact uint8", exactT]] as const) {
      results.push({
        group: "gpu", name: `conv 64x64x3x3 16x16 batch 8, ${what} on ${b}`, ms: t.ms, runs: t.runs,
        figures: { gmac_per_s: layerMacs / (t.ms * 1e6), approx_vs_exact: lutT.ms / exactT.ms, spread: t.spread, device: b === "webgpu" ? device : "CPU" },
      });
    }
  }

  // A whole network: ResNet-20, batch 16, float32 and quantized; onnxruntime's float32 beside them.
  const model = resnet20();
  const macs = macsPerLayer(model).reduce((s, l) => s + l.macs, 0);
  const batch = 16;
  const input = { x: rng.uniformTensor([batch, 3, 32, 32], -1, 1) };
  const q = quantizeModel(model, [{ x: rng.uniformTensor([16, 3, 32, 32], -1, 1) }], { scheme: "asym", perChannel: true, calibration: { method: "minmax" } });
  const approx: LayerArithmetic = { kind: "lut", multiplier: lut };
  const session = await ort.InferenceSession.create(exportOnnx(model), { intraOpNumThreads: kernelThreads(), graphOptimizationLevel: "all", extra: { session: { intra_op: { allow_spinning: "0" } } } });
  const feeds = { x: new ort.Tensor("float32", input.x.data, [batch, 3, 32, 32]) };
  const nets = [
    { name: "onnxruntime", backend: cpu, run: () => session.run(feeds) },
    ...[cpu, "webgpu" as const].flatMap((b) => [
      { name: `${b}: float32`, backend: b, run: () => q.run(input, FLOAT) },
      { name: `${b}: exact`, backend: b, run: () => q.run(input, EXACT_INT8) },
      { name: `${b}: approx`, backend: b, run: () => q.run(input, approx) },
    ]),
    ...([["exact", EXACT_INT8], ["approx", approx]] as const).map(([what, a]) => {
      const resident = new GpuQuantizedNetwork(q, a, input.x.shape);
      return { name: `resident: ${what}`, backend: cpu, run: () => resident.run(input.x) };
    }),
  ];
  const n = await roundRobin(nets, 8000);
  const ortT = n.get("onnxruntime")!;
  const perImage = (t: { ms: number }) => ({ images_per_s: (batch * 1000) / t.ms, gmac_per_s: (batch * macs) / (t.ms * 1e6), "x onnxruntime time": t.ms / ortT.ms });
  results.push({ group: "gpu", name: `resnet20 batch ${batch}, onnxruntime-node float32 (CPU, ${kernelThreads()} threads)`, ms: ortT.ms, runs: ortT.runs, figures: { ...perImage(ortT), spread: ortT.spread, device: "CPU" } });
  for (const b of [cpu, "webgpu"]) {
    const exactT = n.get(`${b}: exact`)!, approxT = n.get(`${b}: approx`)!;
    for (const [what, t] of [["float32", n.get(`${b}: float32`)!], ["exact int8", exactT], ["approximate drum_k4_u8x8", approxT]] as const) {
      results.push({
        group: "gpu", name: `resnet20 batch ${batch}, ${what} on ${b}`, ms: t.ms, runs: t.runs,
        figures: { ...perImage(t), approx_vs_exact: approxT.ms / exactT.ms, spread: t.spread, device: b === "webgpu" ? device : "CPU" },
      });
    }
  }
  const resExact = n.get("resident: exact")!, resApprox = n.get("resident: approx")!;
  for (const [what, t, layered] of [["exact int8", resExact, n.get("webgpu: exact")!], ["approximate drum_k4_u8x8", resApprox, n.get("webgpu: approx")!]] as const) {
    results.push({
      group: "gpu", name: `resnet20 batch ${batch}, ${what} resident on webgpu (one submission)`, ms: t.ms, runs: t.runs,
      figures: { ...perImage(t), approx_vs_exact: resApprox.ms / resExact.ms, "x layer-by-layer time": t.ms / layered.ms, spread: t.spread, device },
    });
  }
  return results;
}
