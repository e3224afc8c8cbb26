// A float training step resident on the GPU: forward (training mode), softmax cross-entropy,
// backward and the SGD update of a model as ONE WebGPU submission per batch. The parameters, the
// optimizer's velocities and BatchNorm's running statistics live on the GPU for the whole run
// (uploaded once, read back by sync() for evaluation and checkpoints); each batch sends its input
// and labels and reads back the per-sample losses and hits. Float32 arithmetic in the shaders'
// order (src/kernels/webgpu/training-shaders.ts), so the values equal the CPU path's
// (forwardTape / backwardTape / optimizerStep) within float32 rounding, not bit for bit:
// test/gpu-training.test.ts compares gradients, updates and loss curves.
// What has no GPU form here (QAT, Adam, dropout, broadcasting Adds, other ops) is refused with the
// node and the reason (AxnnError, field "gpu training"); trainModel then runs the CPU path's
// kernels one at a time on the GPU backend, as before.
import type { BatchNormNode, ConvNode, DenseNode, MaxPoolNode, Model, Node, PadNode } from "../nn/graph.js";
import { checkInputShapes, nodeOutputShapes, windowGeometry } from "../nn/shapes.js";
import { sizeOf } from "../nn/tensor.js";
import { convGeometry, geometryArray, type ConvGeometry } from "../kernels/geometry.js";
import { webGpu, type GpuConnection, type GpuState } from "../kernels/webgpu/backend.js";
import { GRAPH_NONE, type GraphRef, type GraphStep } from "../kernels/webgpu/protocol.js";
import { PARAM_COUNT } from "../kernels/webgpu/shaders.js";
import { PAD_PARAM_COUNT } from "../kernels/webgpu/network-shaders.js";
import { PAD_BACKWARD_PARAMS } from "../kernels/webgpu/training-shaders.js";
import { AxnnError } from "../util/errors.js";
import type { OptimizerConfig, OptimizerState, SgdConfig } from "./optim.js";
import type { Param } from "./params.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (v: number): number => ((f32[0] = v), u32[0]!);

function refuse(node: Node | null, why: string): never {
  throw new AxnnError(node ? `node "${node.name}" (${node.op}): ${why}` : why, { field: "gpu training" });
}

/** A GPU parameter buffer: one or more CPU parameters laid end to end (BatchNorm's scale and bias), its velocity and gradient. */
interface GpuParam { params: Param[]; weights: GpuState; velocity: GpuState; decay: number }

interface Value { ref: GraphRef; shape: number[] }

/** One batch size's dispatches (the last batch of an epoch is often smaller). */
interface Plan { steps: GraphStep[]; scratch: number[]; loss: GraphRef; classes: number; sgd: Uint32Array[] }

export interface GpuTrainingOptions {
  /** The value whose softmax cross-entropy is the loss (logitsValue). */
  logits: string;
  bnMomentum: number;
  optimizer: OptimizerConfig;
}

export class GpuTrainingStep {
  private readonly gpu: GpuConnection;
  private readonly params: GpuParam[] = [];
  /** Each trainable field of a node: its GPU parameter buffer (by "<node>.<field>" of its first CPU parameter). */
  private readonly byName = new Map<string, number>();
  /** BatchNorm running statistics [mean, variance] by node name. */
  private readonly running = new Map<string, GpuState>();
  private readonly plans = new Map<number, Plan>();
  private readonly sgd: SgdConfig;

