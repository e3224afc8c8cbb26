import { readFileSync } from "node:fs";
import { AxnnError } from "../util/errors.js";
import { finalizeModel, RESIZE_COORDINATES, type AutoPad, type Model, type Node, type Pads2D, type ResizeCoordinates, type ResizeNode, type ValueInfo } from "../nn/graph.js";
import { evalNode, transpose } from "../nn/ops.js";
import { simplify } from "../nn/passes.js";
import { concreteInputShapes, inferShapes, nodeOutputShapes } from "../nn/shapes.js";
import { makeTensor, type Tensor } from "../nn/tensor.js";
import { AT, DT, dataTypeName, decodeTensor, onnx, toNumber, type AttributeProto, type DecodedTensor, type ModelProto, type NodeProto } from "./proto.js";

/** ONNX ops the importer understands (default domain). */
export const SUPPORTED_ONNX_OPS = [
  "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool",
  "Add", "Sub", "Mul", "Div", "Concat", "Flatten", "Reshape", "Transpose", "Softmax", "Dropout", "Identity",
  "Pad", "ReduceMean", "Squeeze", "Unsqueeze", "Constant", "Cast", "Shape", "Gather", "Slice",
  "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "PRelu", "Tanh", "GlobalMaxPool", "Resize", "Upsample",
] as const;

/** Ops accepted only on constants and shapes (PyTorch's x.view(x.size(0), -1) is Shape, Gather, Unsqueeze, Concat, Reshape). */
const SHAPE_ONLY_OPS = new Set(["Shape", "Gather", "Slice"]);

/** Opsets accepted; 11 to 19 are the ones tested against onnxruntime. */
export const MIN_OPSET = 7;
export const MAX_OPSET = 21;

/** Reads an ONNX model file (or its bytes) into a float Model (see importOnnx). */
export function loadOnnx(source: string | Uint8Array): Model {
  if (typeof source !== "string") return importOnnx(source);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(source);
  } catch (e) {
    throw new AxnnError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: source });
  }
  return importOnnx(bytes, source);
}

/**
 * Converts a serialised ONNX ModelProto into a float Model: initializers and Constant nodes become layer
 * weights or model constants, constant sub-expressions are folded, Gemm/MatMul become Dense, Conv with
 * groups = channels becomes DepthwiseConv2D, Dropout/Identity disappear, then shapes are checked when the
 * inputs' non-batch dimensions are static. Any problem is an AxnnError naming the file and the node.
 */
export function importOnnx(bytes: Uint8Array, file = "<onnx bytes>"): Model {
  try {
    return importModel(bytes, file);
  } catch (e) {
    // Errors from shared code (tensor decoding, graph checks) name the field; add the file.
    if (e instanceof AxnnError && !e.file) throw new AxnnError(e.message, { file });
    throw e;
  }
}

function importModel(bytes: Uint8Array, file: string): Model {
  let proto: ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new AxnnError(`not a valid ONNX model: the protobuf is truncated or corrupt (${(e as Error).message})`, { file });
  }
  const graph = proto.graph;
  if (!graph || !graph.node || (graph.node.length === 0 && (graph.output ?? []).length === 0)) {
    throw new AxnnError("not a valid ONNX model: no graph (truncated file, or not an ONNX model?)", { file });
  }
  const opsetEntry = (proto.opsetImport ?? []).find((o) => !o.domain || o.domain === "ai.onnx");
  if (!opsetEntry) throw new AxnnError("the model imports no default-domain opset (truncated file?)", { file, field: "opset_import" });
  const opset = toNumber(opsetEntry.version);
  if (opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new AxnnError(`opset ${opset} is not supported (expected ${MIN_OPSET} to ${MAX_OPSET}; tested 11 to 19)`, { file, field: "opset_import" });
  }

  // One error listing every unsupported op, so users see all at once.
  const supported = new Set<string>(SUPPORTED_ONNX_OPS);
  const unsupported = graph.node.flatMap((n, i) => {
    const op = n.opType ?? "";
    const domain = n.domain ?? "";
    return domain !== "" && domain !== "ai.onnx" ? [`${domain}::${op} (node "${nodeLabel(n, i)}")`] : supported.has(op) ? [] : [`${op} (node "${nodeLabel(n, i)}")`];
  });
  if (unsupported.length > 0) {
    throw new AxnnError(`unsupported ONNX op${unsupported.length > 1 ? "s" : ""}: ${unsupported.join(", ")}. Supported: ${SUPPORTED_ONNX_OPS.join(", ")}`, { file });
  }

  const ctx = new ImportContext(file, opset);
  const inputs: ValueInfo[] = ctx.inputs;
  for (const init of graph.initializer ?? []) {
    ctx.consts.set(init.name ?? "", decodeTensor(init, `initializer "${init.name}"`));
  }
  for (const vi of graph.input ?? []) {
    const name = vi.name ?? "";
    if (ctx.consts.has(name)) continue; // IR < 4 lists initializers as inputs too
    const tt = vi.type?.tensorType;
    if (!tt) throw new AxnnError(`input "${name}" is not a tensor`, { file, field: "graph.input" });
    if ((tt.elemType ?? 0) !== DT.FLOAT) throw new AxnnError(`input "${name}" has element type ${dataTypeName(tt.elemType ?? 0)}; only float32 inputs are supported`, { file, field: "graph.input" });
    if (!tt.shape) throw new AxnnError(`input "${name}" declares no shape; export the model with input shapes`, { file, field: "graph.input" });
    const shape = (tt.shape.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : null));
    inputs.push({ name, shape });
  }
  if (inputs.length === 0) throw new AxnnError("the model has no (non-constant) inputs", { file, field: "graph.input" });

  // ONNX requires topological order; Constant nodes go first so that weights are known wherever they are read.
  const order = graph.node.map((n, i) => ({ n, i }));
  order.sort((a, b) => Number(b.n.opType === "Constant") - Number(a.n.opType === "Constant") || a.i - b.i);
  for (const { n, i } of order) ctx.convert(n, nodeLabel(n, i));

  const outputs = (graph.output ?? []).map((o) => o.name ?? "");
  if (outputs.length === 0) throw new AxnnError("the model has no outputs", { file, field: "graph.output" });
  for (const o of outputs) {
    if (ctx.consts.has(o) && !ctx.producedByNode.has(o)) throw new AxnnError(`output "${o}" is a constant; nothing to compute`, { file, field: "graph.output" });
  }
  let model = simplify(finalizeModel({ name: graph.name || "model", inputs, outputs, nodes: ctx.nodes, constants: ctx.valueConstants() }));
  // With static non-batch dimensions, check every shape now rather than at the first run.
  if (inputs.every((vi) => vi.shape.slice(1).every((d) => d !== null))) {
    model = normalizeSoftmax(model, inferShapes(model, concreteInputShapes(model, 1)));
  }
  return model;
}

