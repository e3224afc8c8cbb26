// Throughput of the inference kernels (G-MAC/s) per ISA level, against onnxruntime-node's
// float conv on the same 3x3 convolution. MACs count the multiply-accumulates of the layer
// (padding positions included, as the kernels compute them).
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { timeIt, type BenchResult } from "./harness.js";
import {
  availableIsaLevels, conv2dExact, conv2dFloat, conv2dLut, denseExact, denseFloat, denseLut, depthwiseExact, depthwiseFloat,
  depthwiseLut, kernelBackend, kernelThreads, setKernelIsa, setLutAlgorithm, type LutTable,
} from "../src/kernels/index.js";
import { conv2dIntReference, lutProduct } from "../src/kernels/reference.js";
import { convGeometry } from "../src/kernels/geometry.js";
import { generate, generateByName } from "../src/multipliers/generators/index.js";

const { onnx } = onnxProto;

/** Deterministic pseudo-random codes (xorshift), so every run measures the same data. */
function codes(n: number, seed: number, bits = 8): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s & ((1 << bits) - 1);
  }
  return out;
}

const floats = (c: Uint8Array): Float32Array => Float32Array.from(c, (v) => (v - 128) / 64);

/**
 * A one-node ONNX model with W as an initializer and padding 1: Y = Conv(X, W) in float32, or
 * with uint8 codes Y = ConvInteger(X, W) (int32 accumulators, zero points 0: the exact integer
 * conv that our kernels compute).
 */
