import { AxnnError } from "../util/errors.js";
import type { AutoPad, Model, Node, Pads2D } from "./graph.js";
import { sameShape, shapeToString, sizeOf, stridesOf } from "./tensor.js";

/** Output size and effective padding of one spatial axis of a window op (conv or pool). */
export function windowAxis(
  inSize: number, kernel: number, stride: number, dilation: number,
  padBegin: number, padEnd: number, autoPad: AutoPad, ceilMode: boolean,
): { out: number; padBegin: number; padEnd: number } {
  const span = (kernel - 1) * dilation + 1;
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const out = Math.ceil(inSize / stride);
    const total = Math.max(0, (out - 1) * stride + span - inSize);
    const small = Math.floor(total / 2);
    const begin = autoPad === "SAME_UPPER" ? small : total - small;
    return { out, padBegin: begin, padEnd: total - begin };
  }
  if (autoPad === "VALID") {
    padBegin = 0;
    padEnd = 0;
  }
  const room = inSize + padBegin + padEnd - span;
  if (room < 0) return { out: 0, padBegin, padEnd };
  let out = (ceilMode ? Math.ceil(room / stride) : Math.floor(room / stride)) + 1;
  // In ceil mode the last window must start inside the input or its begin padding (PyTorch and onnxruntime agree).
  if (ceilMode && (out - 1) * stride >= inSize + padBegin) out--;
  return { out, padBegin, padEnd };
}

export interface WindowGeometry {
  outH: number;
  outW: number;
  pads: Pads2D;
}

export function windowGeometry(
  inH: number, inW: number, kernel: readonly [number, number], strides: readonly [number, number],
  dilations: readonly [number, number], pads: Pads2D, autoPad: AutoPad, ceilMode: boolean,
): WindowGeometry {
  const h = windowAxis(inH, kernel[0], strides[0], dilations[0], pads[0], pads[2], autoPad, ceilMode);
  const w = windowAxis(inW, kernel[1], strides[1], dilations[1], pads[1], pads[3], autoPad, ceilMode);
  return { outH: h.out, outW: w.out, pads: [h.padBegin, w.padBegin, h.padEnd, w.padEnd] };
}

/** NumPy broadcasting of two shapes, or null if they do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * For each element of a broadcast result of shape `outShape` (row-major order), the offsets of the
 * elements of the two operands (shapes `aShape`, `bShape`) it is computed from.
 */
export function broadcastOffsets(outShape: readonly number[], aShape: readonly number[], bShape: readonly number[]): { a: Int32Array; b: Int32Array } {
  const rank = outShape.length;
  const stepsOf = (shape: readonly number[]): number[] => {
    const s = stridesOf(shape);
    const pad = rank - shape.length;
    return outShape.map((_d, i) => (i < pad || shape[i - pad] === 1 ? 0 : s[i - pad]!));
  };
  const sa = stepsOf(aShape), sb = stepsOf(bShape);
  const n = sizeOf(outShape);
  const offA = new Int32Array(n), offB = new Int32Array(n);
  const idx = new Array<number>(rank).fill(0);
  let ia = 0, ib = 0;
  for (let i = 0; i < n; i++) {
    offA[i] = ia;
    offB[i] = ib;
    // Odometer increment of the output index, moving both operand offsets along.
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]!++;
      ia += sa[k]!;
      ib += sb[k]!;
      if (idx[k]! < outShape[k]!) break;
      ia -= sa[k]! * outShape[k]!;
      ib -= sb[k]! * outShape[k]!;
      idx[k] = 0;
    }
  }
  return { a: offA, b: offB };
}

export function normalizeAxis(axis: number, rank: number, node: string, allowEnd = false): number {
  const a = axis < 0 ? axis + rank + (allowEnd ? 1 : 0) : axis;
  if (!Number.isInteger(a) || a < 0 || a > rank - (allowEnd ? 0 : 1)) {
    throw new AxnnError(`axis ${axis} is out of range for a rank-${rank} input`, { field: `node "${node}"` });
  }
  return a;
}

/** Resolves an ONNX Reshape target against the input shape. */
export function reshapeTarget(inShape: readonly number[], target: readonly number[], allowZero: boolean, node: string): number[] {
  const where = { field: `node "${node}"` };
  const out = target.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= inShape.length) throw new AxnnError(`reshape target ${shapeToString(target)} copies axis ${i}, the input ${shapeToString(inShape)} has none`, where);
      return inShape[i]!;
    }
    return d;
  });
  const unknown = out.filter((d) => d === -1).length;
  if (unknown > 1 || out.some((d) => d < -1 || !Number.isInteger(d))) throw new AxnnError(`bad reshape target ${shapeToString(target)}`, where);
  const total = sizeOf(inShape);
  const known = sizeOf(out.filter((d) => d !== -1));
  if (unknown === 1) {
    if (known === 0 || total % known !== 0) throw new AxnnError(`cannot reshape ${shapeToString(inShape)} to ${shapeToString(target)}`, where);
    out[out.indexOf(-1)] = total / known;
  } else if (known !== total) {
    throw new AxnnError(`cannot reshape ${shapeToString(inShape)} (${total} elements) to ${shapeToString(out)}`, where);
  }
  return out;
}

