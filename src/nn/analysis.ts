import { AxnnError } from "../util/errors.js";
import { isApproximable, type Model } from "./graph.js";
import { concreteInputShapes, inferShapes } from "./shapes.js";
import { sizeOf } from "./tensor.js";

export interface LayerMacs {
  name: string;
  kind: "Conv2D" | "DepthwiseConv2D" | "Dense";
  /** Multiply-accumulates for one sample (batch 1). */
  macs: number;
  /** Input and output shapes for one sample, and the weight shape. */
  inputShape: number[];
  outputShape: number[];
  weightShape: number[];
}

/**
 * Multiply-accumulates of every approximable layer (Conv2D, DepthwiseConv2D, Dense) for one sample.
 * `inputShapes`: shapes of the inputs with batch 1; by default the declared shapes with open dimensions set to 1
 * (an error if other than the batch dimension is open).
 */
export function macsPerLayer(model: Model, inputShapes?: Record<string, readonly number[]> | readonly number[]): LayerMacs[] {
  let shapesIn: Record<string, readonly number[]>;
  if (inputShapes === undefined) {
    for (const vi of model.inputs) {
      if (vi.shape.slice(1).some((d) => d === null)) {
        throw new AxnnError(`input "${vi.name}" has open dimensions besides the batch; give the input shape`, { field: "inputShape" });
      }
    }
    shapesIn = concreteInputShapes(model, 1);
  } else if (Array.isArray(inputShapes)) {
    if (model.inputs.length !== 1) throw new AxnnError(`the model has ${model.inputs.length} inputs; give a shape per input name`, { field: "inputShape" });
    shapesIn = { [model.inputs[0]!.name]: inputShapes as readonly number[] };
  } else {
    shapesIn = inputShapes as Record<string, readonly number[]>;
  }
  const shapes = inferShapes(model, shapesIn);
  const rows: LayerMacs[] = [];
  for (const n of model.nodes) {
    if (!isApproximable(n)) continue;
    const inShape = shapes.get(n.inputs[0]!)!;
    const outShape = shapes.get(n.outputs[0]!)!;
    const batch = inShape[0] ?? 1;
    let macs: number;
    if (n.op === "Dense") {
      // Every output element is one dot product of inFeatures terms.
      macs = sizeOf(outShape) * n.weight.shape[1]!;
    } else {
      const [, cg, kh, kw] = n.weight.shape as [number, number, number, number];
      macs = sizeOf(outShape) * cg * kh * kw;
    }
    rows.push({ name: n.name, kind: n.op, macs: macs / batch, inputShape: inShape, outputShape: outShape, weightShape: [...n.weight.shape] });
  }
  return rows;
}

/** The layers that can use an approximate multiplier, in execution order, with their MACs per sample. */
export function approximableLayers(model: Model, inputShapes?: Record<string, readonly number[]> | readonly number[]): { name: string; kind: LayerMacs["kind"]; macs: number }[] {
  return macsPerLayer(model, inputShapes).map(({ name, kind, macs }) => ({ name, kind, macs }));
}
