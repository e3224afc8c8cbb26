// A quantized network resident on the GPU: QuantizedModel.run's arithmetic (integer layers through
// tables or exact products, float32 values between them) as one WebGPU submission per batch: the
// weights, tables and per-layer constants uploaded once, the input sent with each batch, every
// intermediate value kept on the GPU, one readback of the output. Bit for bit the CPU's results:
// each step is integer arithmetic on float32 bit patterns (src/kernels/webgpu/network-shaders.ts,
// dequantize.ts). A step without an exact GPU form (a float32 layer, whose GPU sums run in another
// order than the CPU's; an op without a shader; a layer whose dequantization terms are outside the
// emulated ranges) is never computed differently: from the first such node on, the network runs on
// the CPU (QuantizedModel's own kernels) from the values read back (cpuFrom says where and why;
// e.g. a final Softmax, whose exp the GPU does not reproduce), and a network whose first layer already has no GPU form is refused with
// the reason (plannedRunner, src/plan/runner.ts, then runs it layer by layer and says why).
import { AxnnError } from "../util/errors.js";
import { isApproximable, type ApproximableNode, type Node } from "../nn/graph.js";
import type { RunOptions } from "../nn/run.js";
import { avgPoolWindows, evalNode } from "../nn/ops.js";
import { checkInputShapes, nodeOutputShapes, normalizeAxis, windowGeometry } from "../nn/shapes.js";
import { sizeOf, stridesOf, type Tensor } from "../nn/tensor.js";
import { convGeometry, geometryArray, type ConvGeometry } from "../kernels/geometry.js";
import { webGpu, type GpuConnection } from "../kernels/webgpu/backend.js";
import { DEQUANTIZE_PARAM_COUNT, encodeChannels } from "../kernels/webgpu/dequantize.js";
import {
  ADD_BROADCAST_PARAM_COUNT, AVGPOOL_PARAM_COUNT, BROADCAST_MAX_RANK, CONCAT_PARAM_COUNT, ELEMENTWISE_PARAM_COUNT, GLOBAL_AVGPOOL_MAX_INNER, GLOBAL_AVGPOOL_PARAM_COUNT,
  MAXPOOL_PARAM_COUNT, PAD_PARAM_COUNT, QUANTIZE_PARAM_COUNT,
} from "../kernels/webgpu/network-shaders.js";
import { GRAPH_NONE, type GraphRef, type GraphStep } from "../kernels/webgpu/protocol.js";
import { PARAM_COUNT } from "../kernels/webgpu/shaders.js";
import { checkAccumulatorFits } from "./accumulator.js";
import { arithmeticOf, checkMultiplierFits, dequantizeChannels, needsActivationSums, type LayerArithmetic, type QuantizedModel } from "./model.js";
import { quantizeToCodes, type QuantParams } from "./params.js";

type Arithmetic = LayerArithmetic | ((layer: string) => LayerArithmetic) | Map<string, LayerArithmetic>;
type Persistent = Uint8Array | Int32Array | Float32Array | Uint32Array;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (v: number): number => ((f32[0] = v), u32[0]!);

/**
 * The quantize shader's thresholds for 8-bit activation parameters: for each integer k in
 * (qmin, qmax], the least float32 (in the order of key32: the float order, -0 below +0) whose
 * quantizeToCodes integer is >= k, as its key. quantizeToCodes is monotone (x / scale, rounding,
 * clamping all are), so qmin + the number of thresholds <= key(x) is x's integer: found here by
 * binary search over the keys with quantizeToCodes itself, so the GPU cannot differ from it.
 */
export function quantizeThresholds(p: QuantParams): Uint32Array {
  const x = new Float32Array(1), xBits = new Uint32Array(x.buffer), code = new Uint8Array(1);
  const integerAt = (key: number): number => {
    xBits[0] = key >= 0x80000000 ? key & 0x7fffffff : ~key >>> 0;
    quantizeToCodes(x, p, code);
    return p.qmin < 0 ? (code[0]! << 24) >> 24 : code[0]!;
  };
  const KEY_NEG_INF = 0x007fffff, KEY_POS_INF = 0xff800000;
  const out = new Uint32Array(p.qmax - p.qmin);
  for (let k = p.qmin + 1; k <= p.qmax; k++) {
    let lo = KEY_NEG_INF, hi = KEY_POS_INF; // integerAt(hi) = qmax >= k
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (integerAt(mid) >= k) hi = mid;
      else lo = mid + 1;
    }
    out[k - p.qmin - 1] = lo;
  }
  return out;
}