  /**
   * Uploads the parameters (and the optimizer's velocities, BatchNorm's running statistics) of
   * `model`, whose tensors `params` are. Throws AxnnError (field "gpu training") naming what has
   * no GPU form, before anything runs: checked on `sampleShape` (one sample, without the batch axis).
   */
  constructor(readonly model: Model, params: readonly Param[], optimizerState: OptimizerState, readonly sampleShape: readonly number[], private readonly options: GpuTrainingOptions) {
    const { connection, why } = webGpu();
    if (!connection) throw new AxnnError(`no usable GPU: ${why}`, { field: "gpu training" });
    this.gpu = connection;
    if (options.optimizer.kind !== "sgd") refuse(null, `the ${options.optimizer.kind} optimizer (only SGD runs on the GPU)`);
    this.sgd = options.optimizer;
    if (model.inputs.length !== 1) refuse(null, `a model with ${model.inputs.length} inputs`);
    const cpu = new Map(params.map((p) => [p.name, p]));
    const slot = (p: Param): Float32Array => Float32Array.from(optimizerState.slots.get(p.name)?.[0] ?? refuse(null, `no optimizer state of "${p.name}"`));
    const add = (ps: Param[]): void => {
      const concat = (arrays: Float32Array[]) => {
        const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
        let at = 0;
        for (const a of arrays) (out.set(a, at), (at += a.length));
        return out;
      };
      this.params.push({
        params: ps, weights: this.gpu.createState(concat(ps.map((p) => p.data))), velocity: this.gpu.createState(concat(ps.map(slot))),
        decay: ps[0]!.isWeight ? this.sgd.weightDecay : 0,
      });
      this.byName.set(ps[0]!.name, this.params.length - 1);
    };
    const want = (name: string): Param => cpu.get(name) ?? refuse(null, `the parameter "${name}" is not trained`);
    for (const n of model.nodes) {
      if (n.op === "Conv2D" || n.op === "DepthwiseConv2D" || n.op === "Dense") {
        add([want(`${n.name}.weight`)]);
        if (n.bias) add([want(`${n.name}.bias`)]);
      } else if (n.op === "BatchNorm") {
        add([want(`${n.name}.scale`), want(`${n.name}.bias`)]);
        const both = new Float32Array(2 * n.mean.data.length);
        both.set(n.mean.data);
        both.set(n.variance.data, n.mean.data.length);
        this.running.set(n.name, this.gpu.createState(both));
      }
    }
    const extra = params.filter((p) => !this.params.some((g) => g.params.includes(p)));
    if (extra.length > 0) refuse(null, `parameters outside the model's layers (${extra.map((p) => p.name).join(", ")})`);
    this.plan(1);
  }

  /**
   * One training step on a batch [rows, ...sampleShape] with integer labels: the mean loss and the
   * number of samples whose first greatest logit is their label (as softmaxCrossEntropy).
   */
  step(input: Float32Array, labels: ArrayLike<number>, lr: number): { loss: number; correct: number } {
    const rows = labels.length;
    if (input.length !== rows * sizeOf(this.sampleShape)) throw new AxnnError(`${input.length} input values for ${rows} samples of shape [${this.sampleShape.join(", ")}]`, { field: "gpu training" });
    const plan = this.plan(rows);
    const labelWords = new Uint32Array(rows);
    for (let r = 0; r < rows; r++) {
      const label = labels[r]!;
      if (!(Number.isInteger(label) && label >= 0 && label < plan.classes)) throw new AxnnError(`label ${label} of row ${r} is outside 0..${plan.classes - 1}`, { field: "labels" });
      labelWords[r] = label;
    }
    for (const p of plan.sgd) p[2] = bitsOf(lr);
    const [out] = this.gpu.graph(this.operands({ once: input }, { once: labelWords }), plan.scratch, plan.steps, [{ ref: plan.loss, words: 2 * rows }]);
    const v = new Float32Array(out!.buffer, out!.byteOffset, 2 * rows);
    let loss = 0, correct = 0;
    for (let r = 0; r < rows; r++) {
      loss += v[2 * r]!;
      correct += v[2 * r + 1]!;
    }
    return { loss: loss / rows, correct };
  }

  /** Copies the GPU's parameters, velocities and BatchNorm running statistics into the CPU's arrays (for evaluation, checkpoints, the result). */
  sync(optimizerState: OptimizerState): void {
    const bns = [...this.running];
    const states = [...this.params.flatMap((p) => [p.weights, p.velocity]), ...bns.map(([, s]) => s)];
    const words = this.gpu.read(states);
    const floats = (i: number) => new Float32Array(words[i]!.buffer, words[i]!.byteOffset, words[i]!.length);
    this.params.forEach((p, i) => {
      const w = floats(2 * i), v = floats(2 * i + 1);
      let at = 0;
      for (const cpu of p.params) {
        cpu.data.set(w.subarray(at, at + cpu.data.length));
        optimizerState.slots.get(cpu.name)![0]!.set(v.subarray(at, at + cpu.data.length));
        at += cpu.data.length;
      }
    });
    bns.forEach(([name, _s], i) => {
      const node = this.model.nodes.find((n) => n.name === name) as BatchNormNode;
      const both = floats(2 * this.params.length + i), c = node.mean.data.length;
      node.mean.data.set(both.subarray(0, c));
      node.variance.data.set(both.subarray(c));
    });
  }

  private operands(input: { once: ArrayBufferView }, labels: { once: ArrayBufferView }): (GpuState | { once: ArrayBufferView })[] {
    return [input, labels, ...this.params.flatMap((p) => [p.weights, p.velocity]), ...this.running.values()];
  }

  private weightsRef(name: string): GraphRef {
    return 2 + 2 * this.byName.get(name)!;
  }