function nodeLabel(n: NodeProto, i: number): string {
  return n.name || `${n.opType}_${i}`;
}

/** Opset < 13 Softmax over the last axis is the same as opset 13's: mark it so (the exporter emits it plainly). */
function normalizeSoftmax(model: Model, shapes: Map<string, number[]>): Model {
  return {
    ...model,
    nodes: model.nodes.map((n) => {
      if (n.op !== "Softmax" || !n.coerce2d) return n;
      const rank = shapes.get(n.inputs[0]!)!.length;
      const axis = n.axis < 0 ? n.axis + rank : n.axis;
      return axis === rank - 1 ? { ...n, axis: -1, coerce2d: false } : n;
    }),
  };
}

/** A constant as a float32 tensor; float data is shared, not copied (tensors are never written to). */
function toTensor(d: DecodedTensor): Tensor {
  return makeTensor(d.dims, d.values instanceof Float32Array ? d.values : Float32Array.from(d.values));
}

class ImportContext {
  /** Constant values; for values computed from a Shape that depends on the batch, their value at batch 1. */
  readonly consts = new Map<string, DecodedTensor>();
  /** The batch-2 value of constants that depend on the batch size (from Shape of an activation). */
  private readonly batch2 = new Map<string, DecodedTensor>();
  readonly inputs: ValueInfo[] = [];
  private shapeCache: { nodes: number; byBatch: Map<number, Map<string, number[]>> } = { nodes: -1, byBatch: new Map() };
  readonly nodes: Node[] = [];
  readonly producedByNode = new Set<string>();
  private readonly names = new Set<string>();

  constructor(readonly file: string, readonly opset: number) {}

  /** Constants read by nodes as values (not as weights or attributes), as float32 tensors. */
  valueConstants(): Map<string, Tensor> {
    const used = new Set(this.nodes.flatMap((n) => n.inputs));
    const m = new Map<string, Tensor>();
    for (const [k, d] of this.consts) if (used.has(k)) m.set(k, toTensor(d));
    return m;
  }

