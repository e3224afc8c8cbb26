// Training-mode forward kernels that keep what their backward pass needs, and the backward
// passes of every op of the graph IR. Convolutions, dense layers, BatchNorm, ReLU and Add run
// on the native kernels of src/kernels (TypeScript twins without the addon); the other
// backward passes are TypeScript, accumulating in float64.
import type { AvgPoolNode, BatchNormNode, ConvNode, MaxPoolNode, Node, ResizeNode, SoftmaxNode } from "../nn/graph.js";
import { avgPoolWindows, evalNode, forEachPaddedRow, maxPoolWithArgmax, resizeAxis, sigmoid, transpose } from "../nn/ops.js";
import { broadcastOffsets, normalizeAxis, windowGeometry } from "../nn/shapes.js";
import { sizeOf, stridesOf, type Tensor } from "../nn/tensor.js";
import {
  addFloat, batchNormApply, batchNormBackward as batchNormBackwardKernel, channelMoments, conv2dBackwardFloat, conv2dFloat,
  conv2dFloatGemm, denseBackwardFloat, denseFloat, reluBackwardFloat, reluFloat,
} from "../kernels/index.js";
import { AxnnError } from "../util/errors.js";

/** Gradients of one node: one per input (null: the input needs none) and per trainable field. */
export interface NodeGrads {
  inputs: (Float32Array | null)[];
  weight?: Float32Array;
  bias?: Float32Array;
  /** BatchNorm's scale (gamma). */
  scale?: Float32Array;
}

export interface ForwardContext {
  /** Training mode: BatchNorm uses batch statistics and updates its running averages; dropout is active. */
  training: boolean;
  /** BatchNorm running-average momentum (PyTorch convention: new = (1 - m) old + m batch). */
  bnMomentum: number;
  /** Dropout rate of this node (an Identity node the caller marked as dropout), 0 for none. */
  dropoutRate: number;
  /** Uniform [0, 1) numbers for dropout masks. */
  random: () => number;
}

/** What a node's forward pass left for its backward pass. */
export type Saved =
  | { kind: "none" }
  /** BatchNorm: the mean and 1/std it normalised with (xhat is recomputed from the input). */
  | { kind: "bn"; mean: Float64Array; invStd: Float64Array; batchStats: boolean }
  | { kind: "maxpool"; argmax: Int32Array }
  | { kind: "dropout"; mask: Float32Array }
  /** A layer run in QAT (src/train/qat.ts): its fake-quantized input and weights, 1 where they were not clipped. */
  | {
    kind: "qat"; input: Tensor; weight: Tensor; inputMask: Uint8Array; weightMask: Uint8Array;
    /** The layer's own backward (QAT gradients from the multiplier's table), used instead of STE's. */
    backward?: (dy: Float32Array, needInput: boolean) => NodeGrads;
  };

const NONE: Saved = { kind: "none" };

function convPads(node: ConvNode, h: number, w: number): { pads: [number, number, number, number]; oh: number; ow: number } {
  const [kh, kw] = node.weight.shape.slice(2) as [number, number];
  const g = windowGeometry(h, w, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false);
  return { pads: g.pads, oh: g.outH, ow: g.outW };
}