interface Value { ref: GraphRef; shape: number[] }

/** Why a network cannot run resident on the GPU (the node and what is missing). */
function refuse(node: Node, why: string): never {
  throw new AxnnError(`node "${node.name}" (${node.op}): ${why}`, { field: "gpu network" });
}

/**
 * QuantizedModel.run(inputs, arithmetic) for one input shape as a single GPU submission (see the
 * file comment). Throws AxnnError naming the node when some step has no exact GPU form, or when
 * there is no GPU.
 */
export class GpuQuantizedNetwork {
  private readonly operands: Persistent[] = [];
  private readonly scratch: number[] = [];
  private readonly steps: GraphStep[] = [];
  private readonly inputName: string;
  private readonly outputName: string;
  /** The values read back after the GPU's part (the output, or what the CPU's part reads). */
  private readonly readback: { name: string; value: Value }[] = [];
  /** The nodes from the first without an exact GPU form on, run on the CPU after the readback. */
  private cpuTail: Node[] = [];
  private readonly cpuKernel: NonNullable<RunOptions["kernel"]>;
  /** Where the CPU takes over and why (undefined: everything on the GPU). */
  cpuFrom?: { node: string; why: string };
  private readonly gpu: GpuConnection;
  private readonly constants = new Map<string, GraphRef>();

  constructor(
    readonly qmodel: QuantizedModel, arithmetic: Arithmetic, readonly inputShape: readonly number[],
    /** The value read back: the model's first output by default (another value to inspect a step). */
    outputName = qmodel.model.outputs[0]!,
  ) {
    const { connection, why } = webGpu();
    if (!connection) throw new AxnnError(`no usable GPU: ${why}`, { field: "gpu network" });
    this.gpu = connection;
    const model = qmodel.model;
    if (model.inputs.length !== 1) throw new AxnnError(`the model has ${model.inputs.length} inputs; the GPU network runs single-input models`, { field: "gpu network" });
    this.inputName = model.inputs[0]!.name;
    const pick = arithmeticOf(arithmetic);
    // QuantizedModel's fusions: a layer or Add applies the clamp of the ReLU / ReLU6 that is its only reader.
    const fused = qmodel.fusedActivation, fusedInto = qmodel.fusedInto;
    checkInputShapes(model, { [this.inputName]: inputShape });
    const values = new Map<string, Value>([[this.inputName, { ref: 0, shape: [...inputShape] }]]);
    this.operands.push(new Uint8Array(0)); // operand 0: the input, sent with each batch
    let resident = 0;
    for (const [i, node] of model.nodes.entries()) {
      try {
        const ins = node.inputs.map((name) => values.get(name) ?? this.constant(name) ?? refuse(node, `reads "${name}", a value computed on the CPU`));
        const x = ins[0]!;
        const outShape = nodeOutputShapes(node, ins.map((v) => v.shape))[0]!;
        const clamp = fused.get(node.name);
        let out: Value;
        if (fusedInto.has(node.name)) out = x;
        else if (isApproximable(node)) out = this.layer(node, x, pick(node.name), clamp, outShape);
        else out = this.elementwise(node, ins, clamp, outShape);
        values.set(node.outputs[0]!, out);
        if (isApproximable(node)) resident++;
      } catch (e) {
        if (!(e instanceof AxnnError && e.field === "gpu network")) throw e;
        // The rest runs on the CPU from the values read back: pointless without a layer on the GPU.
        if (resident === 0) throw e;
        this.cpuTail = model.nodes.slice(i);
        this.cpuFrom = { node: node.name, why: e.message.replace(/^gpu network: /, "") };
        break;
      }
    }
    const needed = this.cpuTail.length > 0 ? new Set([...this.cpuTail.flatMap((n) => n.inputs), outputName]) : new Set([outputName]);
    for (const name of needed) {
      const v = values.get(name);
      if (v && v.ref < 0) this.readback.push({ name, value: v });
    }
    if (this.cpuTail.length === 0 && this.readback.length === 0) throw new AxnnError(`"${outputName}" is not a value the GPU network computes`, { field: "gpu network" });
    this.outputName = outputName;
    this.cpuKernel = qmodel.runOptions(arithmetic).kernel!;
  }

