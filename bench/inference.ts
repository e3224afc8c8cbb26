// Whole-network quantized inference: images/s of a ResNet-20 (CIFAR-10 shape, 32x32x3, ~41 MMAC
// per image) in float32, exact int8 and through approximate multiplier tables, all in the engine
// of src/quant (native kernels when built).
import { ModelBuilder } from "../src/nn/builder.js";
import { macsPerLayer } from "../src/nn/analysis.js";
import type { Model } from "../src/nn/graph.js";
import { Rng } from "../src/nn/tensor.js";
import { generateByName } from "../src/multipliers/generators/index.js";
import { kernelBackend, kernelThreads } from "../src/kernels/index.js";
import { quantizeModel, EXACT_INT8, FLOAT, type LayerArithmetic, type QuantScheme } from "../src/quant/index.js";
import type { BenchResult } from "./harness.js";

/** ResNet-20 for CIFAR-10 (He et al. 2016, option B shortcuts): 3 stages of 3 basic blocks, 16/32/64 channels. */
export function resnet20(seed = 1): Model {
  const b = new ModelBuilder("resnet20", { seed });
  const x = b.input("x", [null, 3, 32, 32]);
  const convBn = (v: string, out: number, kernel: number, stride: number) => b.batchNorm(b.conv2d(v, { outChannels: out, kernel, stride, padding: (kernel - 1) / 2, bias: false }));
  let h = b.relu(convBn(x, 16, 3, 1));
  let channels = 16;
  for (const [stage, out] of [16, 32, 64].entries()) {
    for (let block = 0; block < 3; block++) {
      const stride = stage > 0 && block === 0 ? 2 : 1;
      const r = convBn(b.relu(convBn(h, out, 3, stride)), out, 3, 1);
      const shortcut = stride !== 1 || channels !== out ? convBn(h, out, 1, stride) : h;
      h = b.relu(b.add(r, shortcut));
      channels = out;
    }
  }
  b.output(b.dense(b.flatten(b.globalAvgPool(h)), { outFeatures: 10 }));
  return b.build();
}

export async function benchInference(): Promise<BenchResult[]> {
  const model = resnet20();
  const macs = macsPerLayer(model).reduce((s, l) => s + l.macs, 0);
  const batch = 64;
  const rng = new Rng(3);
  const input = { x: rng.uniformTensor([batch, 3, 32, 32], -1, 1) };
  const calib = [{ x: rng.uniformTensor([32, 3, 32, 32], -1, 1) }];
  const results: BenchResult[] = [];
  const runs: [string, QuantScheme, LayerArithmetic][] = [
    ["float32", "asym", FLOAT],
    ["exact int8 (asym, uint8)", "asym", EXACT_INT8],
    ["approximate drum_k4_u8x8 (asym)", "asym", { kind: "lut", multiplier: generateByName("drum_k4_u8x8").multiplier }],
    ["exact int8 (sym, int8)", "sym", EXACT_INT8],
    ["approximate drum_k4_s8x8 (sym)", "sym", { kind: "lut", multiplier: generateByName("drum_k4_s8x8").multiplier }],
  ];
  const quantized = { asym: quantizeModel(model, calib, { scheme: "asym", perChannel: true, calibration: { method: "minmax" } }), sym: quantizeModel(model, calib, { scheme: "sym", perChannel: true, calibration: { method: "minmax" } }) };
  // Round-robin: one run of each variant per round, so that all see the same machine state (this
  // VM's CPU allowance changes under load); medians per variant.
  const variants = runs.map(([name, scheme, arithmetic]) => ({ name, run: () => quantized[scheme].run(input, arithmetic), times: [] as number[] }));
  for (const v of variants) v.run(); // warm-up: JIT, prepared tables, quantized weights
  const start = performance.now();
  for (let round = 0; round < 30 && (round < 5 || performance.now() - start < 8000); round++) {
    for (const v of variants) {
      const t0 = performance.now();
      v.run();
      v.times.push(performance.now() - t0);
    }
  }
  const median = (t: number[]) => [...t].sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
  const floatMs = median(variants[0]!.times);
  for (const v of variants) {
    const ms = median(v.times);
    results.push({
      group: "inference",
      name: `resnet20 batch ${batch}: ${v.name}`,
      ms,
      runs: v.times.length,
      figures: {
        images_per_s: (batch * 1000) / ms,
        gmac_per_s: (batch * macs) / (ms * 1e6),
        vs_float: ms / floatMs,
        backend: `${kernelBackend()} x${kernelThreads()}`,
      },
    });
  }
  return results;
}