  convert(n: NodeProto, label: string): void {
    const op = n.opType ?? "";
    const where = { file: this.file, field: `node "${label}" (${op})` };
    const fail = (msg: string): never => {
      throw new AxnnError(msg, where);
    };
    const attrs = new Map<string, AttributeProto>((n.attribute ?? []).map((a) => [a.name ?? "", a]));
    const attrInt = (k: string, def: number): number => {
      const a = attrs.get(k);
      return a ? toNumber(a.i) : def;
    };
    const attrFloat = (k: string, def: number): number => {
      const a = attrs.get(k);
      return a ? (a.type === AT.INT ? toNumber(a.i) : a.f ?? 0) : def;
    };
    const attrInts = (k: string): number[] | undefined => {
      const a = attrs.get(k);
      return a ? (a.ints ?? []).map(toNumber) : undefined;
    };
    const attrFloats = (k: string): number[] | undefined => {
      const a = attrs.get(k);
      return a ? [...(a.floats ?? [])] : undefined;
    };
    const attrString = (k: string, def: string): string => {
      const a = attrs.get(k);
      return a?.s ? new TextDecoder().decode(a.s) : def;
    };
    const ins = (n.input ?? []).map((s) => s ?? "");
    const outs = (n.output ?? []).filter((s) => s !== "");
    const input = (k: number): string | undefined => (ins[k] ? ins[k] : undefined);
    const constInput = (k: number, what: string): DecodedTensor => {
      const name = input(k);
      const c = name === undefined ? undefined : this.consts.get(name);
      if (!c) fail(`${what} (input ${k}${name ? ` "${name}"` : ""}) must be a constant (initializer or Constant node)`);
      if (this.batch2.has(name!)) fail(`${what} (input ${k} "${name}") depends on the batch size; only a Reshape target may`);
      return c!;
    };
    const optConst = (k: number, what: string): DecodedTensor | undefined => (input(k) === undefined ? undefined : constInput(k, what));
    const intsOf = (d: DecodedTensor): number[] => Array.from(d.values);
    const scalarOf = (d: DecodedTensor, what: string): number => {
      if (d.values.length !== 1) fail(`${what} must be a scalar, got dims [${d.dims.join(",")}]`);
      return d.values[0]!;
    };
    const onlyFirstOutput = (): void => {
      if (outs.length > 1) fail(`only the first output is supported; "${outs.slice(1).join('", "')}" is used`);
    };
    const pair = (v: number[] | undefined, def: number, what: string): [number, number] => {
      if (v === undefined) return [def, def];
      if (v.length !== 2) fail(`${what} has ${v.length} values; only 2-D (NCHW) windows are supported`);
      return [v[0]!, v[1]!];
    };
    const pads4 = (): Pads2D => {
      const p = attrInts("pads");
      if (p === undefined) return [0, 0, 0, 0];
      if (p.length !== 4) fail(`pads has ${p.length} values; only 2-D (NCHW) windows are supported`);
      return [p[0]!, p[1]!, p[2]!, p[3]!];
    };
    const autoPad = (): AutoPad => {
      const s = attrString("auto_pad", "NOTSET");
      if (!["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].includes(s)) fail(`unknown auto_pad "${s}"`);
      return s as AutoPad;
    };
    // Operands that moved from attributes to inputs: a stale attribute would be silently ignored otherwise.
    const movedAt: Record<string, [string, number]> = { Clip: ["min", 11], Pad: ["pads", 11], Squeeze: ["axes", 13], Unsqueeze: ["axes", 13], ReduceMean: ["axes", 18] };
    const moved = movedAt[op];
    if (moved && this.opset >= moved[1] && attrs.has(moved[0])) fail(`attribute "${moved[0]}" is an input since opset ${moved[1]} (the model declares opset ${this.opset})`);
    const base = (inputs: string[]) => ({ name: this.uniqueName(label), inputs, outputs: [outs[0]!] });

    if (SHAPE_ONLY_OPS.has(op)) {
      this.foldShapeOp(op, ins, outs[0]!, attrInt, attrInts, fail);
      return;
    }

    let node: Node | undefined;
    switch (op) {
      case "Constant": {
        const a = n.attribute?.[0];
        if (!a) fail("Constant without a value");
        const key = a!.name;
        let d: DecodedTensor;
        if (key === "value") d = decodeTensor(a!.t ?? {}, `node "${label}" value`);
        else if (key === "value_float") d = { dims: [], dataType: DT.FLOAT, values: Float64Array.of(a!.f ?? 0) };
        else if (key === "value_floats") d = { dims: [a!.floats?.length ?? 0], dataType: DT.FLOAT, values: Float64Array.from(a!.floats ?? []) };
        else if (key === "value_int") d = { dims: [], dataType: DT.INT64, values: Float64Array.of(toNumber(a!.i)) };
        else if (key === "value_ints") d = { dims: [a!.ints?.length ?? 0], dataType: DT.INT64, values: Float64Array.from((a!.ints ?? []).map(toNumber)) };
        else return fail(`Constant with attribute "${key}" is not supported`);
        this.setConst(outs[0]!, d);
        return;
      }
      case "Conv": {
        const w = constInput(1, "the weight");
        if (w.dims.length !== 4) fail(`weight of rank ${w.dims.length}: only 2-D convolutions are supported`);
        const b = optConst(2, "the bias");
        const groups = attrInt("group", 1);
        const kernel = attrInts("kernel_shape");
        if (kernel && (kernel[0] !== w.dims[2] || kernel[1] !== w.dims[3])) fail(`kernel_shape [${kernel.join(",")}] disagrees with the weight dims [${w.dims.join(",")}]`);
        node = {
          op: groups > 1 && w.dims[1] === 1 ? "DepthwiseConv2D" : "Conv2D",
          ...base([input(0)!]),
          weight: toTensor(w),
          bias: b ? toTensor(b) : null,
          strides: pair(attrInts("strides"), 1, "strides"),
          pads: pads4(),
          dilations: pair(attrInts("dilations"), 1, "dilations"),
          groups,
          autoPad: autoPad(),
        };
        if (b && b.values.length !== w.dims[0]) fail(`bias has ${b.values.length} values for ${w.dims[0]} output channels`);
        break;
      }
      case "Gemm": {
        if (attrInt("transA", 0) !== 0) fail("transA = 1 is not supported");
        const bMat = constInput(1, "B (the weight)");
        if (bMat.dims.length !== 2) fail(`B must be a matrix, got dims [${bMat.dims.join(",")}]`);
        const alpha = attrFloat("alpha", 1), beta = attrFloat("beta", 1);
        let w = toTensor(bMat);
        if (attrInt("transB", 0) === 0) w = transpose(w, [1, 0]);
        if (alpha !== 1) w = { shape: w.shape, data: w.data.map((v) => v * alpha) };
        const outF = w.shape[0]!;
        const c = optConst(2, "C (the bias)");
        let bias: Tensor | null = null;
        if (c) {
          if (c.values.length !== 1 && (c.values.length !== outF || c.dims[c.dims.length - 1] !== outF)) fail(`C with dims [${c.dims.join(",")}] is not a per-output bias (${outF} outputs)`);
          bias = makeTensor([outF], Float32Array.from({ length: outF }, (_v, i) => beta * c.values[c.values.length === 1 ? 0 : i]!));
        }
        node = { op: "Dense", ...base([input(0)!]), weight: w, bias };
        break;
      }
      case "MatMul": {
        const bName = input(1)!;
        if (this.consts.has(input(0)!) && !this.consts.has(bName)) fail("MatMul with a constant left operand is not supported");
        if (!this.consts.has(bName)) fail("MatMul of two computed tensors is not supported; the right operand must be a constant weight");
        if (this.consts.has(input(0)!)) break; // folded below
        const bMat = this.consts.get(bName)!;
        if (bMat.dims.length !== 2) fail(`the weight must be a matrix, got dims [${bMat.dims.join(",")}]`);
        node = { op: "Dense", ...base([input(0)!]), weight: transpose(toTensor(bMat), [1, 0]), bias: null };
        break;
      }
      case "BatchNormalization": {
        if (attrInt("training_mode", 0) !== 0) fail("training_mode = 1 is not supported (inference only)");
        onlyFirstOutput();
        node = {
          op: "BatchNorm", ...base([input(0)!]),
          scale: toTensor(constInput(1, "scale")), bias: toTensor(constInput(2, "B")),
          mean: toTensor(constInput(3, "mean")), variance: toTensor(constInput(4, "var")),
          epsilon: attrFloat("epsilon", 1e-5),
        };
        break;
      }
      case "Relu":
        node = { op: "Relu", ...base([input(0)!]) };
        break;
      case "Clip": {
        let lo: number, hi: number;
        if (this.opset < 11) {
          lo = attrFloat("min", -Infinity);
          hi = attrFloat("max", Infinity);
        } else {
          const mn = optConst(1, "min"), mx = optConst(2, "max");
          lo = mn ? scalarOf(mn, "min") : -Infinity;
          hi = mx ? scalarOf(mx, "max") : Infinity;
        }
        const b0 = base([input(0)!]);
        node = lo === 0 && hi === 6 ? { op: "Relu6", ...b0 } : lo === 0 && hi === Infinity ? { op: "Relu", ...b0 } : { op: "Clip", ...b0, min: lo, max: hi };
        break;
      }
      case "MaxPool": {
        onlyFirstOutput();
        const kernel = attrInts("kernel_shape");
        if (!kernel) fail("kernel_shape is required");
        const k = pair(kernel, 1, "kernel_shape");
        node = {
          op: "MaxPool", ...base([input(0)!]),
          kernel: k, strides: pair(attrInts("strides"), 1, "strides"), pads: pads4(),
          dilations: pair(attrInts("dilations"), 1, "dilations"), ceilMode: attrInt("ceil_mode", 0) !== 0, autoPad: autoPad(),
        };
        break;
      }
      case "AveragePool": {
        const kernel = attrInts("kernel_shape");
        if (!kernel) fail("kernel_shape is required");
        const dil = attrInts("dilations");
        if (dil && dil.some((d) => d !== 1)) fail("dilated average pooling is not supported");
        node = {
          op: "AvgPool", ...base([input(0)!]),
          kernel: pair(kernel, 1, "kernel_shape"), strides: pair(attrInts("strides"), 1, "strides"), pads: pads4(),
          ceilMode: attrInt("ceil_mode", 0) !== 0, countIncludePad: attrInt("count_include_pad", 0) !== 0, autoPad: autoPad(),
        };
        break;
      }
      case "GlobalAveragePool":
        node = { op: "GlobalAvgPool", ...base([input(0)!]) };
        break;
      case "GlobalMaxPool":
        node = { op: "GlobalMaxPool", ...base([input(0)!]) };
        break;
      case "Sigmoid":
      case "Tanh":
        node = { op, ...base([input(0)!]) };
        break;
      case "HardSwish":
        node = { op: "HardSwish", ...base([input(0)!]) };
        break;
      case "HardSigmoid":
        node = { op: "HardSigmoid", ...base([input(0)!]), alpha: attrFloat("alpha", 0.2), beta: attrFloat("beta", 0.5) };
        break;
      case "LeakyRelu":
        node = { op: "LeakyRelu", ...base([input(0)!]), alpha: attrFloat("alpha", 0.01) };
        break;
      case "PRelu":
        constInput(1, "the slope");
        node = { op: "PRelu", ...base([input(0)!, input(1)!]) };
        break;
      case "Resize":
      case "Upsample":
        node = { op: "Resize", ...base([input(0)!]), ...this.resizeFields(op, ins, attrFloats, attrInts, attrInt, attrString, constInput, fail) };
        break;
      case "Add":
      case "Sub":
      case "Mul":
      case "Div":
        node = { op, ...base([input(0)!, input(1)!]) };
        break;
      case "Concat": {
        if (!attrs.has("axis")) fail("axis is required");
        node = { op: "Concat", ...base(ins.filter((s) => s !== "")), axis: attrInt("axis", 1) };
        break;
      }
      case "Flatten":
        node = { op: "Flatten", ...base([input(0)!]), axis: attrInt("axis", 1) };
        break;
      case "Reshape": {
        let shape: number[];
        if (this.opset < 5) shape = attrInts("shape") ?? [];
        else {
          const s = input(1);
          if (s === undefined || !this.consts.has(s)) fail("the target shape must be a constant or computed from Shape, Gather, Slice, Unsqueeze and Concat");
          shape = this.batch2.has(s!) ? this.batchFreeTarget(input(0)!, s!, fail) : intsOf(this.consts.get(s!)!);
        }
        node = { op: "Reshape", ...base([input(0)!]), shape, allowZero: attrInt("allowzero", 0) !== 0 };
        break;
      }
      case "Transpose": {
        const perm = attrInts("perm");
        if (!perm) fail("a Transpose without perm (reverse all axes) is not supported");
        node = { op: "Transpose", ...base([input(0)!]), perm: perm! };
        break;
      }
      case "Softmax":
        node = this.opset < 13
          ? { op: "Softmax", ...base([input(0)!]), axis: attrInt("axis", 1), coerce2d: true }
          : { op: "Softmax", ...base([input(0)!]), axis: attrInt("axis", -1), coerce2d: false };
        break;
      case "Dropout":
      case "Identity":
        onlyFirstOutput();
        node = { op: "Identity", ...base([input(0)!]) };
        break;
      case "Cast": {
        const to = attrInt("to", DT.FLOAT);
        if (this.consts.has(input(0)!)) {
          const c = this.consts.get(input(0)!)!;
          const isInt = to !== DT.FLOAT && to !== DT.DOUBLE && to !== DT.FLOAT16;
          const cast = (d: DecodedTensor): DecodedTensor => ({ dims: d.dims, dataType: to, values: isInt ? d.values.map(Math.trunc) : Float64Array.from(Float32Array.from(d.values)) });
          this.setConst(outs[0]!, cast(c));
          const c2 = this.batch2.get(input(0)!);
          if (c2) this.batch2.set(outs[0]!, cast(c2));
          return;
        }
        if (to !== DT.FLOAT) fail(`Cast of a computed tensor to ${dataTypeName(to)} is not supported (only to float)`);
        node = { op: "Identity", ...base([input(0)!]) };
        break;
      }
      case "Pad": {
        let pads: number[], mode: string, value: number;
        if (this.opset < 11) {
          pads = attrInts("pads") ?? attrInts("paddings") ?? [];
          mode = attrString("mode", "constant");
          value = attrFloat("value", 0);
        } else {
          pads = intsOf(constInput(1, "pads"));
          const v = optConst(2, "constant_value");
          value = v ? scalarOf(v, "constant_value") : 0;
          mode = attrString("mode", "constant");
          if (input(3) !== undefined) {
            const axes = intsOf(constInput(3, "axes"));
            if (!axes.every((a, i) => a === i)) fail(`Pad with axes [${axes.join(",")}] is not supported (only all axes in order)`);
          }
        }
        if (mode !== "constant" && mode !== "reflect" && mode !== "edge") fail(`pad mode "${mode}" is not supported`);
        node = { op: "Pad", ...base([input(0)!]), pads, mode: mode as "constant" | "reflect" | "edge", value };
        break;
      }
      case "ReduceMean": {
        let axes: number[] | null;
        if (this.opset < 18) axes = attrInts("axes") ?? null;
        else {
          const a = optConst(1, "axes");
          axes = a ? intsOf(a) : null;
          if (axes === null && attrInt("noop_with_empty_axes", 0) !== 0) {
            node = { op: "Identity", ...base([input(0)!]) };
            break;
          }
        }
        node = { op: "ReduceMean", ...base([input(0)!]), axes, keepDims: attrInt("keepdims", 1) !== 0 };
        break;
      }
      case "Squeeze":
      case "Unsqueeze": {
        let axes: number[] | null;
        if (this.opset < 13) axes = attrInts("axes") ?? null;
        else {
          const a = optConst(1, "axes");
          axes = a ? intsOf(a) : null;
        }
        if (op === "Unsqueeze" && axes === null) fail("axes is required");
        node = { op, ...base([input(0)!]), axes };
        break;
      }
    }
    if (op === "MatMul" && this.consts.has(input(0)!)) {
      return fail("MatMul of two constants is not supported");
    }
    if (!node) return fail(`cannot convert`);
    // Nodes whose value inputs are all constant are evaluated now (weight Transposes, Reshapes of constants...).
    if (node.inputs.length > 0 && node.inputs.every((i) => this.consts.has(i))) {
      const firstType = this.consts.get(node.inputs[0]!)!.dataType;
      const evaluate = (pick: (i: string) => DecodedTensor): DecodedTensor => {
        const out = evalNode(node!, node!.inputs.map((i) => toTensor(pick(i))))[0]!;
        return { dims: out.shape, dataType: firstType, values: Float64Array.from(out.data) };
      };
      const r1 = evaluate((i) => this.consts.get(i)!);
      this.setConst(outs[0]!, r1);
      if (node.inputs.some((i) => this.batch2.has(i))) {
        const r2 = evaluate((i) => this.batch2.get(i) ?? this.consts.get(i)!);
        if (r2.dims.join() !== r1.dims.join() || r2.values.some((v, k) => v !== r1.values[k])) this.batch2.set(outs[0]!, r2);
      }
      return;
    }
    for (const i of node.inputs) {
      if (this.batch2.has(i)) fail(`input "${i}" is computed from the batch size; it can only be used as a Reshape target`);
      const c = this.consts.get(i);
      if (c && c.dataType !== DT.FLOAT && c.dataType !== DT.DOUBLE && c.dataType !== DT.FLOAT16) {
        fail(`input "${i}" is a ${dataTypeName(c.dataType)} constant; only float tensors can be computed on`);
      }
    }
    this.names.add(node.name);
    this.nodes.push(node);
    for (const o of node.outputs) this.producedByNode.add(o);
  }

  /**
   * Resize (opset 10 and later) and Upsample (7 to 9): scales or sizes of an NCHW tensor's two
   * spatial axes. Opset < 11 and Upsample map coordinates asymmetrically and take the floor
   * (onnxruntime's ceil when shrinking); anything axnn does not compute the same way is refused.
   */
  private resizeFields(
    op: string, ins: string[], attrFloats: (k: string) => number[] | undefined, attrInts: (k: string) => number[] | undefined,
    attrInt: (k: string, def: number) => number, attrString: (k: string, def: string) => string,
    constInput: (k: number, what: string) => DecodedTensor, fail: (msg: string) => never,
  ): Omit<ResizeNode, "op" | "name" | "inputs" | "outputs"> {
    const mode = attrString("mode", "nearest");
    if (mode !== "nearest" && mode !== "linear" && mode !== "bilinear") fail(`mode "${mode}" is not supported (nearest or linear)`);
    const legacy = op === "Upsample" || this.opset < 11;
    let scales: number[] | undefined, sizes: (number | null)[] | undefined;
    if (op === "Upsample" && this.opset < 9) scales = attrFloats("scales");
    else if (legacy) scales = Array.from(constInput(1, "scales").values);
    else {
      // Inputs X, roi, scales, sizes; an empty scales tensor means "use sizes".
      const sc = ins[2] ? constInput(2, "scales") : undefined;
      if (sc && sc.values.length > 0) scales = Array.from(sc.values);
      if (ins[3]) {
        // PyTorch's F.interpolate(size=...) concatenates the input's batch and channels (Shape, Slice) with the new H, W.
        const sz = this.consts.get(ins[3]);
        if (!sz) fail(`sizes (input 3 "${ins[3]}") must be a constant or computed from Shape`);
        const at2 = this.batch2.get(ins[3]);
        if (at2 && at2.values.some((v, i) => i !== 0 && v !== sz!.values[i])) fail("sizes depend on the batch size other than through the batch axis");
        if (sz!.values.length > 0) sizes = Array.from(sz!.values, (v, i) => (i === 0 && at2 ? null : v));
      }
      if (scales && sizes) fail("both scales and sizes are given; ONNX allows only one");
      if (attrInt("antialias", 0) !== 0) fail("antialias = 1 is not supported");
      if (attrInt("exclude_outside", 0) !== 0) fail("exclude_outside = 1 is not supported");
      const policy = attrString("keep_aspect_ratio_policy", "stretch");
      if (sizes && policy !== "stretch") fail(`keep_aspect_ratio_policy "${policy}" is not supported (only stretch)`);
      const axes = attrInts("axes");
      if (axes) {
        // Opset 18: scales/sizes of the listed axes only; the others keep their size.
        const norm = axes.map((a) => (a < 0 ? a + 4 : a));
        if (norm.join() !== "2,3") fail(`axes [${axes.join(",")}] are not supported (only the spatial axes [2,3] of an NCHW input)`);
        if (scales) scales = [1, 1, ...scales];
        if (sizes) sizes = [null, null, ...sizes];
      }
    }
    const given = scales ?? sizes;
    if (!given) fail("neither scales nor sizes is given");
    if (given!.length !== 4) fail(`${scales ? "scales" : "sizes"} has ${given!.length} values; only 4-D (NCHW) inputs are supported`);
    if (scales) {
      if (scales.some((v) => !(v > 0) || !Number.isFinite(v))) fail(`scales [${scales.join(",")}] must be positive`);
      if (scales[0] !== 1 || scales[1] !== 1) fail(`scales [${scales.join(",")}] resize the batch or channel axis; only H and W may be resized`);
    }
    if (sizes && sizes.some((v) => v !== null && (!Number.isInteger(v) || v <= 0))) fail(`sizes [${sizes.join(",")}] must be positive integers`);
    let coordinates: string, nearestMode: string;
    if (legacy) {
      coordinates = "asymmetric";
      const shrink = scales!.slice(2).map((v) => v < 1);
      if (mode === "nearest" && shrink[0] !== shrink[1]) fail(`scales [${scales!.join(",")}] grow one axis and shrink the other (onnxruntime rounds each differently)`);
      nearestMode = shrink[0] ? "ceil" : "floor";
    } else {
      coordinates = attrString("coordinate_transformation_mode", "half_pixel");
      nearestMode = attrString("nearest_mode", "round_prefer_floor");
      if (!(RESIZE_COORDINATES as readonly string[]).includes(coordinates)) fail(`coordinate_transformation_mode "${coordinates}" is not supported (${RESIZE_COORDINATES.join(", ")})`);
      if (!["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"].includes(nearestMode)) fail(`nearest_mode "${nearestMode}" is not supported`);
    }
    return {
      mode: mode === "nearest" ? "nearest" : "linear",
      coordinates: coordinates as ResizeCoordinates,
      nearestMode: nearestMode as ResizeNode["nearestMode"],
      scales: scales ? [Math.fround(scales[2]!), Math.fround(scales[3]!)] : null,
      sizes: sizes ?? null,
    };
  }

  private setConst(name: string, d: DecodedTensor): void {
    this.consts.set(name, d);
  }

  /** Shapes of the values computed so far when the batch (open first dimension of the inputs) is `batch`. */
  private shapesAt(batch: number, fail: (msg: string) => never): Map<string, number[]> {
    if (this.shapeCache.nodes !== this.nodes.length) this.shapeCache = { nodes: this.nodes.length, byBatch: new Map() };
    const cached = this.shapeCache.byBatch.get(batch);
    if (cached) return cached;
    const shapes = new Map<string, number[]>();
    for (const vi of this.inputs) {
      if (vi.shape.slice(1).some((d) => d === null)) fail(`Shape of a model whose input "${vi.name}" has open dimensions besides the batch is not supported`);
      shapes.set(vi.name, vi.shape.map((d) => d ?? batch));
    }
    for (const [k, c] of this.consts) shapes.set(k, c.dims);
    for (const n of this.nodes) {
      const outs = nodeOutputShapes(n, n.inputs.map((i) => shapes.get(i)!));
      n.outputs.forEach((o, k) => shapes.set(o, outs[k]!));
    }
    this.shapeCache.byBatch.set(batch, shapes);
    return shapes;
  }

  /** Shape, Gather and Slice, evaluated on constants, or on the shape of an activation at batch 1 and at batch 2. */
  private foldShapeOp(
    op: string, ins: string[], out: string,
    attrInt: (k: string, def: number) => number, attrInts: (k: string) => number[] | undefined, fail: (msg: string) => never,
  ): void {
    const x = ins[0] ?? "";
    const atBatch = (batch: 1 | 2): DecodedTensor => {
      const pick = (name: string): DecodedTensor | undefined => (batch === 2 ? this.batch2.get(name) ?? this.consts.get(name) : this.consts.get(name));
      if (op === "Shape") {
        const dims = this.consts.get(x)?.dims ?? this.shapesAt(batch, fail).get(x);
        if (!dims) fail(`"${x}" is not computed before this node`);
        const rank = dims!.length;
        const clamp = (v: number): number => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
        const part = dims!.slice(clamp(attrInt("start", 0)), clamp(attrInt("end", rank)));
        return { dims: [part.length], dataType: DT.INT64, values: Float64Array.from(part) };
      }
      const data = pick(x);
      if (!data) fail(`${op} is only supported on constants and shapes; "${x}" is computed`);
      const operand = (k: number, what: string): number[] | undefined => {
        if (!ins[k]) return undefined;
        const c = this.consts.get(ins[k]!);
        if (!c || this.batch2.has(ins[k]!)) fail(`${what} must be a constant`);
        return Array.from(c!.values);
      };
      if (op === "Gather") {
        const indices = operand(1, "indices")!;
        const idxDims = this.consts.get(ins[1]!)!.dims;
        const rank = data!.dims.length;
        const axis = attrInt("axis", 0) < 0 ? attrInt("axis", 0) + rank : attrInt("axis", 0);
        if (axis < 0 || axis >= rank) fail(`axis out of range for dims [${data!.dims.join(",")}]`);
        const outer = data!.dims.slice(0, axis).reduce((a, b) => a * b, 1);
        const inner = data!.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
        const len = data!.dims[axis]!;
        const values: number[] = [];
        for (let o = 0; o < outer; o++) {
          for (const raw of indices) {
            const i = raw < 0 ? raw + len : raw;
            if (i < 0 || i >= len) fail(`index ${raw} out of range (${len})`);
            for (let k = 0; k < inner; k++) values.push(data!.values[(o * len + i) * inner + k]!);
          }
        }
        return { dims: [...data!.dims.slice(0, axis), ...idxDims, ...data!.dims.slice(axis + 1)], dataType: data!.dataType, values: Float64Array.from(values) };
      }
      // Slice: starts/ends/axes/steps as inputs (opset >= 10) or attributes.
      const starts = this.opset >= 10 ? operand(1, "starts")! : attrInts("starts") ?? [];
      const ends = this.opset >= 10 ? operand(2, "ends")! : attrInts("ends") ?? [];
      const axes = (this.opset >= 10 ? operand(3, "axes") : attrInts("axes")) ?? starts.map((_v, i) => i);
      const steps = (this.opset >= 10 ? operand(4, "steps") : undefined) ?? starts.map(() => 1);
      const rank = data!.dims.length;
      const lo = data!.dims.map(() => 0), hi = [...data!.dims], step = data!.dims.map(() => 1);
      axes.forEach((a0, k) => {
        const a = a0 < 0 ? a0 + rank : a0;
        const d = data!.dims[a]!;
        const st = steps[k]!;
        if (st === 0) fail("a zero step");
        const norm = (v: number, isEnd: boolean): number => {
          const x1 = v < 0 ? v + d : v;
          return st > 0 ? Math.min(Math.max(x1, 0), d) : Math.min(Math.max(x1, -1), d - (isEnd ? 0 : 1));
        };
        lo[a] = norm(starts[k]!, false);
        hi[a] = norm(ends[k]!, true);
        step[a] = st;
      });
      // Enumerate the kept indices per axis, then take their product.
      const picks = data!.dims.map((_d, a) => {
        const r: number[] = [];
        for (let i = lo[a]!; step[a]! > 0 ? i < hi[a]! : i > hi[a]!; i += step[a]!) r.push(i);
        return r;
      });
      const strides = data!.dims.map((_d, a) => data!.dims.slice(a + 1).reduce((p, q) => p * q, 1));
      let offsets = [0];
      picks.forEach((p, a) => {
        offsets = offsets.flatMap((o) => p.map((i) => o + i * strides[a]!));
      });
      return { dims: picks.map((p) => p.length), dataType: data!.dataType, values: Float64Array.from(offsets.map((o) => data!.values[o]!)) };
    };
    const r1 = atBatch(1);
    this.setConst(out, r1);
    const dependsOnBatch = op === "Shape" ? !this.consts.has(x) : this.batch2.has(x);
    if (dependsOnBatch) {
      const r2 = atBatch(2);
      if (r2.dims.join() !== r1.dims.join() || r2.values.some((v, k) => v !== r1.values[k])) this.batch2.set(out, r2);
    }
  }

  /**
   * A Reshape target that depends on the batch size, as a static target: an entry that follows the batch becomes
   * 0 (copy) where it equals the input's own dimension, else -1 (inferred; at most one).
   */
  private batchFreeTarget(x: string, target: string, fail: (msg: string) => never): number[] {
    const t1 = Array.from(this.consts.get(target)!.values), t2 = Array.from(this.batch2.get(target)!.values);
    if (t1.length !== t2.length) fail("the target shape's length depends on the batch size");
    const in1 = this.shapesAt(1, fail).get(x), in2 = this.shapesAt(2, fail).get(x);
    if (!in1 || !in2) fail(`the shape of "${x}" is not known here`);
    const out = [...t1];
    let inferred = t1.includes(-1);
    for (let i = 0; i < t1.length; i++) {
      if (t1[i] === t2[i]) continue;
      if (i < in1!.length && t1[i] === in1![i] && t2[i] === in2![i]) out[i] = 0;
      else if (!inferred) {
        out[i] = -1;
        inferred = true;
      } else fail(`the target shape depends on the batch size in more than one place: [${t1.join(",")}] at batch 1`);
    }
    return out;
  }

  private uniqueName(label: string): string {
    if (!this.names.has(label)) return label;
    for (let i = 2; ; i++) if (!this.names.has(`${label}_${i}`)) return `${label}_${i}`;
  }
}
