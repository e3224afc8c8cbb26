// Throughput of the training (backward) kernels in G-FLOP/s (one multiply-add = 2 FLOP): the
// float32 GEMM, axnn's own against OpenBLAS when it can be loaded (timed alternately), on the
// products that conv backward makes of training-sized layers; and conv backward (input and
// weight gradients together) on a 3x3 layer, a stride-2 layer and a depthwise layer, with the
// TypeScript reference on two images of the first for scale; and the forward conv of training
// (im2col + GEMM) against the direct float kernel of inference on ResNet-8's MNIST layers.
import { timeIt, type BenchResult } from "./harness.js";
import {
  conv2dBackwardFloat, conv2dFloat, conv2dFloatGemm, convGeometry, gemmBackend, gemmFloat, kernelBackend, kernelThreads, openBlasAvailable, setGemmBackend,
  type ConvOptions,
} from "../src/kernels/index.js";
import { conv2dBackwardFloatReference } from "../src/kernels/reference.js";

/** Deterministic uniform [-1, 1) floats (xorshift), so every run measures the same data. */
function floats(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 2 ** 31 - 1;
  });
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Median ms of fn on each GEMM backend, the backends taking turns (see alternately). The first run
 * of a block is not timed: OpenBLAS's idle threads spin for a while after its calls and would
 * slow down whatever runs next.
 */
function perBackend(backends: readonly ("own" | "openblas")[], fn: () => unknown): { ms: Record<string, number>; runs: number } {
  const t = alternately(backends.map(() => fn), (i) => setGemmBackend(backends[i]!));
  return { ms: Object.fromEntries(backends.map((b, i) => [b, t.ms[i]!])), runs: t.runs };
}

/** [m, n, k, what, transA, transB]: the GEMMs of conv backward (dW = dY col^T, dcol = W^T dY) and of a dense layer. */
const GEMMS: [number, number, number, string, boolean, boolean][] = [
  [64, 576, 16384, "dW of 3x3 64->64 32x32 batch 16", false, true],
  [576, 16384, 64, "dX of 3x3 64->64 32x32 batch 16", true, false],
  [16, 144, 50176, "dW of 3x3 16->16 28x28 batch 64", false, true],
  [256, 512, 64, "dW of dense 512->256 batch 64", true, false],
];

interface ConvLayer { name: string; input: number[]; weights: number[]; options: ConvOptions }

const LAYERS: ConvLayer[] = [
  { name: "3x3 64->64 32x32 batch 16", input: [16, 64, 32, 32], weights: [64, 64, 3, 3], options: { padding: [1, 1, 1, 1] } },
  { name: "3x3 64->128 stride 2 32x32 batch 16", input: [16, 64, 32, 32], weights: [128, 64, 3, 3], options: { stride: [2, 2], padding: [1, 1, 1, 1] } },
  { name: "3x3 16->16 28x28 batch 64 (ResNet-8 MNIST)", input: [64, 16, 28, 28], weights: [16, 16, 3, 3], options: { padding: [1, 1, 1, 1] } },
  { name: "depthwise 3x3 128ch 32x32 batch 16", input: [16, 128, 32, 32], weights: [128, 1, 3, 3], options: { groups: 128, padding: [1, 1, 1, 1] } },
];

/** The convolutions of ResNet-8 on MNIST (28x28, batch 64), as training's forward pass runs them. */
const FORWARD_LAYERS: ConvLayer[] = [
  { name: "3x3 1->16 28x28", input: [64, 1, 28, 28], weights: [16, 1, 3, 3], options: { padding: [1, 1, 1, 1] } },
  { name: "3x3 16->16 28x28", input: [64, 16, 28, 28], weights: [16, 16, 3, 3], options: { padding: [1, 1, 1, 1] } },
  { name: "3x3 16->32 stride 2 28x28", input: [64, 16, 28, 28], weights: [32, 16, 3, 3], options: { stride: [2, 2], padding: [1, 1, 1, 1] } },
  { name: "3x3 32->32 14x14", input: [64, 32, 14, 14], weights: [32, 32, 3, 3], options: { padding: [1, 1, 1, 1] } },
  { name: "3x3 64->64 7x7", input: [64, 64, 7, 7], weights: [64, 64, 3, 3], options: { padding: [1, 1, 1, 1] } },
];

/**
 * Median ms of each function, taking turns in blocks of runs, so that all see the same machine
 * state (this VM's CPU allowance varies over seconds); `before(i)` runs ahead of function i's
 * block, untimed. The first run of a block is a warm-up.
 */
function alternately(fns: (() => unknown)[], before: (i: number) => void = () => {}, blockMs = 150, rounds = 4): { ms: number[]; runs: number } {
  const times = fns.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    fns.forEach((fn, i) => {
      before(i);
      fn();
      const start = performance.now();
      do {
        const t = performance.now();
        fn();
        times[i]!.push(performance.now() - t);
      } while (performance.now() - start < blockMs);
    });
  }
  const median = (v: number[]) => v.sort((x, y) => x - y)[Math.floor(v.length / 2)]!;
  return { ms: times.map(median), runs: Math.min(...times.map((t) => t.length)) };
}

