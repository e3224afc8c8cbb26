import { consumersOf, finalizeModel, producersOf, type BatchNormNode, type ConvNode, type DenseNode, type Model, type Node } from "./graph.js";
import { concreteInputShapes, inferShapes } from "./shapes.js";
import { makeTensor, type Tensor } from "./tensor.js";
import { transpose as transposeTensor } from "./ops.js";

/**
 * True when `node`'s single output can be merged into its producer `p`: p's output feeds only `node`
 * and is not a model output, so the producer can take over `node`'s output name.
 */
function soleConsumer(model: Model, p: Node, node: Node, consumers: Map<string, Node[]>): boolean {
  const v = node.inputs[0]!;
  return p.outputs.length === 1 && p.outputs[0] === v && (consumers.get(v)?.length ?? 0) === 1 && !model.outputs.includes(v);
}

/** Replaces `removed` and `into`'s old version by `merged`, which takes `removed`'s output. */
function mergeInto(model: Model, into: Node, removed: Node, merged: Node): Model {
  merged.outputs = [...removed.outputs];
  return { ...model, nodes: model.nodes.filter((n) => n !== removed).map((n) => (n === into ? merged : n)) };
}

/**
 * Folds every BatchNorm that directly follows a Conv2D, DepthwiseConv2D or Dense (whose output feeds only the
 * BatchNorm) into that layer's weights and bias: w' = w * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps).
 * Other BatchNorms stay as they are. Returns a new model; the input model is not changed.
 */
export function foldBatchNorm(model: Model): Model {
  let m = model;
  let ranks: Map<string, number[]> | undefined;
  for (;;) {
    const producers = producersOf(m);
    const consumers = consumersOf(m);
    let changed = false;
    for (const bn of m.nodes) {
      if (bn.op !== "BatchNorm") continue;
      const p = producers.get(bn.inputs[0]!);
      if (!p || (p.op !== "Conv2D" && p.op !== "DepthwiseConv2D" && p.op !== "Dense") || !soleConsumer(m, p, bn, consumers)) continue;
      if (p.op === "Dense") {
        // BatchNorm normalises axis 1, Dense's features are on the last axis: fold only when they coincide.
        ranks ??= tryShapes(m);
        const s = ranks?.get(p.outputs[0]!);
        if (!s || s.length !== 2) continue;
      }
      m = mergeInto(m, p, bn, foldInto(p, bn));
      changed = true;
      break;
    }
    if (!changed) return m;
  }
}

function tryShapes(m: Model): Map<string, number[]> | undefined {
  try {
    return inferShapes(m, concreteInputShapes(m, 1));
  } catch {
    return undefined;
  }
}

function foldInto(p: ConvNode | DenseNode, bn: BatchNormNode): ConvNode | DenseNode {
  const outC = p.weight.shape[0]!;
  const perOut = p.weight.data.length / outC;
  const w = new Float32Array(p.weight.data.length);
  const b = new Float32Array(outC);
  for (let o = 0; o < outC; o++) {
    const s = bn.scale.data[o]! / Math.sqrt(bn.variance.data[o]! + bn.epsilon);
    for (let k = o * perOut; k < (o + 1) * perOut; k++) w[k] = p.weight.data[k]! * s;
    b[o] = ((p.bias ? p.bias.data[o]! : 0) - bn.mean.data[o]!) * s + bn.bias.data[o]!;
  }
  return { ...p, weight: makeTensor(p.weight.shape, w), bias: makeTensor([outC], b) };
}

/** Rewires readers of `from` to read `to` instead. */
function renameUses(model: Model, from: string, to: string): Model {
  return {
    ...model,
    nodes: model.nodes.map((n) => (n.inputs.includes(from) ? { ...n, inputs: n.inputs.map((i) => (i === from ? to : i)) } : n)),
  };
}

/**
 * Removes Identity nodes (ONNX Identity, Dropout): readers are rewired to the Identity's input, or the producer
 * takes over the name when the Identity's output is a model output.
 */
export function removeIdentities(model: Model): Model {
  let m = model;
  for (;;) {
    const producers = producersOf(m);
    const consumers = consumersOf(m);
    const id = m.nodes.find((n) => {
      if (n.op !== "Identity") return false;
      if (!m.outputs.includes(n.outputs[0]!)) return true;
      const p = producers.get(n.inputs[0]!);
      return p !== undefined && soleConsumer(m, p, n, consumers);
    });
    if (!id) return m;
    const [inp, out] = [id.inputs[0]!, id.outputs[0]!];
    if (!m.outputs.includes(out)) {
      m = renameUses({ ...m, nodes: m.nodes.filter((n) => n !== id) }, out, inp);
    } else {
      const p = producers.get(inp)!;
      m = mergeInto(m, p, id, { ...p });
    }
  }
}