  private persistent(array: Persistent): GraphRef {
    this.operands.push(array);
    return this.operands.length - 1;
  }

  /** A model constant (e.g. an Add's other operand) as a persistent operand, uploaded once. */
  private constant(name: string): Value | undefined {
    const t = this.qmodel.model.constants.get(name);
    if (!t) return undefined;
    let ref = this.constants.get(name);
    if (ref === undefined) this.constants.set(name, (ref = this.persistent(t.data)));
    return { ref, shape: [...t.shape] };
  }

  private buffer(bytes: number): GraphRef {
    this.scratch.push(bytes);
    return -this.scratch.length;
  }

  private step(kernel: GraphStep["kernel"], params: Uint32Array, widthAt: number, total: number, inputs: [GraphRef, GraphRef?, GraphRef?], out: GraphRef): GraphRef {
    this.steps.push({ kernel, params, widthAt, total, inputs: [inputs[0], inputs[1] ?? GRAPH_NONE, inputs[2] ?? GRAPH_NONE], out });
    return out;
  }

  /** quantize -> convolution -> (window sums) -> dequantize with the fused clamp. */
  private layer(node: ApproximableNode, x: Value, a: LayerArithmetic, clamp: number | undefined, outShape: number[]): Value {
    const q = this.qmodel;
    const layer = q.layers.get(node.name)!;
    if (a.kind === "float") refuse(node, "a float32 layer (the GPU's float32 sums are in another order than the CPU's)");
    if (a.kind === "lut") checkMultiplierFits(a.multiplier, q.config.scheme, `layer ${node.name}`);
    checkAccumulatorFits(node, a.kind === "lut" ? a : { ...a, signed: q.config.scheme === "sym" });
    const bits = a.kind === "lut" ? a.multiplier.weightBits : a.weightBits ?? 8;
    const w = a.kind === "lut" && a.weights ? a.weights : q.weights(node.name, bits);
    const channels = encodeChannels(dequantizeChannels(layer, w), needsActivationSums(w));
    if (!channels) refuse(node, "its dequantization terms are outside what the GPU emulates exactly (dequantize.ts)");
    const n = sizeOf(x.shape);
    // Activation codes, 4 per 32-bit word.
    const thresholds = quantizeThresholds(layer.input);
    const words = Math.ceil(n / 4);
    const codes = this.step("quantize", Uint32Array.of(words, n, thresholds.length, layer.input.qmin >>> 0, 0), 4, words, [x.ref, this.persistent(thresholds)], this.buffer(words * 4));
    let g: ConvGeometry;
    if (node.op === "Dense") {
      const features = x.shape[x.shape.length - 1]!;
      if (features !== node.weight.shape[1]) refuse(node, `input has ${features} features, the weight expects ${node.weight.shape[1]}`);
      g = { N: n / features, C: features, H: 1, W: 1, M: node.weight.shape[0]!, R: 1, S: 1, groups: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, P: 1, Q: 1 };
    } else {
      const [, , kh, kw] = node.weight.shape as [number, number, number, number];
      const padding = windowGeometry(x.shape[2]!, x.shape[3]!, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false).pads;
      g = convGeometry(node.name, x.shape, node.weight.shape, { stride: node.strides, dilation: node.dilations, groups: node.groups, padding });
    }
    const total = g.N * g.M * g.P * g.Q;
    const padCode = node.op === "Dense" ? 0 : layer.input.zeroPoint & 0xff;
    const convParams = new Uint32Array(PARAM_COUNT);
    convParams.set(geometryArray(g));
    convParams[18] = padCode;
    convParams[19] = a.kind === "lut" ? a.multiplier.weightBits : 0;
    convParams[20] = total;
    const kind = a.kind === "lut" ? "lut" : q.config.scheme === "sym" ? "exact-signed" : "exact-unsigned";
    const acc = this.step(kind, convParams, 21, total, [codes, this.persistent(a.kind === "lut" ? w.codes : w.codes8), a.kind === "lut" ? this.persistent(a.multiplier.table) : GRAPH_NONE], this.buffer(total * 4));
    let sums: GraphRef = GRAPH_NONE;
    if (needsActivationSums(w)) {
      const count = g.N * g.groups * g.P * g.Q;
      const sumParams = Uint32Array.from(convParams);
      sumParams[20] = count;
      sums = this.step("window-sums", sumParams, 21, count, [codes], this.buffer(count * 4));
    }
    const inner = g.P * g.Q;
    const params = new Uint32Array(DEQUANTIZE_PARAM_COUNT);
    params.set([total, g.M, inner, g.groups, sums === GRAPH_NONE ? 0 : 1, clamp === undefined ? 0xffffffff : bitsOf(clamp)]);
    const y = this.step("dequantize", params, 6, total, [acc, sums, this.persistent(channels)], this.buffer(total * 4));
    if (sizeOf(outShape) !== total) refuse(node, `internal: ${total} outputs for shape [${outShape.join(", ")}]`);
    return { ref: y, shape: outShape };
  }