/** Forward pass of one node in training or evaluation mode. */
export function forwardNode(node: Node, ins: readonly Tensor[], ctx: ForwardContext): { out: Tensor; saved: Saved } {
  const x = ins[0]!;
  switch (node.op) {
    case "Conv2D":
    case "DepthwiseConv2D": {
      const { pads } = convPads(node, x.shape[2]!, x.shape[3]!);
      const options = { stride: node.strides, dilation: node.dilations, padding: pads, groups: node.groups };
      // im2col + GEMM measured faster than the direct kernel on every batched layer with a few
      // output channels per group (docs/kernels.md); depthwise layers keep the direct kernel.
      const gemmFaster = node.weight.shape[0]! / node.groups >= GEMM_MIN_CHANNELS_PER_GROUP;
      const r = gemmFaster
        ? conv2dFloatGemm(x.data, x.shape, node.weight.data, node.weight.shape, options)
        : conv2dFloat(x.data, x.shape, node.weight.data, node.weight.shape, options);
      if (node.bias) {
        const plane = r.shape[2]! * r.shape[3]!, m = r.shape[1]!;
        for (let p = 0, c = 0; p < r.data.length; p += plane, c = (c + 1) % m) {
          const b = node.bias.data[c]!;
          for (let k = p; k < p + plane; k++) r.data[k]! += b;
        }
      }
      return { out: { shape: r.shape, data: r.data }, saved: NONE };
    }
    case "Dense": {
      const [outF, inF] = node.weight.shape as [number, number];
      const rows = x.data.length / inF;
      const r = denseFloat(x.data, [rows, inF], node.weight.data, [outF, inF]);
      if (node.bias) {
        for (let i = 0; i < r.data.length; i += outF) for (let o = 0; o < outF; o++) r.data[i + o]! += node.bias.data[o]!;
      }
      return { out: { shape: [...x.shape.slice(0, -1), outF], data: r.data }, saved: NONE };
    }
    case "BatchNorm":
      return batchNormForward(node, x, ctx);
    case "MaxPool":
      return maxPoolForward(node, x);
    // Fast paths of the element-wise ops that residual networks run on every block.
    case "Relu":
      return { out: { shape: [...x.shape], data: reluFloat(x.data) }, saved: NONE };
    case "Add":
      if (!sameShape(x.shape, ins[1]!.shape)) break;
      return { out: { shape: [...x.shape], data: addFloat(x.data, ins[1]!.data) }, saved: NONE };
    case "Identity":
      if (ctx.training && ctx.dropoutRate > 0) {
        // Inverted dropout: kept units are scaled by 1 / (1 - rate) so evaluation needs no rescaling.
        const keep = 1 - ctx.dropoutRate;
        const mask = new Float32Array(x.data.length);
        const out = new Float32Array(x.data.length);
        for (let i = 0; i < mask.length; i++) {
          mask[i] = ctx.random() < keep ? 1 / keep : 0;
          out[i] = x.data[i]! * mask[i]!;
        }
        return { out: { shape: [...x.shape], data: out }, saved: { kind: "dropout", mask } };
      }
      return { out: x, saved: NONE };
    default:
      break;
  }
  return { out: evalNode(node, ins)[0]!, saved: NONE };
}

/** Output channels per group from which a training forward conv runs on im2col + GEMM. */
const GEMM_MIN_CHANNELS_PER_GROUP = 8;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function batchNormForward(node: BatchNormNode, x: Tensor, ctx: ForwardContext): { out: Tensor; saved: Saved } {
  const c = node.scale.data.length;
  const n = x.shape[0]!;
  const inner = sizeOf(x.shape.slice(2));
  const dims = { n, c, inner };
  const count = n * inner;
  const invStd = new Float64Array(c);
  const batchStats = ctx.training;
  let mean: Float64Array;
  if (batchStats) {
    const moments = channelMoments(x.data, dims);
    mean = moments.mean;
    const m = ctx.bnMomentum;
    for (let ch = 0; ch < c; ch++) {
      const variance = moments.variance[ch]!;
      invStd[ch] = 1 / Math.sqrt(variance + node.epsilon);
      // Running variance is the unbiased estimate (PyTorch), the normalisation uses the biased one.
      const unbiased = count > 1 ? (variance * count) / (count - 1) : variance;
      node.mean.data[ch] = (1 - m) * node.mean.data[ch]! + m * mean[ch]!;
      node.variance.data[ch] = (1 - m) * node.variance.data[ch]! + m * unbiased;
    }
  } else {
    mean = Float64Array.from(node.mean.data);
    for (let ch = 0; ch < c; ch++) invStd[ch] = 1 / Math.sqrt(node.variance.data[ch]! + node.epsilon);
  }
  const out = batchNormApply(x.data, dims, mean, invStd, node.scale.data, node.bias.data);
  return { out: { shape: [...x.shape], data: out }, saved: { kind: "bn", mean, invStd, batchStats } };
}

function maxPoolForward(node: MaxPoolNode, x: Tensor): { out: Tensor; saved: Saved } {
  const { out, argmax } = maxPoolWithArgmax(node, x);
  return { out, saved: { kind: "maxpool", argmax } };
}

