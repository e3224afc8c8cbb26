// Forward pass over the graph that records what the backward pass needs, and the reverse pass
// that accumulates the gradient of every trainable parameter.
import type { Model, Node } from "../nn/graph.js";
import { checkInputShapes } from "../nn/shapes.js";
import type { Tensor } from "../nn/tensor.js";
import { AxnnError } from "../util/errors.js";
import { backwardNode, forwardNode, type Saved } from "./backward.js";
import { qatForward, type QatLayer } from "./qat.js";
import { isApproximable } from "../nn/graph.js";
import { addFloat } from "../kernels/index.js";
import type { Param } from "./params.js";

/**
 * The value whose softmax cross-entropy is the loss: the model's first output, or, when that
 * output is a Softmax over the last axis, the Softmax's input (the logits: training on
 * log-softmax of the logits is the numerically stable form).
 */
export function logitsValue(model: Model): { value: string; skip: Node | null } {
  const out = model.outputs[0];
  if (out === undefined) throw new AxnnError("the model has no output", { field: `model "${model.name}"` });
  const producer = model.nodes.find((n) => n.outputs.includes(out));
  if (producer?.op === "Softmax") {
    const readers = model.nodes.filter((n) => n.inputs.includes(producer.inputs[0]!));
    if (readers.length === 1) return { value: producer.inputs[0]!, skip: producer };
  }
  return { value: out, skip: null };
}

export interface TapeOptions {
  training: boolean;
  /** BatchNorm momentum; default 0.1. */
  bnMomentum?: number;
  /** Dropout rates of Identity nodes by node name (ModelBuilder's dropout() is an Identity). */
  dropout?: Record<string, number>;
  /** Uniform [0, 1) generator for dropout; required when dropout is active. */
  random?: () => number;
  /** Stop at this value (not running the nodes after it that it does not need). */
  target?: string;
  /** Quantization-aware training: these approximable layers (by name) run in integer arithmetic, backward by STE (src/train/qat.ts). */
  qat?: Map<string, QatLayer>;
  /** BatchNorm normalises with its running statistics and leaves them unchanged, even when training (frozen, as late in QAT). */
  frozenBatchNorm?: boolean;
}

export interface Tape {
  model: Model;
  values: Map<string, Tensor>;
  records: { node: Node; saved: Saved }[];
}

/** Runs the model keeping every value and each node's backward record. */
export function forwardTape(model: Model, inputs: Record<string, Tensor>, opts: TapeOptions): Tape {
  checkInputShapes(model, Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, t.shape])));
  const values = new Map<string, Tensor>();
  for (const [k, t] of model.constants) values.set(k, t);
  for (const vi of model.inputs) values.set(vi.name, inputs[vi.name]!);
  const records: Tape["records"] = [];
  const random = opts.random ?? (() => {
    throw new AxnnError("dropout needs a random generator", { field: "training" });
  });
  for (const node of model.nodes) {
    if (opts.target !== undefined && values.has(opts.target)) break;
    const ins = node.inputs.map((i) => values.get(i)!);
    const qat = opts.qat?.get(node.name);
    const { out, saved } = qat && isApproximable(node) ? qatForward(node, ins[0]!, qat) : forwardNode(node, ins, {
      training: opts.training && !(opts.frozenBatchNorm && node.op === "BatchNorm"),
      bnMomentum: opts.bnMomentum ?? 0.1,
      dropoutRate: opts.dropout?.[node.name] ?? 0,
      random,
    });
    values.set(node.outputs[0]!, out);
    records.push({ node, saved });
  }
  return { model, values, records };
}

/**
 * Reverse pass: given d(loss)/d(value) for some values, accumulates (adds) the gradient of
 * every parameter into `params` (matched by name). With `inputGradients`, also returns the
 * gradients of the graph inputs (otherwise they are not computed: the first layer's dx is costly).
 */
export function backwardTape(tape: Tape, seeds: Map<string, Float32Array>, params: Param[], opts: { inputGradients?: boolean } = {}): Map<string, Float32Array> {
  const byName = new Map(params.map((p) => [p.name, p]));
  const grads = new Map<string, Float32Array>(seeds);
  // Only values that depend on a parameter or a graph input carry gradients; constants do not.
  const constants = tape.model.constants;
  const noGradient = new Set<string>(constants.keys());
  if (!opts.inputGradients) for (const vi of tape.model.inputs) noGradient.add(vi.name);
  const addGrad = (value: string, g: Float32Array): void => {
    const have = grads.get(value);
    if (!have) {
      grads.set(value, g);
      return;
    }
    // The first gradient may be shared with another value (pass-through ops): sum into a copy.
    grads.set(value, addFloat(have, g));
  };
  const accumulate = (name: string, g: Float32Array | undefined): void => {
    if (!g) return;
    const p = byName.get(name);
    if (!p) return;
    for (let i = 0; i < g.length; i++) p.grad[i]! += g[i]!;
  };
  for (let r = tape.records.length - 1; r >= 0; r--) {
    const { node, saved } = tape.records[r]!;
    const dy = grads.get(node.outputs[0]!);
    if (!dy) continue;
    const ins = node.inputs.map((i) => tape.values.get(i)!);
    const need = node.inputs.map((i) => !noGradient.has(i));
    const g = backwardNode(node, ins, tape.values.get(node.outputs[0]!)!, saved, dy, need);
    g.inputs.forEach((gi, k) => {
      if (gi && need[k]) addGrad(node.inputs[k]!, gi);
    });
    accumulate(`${node.name}.weight`, g.weight);
    accumulate(`${node.name}.bias`, g.bias);
    accumulate(`${node.name}.scale`, g.scale);
  }
  const inputGrads = new Map<string, Float32Array>();
  for (const vi of tape.model.inputs) {
    const g = grads.get(vi.name);
    if (g) inputGrads.set(vi.name, g);
  }
  return inputGrads;
}

export function zeroGrads(params: Param[]): void {
  for (const p of params) p.grad.fill(0);
}
