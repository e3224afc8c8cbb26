import { AxnnError } from "../util/errors.js";
import type { Model, Node } from "./graph.js";
import { evalNode } from "./ops.js";
import { checkInputShapes } from "./shapes.js";
import { checkTensor, shapeToString, sizeOf, type Tensor } from "./tensor.js";

export interface RunOptions {
  /**
   * Replaces the float kernel of a node (approximate or quantized layers): return its outputs, or undefined
   * to use the float kernel.
   */
  kernel?: (node: Node, inputs: readonly Tensor[]) => Tensor[] | undefined;
  /** Sees every computed value (calibration statistics, debugging); the tensor must not be modified. */
  onValue?: (name: string, value: Tensor, node: Node) => void;
  /** Intermediate values to return besides the outputs. */
  keep?: string[];
}

/**
 * Runs a float model on one batch: nodes in their (topological) order, each intermediate tensor
 * dropped after its last reader. Input shapes are checked against the model's declared ones first.
 */
export function runModel(model: Model, inputs: Record<string, Tensor>, opts: RunOptions = {}): Record<string, Tensor> {
  for (const [k, t] of Object.entries(inputs)) checkTensor(t, `input "${k}"`);
  checkInputShapes(model, Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, t.shape])));
  const values = new Map<string, Tensor>();
  for (const [k, t] of model.constants) values.set(k, t);
  for (const vi of model.inputs) values.set(vi.name, inputs[vi.name]!);
  const remaining = new Map<string, number>();
  for (const n of model.nodes) for (const i of n.inputs) remaining.set(i, (remaining.get(i) ?? 0) + 1);
  const keep = new Set([...model.outputs, ...model.constants.keys(), ...(opts.keep ?? [])]);
  for (const n of model.nodes) {
    const ins = n.inputs.map((i) => {
      const t = values.get(i);
      if (!t) throw new AxnnError(`node "${n.name}" reads "${i}" before it is computed (model not finalized?)`);
      return t;
    });
    const outs = opts.kernel?.(n, ins) ?? evalNode(n, ins);
    n.outputs.forEach((o, k) => {
      values.set(o, outs[k]!);
      opts.onValue?.(o, outs[k]!, n);
    });
    for (const i of n.inputs) {
      const left = remaining.get(i)! - 1;
      remaining.set(i, left);
      if (left === 0 && !keep.has(i)) values.delete(i);
    }
  }
  const result: Record<string, Tensor> = {};
  for (const o of [...model.outputs, ...(opts.keep ?? [])]) {
    const t = values.get(o);
    if (!t) throw new AxnnError(`the model has no value "${o}"`, { field: "keep" });
    result[o] = t;
  }
  return result;
}

/**
 * Runs a single-input model on a large batch `batchSize` samples at a time and concatenates the chunks of
 * one output (default the first) along the batch axis. A model whose input has a fixed batch size (PyTorch
 * exports without dynamic axes) runs in chunks of exactly that size, the last one zero-padded and its extra
 * rows dropped.
 */
export function runBatched(model: Model, input: Tensor, batchSize: number, outputName?: string, opts: RunOptions = {}): Tensor {
  return runBatchedWith(model, (inputs) => runModel(model, inputs, opts), input, batchSize, outputName);
}

/**
 * runBatched with each chunk run by `run` (the model's inputs to at least its outputs), e.g. a
 * compiled plan's runner (src/plan) in place of the reference engine.
 */
export function runBatchedWith(model: Model, run: (inputs: Record<string, Tensor>) => Record<string, Tensor>, input: Tensor, batchSize: number, outputName?: string): Tensor {
  checkTensor(input, "input");
  if (model.inputs.length !== 1) {
    throw new AxnnError(`the model has ${model.inputs.length} inputs (${model.inputs.map((i) => i.name).join(", ")}); only single-input models can be run in batches`, { field: "input" });
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new AxnnError(`expected a positive integer, got ${batchSize}`, { field: "batchSize" });
  const out = outputName ?? model.outputs[0]!;
  if (!model.outputs.includes(out)) throw new AxnnError(`the model has no output "${out}"; its outputs are ${model.outputs.join(", ")}`, { field: "output" });
  const inName = model.inputs[0]!.name;
  const declared = model.inputs[0]!.shape;
  if (input.shape.length !== declared.length || input.shape.length === 0) {
    throw new AxnnError(`input has shape ${shapeToString(input.shape)}, the model expects ${shapeToString(declared)} (batch first)`, { field: "input" });
  }
  const n = input.shape[0]!;
  if (n === 0) throw new AxnnError("the input holds no samples (batch of 0)", { field: "input" });
  const per = sizeOf(input.shape.slice(1));
  const fixedBatch = declared[0];
  const chunkSize = fixedBatch ?? batchSize;
  const chunks: Tensor[] = [];
  for (let start = 0; start < n; start += chunkSize) {
    const count = Math.min(chunkSize, n - start);
    let data = input.data.subarray(start * per, (start + count) * per);
    if (fixedBatch !== null && fixedBatch !== undefined && count < fixedBatch) {
      const padded = new Float32Array(fixedBatch * per);
      padded.set(data);
      data = padded;
    }
    const rows = data.length / per;
    const y = run({ [inName]: { shape: [rows, ...input.shape.slice(1)], data } })[out]!;
    if (y.shape[0] !== rows) throw new AxnnError(`output "${out}" has shape ${shapeToString(y.shape)}; its first axis is not the batch`, { field: "output" });
    const rowSize = sizeOf(y.shape.slice(1));
    chunks.push({ shape: [count, ...y.shape.slice(1)], data: y.data.subarray(0, count * rowSize) });
  }
  const rest = chunks[0]!.shape.slice(1);
  const data = new Float32Array(n * sizeOf(rest));
  let pos = 0;
  for (const c of chunks) {
    data.set(c.data, pos);
    pos += c.data.length;
  }
  return { shape: [n, ...rest], data };
}