function convModel(inputShape: number[], weightShape: number[], weights: Float32Array | Uint8Array): Uint8Array {
  const integer = weights instanceof Uint8Array;
  const elemType = integer ? onnx.TensorProto.DataType.UINT8 : onnx.TensorProto.DataType.FLOAT;
  const tensorType = (shape: number[], type = elemType) => ({ tensorType: { elemType: type, shape: { dim: shape.map((d) => ({ dimValue: d })) } } });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: "axnn-bench",
    graph: {
      name: "conv",
      node: [{
        opType: integer ? "ConvInteger" : "Conv", input: ["X", "W"], output: ["Y"],
        attribute: [
          { name: "kernel_shape", type: onnx.AttributeProto.AttributeType.INTS, ints: weightShape.slice(2) },
          { name: "pads", type: onnx.AttributeProto.AttributeType.INTS, ints: [1, 1, 1, 1] },
        ],
      }],
      initializer: [integer
        ? { name: "W", dataType: elemType, dims: weightShape, rawData: weights }
        : { name: "W", dataType: elemType, dims: weightShape, floatData: Array.from(weights) }],
      input: [{ name: "X", type: tensorType(inputShape) }],
      output: [{ name: "Y", type: tensorType([inputShape[0]!, weightShape[0]!, inputShape[2]!, inputShape[3]!], integer ? onnx.TensorProto.DataType.INT32 : elemType) }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Median ms of `ours` and `theirs` run alternately, so that both see the same machine state. */
async function interleaved(ours: () => unknown, theirs: () => Promise<unknown>, minMs = 800, minRuns = 5): Promise<{ ours: number; theirs: number; runs: number }> {
  ours();
  await theirs();
  const a: number[] = [], b: number[] = [];
  const start = performance.now();
  while (a.length < minRuns || performance.now() - start < minMs) {
    let t = performance.now();
    ours();
    a.push(performance.now() - t);
    t = performance.now();
    await theirs();
    b.push(performance.now() - t);
  }
  const median = (v: number[]) => v.sort((x, y) => x - y)[Math.floor(v.length / 2)]!;
  return { ours: median(a), theirs: median(b), runs: a.length };
}

export async function benchKernels(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const gmacs = (macs: number, ms: number) => macs / (ms * 1e6);
  // An approximate 8x8 table (DRUM, k = 4): products fit 16 bits (two byte planes), as for
  // every 8x8 multiplier; a table of random 32-bit entries shows the cost of wider products.
  const approx: LutTable = generate("drum", { k: 4 }).multiplier;
  // 4-bit weights (an 8x4 table): at most 16 distinct weight codes per input channel.
  const narrow: LutTable = generateByName("drum_k4_u8x4").multiplier;
  const wide: LutTable = { table: Int32Array.from({ length: 65536 }, (_, i) => Math.imul(i + 1, 2654435761) >> 1), weightBits: 8 };

  const conv = { input: [16, 64, 32, 32], weights: [64, 64, 3, 3], pad: [1, 1, 1, 1] as const };
  const convMacs = 16 * 64 * 32 * 32 * 64 * 9;
  const cx = codes(16 * 64 * 32 * 32, 1), cw = codes(64 * 64 * 9, 2);
  const cxf = floats(cx), cwf = floats(cw);
  const dw = { input: [16, 128, 32, 32], weights: [128, 1, 3, 3] };
  const dwMacs = 16 * 128 * 32 * 32 * 9;
  const dx = codes(16 * 128 * 32 * 32, 3), dwc = codes(128 * 9, 4);
  const dxf = floats(dx), dwf = floats(dwc);
  const dense = { input: [64, 512], weights: [512, 512] };
  const denseMacs = 64 * 512 * 512;
  const ex = codes(64 * 512, 5), ew = codes(512 * 512, 6);
  const exf = floats(ex), ewf = floats(ew);

  // onnxruntime-node: float32, the same conv, as many threads as ours. Every conv kernel is timed
  // alternately with it (this VM's CPU allowance varies over seconds, so separate runs mislead).
  const session = await ort.InferenceSession.create(convModel(conv.input, conv.weights, cwf), {
    intraOpNumThreads: kernelThreads(),
    graphOptimizationLevel: "all",
    // Spinning worker threads would steal the cores from our kernels between its runs.
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
  const feeds = { X: new ort.Tensor("float32", cxf, conv.input) };
  const runOrt = () => session.run(feeds);
  const convOut = new Int32Array(16 * 64 * 32 * 32), convOutF = new Float32Array(16 * 64 * 32 * 32);
  const dwOut = new Int32Array(16 * 128 * 32 * 32), dwOutF = new Float32Array(16 * 128 * 32 * 32);
  const denseOut = new Int32Array(64 * 512), denseOutF = new Float32Array(64 * 512);
  const group = "conv3x3 64->64 32x32 b16";
  const versusOrt = async (name: string, fn: () => unknown) => {
    const r = await interleaved(fn, runOrt);
    out.push({ group, name, ms: r.ours, runs: r.runs, figures: { "G-MAC/s": gmacs(convMacs, r.ours), "onnxruntime G-MAC/s": gmacs(convMacs, r.theirs), "x onnxruntime time": r.ours / r.theirs } });
  };

  // The wide layer (3x3 256->256, 16x16, batch 16) against its own onnxruntime session.
  const wideConv = { input: [16, 256, 16, 16], weights: [256, 256, 3, 3] };
  const wideMacs = 16 * 256 * 16 * 16 * 256 * 9;
  const wx = codes(16 * 256 * 16 * 16, 7), ww = codes(256 * 256 * 9, 8);
  const wideSession = await ort.InferenceSession.create(convModel(wideConv.input, wideConv.weights, floats(ww)), {
    intraOpNumThreads: kernelThreads(), graphOptimizationLevel: "all", extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
  const wideFeeds = { X: new ort.Tensor("float32", floats(wx), wideConv.input) };
  const wideOut = new Int32Array(16 * 256 * 16 * 16);
  const wideGroup = "conv3x3 256->256 16x16 b16";
  const wideVersusOrt = async (name: string, fn: () => unknown) => {
    const r = await interleaved(fn, () => wideSession.run(wideFeeds));
    out.push({ group: wideGroup, name, ms: r.ours, runs: r.runs, figures: { "G-MAC/s": gmacs(wideMacs, r.ours), "onnxruntime G-MAC/s": gmacs(wideMacs, r.theirs), "x onnxruntime time": r.ours / r.theirs } });
  };
  const cw4 = codes(64 * 64 * 9, 9, 4);

  const levels = availableIsaLevels();
  for (const level of levels) {
    setKernelIsa(level);
    const backend = kernelBackend();
    // "auto" picks the LUT algorithm per layer (docs/kernels.md); the forced rows show both.
    await versusOrt(`${backend} LUT (16-bit products)`, () => conv2dLut(cx, conv.input, cw, conv.weights, approx, { padding: conv.pad, out: convOut }));
    for (const algorithm of ["direct", "planes"] as const) {
      setLutAlgorithm(algorithm);
      await versusOrt(`${backend} LUT (16-bit products), ${algorithm} forced`, () => conv2dLut(cx, conv.input, cw, conv.weights, approx, { padding: conv.pad, out: convOut }));
    }
    setLutAlgorithm("auto");
    await versusOrt(`${backend} LUT 8x4 table`, () => conv2dLut(cx, conv.input, cw4, conv.weights, narrow, { padding: conv.pad, out: convOut }));
    await wideVersusOrt(`${backend} LUT (16-bit products)`, () => conv2dLut(wx, wideConv.input, ww, wideConv.weights, approx, { padding: conv.pad, out: wideOut }));
    await versusOrt(`${backend} LUT (32-bit products)`, () => conv2dLut(cx, conv.input, cw, conv.weights, wide, { padding: conv.pad, out: convOut }));
    await versusOrt(`${backend} exact int8`, () => conv2dExact(cx, conv.input, cw, conv.weights, true, { padding: conv.pad, out: convOut }));
    await versusOrt(`${backend} float32`, () => conv2dFloat(cxf, conv.input, cwf, conv.weights, { padding: conv.pad, out: convOutF }));

    const dwl = timeIt(() => depthwiseLut(dx, dw.input, dwc, dw.weights, approx, { padding: conv.pad, out: dwOut }));
    out.push({ group: "depthwise3x3 128 32x32 b16", name: `${backend} LUT`, ...dwl, figures: { "G-MAC/s": gmacs(dwMacs, dwl.ms) } });
    const dwe = timeIt(() => depthwiseExact(dx, dw.input, dwc, dw.weights, true, { padding: conv.pad, out: dwOut }));
    out.push({ group: "depthwise3x3 128 32x32 b16", name: `${backend} exact int8`, ...dwe, figures: { "G-MAC/s": gmacs(dwMacs, dwe.ms) } });
    const dwfl = timeIt(() => depthwiseFloat(dxf, dw.input, dwf, dw.weights, { padding: conv.pad, out: dwOutF }));
    out.push({ group: "depthwise3x3 128 32x32 b16", name: `${backend} float32`, ...dwfl, figures: { "G-MAC/s": gmacs(dwMacs, dwfl.ms) } });

    const dl = timeIt(() => denseLut(ex, dense.input, ew, dense.weights, approx, { out: denseOut }));
    out.push({ group: "dense 512->512 b64", name: `${backend} LUT`, ...dl, figures: { "G-MAC/s": gmacs(denseMacs, dl.ms) } });
    const de = timeIt(() => denseExact(ex, dense.input, ew, dense.weights, true, { out: denseOut }));
    out.push({ group: "dense 512->512 b64", name: `${backend} exact int8`, ...de, figures: { "G-MAC/s": gmacs(denseMacs, de.ms) } });
    const df = timeIt(() => denseFloat(exf, dense.input, ewf, dense.weights, { out: denseOutF }));
    out.push({ group: "dense 512->512 b64", name: `${backend} float32`, ...df, figures: { "G-MAC/s": gmacs(denseMacs, df.ms) } });
  }

  // The TypeScript reference kernel (the fallback without the addon), on one image of the conv.
  const one = [1, 64, 32, 32];
  const g = convGeometry("bench", one, conv.weights, { padding: conv.pad });
  const x1 = cx.subarray(0, 64 * 32 * 32);
  const product = lutProduct(approx.table, approx.weightBits);
  const ref = timeIt(() => conv2dIntReference(x1, cw, g, product, 0), { minRuns: 2, minMs: 0 });
  out.push({ group: "conv3x3 64->64 32x32 b1", name: "typescript reference LUT", ...ref, figures: { "G-MAC/s": gmacs(convMacs / 16, ref.ms) } });
  if (levels.length) setKernelIsa(levels[levels.length - 1]!);
  await session.release();
  await wideSession.release();

  // onnxruntime's own integer conv (ConvInteger, uint8 x uint8 -> int32), against our LUT conv.
  const intSession = await ort.InferenceSession.create(convModel(conv.input, conv.weights, cw), {
    intraOpNumThreads: kernelThreads(),
    graphOptimizationLevel: "all",
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
  const intFeeds = { X: new ort.Tensor("uint8", cx, conv.input) };
  const intRun = await interleaved(() => conv2dLut(cx, conv.input, cw, conv.weights, approx, { padding: conv.pad, out: convOut }), () => intSession.run(intFeeds));
  out.push({
    group, name: `onnxruntime-node ConvInteger (u8), vs ${kernelBackend()} LUT`, ms: intRun.theirs, runs: intRun.runs,
    figures: { "G-MAC/s": gmacs(convMacs, intRun.theirs), "LUT G-MAC/s": gmacs(convMacs, intRun.ours), "LUT x ConvInteger time": intRun.ours / intRun.theirs },
  });
  await intSession.release();

  return out;
}