function fail(node: Node, msg: string): never {
  throw new AxnnError(msg, { field: `node "${node.name}" (${node.op})` });
}

function expectRank(node: Node, shape: readonly number[], rank: number, what = "input"): void {
  if (shape.length !== rank) fail(node, `expected a rank-${rank} ${what}, got ${shapeToString(shape)}`);
}

/** Output shapes of a node from its input shapes; throws AxnnError naming the node when they do not fit. */
export function nodeOutputShapes(node: Node, ins: readonly (readonly number[])[]): number[][] {
  const x = ins[0]!;
  switch (node.op) {
    case "Conv2D":
    case "DepthwiseConv2D": {
      expectRank(node, x, 4, "NCHW input");
      const [m, cg, kh, kw] = node.weight.shape as [number, number, number, number];
      if (x[1] !== cg * node.groups) fail(node, `input has ${x[1]} channels, the weight ${shapeToString(node.weight.shape)} with ${node.groups} group(s) expects ${cg * node.groups}`);
      const g = windowGeometry(x[2]!, x[3]!, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false);
      if (g.outH <= 0 || g.outW <= 0) fail(node, `the ${kh}x${kw} kernel does not fit the ${x[2]}x${x[3]} input`);
      return [[x[0]!, m, g.outH, g.outW]];
    }
    case "Dense": {
      if (x.length < 1) fail(node, "expected an input of rank >= 1");
      const [out, inF] = node.weight.shape as [number, number];
      if (x[x.length - 1] !== inF) fail(node, `input ${shapeToString(x)} has ${x[x.length - 1]} features on its last axis, the layer expects ${inF}`);
      return [[...x.slice(0, -1), out]];
    }
    case "BatchNorm":
      if (x.length < 2 || x[1] !== node.scale.data.length) fail(node, `input ${shapeToString(x)} should have ${node.scale.data.length} channels on axis 1`);
      return [[...x]];
    case "Relu":
    case "Relu6":
    case "Identity":
    case "Clip":
    case "Sigmoid":
    case "Tanh":
    case "HardSwish":
    case "HardSigmoid":
    case "LeakyRelu":
      return [[...x]];
    case "PRelu": {
      // The slope broadcasts to x, not the other way round.
      const s = broadcastShapes(x, ins[1]!);
      if (!s || !sameShape(s, x)) fail(node, `slope ${shapeToString(ins[1]!)} does not broadcast to the input ${shapeToString(x)}`);
      return [[...x]];
    }
    case "Resize": {
      expectRank(node, x, 4, "NCHW input");
      const sz = node.sizes;
      if (sz && ((sz[0] ?? x[0]) !== x[0] || (sz[1] ?? x[1]) !== x[1])) fail(node, `sizes [${sz.map((d) => d ?? "N").join(",")}] resize the batch or channel axis of ${shapeToString(x)}; only H and W may be resized`);
      const out = sz ? [sz[2]!, sz[3]!] : [Math.floor(x[2]! * node.scales![0]), Math.floor(x[3]! * node.scales![1])];
      if (out[0]! <= 0 || out[1]! <= 0) fail(node, `resizing ${shapeToString(x)} gives an empty ${out[0]}x${out[1]} output`);
      return [[x[0]!, x[1]!, out[0]!, out[1]!]];
    }
    case "MaxPool":
    case "AvgPool": {
      expectRank(node, x, 4, "NCHW input");
      const dil: [number, number] = node.op === "MaxPool" ? node.dilations : [1, 1];
      const g = windowGeometry(x[2]!, x[3]!, node.kernel, node.strides, dil, node.pads, node.autoPad, node.ceilMode);
      if (g.outH <= 0 || g.outW <= 0) fail(node, `the ${node.kernel.join("x")} window does not fit the ${x[2]}x${x[3]} input`);
      return [[x[0]!, x[1]!, g.outH, g.outW]];
    }
    case "GlobalAvgPool":
    case "GlobalMaxPool":
      if (x.length < 3) fail(node, `expected an input of rank >= 3, got ${shapeToString(x)}`);
      return [[x[0]!, x[1]!, ...x.slice(2).map(() => 1)]];
    case "Add":
    case "Sub":
    case "Mul":
    case "Div": {
      const s = broadcastShapes(x, ins[1]!);
      if (!s) fail(node, `shapes ${shapeToString(x)} and ${shapeToString(ins[1]!)} do not broadcast`);
      return [s];
    }
    case "Concat": {
      const axis = normalizeAxis(node.axis, x.length, node.name);
      let total = 0;
      for (const s of ins) {
        if (s.length !== x.length || s.some((d, i) => i !== axis && d !== x[i])) {
          fail(node, `inputs ${ins.map((v) => shapeToString(v)).join(", ")} differ outside axis ${axis}`);
        }
        total += s[axis]!;
      }
      const out = [...x];
      out[axis] = total;
      return [out];
    }
    case "Flatten": {
      const axis = normalizeAxis(node.axis, x.length, node.name, true);
      return [[sizeOf(x.slice(0, axis)), sizeOf(x.slice(axis))]];
    }
    case "Reshape":
      return [reshapeTarget(x, node.shape, node.allowZero, node.name)];
    case "Transpose": {
      const p = node.perm;
      if (p.length !== x.length || [...p].sort((a, b) => a - b).some((v, i) => v !== i)) fail(node, `perm [${p.join(",")}] does not fit ${shapeToString(x)}`);
      return [p.map((a) => x[a]!)];
    }
    case "Softmax":
      normalizeAxis(node.axis, x.length, node.name);
      return [[...x]];
    case "Pad": {
      if (node.pads.length !== 2 * x.length) fail(node, `${node.pads.length} pads for a rank-${x.length} input`);
      const out = x.map((d, i) => d + node.pads[i]! + node.pads[i + x.length]!);
      if (out.some((d) => d < 0)) fail(node, `pads [${node.pads.join(",")}] crop ${shapeToString(x)} below zero`);
      if (node.mode !== "constant" && x.some((d, i) => d === 0 && out[i]! > 0)) fail(node, `${node.mode} padding of an empty axis`);
      if (node.mode === "reflect" && x.some((d, i) => node.pads[i]! >= d || node.pads[i + x.length]! >= d)) fail(node, "reflect pads must be smaller than the axis");
      return [out];
    }
    case "ReduceMean": {
      const axes = new Set((node.axes ?? x.map((_d, i) => i)).map((a) => normalizeAxis(a, x.length, node.name)));
      const out: number[] = [];
      x.forEach((d, i) => {
        if (!axes.has(i)) out.push(d);
        else if (node.keepDims) out.push(1);
      });
      return [out];
    }
    case "Squeeze": {
      const axes = node.axes === null ? x.flatMap((d, i) => (d === 1 ? [i] : [])) : node.axes.map((a) => normalizeAxis(a, x.length, node.name));
      for (const a of axes) if (x[a] !== 1) fail(node, `cannot squeeze axis ${a} of ${shapeToString(x)}`);
      return [x.filter((_d, i) => !axes.includes(i))];
    }
    case "Unsqueeze": {
      const rank = x.length + node.axes!.length;
      const axes = node.axes!.map((a) => normalizeAxis(a, rank, node.name));
      if (new Set(axes).size !== axes.length) fail(node, "repeated axis");
      const out: number[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : x[j++]!);
      return [out];
    }
  }
}

