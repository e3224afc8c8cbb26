// A run function on compiled plans: one plan per input shape, compiled on first use (an
// evaluation's last, smaller batch gets its own), reused for every later batch of that shape.
// On the WebGPU backend a quantized model runs resident on the GPU instead (src/quant/gpu-network.ts:
// one submission and one readback per batch, bit for bit the same results; from the first step
// without an exact GPU form on, the CPU); a model whose first layer has none runs on the plan
// (there: the reference engine, one GPU round trip per layer). One line says which and why.
import { isApproximable, type Model } from "../nn/graph.js";
import type { Tensor } from "../nn/tensor.js";
import { backend } from "../kernels/registry.js";
import { arithmeticOf, QuantizedModel } from "../quant/model.js";
import { GpuQuantizedNetwork } from "../quant/gpu-network.js";
import { AxnnError } from "../util/errors.js";
import { compilePlan } from "./compile.js";
import type { ArithmeticSpec, ExecutionPlan, PlanOptions } from "./plan.js";

/** `run(inputs)` with the results of QuantizedModel.run(inputs, arithmetic) (see compilePlan), on plans cached per input shape. */
export function plannedRunner(source: QuantizedModel | Model, arithmetic: ArithmeticSpec, options: PlanOptions = {}): (inputs: Record<string, Tensor>) => Record<string, Tensor> {
  const plans = new Map<string, ExecutionPlan | GpuQuantizedNetwork>();
  const seen = new Set<string>();
  const note = (text: string) => {
    if (!seen.has(text)) (options.onGpuFallback ?? noteOnce)(text);
    seen.add(text);
  };
  return (inputs) => {
    const shapes = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, t.shape]));
    const key = JSON.stringify(shapes);
    let plan = plans.get(key);
    if (!plan) {
      const gpu = residentOnGpu(source, arithmetic, shapes, options);
      if (gpu.why) note(`not resident on the GPU (${gpu.why}); running layer by layer`);
      const from = gpu.network?.cpuFrom;
      if (from) note(`on the GPU up to node "${from.node}", from there on the CPU (${from.why})`);
      plan = gpu.network ?? compilePlan(source, arithmetic, shapes, options);
      plans.set(key, plan);
    }
    if (plan instanceof GpuQuantizedNetwork) {
      const model = (source as QuantizedModel).model;
      return { [model.outputs[0]!]: plan.run(inputs[model.inputs[0]!.name]!) };
    }
    return plan.run(inputs);
  };
}

const noted = new Set<string>();
/** Each distinct note once per process, on stderr. */
function noteOnce(text: string): void {
  if (noted.has(text)) return;
  noted.add(text);
  process.stderr.write(`axnn: ${text}\n`);
}

/**
 * The GPU-resident network of a quantized, single-input, single-output model on the WebGPU
 * backend with some integer layer; why not where it cannot be (a float model or an all-float
 * assignment is simply not a candidate: no reason).
 */
function residentOnGpu(source: QuantizedModel | Model, arithmetic: ArithmeticSpec, shapes: Record<string, readonly number[]>, options: PlanOptions): { network?: GpuQuantizedNetwork; why?: string } {
  if (backend().name !== "webgpu" || options.profile || !(source instanceof QuantizedModel)) return {};
  const pick = arithmeticOf(arithmetic);
  if (source.model.nodes.filter(isApproximable).every((n) => pick(n.name).kind === "float")) return {};
  const model = source.model;
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return { why: `the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; the GPU network runs one of each` };
  try {
    return { network: new GpuQuantizedNetwork(source, arithmetic, shapes[model.inputs[0]!.name]!) };
  } catch (e) {
    if (e instanceof AxnnError && e.field === "gpu network") return { why: e.message };
    throw e;
  }
}