/**
 * Backward pass of one node: from the gradient of its output, the gradients of its inputs
 * (those in `needInput`) and of its trainable fields.
 */
export function backwardNode(node: Node, ins: readonly Tensor[], out: Tensor, saved: Saved, dy: Float32Array, needInput: readonly boolean[]): NodeGrads {
  const x = ins[0]!;
  const need0 = needInput[0] ?? false;
  const pass = (g: Float32Array): NodeGrads => ({ inputs: [need0 ? g : null, ...ins.slice(1).map(() => null)] });
  if (saved.kind === "qat" && saved.backward) return saved.backward(dy, need0);
  if (saved.kind === "qat" && (node.op === "Conv2D" || node.op === "DepthwiseConv2D" || node.op === "Dense")) {
    // Straight-through estimator: the float layer's gradients at the fake-quantized operands, masked where they were clipped.
    const g = node.op === "Dense" ? denseBackward(saved.weight, node.bias !== null, saved.input, dy, need0) : convBackward({ ...node, weight: saved.weight }, saved.input, dy, need0);
    const dx = g.inputs[0];
    if (dx) for (let i = 0; i < dx.length; i++) if (saved.inputMask[i] === 0) dx[i] = 0;
    if (g.weight) for (let i = 0; i < g.weight.length; i++) if (saved.weightMask[i] === 0) g.weight[i] = 0;
    return g;
  }
  switch (node.op) {
    case "Conv2D":
    case "DepthwiseConv2D":
      return convBackward(node, x, dy, need0);
    case "Dense":
      return denseBackward(node.weight, node.bias !== null, x, dy, need0);
    case "BatchNorm":
      return batchNormBackward(node, x, saved, dy, need0);
    case "Relu":
      return pass(reluBackwardFloat(x.data, dy));
    case "Relu6":
    case "Clip": {
      const lo = node.op === "Clip" ? node.min : 0, hi = node.op === "Clip" ? node.max : 6;
      const g = new Float32Array(dy.length);
      for (let i = 0; i < g.length; i++) {
        const v = x.data[i]!;
        g[i] = v > lo && v < hi ? dy[i]! : 0;
      }
      return pass(g);
    }
    case "Sigmoid":
      return pass(mapGrad(x, dy, (_v, y) => y * (1 - y), out));
    case "Tanh":
      return pass(mapGrad(x, dy, (_v, y) => 1 - y * y, out));
    case "HardSwish":
      return pass(mapGrad(x, dy, (v) => (v < -3 ? 0 : v > 3 ? 1 : v / 3 + 0.5)));
    case "HardSigmoid": {
      const { alpha, beta } = node;
      return pass(mapGrad(x, dy, (v) => (alpha * v + beta > 0 && alpha * v + beta < 1 ? alpha : 0)));
    }
    case "LeakyRelu": {
      const alpha = node.alpha;
      return pass(mapGrad(x, dy, (v) => (v >= 0 ? 1 : alpha)));
    }
    case "PRelu": {
      // The slope is a model constant (not trained): only the input's gradient.
      const slope = ins[1]!.data, at = broadcastOffsets(x.shape, x.shape, ins[1]!.shape).b;
      const g = new Float32Array(dy.length);
      for (let i = 0; i < g.length; i++) g[i] = x.data[i]! >= 0 ? dy[i]! : dy[i]! * slope[at[i]!]!;
      return pass(g);
    }
    case "GlobalMaxPool": {
      // The gradient goes to the first maximum of each plane.
      const inner = sizeOf(x.shape.slice(2));
      const g = new Float32Array(x.data.length);
      for (let p = 0; p < dy.length; p++) {
        let at = p * inner;
        for (let k = at; k < (p + 1) * inner; k++) if (x.data[k]! > x.data[at]!) at = k;
        g[at] = dy[p]!;
      }
      return pass(g);
    }
    case "Resize":
      return pass(resizeBackward(node, x, out, dy));
    case "Identity":
      if (saved.kind === "dropout") {
        const g = new Float32Array(dy.length);
        for (let i = 0; i < g.length; i++) g[i] = dy[i]! * saved.mask[i]!;
        return pass(g);
      }
      return pass(dy);
    case "Flatten":
    case "Reshape":
    case "Squeeze":
    case "Unsqueeze":
      return pass(dy);
    case "MaxPool": {
      if (saved.kind !== "maxpool") throw new Error("MaxPool backward without its forward record");
      const g = new Float32Array(x.data.length);
      for (let o = 0; o < dy.length; o++) {
        const at = saved.argmax[o]!;
        if (at >= 0) g[at]! += dy[o]!;
      }
      return pass(g);
    }
    case "AvgPool":
      return pass(avgPoolBackward(node, x, dy));
    case "GlobalAvgPool": {
      const inner = sizeOf(x.shape.slice(2));
      const g = new Float32Array(x.data.length);
      for (let p = 0; p < dy.length; p++) g.fill(dy[p]! / inner, p * inner, (p + 1) * inner);
      return pass(g);
    }
    case "Add":
    case "Sub":
    case "Mul":
    case "Div":
      return { inputs: binaryBackward(node.op, ins[0]!, ins[1]!, out.shape, dy, needInput) };
    case "Concat": {
      const axis = normalizeAxis(node.axis, x.shape.length, node.name);
      const outer = sizeOf(x.shape.slice(0, axis));
      const grads = ins.map((t, k) => (needInput[k] ? new Float32Array(t.data.length) : null));
      let pos = 0;
      for (let o = 0; o < outer; o++) {
        ins.forEach((t, k) => {
          const chunk = sizeOf(t.shape.slice(axis));
          grads[k]?.set(dy.subarray(pos, pos + chunk), o * chunk);
          pos += chunk;
        });
      }
      return { inputs: grads };
    }
    case "Transpose": {
      const inverse = new Array<number>(node.perm.length);
      node.perm.forEach((p, i) => (inverse[p] = i));
      return pass(transpose({ shape: out.shape, data: dy }, inverse).data);
    }
    case "Softmax":
      return pass(softmaxBackward(node, out, dy));
    case "Pad": {
      if (node.mode !== "constant") throw new AxnnError(`training through ${node.mode}-mode Pad is not supported`, { field: `node "${node.name}"` });
      // The gradient is the output gradient cropped back to the input's extent.
      if (node.pads.every((p) => p >= 0)) {
        const g = new Float32Array(x.data.length);
        forEachPaddedRow(x.shape, out.shape, node.pads, (src, dst, len) => g.set(dy.subarray(dst, dst + len), src));
        return pass(g);
      }
      const rank = x.shape.length;
      const os = stridesOf(out.shape);
      const g = new Float32Array(x.data.length);
      const idx = new Array<number>(rank).fill(0);
      for (let i = 0; i < g.length; i++) {
        let src = 0, inside = true;
        for (let k = 0; k < rank; k++) {
          const c = idx[k]! + node.pads[k]!;
          if (c < 0 || c >= out.shape[k]!) { inside = false; break; }
          src += c * os[k]!;
        }
        g[i] = inside ? dy[src]! : 0;
        for (let k = rank - 1; k >= 0; k--) {
          if (++idx[k]! < x.shape[k]!) break;
          idx[k] = 0;
        }
      }
      return pass(g);
    }
    case "ReduceMean": {
      const rank = x.shape.length;
      const axes = new Set((node.axes ?? x.shape.map((_d, i) => i)).map((a) => normalizeAxis(a, rank, node.name)));
      const keptShape = x.shape.map((d, i) => (axes.has(i) ? 1 : d));
      const ks = stridesOf(keptShape);
      const count = x.data.length / sizeOf(keptShape);
      const g = new Float32Array(x.data.length);
      const idx = new Array<number>(rank).fill(0);
      for (let i = 0; i < g.length; i++) {
        let src = 0;
        for (let k = 0; k < rank; k++) if (!axes.has(k)) src += idx[k]! * ks[k]!;
        g[i] = dy[src]! / count;
        for (let k = rank - 1; k >= 0; k--) {
          if (++idx[k]! < x.shape[k]!) break;
          idx[k] = 0;
        }
      }
      return pass(g);
    }
  }
}

