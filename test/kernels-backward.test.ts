// The float32 GEMM and the backward (training) kernels against their TypeScript references, at
// every ISA level and on every GEMM backend this machine has, within a bound derived from
// float32 rounding; and bit-identical results for any thread count (training is deterministic
// for a seed).
import { test } from "node:test";
import { spawnSync } from "node:child_process";
import assert from "node:assert/strict";
import {
  availableIsaLevels, conv2dBackwardFloat, convGeometry, denseBackwardFloat, denseGeometry, gemmBackend, gemmFloat,
  openBlasAvailable, setGemmBackend, setKernelIsa, type ConvOptions, type IsaLevel,
} from "../src/kernels/index.js";
import { conv2dBackwardFloatReference, conv2dFloatReference, denseBackwardFloatReference, gemmFloatReference } from "../src/kernels/reference.js";
import { AxnnError } from "../src/util/errors.js";
import { digestsPerThreadCount } from "./thread-counts.js";
import { nativeSkip } from "./shared.js";

const levels: IsaLevel[] = availableIsaLevels();
const skip = nativeSkip(levels.length);
const backends: ("own" | "openblas")[] = levels.length === 0 ? [] : openBlasAvailable() ? ["own", "openblas"] : ["own"];

/** Deterministic uniform [-1, 1) floats, so that a failure can be replayed. */
function floats(seed: number, n: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 2 ** 31 - 1;
  });
}

const abs = (a: Float32Array): Float32Array => a.map(Math.abs);

/**
 * got against want, where `magnitude` holds sum |a||b| over each element's `terms` products:
 * float32 sums of n terms are within n * 2^-24 * sum |a||b| of the exact one (FMA or not, in any
 * order), and the reference adds one rounding of its own; 4x margin on the first.
 */