/** Whether constant `c` is one value per output channel of `p`'s output: [out] / [1, out] for Dense, [1, M, 1, 1] (or shorter) for convolutions. */
function perChannel(p: ConvNode | DenseNode, c: Tensor): boolean {
  const outC = p.weight.shape[0]!;
  if (c.data.length !== outC) return false;
  if (p.op === "Dense") return c.shape.length <= 2 && c.shape[c.shape.length - 1] === outC;
  const full = [...new Array<number>(Math.max(0, 4 - c.shape.length)).fill(1), ...c.shape];
  return full.length === 4 && full[1] === outC;
}

/**
 * Merges a constant per-channel Add that follows a Dense or a convolution into its bias
 * (ONNX MatMul + Add; tf2onnx's BiasAdd after a Conv).
 */
export function fuseBiasAdd(model: Model): Model {
  let m = model;
  for (;;) {
    const producers = producersOf(m);
    const consumers = consumersOf(m);
    let changed = false;
    for (const add of m.nodes) {
      if (add.op !== "Add") continue;
      const constIdx = add.inputs.findIndex((i) => m.constants.has(i));
      if (constIdx < 0) continue;
      const act = add.inputs[1 - constIdx]!;
      const p = producers.get(act);
      if (!p || (p.op !== "Dense" && p.op !== "Conv2D" && p.op !== "DepthwiseConv2D")) continue;
      const c = m.constants.get(add.inputs[constIdx]!)!;
      if (!perChannel(p, c)) continue;
      const probe = { ...add, inputs: [act] } as Node;
      if (!soleConsumer(m, p, probe, consumers)) continue;
      const bias = new Float32Array(c.data);
      if (p.bias) for (let i = 0; i < bias.length; i++) bias[i] = bias[i]! + p.bias.data[i]!;
      m = mergeInto(m, p, add, { ...p, bias: makeTensor([bias.length], bias) });
      changed = true;
      break;
    }
    if (!changed) return dropUnusedConstants(m);
  }
}

/** Merges a zero constant Pad of the two spatial axes of an NCHW tensor into the following Conv's pads. */
export function fusePadIntoConv(model: Model): Model {
  let m = model;
  for (;;) {
    const producers = producersOf(m);
    const consumers = consumersOf(m);
    let changed = false;
    for (const conv of m.nodes) {
      if ((conv.op !== "Conv2D" && conv.op !== "DepthwiseConv2D") || conv.autoPad !== "NOTSET") continue;
      const pad = producers.get(conv.inputs[0]!);
      if (!pad || pad.op !== "Pad" || pad.mode !== "constant" || pad.value !== 0 || pad.pads.length !== 8) continue;
      const p = pad.pads;
      if ([0, 1, 4, 5].some((i) => p[i] !== 0) || p.some((v) => v < 0)) continue;
      if ((consumers.get(pad.outputs[0]!)?.length ?? 0) !== 1 || m.outputs.includes(pad.outputs[0]!)) continue;
      const merged: ConvNode = {
        ...conv,
        inputs: [pad.inputs[0]!],
        pads: [conv.pads[0] + p[2]!, conv.pads[1] + p[3]!, conv.pads[2] + p[6]!, conv.pads[3] + p[7]!],
      };
      m = { ...m, nodes: m.nodes.filter((n) => n !== pad).map((n) => (n === conv ? merged : n)) };
      changed = true;
      break;
    }
    if (!changed) return m;
  }
}

/** Removes pairs of Transposes that undo each other (tf2onnx's NHWC<->NCHW wrappers left back to back). */
export function cancelTransposes(model: Model): Model {
  let m = model;
  for (;;) {
    const producers = producersOf(m);
    const consumers = consumersOf(m);
    let changed = false;
    for (const t2 of m.nodes) {
      if (t2.op !== "Transpose") continue;
      const t1 = producers.get(t2.inputs[0]!);
      if (!t1 || t1.op !== "Transpose" || t1.perm.length !== t2.perm.length) continue;
      if (!t2.perm.every((p, i) => t1.perm[p] === i)) continue;
      const src = t1.inputs[0]!, out = t2.outputs[0]!;
      if (m.outputs.includes(out)) continue;
      // The first Transpose stays while something else reads it.
      const t1Used = (consumers.get(t1.outputs[0]!)?.length ?? 0) > 1 || m.outputs.includes(t1.outputs[0]!);
      m = renameUses({ ...m, nodes: m.nodes.filter((n) => n !== t2 && (t1Used || n !== t1)) }, out, src);
      changed = true;
      break;
    }
    if (!changed) return m;
  }
}