/** dy times the local derivative f'(x) (given the input value and, when `out` is passed, the output's). */
function mapGrad(x: Tensor, dy: Float32Array, derivative: (v: number, y: number) => number, out?: Tensor): Float32Array {
  const g = new Float32Array(dy.length);
  for (let i = 0; i < g.length; i++) g[i] = dy[i]! * derivative(x.data[i]!, out ? out.data[i]! : 0);
  return g;
}

/** The adjoint of the forward interpolation: every output's gradient goes back to the inputs it read, with the same weights. */
function resizeBackward(node: ResizeNode, x: Tensor, out: Tensor, dy: Float32Array): Float32Array {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [, , oh, ow] = out.shape as [number, number, number, number];
  const [sh, sw] = node.scales ?? [Math.fround(oh / h), Math.fround(ow / w)];
  const ys = resizeAxis(node, h, oh, sh), xs = resizeAxis(node, w, ow, sw);
  const g = new Float64Array(x.data.length);
  for (let p = 0, o = 0; p < n * c; p++) {
    const plane = p * h * w;
    for (let y = 0; y < oh; y++) {
      const r0 = plane + ys.lo[y]! * w, r1 = plane + ys.hi[y]! * w, fy = node.mode === "nearest" ? 0 : ys.frac[y]!;
      for (let xo = 0; xo < ow; xo++, o++) {
        const x0 = xs.lo[xo]!, x1 = xs.hi[xo]!, fx = node.mode === "nearest" ? 0 : xs.frac[xo]!;
        const d = dy[o]!;
        g[r0 + x0] += d * (1 - fy) * (1 - fx);
        g[r0 + x1] += d * (1 - fy) * fx;
        g[r1 + x0] += d * fy * (1 - fx);
        g[r1 + x1] += d * fy * fx;
      }
    }
  }
  return Float32Array.from(g);
}

