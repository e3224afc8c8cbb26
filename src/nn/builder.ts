import { AxnnError } from "../util/errors.js";
import { finalizeModel, type AutoPad, type Model, type Node, type Pads2D, type ValueInfo } from "./graph.js";
import { nodeOutputShapes } from "./shapes.js";
import { checkTensor, makeTensor, Rng, shapeToString, sizeOf, type Tensor } from "./tensor.js";

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === "number" ? [v, v] : v);

export interface ConvOptions {
  outChannels: number;
  kernel: Pair;
  stride?: Pair;
  /** Symmetric padding per axis, [top, left, bottom, right], or "same" (ONNX SAME_UPPER). Default 0. */
  padding?: Pair | Pads2D | "same";
  dilation?: Pair;
  groups?: number;
  /** Default true. */
  bias?: boolean;
  /** Explicit weight [outChannels, inChannels / groups, kh, kw]; otherwise He-uniform from the builder's seed. */
  weight?: Tensor;
  biasValues?: Tensor;
  name?: string;
}

export interface DepthwiseOptions extends Omit<ConvOptions, "outChannels" | "groups"> {
  /** Output channels per input channel (default 1). */
  multiplier?: number;
}

export interface DenseOptions {
  outFeatures: number;
  bias?: boolean;
  /** [outFeatures, inFeatures]. */
  weight?: Tensor;
  biasValues?: Tensor;
  name?: string;
}

export interface PoolOptions {
  kernel: Pair;
  /** Default: the kernel. */
  stride?: Pair;
  padding?: Pair | Pads2D | "same";
  ceilMode?: boolean;
  /** AvgPool only; default true (PyTorch's default). */
  countIncludePad?: boolean;
  name?: string;
}

function padsOf(p: Pair | Pads2D | "same" | undefined): { pads: Pads2D; autoPad: AutoPad } {
  if (p === "same") return { pads: [0, 0, 0, 0], autoPad: "SAME_UPPER" };
  if (p === undefined) return { pads: [0, 0, 0, 0], autoPad: "NOTSET" };
  if (Array.isArray(p) && p.length === 4) return { pads: [...p] as Pads2D, autoPad: "NOTSET" };
  const [h, w] = pair(p as Pair);
  return { pads: [h, w, h, w], autoPad: "NOTSET" };
}

/**
 * Builds a float model in code. Values are named by strings; every method returns the name of its output.
 * Shapes are tracked with a batch of one so that layer sizes can be derived from their inputs.
 * Weights not given are drawn He-uniform (bound sqrt(6 / fanIn)) from a seeded generator, so builds repeat.
 */
