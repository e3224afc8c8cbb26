// The messages between the WebGPU backend (main thread) and its worker, and the shared control
// block through which the worker says that a request is done: control[0] goes from 0 (pending)
// to 1 (done) or 2 (failed, the message as UTF-8 from byte 16, its length in control[1]).
import type { ConvKind } from "./shaders.js";
import type { NetworkKernel } from "./network-shaders.js";
import type { TrainingKernel, TrainingStepKernel } from "./training-shaders.js";

export interface WorkerData {
  control: SharedArrayBuffer;
  /** The adapter's description as JSON, written once at start. */
  info: Uint8Array;
}

/**
 * A read-only operand: weights and tables are uploaded once and then named by id (data only when
 * (re)uploaded); an operand without id is uploaded for this request only.
 */
export interface Operand { id?: number; data?: ArrayBufferView }

/** The shaders the worker compiles: the convolutions, the dequantization, the network's steps, training's kernels. */
export type KernelName = ConvKind | "dequantize" | NetworkKernel | TrainingKernel | TrainingStepKernel;

/**
 * One dispatch of `kernel`: params (binding 0), input (1), two more read-only operands (2, 3), and
 * `total` 32-bit results (binding 4) copied into `result`. params[widthAt] receives the dispatch
 * width (invocations per row of the 2-D grid).
 */
export interface KernelRequest {
  op: "run";
  kernel: KernelName;
  params: Uint32Array;
  widthAt: number;
  total: number;
  input: ArrayBufferView;
  second: Operand;
  third?: Operand;
  result: SharedArrayBuffer;
}

/**
 * A buffer of a graph request: operands[i] for i >= 0, the intermediate buffer scratch[-1 - i]
 * for i < 0 (GRAPH_NONE: a placeholder for a binding the shader does not read).
 */
export type GraphRef = number;
export const GRAPH_NONE = 0x7fffffff;

/**
 * One dispatch of a graph: `kernel` over `total` invocations, its read-only inputs (bindings 1-3,
 * then 5 and 6) and its output (binding 4, which the shader may also read: in-place updates).
 */
export interface GraphStep {
  kernel: KernelName;
  params: Uint32Array;
  widthAt: number;
  total: number;
  inputs: GraphRef[];
  out: GraphRef;
}

/** The read-only inputs a shader can bind: bindings 1, 2, 3, 5, 6 (4 is the output). */
export const MAX_STEP_INPUTS = 5;

/**
 * A whole network in one submission: operands (cached weights, tables and constants, state that
 * steps update in place such as training's parameters, or this request's input), intermediate
 * buffers that live on the GPU only (their byte sizes), the dispatches in order, and the buffers
 * read back (the first `words` 32-bit words of each, one after the other in `result`): usually
 * just the output.
 */
export interface GraphRequest {
  op: "graph";
  operands: Operand[];
  scratch: number[];
  steps: GraphStep[];
  outputs: { ref: GraphRef; words: number }[];
  result: SharedArrayBuffer;
}

export type Request = KernelRequest | GraphRequest | { op: "free"; id: number };

export const CONTROL_BYTES = 4096;

/** What the adapter probe (probe.ts, a child process) prints: why there is no adapter, "" when there is one. */
export interface ProbeAnswer { why: string }

export function signalDone(control: SharedArrayBuffer, error: string): void {
  const state = new Int32Array(control, 0, 2);
  if (error) {
    const bytes = new TextEncoder().encode(error).slice(0, CONTROL_BYTES - 16);
    new Uint8Array(control, 16).set(bytes);
    state[1] = bytes.length;
  }
  Atomics.store(state, 0, error ? 2 : 1);
  Atomics.notify(state, 0);
}

/** The failure message of a request whose control[0] is 2. */
export function errorOf(control: SharedArrayBuffer): string {
  const state = new Int32Array(control, 0, 2);
  return new TextDecoder().decode(new Uint8Array(control, 16, state[1]!).slice());
}
