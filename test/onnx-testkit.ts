// Helpers for the differential tests: run ONNX bytes in onnxruntime-node and compare with our float engine.
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { importOnnx } from "../src/onnx/import.js";
import { exportOnnx } from "../src/onnx/export.js";
import { runModel } from "../src/nn/run.js";
import { Rng, type Tensor } from "../src/nn/tensor.js";
import type { Model } from "../src/nn/graph.js";

// ONNX's own shape inference disagrees with onnxruntime's kernels on some ceil-mode pools and warns; ours follows the kernels.
ort.env.logLevel = "error";

export async function ortRun(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "disabled", logSeverityLevel: 3 });
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(feeds)) ortFeeds[k] = new ort.Tensor("float32", t.data, t.shape);
    const res = await session.run(ortFeeds);
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(res)) out[k] = { shape: v.dims.map(Number), data: v.data as Float32Array };
    return out;
  } finally {
    await session.release();
  }
}

/**
 * Element-wise |a - b| <= rtol * (|b| + scale), scale = mean |b|: relative where values are large,
 * relative to the tensor's typical magnitude where they are near zero (sums that cancel).
 */
export function assertClose(actual: Tensor, expected: Tensor, label: string, rtol = 1e-4): void {
  assert.deepEqual(actual.shape, expected.shape, `${label}: shape`);
  let scale = 0;
  for (const v of expected.data) scale += Math.abs(v);
  scale = Math.max(scale / Math.max(1, expected.data.length), 1e-6);
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i]!, b = expected.data[i]!;
    if (!(Math.abs(a - b) <= rtol * (Math.abs(b) + scale))) {
      assert.fail(`${label}: element ${i}: ours ${a}, onnxruntime ${b} (scale ${scale})`);
    }
  }
}

export function randomTensor(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  return new Rng(seed).uniformTensor(shape, lo, hi);
}

/**
 * Imports `bytes`, runs our engine and onnxruntime on the same inputs, compares every output; then exports
 * our model and checks onnxruntime gives the same again on the exported bytes. Returns the imported model.
 */
export async function differential(bytes: Uint8Array, feeds: Record<string, Tensor>, label: string, rtol = 1e-4): Promise<Model> {
  const model = importOnnx(bytes, label);
  const ours = runModel(model, feeds);
  const ref = await ortRun(bytes, feeds);
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(ref).sort(), `${label}: output names`);
  for (const k of Object.keys(ref)) assertClose(ours[k]!, ref[k]!, `${label} output "${k}"`, rtol);
  const exported = await ortRun(exportOnnx(model), feeds);
  for (const k of Object.keys(ref)) assertClose(exported[k]!, ref[k]!, `${label} re-exported, output "${k}"`, rtol);
  return model;
}