  private elementwise(node: Node, ins: Value[], clamp: number | undefined, outShape: number[]): Value {
    const x = ins[0]!;
    const total = sizeOf(outShape);
    const clampBits = clamp === undefined ? 0xffffffff : bitsOf(clamp);
    switch (node.op) {
      case "Identity": case "Flatten": case "Reshape": case "Squeeze": case "Unsqueeze":
        return { ref: x.ref, shape: outShape };
      case "Relu": case "Relu6": {
        const params = Uint32Array.of(total, bitsOf(node.op === "Relu6" ? 6 : Infinity), 0);
        return { ref: this.step("relu", params, ELEMENTWISE_PARAM_COUNT - 1, total, [x.ref], this.buffer(total * 4)), shape: outShape };
      }
      case "Add": {
        const y = ins[1]!;
        if (ins.length !== 2) refuse(node, `an Add of ${ins.length} inputs`);
        if (sizeOf(x.shape) === total && sizeOf(y.shape) === total && x.shape.length === y.shape.length) {
          return { ref: this.step("add", Uint32Array.of(total, clampBits, 0), ELEMENTWISE_PARAM_COUNT - 1, total, [x.ref, y.ref], this.buffer(total * 4)), shape: outShape };
        }
        // Broadcasting (numpy's rules, as broadcastOffsets): each operand's step along each output axis, 0 where it is broadcast.
        const rank = outShape.length;
        if (rank > BROADCAST_MAX_RANK) refuse(node, `a rank-${rank} broadcasting Add (the GPU broadcasts up to rank ${BROADCAST_MAX_RANK})`);
        const params = new Uint32Array(ADD_BROADCAST_PARAM_COUNT);
        const lead = BROADCAST_MAX_RANK - rank;
        for (let k = 0; k < BROADCAST_MAX_RANK; k++) params[k] = k < lead ? 1 : outShape[k - lead]!;
        [x.shape, y.shape].forEach((shape, operand) => {
          const strides = stridesOf(shape), pad = rank - shape.length;
          for (let k = 0; k < rank; k++) params[BROADCAST_MAX_RANK * (operand + 1) + lead + k] = k < pad || shape[k - pad] === 1 ? 0 : strides[k - pad]!;
        });
        params[3 * BROADCAST_MAX_RANK] = total;
        params[3 * BROADCAST_MAX_RANK + 1] = clampBits;
        return { ref: this.step("add-broadcast", params, ADD_BROADCAST_PARAM_COUNT - 1, total, [x.ref, y.ref], this.buffer(total * 4)), shape: outShape };
      }
      case "Concat": {
        // One dispatch per input, each writing its slice of every outer index (the CPU's copy order is irrelevant: the slices are disjoint).
        const axis = normalizeAxis(node.axis, x.shape.length, node.name);
        const outer = sizeOf(x.shape.slice(0, axis));
        const outChunk = sizeOf(outShape.slice(axis));
        const out = this.buffer(total * 4);
        let offset = 0;
        for (const v of ins) {
          const chunk = sizeOf(v.shape.slice(axis));
          if (outer * chunk > 0) this.step("concat", Uint32Array.of(chunk, outChunk, offset, outer * chunk, 0), CONCAT_PARAM_COUNT - 1, outer * chunk, [v.ref], out);
          offset += chunk;
        }
        return { ref: out, shape: outShape };
      }
      case "AvgPool": {
        if (x.shape.length !== 4) refuse(node, `a rank-${x.shape.length} input (AvgPool on the GPU takes NCHW)`);
        const [n, c, h, w] = x.shape as [number, number, number, number];
        const { outH, outW, windows } = avgPoolWindows(node, h, w);
        for (let k = 4; k < windows.length; k += 5) if (windows[k]! > GLOBAL_AVGPOOL_MAX_INNER) refuse(node, `windows of ${windows[k]} values (the GPU divides by at most ${GLOBAL_AVGPOOL_MAX_INNER})`);
        const params = Uint32Array.of(n * c, h * w, w, outH * outW, total, 0);
        return { ref: this.step("avgpool", params, AVGPOOL_PARAM_COUNT - 1, total, [x.ref, this.persistent(windows)], this.buffer(total * 4)), shape: outShape };
      }
      case "MaxPool": {
        const [n, c, h, w] = x.shape as [number, number, number, number];
        const geo = windowGeometry(h, w, node.kernel, node.strides, node.dilations, node.pads, node.autoPad, node.ceilMode);
        const params = new Uint32Array(MAXPOOL_PARAM_COUNT);
        params.set([n * c, h, w, node.kernel[0], node.kernel[1], node.strides[0], node.strides[1], geo.pads[0], geo.pads[1], node.dilations[0], node.dilations[1], geo.outH, geo.outW, total]);
        return { ref: this.step("maxpool", params, MAXPOOL_PARAM_COUNT - 1, total, [x.ref], this.buffer(total * 4)), shape: outShape };
      }
      case "GlobalAvgPool": {
        const inner = sizeOf(x.shape.slice(2));
        if (inner < 1 || inner > GLOBAL_AVGPOOL_MAX_INNER) refuse(node, `planes of ${inner} values (the GPU divides by at most ${GLOBAL_AVGPOOL_MAX_INNER})`);
        const params = Uint32Array.of(total, inner, 0);
        return { ref: this.step("global-avgpool", params, GLOBAL_AVGPOOL_PARAM_COUNT - 1, total, [x.ref], this.buffer(total * 4)), shape: outShape };
      }
      case "Pad": {
        const rank = x.shape.length;
        if (rank > 4) refuse(node, `a rank-${rank} Pad (the GPU pads up to rank 4)`);
        const lead = 4 - rank;
        const params = new Uint32Array(PAD_PARAM_COUNT);
        for (let k = 0; k < 4; k++) {
          params[k] = k < lead ? 1 : outShape[k - lead]!;
          params[4 + k] = k < lead ? 1 : x.shape[k - lead]!;
          params[8 + k] = k < lead ? 0 : node.pads[k - lead]! >>> 0;
        }
        params[12] = node.mode === "constant" ? 0 : node.mode === "edge" ? 1 : 2;
        params[13] = bitsOf(node.value);
        params[14] = total;
        return { ref: this.step("pad", params, PAD_PARAM_COUNT - 1, total, [x.ref], this.buffer(total * 4)), shape: outShape };
      }
      default:
        return refuse(node, "no exact GPU form of this op yet");
    }
  }

