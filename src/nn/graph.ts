import { AxnnError } from "../util/errors.js";
import type { Tensor } from "./tensor.js";

/** Explicit padding of the two spatial axes: [top, left, bottom, right] (ONNX order: begins, then ends). */
export type Pads2D = [number, number, number, number];
/** ONNX auto_pad: NOTSET uses the explicit pads; SAME_* pad so that out = ceil(in / stride). */
export type AutoPad = "NOTSET" | "SAME_UPPER" | "SAME_LOWER" | "VALID";

interface NodeBase {
  /** Unique within the model; approximable layers are addressed by it. */
  name: string;
  /** Value names: graph inputs, model constants or outputs of other nodes. */
  inputs: string[];
  outputs: string[];
}

/** Conv2D (any groups) and DepthwiseConv2D (groups = input channels, weight [C * multiplier, 1, kh, kw]). */
export interface ConvNode extends NodeBase {
  op: "Conv2D" | "DepthwiseConv2D";
  /** [outChannels, inChannels / groups, kh, kw] (PyTorch/ONNX layout). */
  weight: Tensor;
  /** [outChannels] or null. */
  bias: Tensor | null;
  strides: [number, number];
  pads: Pads2D;
  dilations: [number, number];
  groups: number;
  autoPad: AutoPad;
}

/** Fully connected layer on the last axis: y = x W^T + b. */
export interface DenseNode extends NodeBase {
  op: "Dense";
  /** [outFeatures, inFeatures] (PyTorch Linear / ONNX Gemm transB=1 layout). */
  weight: Tensor;
  bias: Tensor | null;
}

/** Inference batch normalisation over axis 1: y = (x - mean) / sqrt(var + eps) * scale + bias. */
export interface BatchNormNode extends NodeBase {
  op: "BatchNorm";
  scale: Tensor;
  bias: Tensor;
  mean: Tensor;
  variance: Tensor;
  epsilon: number;
}

export interface ActivationNode extends NodeBase {
  op: "Relu" | "Relu6" | "Identity";
}

/** Smooth activations without parameters: Sigmoid 1 / (1 + e^-x), Tanh, HardSwish x * clip(x / 6 + 1/2, 0, 1). */
export interface SmoothActivationNode extends NodeBase {
  op: "Sigmoid" | "Tanh" | "HardSwish";
}

/** clip(alpha * x + beta, 0, 1) (ONNX's defaults 0.2, 0.5; PyTorch's Hardsigmoid exports alpha = 1/6). */
export interface HardSigmoidNode extends NodeBase {
  op: "HardSigmoid";
  alpha: number;
  beta: number;
}

/** x for x >= 0, alpha * x below. */
export interface LeakyReluNode extends NodeBase {
  op: "LeakyRelu";
  alpha: number;
}

/** x for x >= 0, slope * x below; inputs [x, slope], the slope (a model constant) broadcast to x (PyTorch: [C, 1, 1]). */
export interface PReluNode extends NodeBase {
  op: "PRelu";
}

export interface ClipNode extends NodeBase {
  op: "Clip";
  min: number;
  max: number;
}

export interface MaxPoolNode extends NodeBase {
  op: "MaxPool";
  kernel: [number, number];
  strides: [number, number];
  pads: Pads2D;
  dilations: [number, number];
  ceilMode: boolean;
  autoPad: AutoPad;
}

export interface AvgPoolNode extends NodeBase {
  op: "AvgPool";
  kernel: [number, number];
  strides: [number, number];
  pads: Pads2D;
  ceilMode: boolean;
  /** Whether padded positions count in the divisor (PyTorch's default true, ONNX's default false). */
  countIncludePad: boolean;
  autoPad: AutoPad;
}

export interface GlobalAvgPoolNode extends NodeBase {
  op: "GlobalAvgPool";
}

/** Maximum over every axis after the first two. */
export interface GlobalMaxPoolNode extends NodeBase {
  op: "GlobalMaxPool";
}

/**
 * ONNX Resize (and Upsample) of an NCHW tensor's two spatial axes. The output size is
 * floor(in * scale) with scales, else `sizes`; an output coordinate maps to the input by
 * `coordinates` (ONNX coordinate_transformation_mode), then `nearest` rounds it or `linear`
 * interpolates between the two neighbours, each clamped to the input.
 */
export interface ResizeNode extends NodeBase {
  op: "Resize";
  mode: "nearest" | "linear";
  coordinates: ResizeCoordinates;
  nearestMode: "round_prefer_floor" | "round_prefer_ceil" | "floor" | "ceil";
  /** [scaleH, scaleW], or null when sizes are given. */
  scales: [number, number] | null;
  /** The output's [N, C, H, W] (null: the input's; N and C must stay the input's), or null when scales are given. */
  sizes: (number | null)[] | null;
}

export const RESIZE_COORDINATES = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"] as const;
export type ResizeCoordinates = (typeof RESIZE_COORDINATES)[number];

/** Element-wise binary op with NumPy broadcasting; either input may be a model constant. */
export interface BinaryNode extends NodeBase {
  op: "Add" | "Sub" | "Mul" | "Div";
}

export interface ConcatNode extends NodeBase {
  op: "Concat";
  axis: number;
}

/** ONNX Flatten: [d0..d(axis-1)] and [d(axis)..] become the two axes of a matrix. */
export interface FlattenNode extends NodeBase {
  op: "Flatten";
  axis: number;
}

/** ONNX Reshape semantics: 0 copies the input's dimension (unless allowZero), -1 is inferred. */
export interface ReshapeNode extends NodeBase {
  op: "Reshape";
  shape: number[];
  allowZero: boolean;
}