/** Convolution backward on the backward kernels of src/kernels (native, or their TypeScript reference without the addon). */
function convBackward(node: ConvNode, x: Tensor, dy: Float32Array, needX: boolean): NodeGrads {
  const { pads } = convPads(node, x.shape[2]!, x.shape[3]!);
  const g = conv2dBackwardFloat(x.data, x.shape, node.weight.data, node.weight.shape, dy, {
    stride: node.strides, dilation: node.dilations, padding: pads, groups: node.groups,
    needInput: needX, needWeights: true, needBias: node.bias !== null,
  });
  return { inputs: [g.dInput], weight: g.dWeights!, bias: g.dBias ?? undefined };
}

/** Dense backward (dX = dY W, dW = dY^T X, db = column sums of dY) on the backward kernels of src/kernels. */
function denseBackward(weight: Tensor, hasBias: boolean, x: Tensor, dy: Float32Array, needX: boolean): NodeGrads {
  const [outF, inF] = weight.shape as [number, number];
  const rows = x.data.length / inF;
  const g = denseBackwardFloat(x.data, [rows, inF], weight.data, [outF, inF], dy, { needInput: needX, needWeights: true, needBias: hasBias });
  return { inputs: [g.dInput], weight: g.dWeights!, bias: g.dBias ?? undefined };
}

function batchNormBackward(node: BatchNormNode, x: Tensor, saved: Saved, dy: Float32Array, needX: boolean): NodeGrads {
  if (saved.kind !== "bn") throw new Error("BatchNorm backward without its forward record");
  const n = x.shape[0]!, c = node.scale.data.length;
  const g = batchNormBackwardKernel(x.data, dy, { n, c, inner: sizeOf(x.shape.slice(2)) }, saved.mean, saved.invStd, node.scale.data, { batchStats: saved.batchStats, needInput: needX });
  return { inputs: [g.dInput], scale: g.dScale, bias: g.dBias };
}

function avgPoolBackward(node: AvgPoolNode, x: Tensor, dy: Float32Array): Float32Array {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const { windows } = avgPoolWindows(node, h, w);
  const dx = new Float64Array(x.data.length);
  // The same windows and divisors as the forward kernel.
  for (let p = 0, o = 0; p < n * c; p++) {
    const plane = p * h * w;
    for (let k = 0; k < windows.length; k += 5, o++) {
      const [y0, y1, x0, x1, count] = [windows[k]!, windows[k + 1]!, windows[k + 2]!, windows[k + 3]!, windows[k + 4]!];
      const v = dy[o]! / count;
      for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) dx[plane + iy * w + ix]! += v;
    }
  }
  return Float32Array.from(dx);
}