/** FLOP of one backward pass computing both the input and the weight gradients. */
function backwardFlop(layer: ConvLayer): number {
  const g = convGeometry(layer.name, layer.input, layer.weights, layer.options);
  return 2 * 2 * g.N * g.M * g.P * g.Q * (g.C / g.groups) * g.R * g.S;
}

export function benchBackward(): BenchResult[] {
  const rows: BenchResult[] = [];
  const backends: ("own" | "openblas")[] = openBlasAvailable() ? ["own", "openblas"] : ["own"];
  const initial = gemmBackend();
  if (initial === "typescript") return rows; // no addon: nothing native to measure
  const where = `${kernelBackend()}, ${kernelThreads()} threads`;
  try {
    GEMMS.forEach(([m, n, k, what, transA, transB], i) => {
      const a = floats(m * k, 1 + i), b = floats(k * n, 100 + i), out = new Float32Array(m * n);
      const t = perBackend(backends, () => gemmFloat(a, b, { m, n, k }, { transA, transB, out }));
      for (const backend of backends) {
        rows.push({
          group: "backward GEMM", name: `${backend} ${m}x${n}x${k} (${what}), ${where}`, ms: t.ms[backend]!, runs: t.runs,
          figures: { "GFLOP/s": (2 * m * n * k) / (t.ms[backend]! * 1e6), "x own time": t.ms[backend]! / t.ms.own! },
        });
      }
    });
    LAYERS.forEach((layer, i) => {
      const x = floats(size(layer.input), 10 + i), w = floats(size(layer.weights), 20 + i);
      const g = convGeometry(layer.name, layer.input, layer.weights, layer.options);
      const dy = floats(g.N * g.M * g.P * g.Q, 30 + i);
      const flop = backwardFlop(layer);
      // Depthwise layers run on a direct kernel, not on the GEMM.
      const gemmLayer = layer.weights[1]! > 1;
      const t = perBackend(gemmLayer ? backends : ["own"], () => conv2dBackwardFloat(x, layer.input, w, layer.weights, dy, layer.options));
      for (const backend of gemmLayer ? backends : ["own"]) {
        rows.push({
          group: "conv backward (dX + dW)", name: `${layer.name}, ${gemmLayer ? `${backend} GEMM` : "direct kernel"}, ${where}`, ms: t.ms[backend]!, runs: t.runs,
          figures: { "GFLOP/s": flop / (t.ms[backend]! * 1e6) },
        });
      }
    });
    // The TypeScript reference (double sums, plain loops) on two images of the first layer, and the native kernel on the same.
    const small: ConvLayer = { ...LAYERS[0]!, name: "3x3 64->64 32x32 batch 2", input: [2, 64, 32, 32] };
    const g = convGeometry(small.name, small.input, small.weights, small.options);
    const x = floats(size(small.input), 40), w = floats(size(small.weights), 41), dy = floats(g.N * g.M * g.P * g.Q, 42);
    const flop = backwardFlop(small);
    setGemmBackend("own");
    const nativeTime = timeIt(() => conv2dBackwardFloat(x, small.input, w, small.weights, dy, small.options));
    const refTime = timeIt(() => conv2dBackwardFloatReference(x, w, dy, g), { minMs: 0, minRuns: 1, maxRuns: 1 });
    rows.push({
      group: "conv backward (dX + dW)", name: `${small.name}, own GEMM, ${where}`, ms: nativeTime.ms, runs: nativeTime.runs,
      figures: { "GFLOP/s": flop / (nativeTime.ms * 1e6), "x reference": refTime.ms / nativeTime.ms },
    });
    rows.push({
      group: "conv backward (dX + dW)", name: `${small.name}, TypeScript reference`, ms: refTime.ms, runs: refTime.runs,
      figures: { "GFLOP/s": flop / (refTime.ms * 1e6), "x reference": 1 },
    });
    FORWARD_LAYERS.forEach((layer, i) => {
      const x = floats(size(layer.input), 50 + i), w = floats(size(layer.weights), 60 + i);
      const g = convGeometry(layer.name, layer.input, layer.weights, layer.options);
      const flop = 2 * g.N * g.M * g.P * g.Q * (g.C / g.groups) * g.R * g.S;
      const t = alternately([
        () => conv2dFloatGemm(x, layer.input, w, layer.weights, layer.options),
        () => conv2dFloat(x, layer.input, w, layer.weights, layer.options),
      ]);
      ["im2col + own GEMM", "direct kernel"].forEach((how, k) => {
        rows.push({
          group: "training forward conv (batch 64)", name: `${layer.name}, ${how}, ${where}`, ms: t.ms[k]!, runs: t.runs,
          figures: { "GFLOP/s": flop / (t.ms[k]! * 1e6), "x direct time": t.ms[k]! / t.ms[1]! },
        });
      });
    });
  } finally {
    setGemmBackend(initial);
  }
  return rows;
}