export interface TransposeNode extends NodeBase {
  op: "Transpose";
  perm: number[];
}

/** Softmax along `axis`; coerce2d: opset < 13 semantics (all axes from `axis` on form one). */
export interface SoftmaxNode extends NodeBase {
  op: "Softmax";
  axis: number;
  coerce2d: boolean;
}

/** N-d padding, ONNX layout [begin_0..begin_n-1, end_0..end_n-1]; negative values crop. */
export interface PadNode extends NodeBase {
  op: "Pad";
  pads: number[];
  mode: "constant" | "reflect" | "edge";
  value: number;
}

/** Mean over `axes` (null: all axes). */
export interface ReduceMeanNode extends NodeBase {
  op: "ReduceMean";
  axes: number[] | null;
  keepDims: boolean;
}

/** Squeeze `axes` (null: every axis of size 1) or Unsqueeze `axes` (positions in the output). */
export interface SqueezeNode extends NodeBase {
  op: "Squeeze" | "Unsqueeze";
  axes: number[] | null;
}

export type Node =
  | ConvNode
  | DenseNode
  | BatchNormNode
  | ActivationNode
  | SmoothActivationNode
  | HardSigmoidNode
  | LeakyReluNode
  | PReluNode
  | ClipNode
  | MaxPoolNode
  | AvgPoolNode
  | GlobalAvgPoolNode
  | GlobalMaxPoolNode
  | ResizeNode
  | BinaryNode
  | ConcatNode
  | FlattenNode
  | ReshapeNode
  | TransposeNode
  | SoftmaxNode
  | PadNode
  | ReduceMeanNode
  | SqueezeNode;

export type OpName = Node["op"];

/** The ops whose multiplications can run on an approximate multiplier. */
export const APPROXIMABLE_OPS = ["Conv2D", "DepthwiseConv2D", "Dense"] as const;
export type ApproximableNode = ConvNode | DenseNode;

export function isApproximable(n: Node): n is ApproximableNode {
  return n.op === "Conv2D" || n.op === "DepthwiseConv2D" || n.op === "Dense";
}

/** A graph input; null dimensions (usually the batch) are left open. */
export interface ValueInfo {
  name: string;
  shape: (number | null)[];
}

/** A float model: a DAG of nodes over named values, nodes in topological order. */
export interface Model {
  name: string;
  inputs: ValueInfo[];
  outputs: string[];
  nodes: Node[];
  /** Constant activations-side operands (normalisation means, scales...) by value name. Layer weights live in their nodes. */
  constants: Map<string, Tensor>;
}

/**
 * Checks the graph's wiring and returns a copy with the nodes in topological order:
 * unique node names, every value produced once, every node input defined, outputs defined, no cycles.
 */
export function finalizeModel(model: Model): Model {
  const where = { field: `model "${model.name}"` };
  const producer = new Map<string, number>();
  const defined = new Set<string>();
  for (const i of model.inputs) {
    if (defined.has(i.name)) throw new AxnnError(`input "${i.name}" is declared twice`, where);
    defined.add(i.name);
  }
  for (const c of model.constants.keys()) {
    if (defined.has(c)) throw new AxnnError(`constant "${c}" has the name of an input`, where);
    defined.add(c);
  }
  const names = new Set<string>();
  model.nodes.forEach((n, idx) => {
    if (names.has(n.name)) throw new AxnnError(`two nodes are named "${n.name}"`, where);
    names.add(n.name);
    for (const o of n.outputs) {
      if (defined.has(o) || producer.has(o)) throw new AxnnError(`value "${o}" of node "${n.name}" is defined twice`, where);
      producer.set(o, idx);
    }
  });
  for (const n of model.nodes) {
    for (const i of n.inputs) {
      if (!defined.has(i) && !producer.has(i)) throw new AxnnError(`node "${n.name}" reads "${i}", which nothing defines`, where);
    }
  }
  for (const o of model.outputs) {
    if (!defined.has(o) && !producer.has(o)) throw new AxnnError(`output "${o}" is not produced by any node`, where);
  }
  // Kahn's algorithm, stable: among ready nodes the earliest in the given order goes first.
  const indegree = model.nodes.map((n) => n.inputs.filter((i) => producer.has(i)).length);
  const consumers = model.nodes.map(() => [] as number[]);
  model.nodes.forEach((n, idx) => {
    for (const i of n.inputs) {
      const p = producer.get(i);
      if (p !== undefined) consumers[p]!.push(idx);
    }
  });
  const ready: number[] = [];
  indegree.forEach((d, idx) => d === 0 && ready.push(idx));
  const order: number[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const idx = ready.shift()!;
    order.push(idx);
    for (const c of consumers[idx]!) if (--indegree[c]! === 0) ready.push(c);
  }
  if (order.length !== model.nodes.length) {
    const stuck = model.nodes.filter((_n, i) => !order.includes(i)).map((n) => n.name);
    throw new AxnnError(`the graph has a cycle through ${stuck.slice(0, 5).join(", ")}`, where);
  }
  return { ...model, nodes: order.map((i) => model.nodes[i]!) };
}

/** For each value, the nodes reading it. */
export function consumersOf(model: Model): Map<string, Node[]> {
  const m = new Map<string, Node[]>();
  for (const n of model.nodes) {
    for (const i of n.inputs) {
      const list = m.get(i);
      if (list) list.push(n);
      else m.set(i, [n]);
    }
  }
  return m;
}

/** The node producing each value. */
export function producersOf(model: Model): Map<string, Node> {
  const m = new Map<string, Node>();
  for (const n of model.nodes) for (const o of n.outputs) m.set(o, n);
  return m;
}