function softmaxBackward(node: SoftmaxNode, y: Tensor, dy: Float32Array): Float32Array {
  const axis = normalizeAxis(node.axis, y.shape.length, node.name);
  const len = node.coerce2d ? sizeOf(y.shape.slice(axis)) : y.shape[axis]!;
  const inner = node.coerce2d ? 1 : sizeOf(y.shape.slice(axis + 1));
  const outer = y.data.length / (len * inner || 1);
  const dx = new Float32Array(y.data.length);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const base = o * len * inner + k;
      let dot = 0;
      for (let i = 0; i < len; i++) dot += dy[base + i * inner]! * y.data[base + i * inner]!;
      for (let i = 0; i < len; i++) dx[base + i * inner] = y.data[base + i * inner]! * (dy[base + i * inner]! - dot);
    }
  }
  return dx;
}

/** Gradients of a broadcasting binary op, each reduced over the axes its operand was broadcast along. */
function binaryBackward(op: "Add" | "Sub" | "Mul" | "Div", a: Tensor, b: Tensor, outShape: number[], dy: Float32Array, need: readonly boolean[]): (Float32Array | null)[] {
  if (op === "Add" && a.data.length === dy.length && b.data.length === dy.length) {
    // Residual additions: both operands get the output gradient as it is (gradients are never modified in place).
    return [need[0] ? dy : null, need[1] ? dy : null];
  }
  const ga = need[0] ? new Float64Array(a.data.length) : null;
  const gb = need[1] ? new Float64Array(b.data.length) : null;
  const off = broadcastOffsets(outShape, a.shape, b.shape);
  const ad = a.data, bd = b.data;
  for (let i = 0; i < dy.length; i++) {
    const g = dy[i]!;
    const ia = off.a[i]!, ib = off.b[i]!;
    const av = ad[ia]!, bv = bd[ib]!;
    switch (op) {
      case "Add":
        if (ga) ga[ia]! += g;
        if (gb) gb[ib]! += g;
        break;
      case "Sub":
        if (ga) ga[ia]! += g;
        if (gb) gb[ib]! -= g;
        break;
      case "Mul":
        if (ga) ga[ia]! += g * bv;
        if (gb) gb[ib]! += g * av;
        break;
      case "Div":
        if (ga) ga[ia]! += g / bv;
        if (gb) gb[ib]! -= (g * av) / (bv * bv);
        break;
    }
  }
  return [ga ? Float32Array.from(ga) : null, gb ? Float32Array.from(gb) : null];
}

/**
 * Mean softmax cross-entropy of logits [B, K] against integer labels, and its gradient
 * with respect to the logits ((softmax - onehot) / B). Also counts correct top-1 predictions.
 */
export function softmaxCrossEntropy(logits: Tensor, labels: ArrayLike<number>): { loss: number; grad: Float32Array; correct: number } {
  const k = logits.shape[logits.shape.length - 1]!;
  const rows = logits.data.length / k;
  if (labels.length !== rows) throw new AxnnError(`${labels.length} labels for ${rows} rows of logits`, { field: "labels" });
  const grad = new Float32Array(logits.data.length);
  let loss = 0, correct = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * k;
    let mx = -Infinity, arg = 0;
    for (let i = 0; i < k; i++) if (logits.data[o + i]! > mx) { mx = logits.data[o + i]!; arg = i; }
    let s = 0;
    for (let i = 0; i < k; i++) s += Math.exp(logits.data[o + i]! - mx);
    const label = labels[r]!;
    if (!(label >= 0 && label < k)) throw new AxnnError(`label ${label} of row ${r} is outside 0..${k - 1}`, { field: "labels" });
    loss += Math.log(s) + mx - logits.data[o + label]!;
    if (arg === label) correct++;
    for (let i = 0; i < k; i++) grad[o + i] = (Math.exp(logits.data[o + i]! - mx) / s - (i === label ? 1 : 0)) / rows;
  }
  return { loss: loss / rows, grad, correct };
}