export class ModelBuilder {
  private readonly nodes: Node[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: string[] = [];
  private readonly constants = new Map<string, Tensor>();
  private readonly shapes = new Map<string, number[]>();
  private readonly used = new Set<string>();
  private readonly rng: Rng;

  constructor(readonly name: string, opts: { seed?: number } = {}) {
    this.rng = new Rng(opts.seed ?? 1);
  }

  /** Shape of a value for a batch of one. */
  shapeOf(value: string): number[] {
    const s = this.shapes.get(value);
    if (!s) throw new AxnnError(`unknown value "${value}"`, { field: `model "${this.name}"` });
    return [...s];
  }

  input(name: string, shape: (number | null)[]): string {
    this.claim(name);
    this.inputs.push({ name, shape: [...shape] });
    this.shapes.set(name, shape.map((d) => d ?? 1));
    return name;
  }

  constant(name: string, t: Tensor): string {
    checkTensor(t, `constant "${name}"`);
    this.claim(name);
    this.constants.set(name, t);
    this.shapes.set(name, [...t.shape]);
    return name;
  }

  output(value: string): void {
    this.shapeOf(value);
    this.outputs.push(value);
  }

  conv2d(x: string, o: ConvOptions): string {
    const inC = this.shapeOf(x)[1]!;
    const groups = o.groups ?? 1;
    if (inC % groups !== 0 || o.outChannels % groups !== 0) {
      throw new AxnnError(`groups ${groups} must divide the ${inC} input and ${o.outChannels} output channels`, { field: o.name ?? "conv2d" });
    }
    return this.convNode("Conv2D", x, o, o.outChannels, groups, inC / groups);
  }

  depthwiseConv2d(x: string, o: DepthwiseOptions): string {
    const inC = this.shapeOf(x)[1]!;
    return this.convNode("DepthwiseConv2D", x, o, inC * (o.multiplier ?? 1), inC, 1);
  }

  private convNode(op: "Conv2D" | "DepthwiseConv2D", x: string, o: Omit<ConvOptions, "outChannels">, outC: number, groups: number, cg: number): string {
    const [kh, kw] = pair(o.kernel);
    const { pads, autoPad } = padsOf(o.padding);
    const weight = o.weight ?? this.heUniform([outC, cg, kh, kw], cg * kh * kw);
    const bias = o.bias === false ? null : o.biasValues ?? makeTensor([outC]);
    return this.push({
      op, name: this.nodeName(o.name, op === "Conv2D" ? "conv" : "dwconv"), inputs: [x], outputs: [],
      weight, bias, strides: pair(o.stride ?? 1), pads, dilations: pair(o.dilation ?? 1), groups, autoPad,
    });
  }

  dense(x: string, o: DenseOptions): string {
    const s = this.shapeOf(x);
    const inF = s[s.length - 1]!;
    const weight = o.weight ?? this.heUniform([o.outFeatures, inF], inF);
    const bias = o.bias === false ? null : o.biasValues ?? makeTensor([o.outFeatures]);
    return this.push({ op: "Dense", name: this.nodeName(o.name, "dense"), inputs: [x], outputs: [], weight, bias });
  }

  /** Inference BatchNorm; parameters default to the identity (scale 1, bias 0, mean 0, variance 1). */
  batchNorm(x: string, o: { scale?: Tensor; bias?: Tensor; mean?: Tensor; variance?: Tensor; epsilon?: number; name?: string } = {}): string {
    const c = this.shapeOf(x)[1]!;
    const fill = (v: number): Tensor => makeTensor([c], new Float32Array(c).fill(v));
    return this.push({
      op: "BatchNorm", name: this.nodeName(o.name, "bn"), inputs: [x], outputs: [],
      scale: o.scale ?? fill(1), bias: o.bias ?? fill(0), mean: o.mean ?? fill(0), variance: o.variance ?? fill(1), epsilon: o.epsilon ?? 1e-5,
    });
  }

  relu(x: string, name?: string): string {
    return this.push({ op: "Relu", name: this.nodeName(name, "relu"), inputs: [x], outputs: [] });
  }

  relu6(x: string, name?: string): string {
    return this.push({ op: "Relu6", name: this.nodeName(name, "relu6"), inputs: [x], outputs: [] });
  }

  clip(x: string, min: number, max: number, name?: string): string {
    return this.push({ op: "Clip", name: this.nodeName(name, "clip"), inputs: [x], outputs: [], min, max });
  }

  /** Identity at inference. */
  dropout(x: string, name?: string): string {
    return this.push({ op: "Identity", name: this.nodeName(name, "dropout"), inputs: [x], outputs: [] });
  }

  maxPool(x: string, o: PoolOptions & { dilation?: Pair }): string {
    const { pads, autoPad } = padsOf(o.padding);
    const kernel = pair(o.kernel);
    return this.push({
      op: "MaxPool", name: this.nodeName(o.name, "maxpool"), inputs: [x], outputs: [],
      kernel, strides: pair(o.stride ?? kernel), pads, dilations: pair(o.dilation ?? 1), ceilMode: o.ceilMode ?? false, autoPad,
    });
  }

  avgPool(x: string, o: PoolOptions): string {
    const { pads, autoPad } = padsOf(o.padding);
    const kernel = pair(o.kernel);
    return this.push({
      op: "AvgPool", name: this.nodeName(o.name, "avgpool"), inputs: [x], outputs: [],
      kernel, strides: pair(o.stride ?? kernel), pads, ceilMode: o.ceilMode ?? false, countIncludePad: o.countIncludePad ?? true, autoPad,
    });
  }

  globalAvgPool(x: string, name?: string): string {
    return this.push({ op: "GlobalAvgPool", name: this.nodeName(name, "gap"), inputs: [x], outputs: [] });
  }

  /** Element-wise sum (the residual connection). */
  add(a: string, b: string, name?: string): string {
    return this.binary("Add", a, b, name);
  }

  binary(op: "Add" | "Sub" | "Mul" | "Div", a: string, b: string, name?: string): string {
    return this.push({ op, name: this.nodeName(name, op.toLowerCase()), inputs: [a, b], outputs: [] });
  }

  concat(values: string[], axis = 1, name?: string): string {
    return this.push({ op: "Concat", name: this.nodeName(name, "concat"), inputs: [...values], outputs: [], axis });
  }

  flatten(x: string, axis = 1, name?: string): string {
    return this.push({ op: "Flatten", name: this.nodeName(name, "flatten"), inputs: [x], outputs: [], axis });
  }

  reshape(x: string, shape: number[], name?: string): string {
    return this.push({ op: "Reshape", name: this.nodeName(name, "reshape"), inputs: [x], outputs: [], shape: [...shape], allowZero: false });
  }

  transpose(x: string, perm: number[], name?: string): string {
    return this.push({ op: "Transpose", name: this.nodeName(name, "transpose"), inputs: [x], outputs: [], perm: [...perm] });
  }

  softmax(x: string, axis = -1, name?: string): string {
    return this.push({ op: "Softmax", name: this.nodeName(name, "softmax"), inputs: [x], outputs: [], axis, coerce2d: false });
  }

  pad(x: string, pads: number[], o: { mode?: "constant" | "reflect" | "edge"; value?: number; name?: string } = {}): string {
    return this.push({ op: "Pad", name: this.nodeName(o.name, "pad"), inputs: [x], outputs: [], pads: [...pads], mode: o.mode ?? "constant", value: o.value ?? 0 });
  }

  reduceMean(x: string, axes: number[] | null, keepDims = true, name?: string): string {
    return this.push({ op: "ReduceMean", name: this.nodeName(name, "reducemean"), inputs: [x], outputs: [], axes, keepDims });
  }

  /** Checks the graph (every value defined, no cycles, at least one output) and returns the model. */
  build(): Model {
    if (this.outputs.length === 0) throw new AxnnError("the model has no outputs (call output())", { field: `model "${this.name}"` });
    return finalizeModel({
      name: this.name,
      inputs: this.inputs.map((i) => ({ ...i, shape: [...i.shape] })),
      outputs: [...this.outputs],
      nodes: [...this.nodes],
      constants: new Map(this.constants),
    });
  }

  private push(node: Node): string {
    node.outputs = [node.name];
    this.claim(node.name);
    const outs = nodeOutputShapes(node, node.inputs.map((i) => this.shapeOf(i)));
    if (outs[0]!.some((d) => d <= 0)) throw new AxnnError(`output shape ${shapeToString(outs[0]!)} is empty`, { field: `node "${node.name}"` });
    if ("weight" in node) this.checkWeight(node);
    this.shapes.set(node.name, outs[0]!);
    this.nodes.push(node);
    return node.name;
  }

  private checkWeight(node: Extract<Node, { weight: Tensor }>): void {
    checkTensor(node.weight, `node "${node.name}" weight`);
    if (node.bias) {
      checkTensor(node.bias, `node "${node.name}" bias`);
      if (node.bias.data.length !== node.weight.shape[0]) throw new AxnnError(`bias has ${node.bias.data.length} values for ${node.weight.shape[0]} outputs`, { field: `node "${node.name}"` });
    }
  }

  private claim(name: string): void {
    if (this.used.has(name)) throw new AxnnError(`the name "${name}" is already used`, { field: `model "${this.name}"` });
    this.used.add(name);
  }

  private nodeName(given: string | undefined, prefix: string): string {
    if (given !== undefined) return given;
    for (let i = 1; ; i++) if (!this.used.has(`${prefix}${i}`)) return `${prefix}${i}`;
  }

  private heUniform(shape: number[], fanIn: number): Tensor {
    const bound = Math.sqrt(6 / fanIn);
    const t = makeTensor(shape);
    for (let i = 0; i < sizeOf(shape); i++) t.data[i] = (2 * this.rng.uniform() - 1) * bound;
    return t;
  }
}