function assertClose(got: Float32Array | null, want: Float32Array, magnitude: Float32Array, terms: number, what: string): void {
  assert.ok(got, `${what}: missing`);
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const bound = terms * 2 ** -22 * magnitude[i]! + 2 ** -23 * Math.abs(want[i]!) + 1e-30;
    if (!(Math.abs(got[i]! - want[i]!) <= bound)) assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (within ${bound})`);
  }
}

/** Runs fn at every ISA level on every GEMM backend, restoring the defaults afterwards. */
function everywhere(fn: (label: string) => void): void {
  const initial = gemmBackend() as "own" | "openblas";
  try {
    for (const backend of backends) {
      setGemmBackend(backend);
      for (const level of levels) {
        setKernelIsa(level);
        fn(`${backend}/${level}`);
      }
    }
  } finally {
    setKernelIsa(levels[levels.length - 1]!);
    setGemmBackend(initial);
  }
}

test("GEMM: every transpose, sizes below, at and past the micro-tiles and the k blocks, accumulate", { skip }, () => {
  // m around the tiles' rows (4, 6, 12), n around their columns (8, 16, 32), k past the 256-deep blocks.
  const shapes: [number, number, number][] = [[1, 1, 1], [1, 33, 7], [5, 3, 2], [12, 32, 256], [13, 33, 257], [25, 17, 600], [37, 70, 31], [64, 100, 513]];
  everywhere((label) => {
    shapes.forEach(([m, n, k], i) => {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const a = floats(100 + i, m * k), b = floats(200 + i, k * n);
          const want = gemmFloatReference(a, b, m, n, k, transA, transB, null);
          const magnitude = gemmFloatReference(abs(a), abs(b), m, n, k, transA, transB, null);
          const what = `${label} ${m}x${n}x${k} transA=${transA} transB=${transB}`;
          assertClose(gemmFloat(a, b, { m, n, k }, { transA, transB }), want, magnitude, k, what);
          // Accumulating onto c adds one term more per element.
          const c = floats(300 + i, m * n);
          const accWant = gemmFloatReference(a, b, m, n, k, transA, transB, c);
          const accMagnitude = gemmFloatReference(abs(a), abs(b), m, n, k, transA, transB, abs(c));
          assertClose(gemmFloat(a, b, { m, n, k }, { transA, transB, accumulate: true, out: c.slice() }), accWant, accMagnitude, k + 1, `${what} accumulate`);
        }
      }
    });
  });
});

interface ConvCase { name: string; inputShape: [number, number, number, number]; weightShape: [number, number, number, number]; options: ConvOptions }

const convCases: ConvCase[] = [
  { name: "3x3 same, 2 images", inputShape: [2, 5, 9, 11], weightShape: [7, 5, 3, 3], options: { padding: [1, 1, 1, 1] } },
  { name: "stride 2", inputShape: [3, 4, 10, 9], weightShape: [6, 4, 3, 3], options: { stride: [2, 2], padding: [1, 1, 1, 1] } },
  { name: "dilation 2, asymmetric padding, stride 2x1", inputShape: [2, 3, 11, 10], weightShape: [5, 3, 3, 2], options: { dilation: [2, 2], padding: [2, 0, 1, 3], stride: [2, 1] } },
  { name: "padding wider than the kernel", inputShape: [1, 2, 4, 5], weightShape: [3, 2, 1, 1], options: { padding: [2, 1, 0, 3] } },
  { name: "groups 2", inputShape: [2, 6, 8, 8], weightShape: [4, 3, 3, 3], options: { groups: 2, padding: [1, 1, 1, 1] } },
  { name: "depthwise, multiplier 2, stride 2", inputShape: [2, 3, 9, 8], weightShape: [6, 1, 3, 3], options: { groups: 3, stride: [2, 2], padding: [1, 0, 1, 1] } },
  { name: "depthwise, dilation 2", inputShape: [3, 4, 9, 9], weightShape: [4, 1, 3, 3], options: { groups: 4, dilation: [2, 2], padding: [2, 2, 2, 2] } },
  { name: "one input channel (direct kernel), stride 3", inputShape: [2, 1, 10, 10], weightShape: [5, 1, 3, 3], options: { stride: [3, 3] } },
  { name: "1x1", inputShape: [4, 16, 6, 5], weightShape: [24, 16, 1, 1], options: {} },
  // Batches of 8 or more run a pool task per chunk of images: here 9 chunks, the last one short.
  { name: "batch 17, groups 2", inputShape: [17, 4, 6, 5], weightShape: [6, 2, 3, 3], options: { groups: 2, stride: [1, 2], padding: [1, 1, 1, 1] } },
  { name: "batch 8, one image per chunk", inputShape: [8, 3, 40, 40], weightShape: [4, 3, 3, 3], options: { dilation: [2, 1], padding: [2, 1, 2, 1] } },
  // More columns than one im2col chunk holds (the weight gradient accumulates across chunks).
  { name: "im2col in chunks", inputShape: [3, 32, 80, 80], weightShape: [2, 32, 3, 3], options: { padding: [1, 1, 1, 1] } },
];

test("conv2d backward: strides, dilations, asymmetric padding, groups, depthwise, 1x1, chunked batches", { skip }, () => {
  convCases.forEach((c, i) => {
    const g = convGeometry("case", c.inputShape, c.weightShape, c.options);
    const x = floats(10 + i, g.N * g.C * g.H * g.W), w = floats(20 + i, c.weightShape.reduce((a, b) => a * b, 1));
    const dy = floats(30 + i, g.N * g.M * g.P * g.Q);
    const want = conv2dBackwardFloatReference(x, w, dy, g);
    const magnitude = conv2dBackwardFloatReference(abs(x), abs(w), abs(dy), g);
    const positions = g.N * g.P * g.Q;
    const inputTerms = (g.M / g.groups) * g.R * g.S;
    // Only the big case is heavy; it runs at the default level and backend only.
    const run = (label: string) => {
      const got = conv2dBackwardFloat(x, c.inputShape, w, c.weightShape, dy, { ...c.options, needBias: true });
      assertClose(got.dInput, want.dInput, magnitude.dInput, inputTerms, `${label} ${c.name}: dInput`);
      assertClose(got.dWeights, want.dWeights, magnitude.dWeights, positions, `${label} ${c.name}: dWeights`);
      assertClose(got.dBias, want.dBias, magnitude.dBias, positions, `${label} ${c.name}: dBias`);
    };
    if (c.name === "im2col in chunks") run("default");
    else everywhere(run);
  });
});

/**
 * The TypeScript conv backward against the definition, through the forward reference only:
 * dWeights[i] = <dy, conv(x, e_i)> and dInput[j] = <dy, conv(e_j, w)> for every one-hot e, and
 * dBias[m] = the sum of dy over (n, p, q). The forward's one-hot outputs are single products, so
 * each side is one float64 sum of the same terms: equal within float32 rounding.
 */
test("conv2d backward reference = the adjoint of conv2dFloatReference (every element, every geometry, needInput)", () => {
  // Small versions of convCases' geometries (one-hot probes cost a forward each): blocks of four
  // output channels and a remainder, stride, dilation, asymmetric and oversized padding, groups, depthwise.
  const small: ConvCase[] = [
    { name: "6 channels, stride 2x1, dilation 2, asymmetric padding", inputShape: [2, 3, 7, 6], weightShape: [6, 3, 3, 2], options: { dilation: [2, 2], padding: [2, 0, 1, 3], stride: [2, 1] } },
    { name: "padding wider than the kernel", inputShape: [1, 2, 4, 5], weightShape: [3, 2, 1, 1], options: { padding: [2, 1, 0, 3] } },
    { name: "groups 2", inputShape: [2, 4, 5, 5], weightShape: [8, 2, 3, 3], options: { groups: 2, padding: [1, 1, 1, 1] } },
    { name: "depthwise, multiplier 2, stride 2", inputShape: [2, 3, 7, 6], weightShape: [6, 1, 3, 3], options: { groups: 3, stride: [2, 2], padding: [1, 0, 1, 1] } },
  ];
  for (const [i, c] of small.entries()) {
    const g = convGeometry("case", c.inputShape, c.weightShape, c.options);
    const x = floats(40 + i, g.N * g.C * g.H * g.W), w = floats(50 + i, g.M * (g.C / g.groups) * g.R * g.S), dy = floats(60 + i, g.N * g.M * g.P * g.Q);
    const got = conv2dBackwardFloatReference(x, w, dy, g);
    const dot = (a: Float32Array): { value: number; magnitude: number } => {
      let value = 0, magnitude = 0;
      for (let k = 0; k < a.length; k++) {
        value += dy[k]! * a[k]!;
        magnitude += Math.abs(dy[k]! * a[k]!);
      }
      return { value, magnitude };
    };
    const check = (gotValue: number, want: { value: number; magnitude: number }, what: string) => {
      const bound = 2 ** -23 * want.magnitude + 1e-30;
      if (!(Math.abs(gotValue - want.value) <= bound)) assert.fail(`${c.name}: ${what} is ${gotValue}, expected ${want.value} (within ${bound})`);
    };
    for (let k = 0; k < w.length; k++) {
      const e = new Float32Array(w.length);
      e[k] = 1;
      check(got.dWeights[k]!, dot(conv2dFloatReference(x, e, g)), `dWeights[${k}]`);
    }
    for (let k = 0; k < x.length; k++) {
      const e = new Float32Array(x.length);
      e[k] = 1;
      check(got.dInput[k]!, dot(conv2dFloatReference(e, w, g)), `dInput[${k}]`);
    }
    const plane = g.P * g.Q;
    for (let m = 0; m < g.M; m++) {
      let value = 0, magnitude = 0;
      for (let n = 0; n < g.N; n++) for (let q = 0; q < plane; q++) { value += dy[(n * g.M + m) * plane + q]!; magnitude += Math.abs(dy[(n * g.M + m) * plane + q]!); }
      check(got.dBias[m]!, { value, magnitude }, `dBias[${m}]`);
    }
    // Without the input gradient: the same weight and bias gradients, dInput left zero.
    const partial = conv2dBackwardFloatReference(x, w, dy, g, false);
    assert.deepEqual(partial.dWeights, got.dWeights);
    assert.deepEqual(partial.dBias, got.dBias);
    assert.ok(partial.dInput.every((v) => v === 0));
  }
});

test("conv2d backward computes only the gradients asked for", { skip }, () => {
  const c = convCases[1]!;
  const g = convGeometry("case", c.inputShape, c.weightShape, c.options);
  const x = floats(1, g.N * g.C * g.H * g.W), w = floats(2, g.M * g.C * g.R * g.S), dy = floats(3, g.N * g.M * g.P * g.Q);
  const only = conv2dBackwardFloat(x, c.inputShape, w, c.weightShape, dy, { ...c.options, needInput: false });
  assert.equal(only.dInput, null);
  assert.equal(only.dBias, null);
  const full = conv2dBackwardFloat(x, c.inputShape, w, c.weightShape, dy, c.options);
  assert.deepEqual(only.dWeights, full.dWeights);
});

test("dense backward: odd sizes, a single row, wide layers", { skip }, () => {
  const shapes: [number, number, number][] = [[1, 7, 3], [3, 7, 5], [33, 65, 10], [64, 300, 129]];
  everywhere((label) => {
    shapes.forEach(([B, K, M], i) => {
      const g = denseGeometry("case", [B, K], [M, K]);
      const x = floats(40 + i, B * K), w = floats(50 + i, M * K), dy = floats(60 + i, B * M);
      const want = denseBackwardFloatReference(x, w, dy, g);
      const magnitude = denseBackwardFloatReference(abs(x), abs(w), abs(dy), g);
      const got = denseBackwardFloat(x, [B, K], w, [M, K], dy, { needBias: true });
      const what = `${label} dense ${B}x${K}->${M}`;
      assertClose(got.dInput, want.dInput, magnitude.dInput, M, `${what}: dInput`);
      assertClose(got.dWeights, want.dWeights, magnitude.dWeights, B, `${what}: dWeights`);
      assertClose(got.dBias, want.dBias, magnitude.dBias, B, `${what}: dBias`);
    });
  });
});

test("the results are bit-identical for 1, 2 and 3 threads", { skip }, () => {
  const digests = digestsPerThreadCount(`
    add(k.gemmFloat(rand(70 * 300), rand(300 * 90), { m: 70, n: 90, k: 300 }, { transB: false }));
    for (const [xs, ws, o] of [[[8, 16, 12, 12], [24, 16, 3, 3], { padding: [1, 1, 1, 1] }], [[8, 6, 12, 12], [12, 1, 3, 3], { groups: 6, stride: [2, 2] }]]) {
      const n = (s) => s.reduce((a, b) => a * b, 1);
      const g = k.convGeometry("t", xs, ws, o);
      const r = k.conv2dBackwardFloat(rand(n(xs)), xs, rand(n(ws)), ws, rand(g.N * g.M * g.P * g.Q), { ...o, needBias: true });
      add(r.dInput); add(r.dWeights); add(r.dBias);
    }
    const d = k.denseBackwardFloat(rand(40 * 200), [40, 200], rand(30 * 200), [30, 200], rand(40 * 30), { needBias: true });
    add(d.dInput); add(d.dWeights); add(d.dBias);
  `, ["1", "2", "3"], { AXNN_BLAS: "own" });
  assert.equal(new Set(digests).size, 1, `digests differ: ${digests.join(", ")}`);
});

test("backward kernels and GEMM reject wrong arguments with AxnnError naming them", () => {
  const field = (name: string) => (e: unknown) => e instanceof AxnnError && e.message.includes(name);
  const x = new Float32Array(2 * 3 * 5 * 5), w = new Float32Array(4 * 3 * 3 * 3);
  assert.throws(() => conv2dBackwardFloat(x, [2, 3, 5, 5], w, [4, 3, 3, 3], new Float32Array(10)), field("outputGrad"));
  assert.throws(() => conv2dBackwardFloat(x, [2, 3, 5, 5], w, [4, 3, 3, 3], [] as unknown as Float32Array), field("outputGrad"));
  assert.throws(() => denseBackwardFloat(new Float32Array(6), [2, 3], new Float32Array(12), [4, 3], new Float32Array(7)), field("outputGrad"));
  assert.throws(() => gemmFloat(new Float32Array(6), new Float32Array(5), { m: 2, n: 2, k: 3 }), field("gemmFloat b"));
  assert.throws(() => gemmFloat(new Float32Array(6), new Float32Array(6), { m: 2, n: 0, k: 3 }), field("dims"));
  assert.throws(() => gemmFloat(new Float32Array(6), new Float32Array(9), { m: 2, n: 3, k: 3 }, { accumulate: true }), field("out"));
  assert.throws(() => setGemmBackend("mkl" as "own"), field("AXNN_BLAS"));
});

test("gemmBackend reports the GEMM in use; AXNN_BLAS selects it when the addon loads, and a bad value fails every call", { skip }, () => {
  assert.ok(["own", "openblas"].includes(gemmBackend()));
  const index = new URL("../src/kernels/index.js", import.meta.url).href;
  const script = `import(${JSON.stringify(index)}).then((k) => {
    for (let i = 0; i < 2; i++) { try { console.log(k.gemmBackend()); } catch (e) { console.log(e.name + ": " + e.message); } }
  });`;
  const run = (blas: string) => spawnSync(process.execPath, ["-e", script], { env: { ...process.env, AXNN_BLAS: blas }, encoding: "utf8" }).stdout.trim().split("\n");
  assert.deepEqual(run("own"), ["own", "own"]);
  if (openBlasAvailable()) assert.deepEqual(run("openblas"), ["openblas", "openblas"]);
  else for (const line of run("openblas")) assert.match(line, /^AxnnError: AXNN_BLAS: OpenBLAS is not available/);
  for (const line of run("mkl")) assert.match(line, /^AxnnError: AXNN_BLAS: unknown GEMM backend "mkl"/);
});