  /** How many dispatches one batch takes (all in one submission, one readback). */
  get dispatches(): number {
    return this.steps.length;
  }

  /** The output (see the constructor) for one batch of the compiled input shape. */
  run(input: Tensor): Tensor {
    if (input.shape.length !== this.inputShape.length || input.shape.some((d, i) => d !== this.inputShape[i])) {
      throw new AxnnError(`input shape [${input.shape.join(", ")}], the GPU network was compiled for [${this.inputShape.join(", ")}]`, { field: "input" });
    }
    const operands = [{ once: input.data }, ...this.operands.slice(1)];
    const words = this.gpu.graph(operands, this.scratch, this.steps, this.readback.map((r) => ({ ref: r.value.ref, words: sizeOf(r.value.shape) })));
    const values = new Map<string, Tensor>([...this.qmodel.model.constants, [this.inputName, input]]);
    this.readback.forEach((r, i) => values.set(r.name, { shape: [...r.value.shape], data: new Float32Array(words[i]!.slice().buffer) }));
    for (const node of this.cpuTail) {
      const outs = this.cpuKernel(node, node.inputs.map((name) => values.get(name)!)) ?? evalNode(node, node.inputs.map((name) => values.get(name)!));
      node.outputs.forEach((o, k) => values.set(o, outs[k]!));
    }
    return values.get(this.outputName)!;
  }
}
