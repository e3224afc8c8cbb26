// What training changes in a model: its trainable parameters (with their gradients) and its
// state buffers, on a private copy of the model's tensors.
import type { ConvNode, DenseNode, Model, Node } from "../nn/graph.js";
import type { Tensor } from "../nn/tensor.js";

/** A trainable tensor: its data is the node's own tensor (updated in place), grad is accumulated by backward. */
export interface Param {
  /** `<node>.weight`, `<node>.bias` or `<node>.scale` (as in ONNX export). */
  name: string;
  data: Float32Array;
  shape: number[];
  grad: Float32Array;
  /** Weight decay usually skips biases and BatchNorm parameters. */
  isWeight: boolean;
}

/** Non-trainable state that training changes (BatchNorm running averages), saved in checkpoints. */
export interface StateBuffer {
  name: string;
  data: Float32Array;
}

/**
 * A deep copy of a model's layer tensors, so that training never changes the caller's model
 * (nodes and constants are otherwise shared; the graph structure is immutable).
 */
export function cloneModelForTraining(model: Model): Model {
  const copy = (t: Tensor): Tensor => ({ shape: [...t.shape], data: new Float32Array(t.data) });
  const nodes = model.nodes.map((n): Node => {
    switch (n.op) {
      case "Conv2D":
      case "DepthwiseConv2D":
      case "Dense":
        return { ...n, weight: copy(n.weight), bias: n.bias ? copy(n.bias) : null } as ConvNode | DenseNode;
      case "BatchNorm":
        return { ...n, scale: copy(n.scale), bias: copy(n.bias), mean: copy(n.mean), variance: copy(n.variance) };
      default:
        return { ...n };
    }
  });
  return { ...model, inputs: model.inputs.map((i) => ({ ...i, shape: [...i.shape] })), outputs: [...model.outputs], nodes, constants: new Map(model.constants) };
}

/** The trainable parameters of a model in node order (conv/dense weight and bias, BatchNorm scale and bias). */
export function collectParams(model: Model): Param[] {
  const out: Param[] = [];
  const add = (node: string, field: string, t: Tensor, isWeight: boolean): void => {
    out.push({ name: `${node}.${field}`, data: t.data, shape: [...t.shape], grad: new Float32Array(t.data.length), isWeight });
  };
  for (const n of model.nodes) {
    if (n.op === "Conv2D" || n.op === "DepthwiseConv2D" || n.op === "Dense") {
      add(n.name, "weight", n.weight, true);
      if (n.bias) add(n.name, "bias", n.bias, false);
    } else if (n.op === "BatchNorm") {
      add(n.name, "scale", n.scale, false);
      add(n.name, "bias", n.bias, false);
    }
  }
  return out;
}

/** BatchNorm running means and variances. */
export function collectBuffers(model: Model): StateBuffer[] {
  const out: StateBuffer[] = [];
  for (const n of model.nodes) {
    if (n.op === "BatchNorm") {
      out.push({ name: `${n.name}.mean`, data: n.mean.data }, { name: `${n.name}.variance`, data: n.variance.data });
    }
  }
  return out;
}