  private plan(rows: number): Plan {
    const have = this.plans.get(rows);
    if (have) return have;
    const plan = new PlanBuilder(this, rows).build();
    this.plans.set(rows, plan);
    return plan;
  }

  /** @internal (PlanBuilder) */
  layout(): { weights: (name: string) => GraphRef; velocity: (name: string) => GraphRef; running: (node: string) => GraphRef; params: GpuParam[]; byName: Map<string, number>; options: GpuTrainingOptions; sgd: SgdConfig } {
    const runningIndex = new Map([...this.running.keys()].map((n, i) => [n, 2 + 2 * this.params.length + i]));
    return {
      weights: (name) => this.weightsRef(name), velocity: (name) => this.weightsRef(name) + 1, running: (node) => runningIndex.get(node)!,
      params: this.params, byName: this.byName, options: this.options, sgd: this.sgd,
    };
  }
}

/** What a node's backward needs from its forward. */
interface Record { node: Node; ins: Value[]; out: Value; g?: ConvGeometry; moments?: GraphRef; argmax?: GraphRef }

/** Compiles one batch size's forward, loss, backward and update into dispatches (operands: 0 the input, 1 the labels, then the states). */
class PlanBuilder {
  private readonly steps: GraphStep[] = [];
  private readonly scratch: number[] = [];
  private readonly l: ReturnType<GpuTrainingStep["layout"]>;

  constructor(private readonly owner: GpuTrainingStep, private readonly rows: number) {
    this.l = owner.layout();
  }

  private buffer(words: number): GraphRef {
    this.scratch.push(words * 4);
    return -this.scratch.length;
  }

  private step(kernel: GraphStep["kernel"], params: number[] | Uint32Array, total: number, inputs: GraphRef[], out: GraphRef): GraphRef {
    const p = Uint32Array.from(params);
    this.steps.push({ kernel, params: p, widthAt: p.length - 1, total, inputs, out });
    return out;
  }

  build(): Plan {
    const model = this.owner.model;
    const inputShape = [this.rows, ...this.owner.sampleShape];
    checkInputShapes(model, { [model.inputs[0]!.name]: inputShape });
    const values = new Map<string, Value>([[model.inputs[0]!.name, { ref: 0, shape: inputShape }]]);
    const records: Record[] = [];
    const logits = this.l.options.logits;
    for (const node of model.nodes) {
      if (values.has(logits)) break;
      const ins = node.inputs.map((name) => values.get(name) ?? refuse(node, `reads "${name}", a model constant (not trained on the GPU)`));
      const outShape = nodeOutputShapes(node, ins.map((v) => v.shape))[0]!;
      const rec: Record = { node, ins, out: { ref: GRAPH_NONE, shape: outShape } };
      rec.out.ref = this.forward(node, ins, outShape, rec);
      values.set(node.outputs[0]!, rec.out);
      records.push(rec);
    }
    const y = values.get(logits) ?? refuse(null, `the logits "${logits}" are not computed`);
    if (y.shape.length !== 2) refuse(null, `logits of shape [${y.shape.join(", ")}] (the GPU's loss takes [batch, classes])`);
    const [rows, classes] = y.shape as [number, number];
    const grad = this.step("ce-grad", [rows, classes, rows * classes, 0], rows * classes, [y.ref, 1], this.buffer(rows * classes));
    const loss = this.step("ce-loss", [rows, classes, rows, 0], rows, [y.ref, 1], this.buffer(2 * rows));
    const grads = this.backward(records, logits, grad);
    // SGD on every parameter buffer (a parameter nothing reached has a zero gradient, as on the CPU).
    const sgd: Uint32Array[] = [];
    const { momentum, nesterov } = this.l.sgd;
    this.l.params.forEach((p) => {
      const name = p.params[0]!.name;
      const n = p.params.reduce((s, q) => s + q.data.length, 0);
      const g = grads.get(name) ?? this.buffer(n);
      const w = this.l.weights(name), v = this.l.velocity(name);
      this.step("sgd-velocity", [bitsOf(momentum), bitsOf(p.decay), 0, nesterov ? 1 : 0, n, 0], n, [g, w], v);
      this.step("sgd-weights", [bitsOf(momentum), bitsOf(p.decay), 0, nesterov ? 1 : 0, n, 0], n, [v, g], w);
      sgd.push(this.steps.at(-1)!.params);
    });
    return { steps: this.steps, scratch: this.scratch, loss, classes, sgd };
  }

