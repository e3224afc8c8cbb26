// Whole-network inference against onnxruntime-node: images/s of zoo networks (ResNet-20,
// MobileNetV2 on CIFAR shapes, LeNet-5 on MNIST shapes, batch 64) in float32, exact int8 and
// through an approximate multiplier's table, on compiled execution plans (src/plan), beside
// onnxruntime-node's float32 run of the same model exported to ONNX by axnn. This machine is
// shared and its CPU allowance changes within seconds, so every axnn run is timed right after
// an onnxruntime run (alternately, round after round) and the ratios are taken per pair:
// medians with their spread (min-max over the rounds).
import * as ort from "onnxruntime-node";
import { buildZooModel } from "../src/zoo/index.js";
import { exportOnnx } from "../src/onnx/index.js";
import { macsPerLayer } from "../src/nn/analysis.js";
import { Rng, type Tensor } from "../src/nn/tensor.js";
import { generateByName } from "../src/multipliers/generators/index.js";
import { kernelBackend, kernelThreads, setLutAlgorithm, type LutAlgorithm } from "../src/kernels/index.js";
import { quantizeModel, EXACT_INT8, FLOAT, type LayerArithmetic } from "../src/quant/index.js";
import { compilePlan } from "../src/plan/index.js";
import type { BenchResult } from "./harness.js";

const BATCH = 64;

interface Variant { name: string; run: () => unknown; times: number[]; ratios: number[]; vsFloat: number[] }

/** A plan run with the LUT algorithm forced (setLutAlgorithm), auto again afterwards. */
const forced = (algorithm: LutAlgorithm, run: () => unknown) => () => {
  setLutAlgorithm(algorithm);
  try {
    return run();
  } finally {
    setLutAlgorithm("auto");
  }
};

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const spread = (v: number[]) => `${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)}`;

async function benchNet(name: string, opts: { reference: boolean; budgetMs: number }): Promise<BenchResult[]> {
  const model = buildZooModel(name);
  const inName = model.inputs[0]!.name, outName = model.outputs[0]!;
  const sample = model.inputs[0]!.shape.slice(1) as number[];
  const shape = [BATCH, ...sample];
  const rng = new Rng(3);
  const x: Tensor = rng.uniformTensor(shape, -1, 1);
  const calib = [{ [inName]: rng.uniformTensor([32, ...sample], -1, 1) }];
  const q = quantizeModel(model, calib, { scheme: "asym", perChannel: true, calibration: { method: "minmax" } });
  const approx: LayerArithmetic = { kind: "lut", multiplier: generateByName("drum_k4_u8x8").multiplier };
  // A table that does not factor (docs/kernels.md, "Separable tables"): the LUT cores' speed, which most approximate multipliers get.
  const nonSeparable: LayerArithmetic = { kind: "lut", multiplier: generateByName("bam_h2_v7_u8x8").multiplier };
  const inputs = { [inName]: x };
  const shapes = { [inName]: shape };
  const plans = {
    float: compilePlan(model, FLOAT, shapes), exact: compilePlan(q, EXACT_INT8, shapes), approx: compilePlan(q, approx, shapes), nonSeparable: compilePlan(q, nonSeparable, shapes),
  };

  const session = await ort.InferenceSession.create(exportOnnx(model), {
    intraOpNumThreads: kernelThreads(),
    graphOptimizationLevel: "all",
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
  const feeds = { [inName]: new ort.Tensor("float32", x.data, shape) };
  const ortTimes: number[] = [];
  const variant = (name: string, run: () => unknown): Variant => ({ name, run, times: [], ratios: [], vsFloat: [] });
  // The float plan first: the others' "x axnn float" are per-round ratios to its time.
  const variants: Variant[] = [
    variant("float32 (plan)", () => plans.float.run(inputs)),
    variant("exact int8 asym (plan, separable int16 GEMM)", () => plans.exact.run(inputs)),
    variant("approximate separable drum_k4_u8x8 asym (plan, int16 GEMM)", () => plans.approx.run(inputs)),
    variant("approximate drum_k4_u8x8 asym (plan, LUT planes forced)", forced("planes", () => plans.approx.run(inputs))),
    variant("approximate non-separable bam_h2_v7_u8x8 asym (plan)", () => plans.nonSeparable.run(inputs)),
  ];
  if (opts.reference) {
    variants.push(
      variant("float32 (reference engine)", () => q.run(inputs, FLOAT)),
      variant("approximate drum_k4_u8x8 asym (reference engine)", () => q.run(inputs, approx)[outName]),
    );
  }
  // Warm-up: JIT, prepared tables, buffers, onnxruntime's first-run allocations.
  await session.run(feeds);
  for (const v of variants) v.run();
  const start = performance.now();
  for (let round = 0; round < 30 && (round < 3 || performance.now() - start < opts.budgetMs); round++) {
    const roundMs: number[] = [];
    for (const v of variants) {
      let t = performance.now();
      await session.run(feeds);
      const theirs = performance.now() - t;
      ortTimes.push(theirs);
      t = performance.now();
      v.run();
      const ours = performance.now() - t;
      v.times.push(ours);
      v.ratios.push(ours / theirs);
      roundMs.push(ours);
      v.vsFloat.push(ours / roundMs[0]!);
    }
  }
  const macs = macsPerLayer(model, [1, ...sample]).reduce((s, l) => s + l.macs, 0);
  const group = `${name} batch ${BATCH} vs onnxruntime float32`;
  const ortMs = median(ortTimes);
  const rows: BenchResult[] = [{
    group, name: "onnxruntime-node float32", ms: ortMs, runs: ortTimes.length,
    figures: { images_per_s: (BATCH * 1000) / ortMs, gmac_per_s: (BATCH * macs) / (ortMs * 1e6), "x onnxruntime time": 1, "spread": "" },
  }];
  for (const v of variants) {
    const ms = median(v.times);
    rows.push({
      group, name: v.name, ms, runs: v.times.length,
      figures: {
        images_per_s: (BATCH * 1000) / ms, gmac_per_s: (BATCH * macs) / (ms * 1e6),
        "x onnxruntime time": median(v.ratios), spread: spread(v.ratios),
        "x axnn float": median(v.vsFloat), "float spread": spread(v.vsFloat),
        backend: `${kernelBackend()} x${kernelThreads()}`,
      },
    });
  }
  return rows;
}

export async function benchNetwork(): Promise<BenchResult[]> {
  return [
    ...(await benchNet("resnet20", { reference: true, budgetMs: 8000 })),
    ...(await benchNet("mobilenetv2", { reference: false, budgetMs: 5000 })),
    ...(await benchNet("lenet5", { reference: false, budgetMs: 2000 })),
  ];
}