/** Checks actual input shapes against the model's declared ones (null dimensions match anything). */
export function checkInputShapes(model: Model, shapes: Record<string, readonly number[]>): void {
  for (const vi of model.inputs) {
    const s = shapes[vi.name];
    if (s === undefined) throw new AxnnError(`missing input "${vi.name}" (expected shape ${shapeToString(vi.shape)})`, { field: "inputs" });
    if (s.length !== vi.shape.length || vi.shape.some((d, i) => d !== null && d !== s[i])) {
      throw new AxnnError(`input "${vi.name}" has shape ${shapeToString(s)}, the model expects ${shapeToString(vi.shape)}`, { field: "inputs" });
    }
  }
  for (const k of Object.keys(shapes)) {
    if (!model.inputs.some((vi) => vi.name === k)) {
      throw new AxnnError(`the model has no input "${k}"; its inputs are ${model.inputs.map((v) => `"${v.name}"`).join(", ")}`, { field: "inputs" });
    }
  }
}

/** Shapes of every value for the given input shapes (null dims in declared shapes must be filled in). */
export function inferShapes(model: Model, inputShapes: Record<string, readonly number[]>): Map<string, number[]> {
  checkInputShapes(model, inputShapes);
  const shapes = new Map<string, number[]>();
  for (const vi of model.inputs) shapes.set(vi.name, [...inputShapes[vi.name]!]);
  for (const [k, t] of model.constants) shapes.set(k, [...t.shape]);
  for (const n of model.nodes) {
    const ins = n.inputs.map((i) => {
      const s = shapes.get(i);
      if (!s) throw new AxnnError(`node "${n.name}" reads "${i}" before it is computed (nodes out of order?)`);
      return s;
    });
    const outs = nodeOutputShapes(n, ins);
    n.outputs.forEach((o, k) => shapes.set(o, outs[k]!));
  }
  return shapes;
}

/** The declared input shapes with open dimensions set to `fill` (1: one sample). */
export function concreteInputShapes(model: Model, fill = 1): Record<string, number[]> {
  const r: Record<string, number[]> = {};
  for (const vi of model.inputs) r[vi.name] = vi.shape.map((d) => d ?? fill);
  return r;
}