  private forward(node: Node, ins: Value[], outShape: number[], rec: Record): GraphRef {
    const x = ins[0]!;
    const total = sizeOf(outShape);
    switch (node.op) {
      case "Conv2D": case "DepthwiseConv2D": case "Dense": {
        const g = geometry(node, x.shape);
        rec.g = g;
        const params = new Uint32Array(PARAM_COUNT);
        params.set(geometryArray(g));
        params[20] = total;
        let y = this.step("float", params, total, [x.ref, this.l.weights(`${node.name}.weight`)], this.buffer(total));
        if (node.bias) y = this.step("bias-add", [total, g.M, g.P * g.Q, 0], total, [y, this.l.weights(`${node.name}.bias`)], this.buffer(total));
        return y;
      }
      case "BatchNorm": {
        if (x.shape.length < 2) refuse(node, `a rank-${x.shape.length} input`);
        const c = node.scale.data.length, n = x.shape[0]!, inner = sizeOf(x.shape.slice(2));
        const moments = this.step("bn-moments", [n, c, inner, bitsOf(node.epsilon), c, 0], c, [x.ref], this.buffer(2 * c));
        rec.moments = moments;
        this.step("bn-running", [n, c, inner, bitsOf(this.l.options.bnMomentum), c, 0], c, [moments], this.l.running(node.name));
        return this.step("bn-apply", [n, c, inner, bitsOf(node.epsilon), total, 0], total, [x.ref, moments, this.l.weights(`${node.name}.scale`)], this.buffer(total));
      }
      case "Relu": case "Relu6":
        return this.step("relu", Uint32Array.of(total, bitsOf(node.op === "Relu6" ? 6 : Infinity), 0), total, [x.ref], this.buffer(total));
      case "Add": {
        const y = ins[1]!;
        if (ins.length !== 2 || sizeOf(x.shape) !== total || sizeOf(y.shape) !== total) refuse(node, "a broadcasting Add (only same-shape sums train on the GPU)");
        return this.step("add-f32", [total, 0], total, [x.ref, y.ref], this.buffer(total));
      }
      case "MaxPool": {
        const params = maxPoolParams(node, x.shape, total);
        const argmax = this.step("maxpool-argmax", params, total, [x.ref], this.buffer(total));
        rec.argmax = argmax;
        return this.step("gather", [total, 0], total, [x.ref, argmax], this.buffer(total));
      }
      case "GlobalAvgPool": {
        const inner = sizeOf(x.shape.slice(2));
        return this.step("gap-f32", [inner, total, 0], total, [x.ref], this.buffer(total));
      }
      case "Pad": {
        if (node.mode !== "constant") refuse(node, `a ${node.mode}-mode Pad (training pads with constants)`);
        return this.step("pad", padParams(node, x.shape, outShape, total), total, [x.ref], this.buffer(total));
      }
      case "Identity": case "Flatten": case "Reshape": case "Squeeze": case "Unsqueeze":
        return x.ref;
      default:
        return refuse(node, "no training step for this op on the GPU");
    }
  }

  /** The reverse pass (backwardTape's): the gradient buffer of each parameter buffer, by its first parameter's name. */
  private backward(records: Record[], logits: string, seed: GraphRef): Map<string, GraphRef> {
    const grads = new Map<string, GraphRef>([[logits, seed]]);
    const input = this.owner.model.inputs[0]!.name;
    const paramGrads = new Map<string, GraphRef>();
    const addGrad = (value: string, g: GraphRef, words: number): void => {
      if (value === input) return;
      const have = grads.get(value);
      grads.set(value, have === undefined ? g : this.step("add-f32", [words, 0], words, [have, g], this.buffer(words)));
    };
    for (let r = records.length - 1; r >= 0; r--) {
      const { node, ins, out, g, moments, argmax } = records[r]!;
      const dy = grads.get(node.outputs[0]!);
      if (dy === undefined) continue;
      const x = ins[0]!;
      const n = sizeOf(x.shape);
      const needX = node.inputs[0] !== input;
      switch (node.op) {
        case "Conv2D": case "DepthwiseConv2D": case "Dense": {
          const geo = g!;
          const params = (count: number) => {
            const p = new Uint32Array(PARAM_COUNT);
            p.set(geometryArray(geo));
            p[20] = count;
            return p;
          };
          const w = this.l.weights(`${node.name}.weight`);
          const wCount = node.weight.data.length;
          if (needX) addGrad(node.inputs[0]!, this.step("conv-backward-input", params(n), n, [dy, w], this.buffer(n)), n);
          paramGrads.set(`${node.name}.weight`, this.step("conv-backward-weights", params(wCount), wCount, [x.ref, dy], this.buffer(wCount)));
          if (node.bias) paramGrads.set(`${node.name}.bias`, this.step("conv-backward-bias", params(geo.M), geo.M, [dy], this.buffer(geo.M)));
          break;
        }
        case "BatchNorm": {
          const c = node.scale.data.length, inner = sizeOf(x.shape.slice(2));
          const p = (total: number) => [x.shape[0]!, c, inner, bitsOf(node.epsilon), total, 0];
          const dgb = this.step("bn-backward-params", p(c), c, [x.ref, dy, moments!], this.buffer(2 * c));
          paramGrads.set(`${node.name}.scale`, dgb);
          if (needX) addGrad(node.inputs[0]!, this.step("bn-backward-input", p(n), n, [x.ref, dy, moments!, this.l.weights(`${node.name}.scale`), dgb], this.buffer(n)), n);
          break;
        }
        case "Relu": case "Relu6":
          if (needX) addGrad(node.inputs[0]!, this.step("clip-backward", [bitsOf(0), bitsOf(node.op === "Relu6" ? 6 : Infinity), n, 0], n, [x.ref, dy], this.buffer(n)), n);
          break;
        case "Add":
          node.inputs.forEach((name) => addGrad(name, dy, n));
          break;
        case "MaxPool":
          if (needX) addGrad(node.inputs[0]!, this.step("maxpool-backward", maxPoolParams(node, x.shape, n), n, [argmax!, dy], this.buffer(n)), n);
          break;
        case "GlobalAvgPool":
          if (needX) addGrad(node.inputs[0]!, this.step("gap-backward", [sizeOf(x.shape.slice(2)), n, 0], n, [dy], this.buffer(n)), n);
          break;
        case "Pad":
          if (needX) addGrad(node.inputs[0]!, this.step("pad-backward", padBackwardParams(node as PadNode, x.shape, out.shape, n), n, [dy], this.buffer(n)), n);
          break;
        default: // Identity, Flatten, Reshape, Squeeze, Unsqueeze
          addGrad(node.inputs[0]!, dy, n);
      }
    }
    return paramGrads;
  }
}

