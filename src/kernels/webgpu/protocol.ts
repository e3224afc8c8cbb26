// The messages between the WebGPU backend (main thread) and its worker, and the shared control
// block through which the worker says that a request is done: control[0] goes from 0 (pending)
// to 1 (done) or 2 (failed, the message as UTF-8 from byte 16, its length in control[1]).
import type { ConvKind } from "./shaders.js";

export interface WorkerData {
  control: SharedArrayBuffer;
  /** The adapter's description as JSON, written once at start. */
  info: Uint8Array;
}

/** A read-only operand (weights, table) uploaded once and then named by id; data only when (re)uploaded. */
export interface Operand { id: number; data?: ArrayBufferView }

export interface ConvRequest {
  op: "conv";
  kind: ConvKind;
  params: Uint32Array;
  input: ArrayBufferView;
  weights: Operand;
  table?: Operand;
  /** Where the worker writes the total * 4 result bytes. */
  result: SharedArrayBuffer;
}

export type Request = ConvRequest | { op: "free"; id: number };

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