const ELEMENTWISE_UNARY = new Set(["Relu", "Relu6", "Clip", "Identity", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "LeakyRelu"]);
const ELEMENTWISE_BINARY = new Set(["Add", "Sub", "Mul", "Div"]);

/**
 * Moves Transposes below element-wise ops and Concat (tf2onnx without its optimizer leaves NHWC islands:
 * Transpose, Conv, Transpose, Relu, Transpose, Conv...), so that inverse pairs meet and cancel. A node whose
 * computed inputs all come from Transposes with the same perm, each read by that node alone, runs on the
 * untransposed tensors instead (constant operands permuted to match, Concat's axis mapped) and one Transpose
 * follows it. Output names are kept.
 */
export function sinkTransposes(model: Model): Model {
  let m = model;
  let serial = 0;
  for (;;) {
    const producers = producersOf(m);
    const consumers = consumersOf(m);
    let changed = false;
    for (const n of m.nodes) {
      if (!ELEMENTWISE_UNARY.has(n.op) && !ELEMENTWISE_BINARY.has(n.op) && n.op !== "Concat") continue;
      const computed = n.inputs.filter((i) => !m.constants.has(i));
      const ts = computed.map((i) => producers.get(i));
      const first = ts[0];
      if (!first || first.op !== "Transpose") continue;
      const perm = first.perm;
      const ok = ts.every((t, k) =>
        t !== undefined && t.op === "Transpose" && t.perm.join() === perm.join() &&
        (consumers.get(computed[k]!)?.length ?? 0) === computed.filter((c) => c === computed[k]).length &&
        !m.outputs.includes(computed[k]!));
      if (!ok) continue;
      const rank = perm.length;
      const inverse = new Array<number>(rank);
      perm.forEach((p, i) => (inverse[p] = i));
      const constants = new Map(m.constants);
      const inputs = n.inputs.map((i) => {
        const c = m.constants.get(i);
        if (!c) return (producers.get(i) as Extract<Node, { op: "Transpose" }>).inputs[0]!;
        // Broadcast to full rank, then permute so that transposing it by `perm` gives it back.
        if (c.shape.length > rank) return null;
        const full = makeTensor([...new Array<number>(rank - c.shape.length).fill(1), ...c.shape], c.data);
        const name = `${i}__perm${serial++}`;
        constants.set(name, transposeTensor(full, inverse));
        return name;
      });
      if (inputs.some((i) => i === null)) continue;
      const inner = `${n.outputs[0]}__untransposed${serial++}`;
      const moved = { ...n, inputs: inputs as string[], outputs: [inner] } as Node;
      if (moved.op === "Concat") moved.axis = perm[moved.axis < 0 ? moved.axis + rank : moved.axis]!;
      const after: Node = { op: "Transpose", name: `${n.name}__transpose`, inputs: [inner], outputs: [...n.outputs], perm: [...perm] };
      const removed = new Set(ts as Node[]);
      const nodes: Node[] = [];
      for (const x of m.nodes) {
        if (removed.has(x)) continue;
        if (x === n) nodes.push(moved, after);
        else nodes.push(x);
      }
      m = dropUnusedConstants({ ...m, nodes, constants });
      changed = true;
      break;
    }
    if (!changed) return m;
  }
}

/** Removes nodes whose outputs nothing reads and that produce no model output (dangling branches of an export). */
export function removeDeadNodes(model: Model): Model {
  let m = model;
  for (;;) {
    const read = new Set([...m.nodes.flatMap((n) => n.inputs), ...m.outputs]);
    const live = m.nodes.filter((n) => n.outputs.some((o) => read.has(o)));
    if (live.length === m.nodes.length) return m;
    m = { ...m, nodes: live };
  }
}

export function dropUnusedConstants(model: Model): Model {
  const used = new Set(model.nodes.flatMap((n) => n.inputs));
  for (const o of model.outputs) used.add(o);
  const constants = new Map<string, Tensor>([...model.constants].filter(([k]) => used.has(k)));
  return { ...model, constants };
}

/** The clean-ups applied after import: dead nodes and identities out, bias Adds and Pad+Conv merged, Transposes sunk and inverse pairs cancelled. */
export function simplify(model: Model): Model {
  let m = cancelTransposes(fusePadIntoConv(removeIdentities(removeDeadNodes(model))));
  // Sinking can make new inverse pairs meet, and cancelling can free Transposes to sink further.
  for (let before = -1; m.nodes.length !== before; ) {
    before = m.nodes.length;
    m = cancelTransposes(sinkTransposes(m));
  }
  return finalizeModel(dropUnusedConstants(removeDeadNodes(fuseBiasAdd(m))));
}