function geometry(node: ConvNode | DenseNode, xShape: number[]): ConvGeometry {
  if (node.op === "Dense") {
    const features = xShape[xShape.length - 1]!;
    if (features !== node.weight.shape[1]) refuse(node, `input has ${features} features, the weight expects ${node.weight.shape[1]}`);
    return { N: sizeOf(xShape) / features, C: features, H: 1, W: 1, M: node.weight.shape[0]!, R: 1, S: 1, groups: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, P: 1, Q: 1 };
  }
  const [, , kh, kw] = node.weight.shape as [number, number, number, number];
  const padding = windowGeometry(xShape[2]!, xShape[3]!, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false).pads;
  return convGeometry(node.name, xShape, node.weight.shape, { stride: node.strides, dilation: node.dilations, groups: node.groups, padding });
}

function maxPoolParams(node: MaxPoolNode, xShape: number[], total: number): number[] {
  const [n, c, h, w] = xShape as [number, number, number, number];
  const geo = windowGeometry(h, w, node.kernel, node.strides, node.dilations, node.pads, node.autoPad, node.ceilMode);
  return [n * c, h, w, node.kernel[0], node.kernel[1], node.strides[0], node.strides[1], geo.pads[0], geo.pads[1], node.dilations[0], node.dilations[1], geo.outH, geo.outW, total, 0];
}

/**
 * The shapes and begin pads of a Pad (rank up to 4, leading 1s) as the pad shaders take them:
 * params[0..3] the shape computed, [4..7] the shape read, [8..11] the begin pads; forward computes
 * the padded shape from the input, backward the input's gradient from the padded one.
 */
function padLayout(node: PadNode, computed: number[], read: number[], count: number): Uint32Array {
  const rank = computed.length;
  if (rank > 4) refuse(node, `a rank-${rank} Pad (the GPU pads up to rank 4)`);
  const lead = 4 - rank;
  const params = new Uint32Array(count);
  for (let k = 0; k < 4; k++) {
    params[k] = k < lead ? 1 : computed[k - lead]!;
    params[4 + k] = k < lead ? 1 : read[k - lead]!;
    params[8 + k] = k < lead ? 0 : node.pads[k - lead]! >>> 0;
  }
  return params;
}

function padParams(node: PadNode, xShape: number[], outShape: number[], total: number): Uint32Array {
  const params = padLayout(node, outShape, xShape, PAD_PARAM_COUNT);
  params[12] = 0; // constant mode
  params[13] = bitsOf(node.value);
  params[14] = total;
  return params;
}

function padBackwardParams(node: PadNode, xShape: number[], outShape: number[], total: number): Uint32Array {
  const params = padLayout(node, xShape, outShape, PAD_BACKWARD_PARAMS);
  params[12] = total;
  return params;
}
