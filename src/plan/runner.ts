// A run function on compiled plans: one plan per input shape, compiled on first use (an
// evaluation's last, smaller batch gets its own), reused for every later batch of that shape.
import type { Model } from "../nn/graph.js";
import type { Tensor } from "../nn/tensor.js";
import type { QuantizedModel } from "../quant/model.js";
import { compilePlan } from "./compile.js";
import type { ArithmeticSpec, ExecutionPlan, PlanOptions } from "./plan.js";

/** `run(inputs)` with the results of QuantizedModel.run(inputs, arithmetic) (see compilePlan), on plans cached per input shape. */
export function plannedRunner(source: QuantizedModel | Model, arithmetic: ArithmeticSpec, options: PlanOptions = {}): (inputs: Record<string, Tensor>) => Record<string, Tensor> {
  const plans = new Map<string, ExecutionPlan>();
  return (inputs) => {
    const shapes = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, t.shape]));
    const key = JSON.stringify(shapes);
    let plan = plans.get(key);
    if (!plan) {
      plan = compilePlan(source, arithmetic, shapes, options);
      plans.set(key, plan);
    }
    return plan.run(inputs);
  };
}
