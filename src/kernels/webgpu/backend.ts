// The WebGPU backend: convolutions (table, exact int8/uint8, float32; any stride, padding,
// dilation and groups, so depthwise too), dense layers, training's float32 GEMM and the
// convolution / dense backward passes on a GPU through Dawn (npm `webgpu`), the other kernels on
// the CPU backend. WebGPU is asynchronous; the kernel interface is not, so
// the GPU lives in a worker thread (worker.ts) and each call waits for it on shared memory
// (Atomics.wait): one round trip per layer. Weights and tables are uploaded once and reused while
// their contents are unchanged (compared with the copy sent, so an array changed in place is
// uploaded again, never silently stale).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { AxnnError } from "../../util/errors.js";
import type { Backend, DequantizeChannels, DequantizeDims, GemmDims, LutTable } from "../backend.js";
import { geometryArray, type ConvGeometry } from "../geometry.js";
import { CONTROL_BYTES, errorOf, GRAPH_NONE, type GraphRef, type GraphRequest, type GraphStep, type KernelRequest, type Operand, type ProbeAnswer, type Request } from "./protocol.js";
import { DEQUANTIZE_PARAM_COUNT, encodeChannels } from "./dequantize.js";
import { PARAM_COUNT, type ConvKind } from "./shaders.js";
import { GEMM_PARAM_COUNT } from "./training-shaders.js";

/** The GPU an adapter reports (SwiftShader for the software driver). */
export interface WebGpuInfo {
  vendor: string;
  architecture: string;
  description: string;
  maxStorageBufferBindingSize: number;
  /** A software implementation on the CPU (SwiftShader): correct, but slower than the CPU kernels. */
  isFallbackAdapter: boolean;
}

// A kernel call that takes longer than this is taken for a hung driver.
const CALL_TIMEOUT_MS = 600_000;
const START_TIMEOUT_MS = 60_000;

interface Uploaded { id: number; copy: Uint8Array }

/**
 * A buffer the GPU keeps across requests and that steps may update in place (training's
 * parameters, optimizer slots, BatchNorm statistics): uploaded with the next request after
 * GpuConnection.createState or .write, read back with .read. Never compared with a CPU copy: the GPU's
 * contents are the truth until read back.
 */
export class GpuState {
  /** Data to upload with the next request that uses it. */
  pending: Uint8Array | undefined;
  constructor(readonly id: number, readonly bytes: number) {}
}

export class GpuConnection {
  private readonly state: Int32Array;
  private nextId = 1;
  private readonly uploaded = new WeakMap<object, Uploaded>();
  private readonly freed = new FinalizationRegistry<number>((id) => this.worker.postMessage({ op: "free", id } satisfies Request));

  constructor(private readonly worker: Worker, private readonly control: SharedArrayBuffer, readonly info: WebGpuInfo) {
    this.state = new Int32Array(control, 0, 2);
  }

  private operand(array: Uint8Array | Int32Array | Float32Array | Uint32Array): Operand {
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    const known = this.uploaded.get(array);
    if (known && known.copy.length === bytes.length && Buffer.compare(known.copy, bytes) === 0) return { id: known.id };
    const id = known?.id ?? this.nextId++;
    if (!known) this.freed.register(array, id);
    this.uploaded.set(array, { id, copy: bytes.slice() });
    return { id, data: bytes };
  }

  conv(kind: ConvKind, input: Uint8Array | Float32Array, weights: Uint8Array | Float32Array, g: ConvGeometry, pad: number, table: LutTable | null, out: Int32Array | Float32Array): void {
    const total = g.N * g.M * g.P * g.Q;
    const bytes = Math.max(input.byteLength, weights.byteLength, total * 4);
    if (bytes > this.info.maxStorageBufferBindingSize) {
      throw new AxnnError(`a ${bytes}-byte operand exceeds this GPU's storage buffer limit of ${this.info.maxStorageBufferBindingSize} bytes; use a smaller batch`, { field: "webgpu" });
    }
    const params = new Uint32Array(PARAM_COUNT);
    params.set(geometryArray(g));
    params[18] = kind === "float" ? new Uint32Array(Float32Array.of(pad).buffer)[0]! : pad;
    params[19] = table?.weightBits ?? 0;
    params[20] = total;
    const result = this.call({
      op: "run", kernel: kind, params, widthAt: 21, total, input: input.slice(),
      second: this.operand(weights), third: table ? this.operand(table.table) : undefined, result: new SharedArrayBuffer(Math.max(4, total * 4)),
    });
    out.set(kind === "float" ? new Float32Array(result, 0, total) : new Int32Array(result, 0, total));
  }

  /** dequantizeAccReference on the GPU (dequantize.ts); false, having done nothing, where the channels' terms are outside what the shader emulates exactly. */
  dequantize(acc: Int32Array, dims: DequantizeDims, channels: DequantizeChannels, sums: Int32Array | null, clampMax: number, out: Float32Array): boolean {
    const encoded = encodeChannels(channels, sums !== null);
    if (!encoded) return false;
    const total = acc.length;
    if (total * 4 > this.info.maxStorageBufferBindingSize) return false;
    const params = new Uint32Array(DEQUANTIZE_PARAM_COUNT);
    params.set([total, dims.channels, dims.inner, dims.groups, sums ? 1 : 0, clampMax < 0 ? 0xffffffff : new Uint32Array(Float32Array.of(clampMax).buffer)[0]!]);
    const result = this.call({
      op: "run", kernel: "dequantize", params, widthAt: 6, total, input: acc.slice(),
      second: { data: sums ? sums.slice() : new Int32Array(1) }, third: { data: encoded }, result: new SharedArrayBuffer(Math.max(4, total * 4)),
    });
    out.set(new Float32Array(result, 0, total));
    return true;
  }

  /** gemmFloatReference's product on the GPU (float32 sums), into out (added to it with accumulate). */
  gemm(a: Float32Array, b: Float32Array, { m, n, k }: GemmDims, transA: boolean, transB: boolean, accumulate: boolean, out: Float32Array): void {
    const total = m * n;
    const params = new Uint32Array(GEMM_PARAM_COUNT);
    params.set([m, n, k, transA ? 1 : 0, transB ? 1 : 0, accumulate ? 1 : 0, total]);
    const [r] = this.graph([{ once: a }, { once: b }, { once: accumulate ? out : new Float32Array(1) }], [total * 4], [
      { kernel: "gemm", params, widthAt: 7, total, inputs: [0, 1, 2], out: -1 },
    ], [{ ref: -1, words: total }]);
    out.set(new Float32Array(r!.buffer, r!.byteOffset, total));
  }

  /** conv2dBackwardFloatReference's gradients on the GPU (float32 sums), the wanted ones in one submission. */
  convBackward(input: Float32Array, weights: Float32Array, dy: Float32Array, g: ConvGeometry, dInput: Float32Array | null, dWeights: Float32Array | null, dBias: Float32Array | null): void {
    const wanted = ([["conv-backward-input", dInput, [2, 1]], ["conv-backward-weights", dWeights, [0, 2]], ["conv-backward-bias", dBias, [2, GRAPH_NONE]]] as const)
      .filter(([, out]) => out !== null) as [GraphStep["kernel"], Float32Array, readonly [number, number]][];
    if (wanted.length === 0) return;
    const steps: GraphStep[] = wanted.map(([kernel, out, [a, b]], i) => {
      const params = new Uint32Array(PARAM_COUNT);
      params.set(geometryArray(g));
      params[20] = out.length;
      return { kernel, params, widthAt: 21, total: out.length, inputs: [a, b, GRAPH_NONE], out: -1 - i };
    });
    const results = this.graph([{ once: input }, { once: weights }, { once: dy }], wanted.map(([, out]) => out.length * 4), steps, wanted.map(([, out], i) => ({ ref: -1 - i, words: out.length })));
    wanted.forEach(([, out], i) => out.set(new Float32Array(results[i]!.buffer, results[i]!.byteOffset, out.length)));
  }

  /** A GPU-resident buffer holding `data` (sent with the next request that uses it). */
  createState(data: ArrayBufferView): GpuState {
    const s = new GpuState(this.nextId++, data.byteLength);
    this.freed.register(s, s.id);
    this.write(s, data);
    return s;
  }

  /** Replaces a state buffer's contents (sent with the next request that uses it). */
  write(s: GpuState, data: ArrayBufferView): void {
    if (data.byteLength !== s.bytes) throw new AxnnError(`internal: ${data.byteLength} bytes for a ${s.bytes}-byte GPU buffer`, { field: "webgpu" });
    s.pending = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  }

  /** The 32-bit words of state buffers, read back in one request. */
  read(states: readonly GpuState[]): Uint32Array[] {
    return this.graph(states, [], [], states.map((s, i) => ({ ref: i, words: s.bytes / 4 })));
  }

  /**
   * Runs a graph of dispatches in one submission (protocol.ts GraphRequest) and returns the
   * 32-bit words of each output (outputs[i].words of buffer outputs[i].ref). Operands given as
   * arrays are uploaded on first use and then reused while their contents are unchanged
   * (weights, tables, per-layer constants); those given as { once } go with this request only.
   */
  graph(operands: readonly (Uint8Array | Int32Array | Float32Array | Uint32Array | { once: ArrayBufferView } | GpuState)[], scratch: readonly number[], steps: GraphStep[], outputs: { ref: GraphRef; words: number }[]): Uint32Array[] {
    const limit = this.info.maxStorageBufferBindingSize;
    const largest = Math.max(0, ...scratch, ...operands.map((o) => (o instanceof GpuState ? o.bytes : ("once" in o ? o.once : o).byteLength)));
    if (largest > limit) throw new AxnnError(`a ${largest}-byte buffer exceeds this GPU's storage buffer limit of ${limit} bytes; use a smaller batch`, { field: "webgpu" });
    const words = outputs.reduce((n, o) => n + o.words, 0);
    const result = this.call({
      op: "graph", operands: operands.map((o) => (o instanceof GpuState ? this.stateOperand(o) : "once" in o ? { data: o.once } : this.operand(o))), scratch: [...scratch], steps, outputs,
      result: new SharedArrayBuffer(Math.max(4, words * 4)),
    });
    let at = 0;
    return outputs.map((o) => new Uint32Array(result, (at += o.words * 4) - o.words * 4, o.words));
  }

  private stateOperand(s: GpuState): Operand {
    const data = s.pending;
    s.pending = undefined;
    return data ? { id: s.id, data } : { id: s.id };
  }

  /** Posts a request and waits for the worker's answer; the result buffer. */
  private call(request: KernelRequest | GraphRequest): SharedArrayBuffer {
    Atomics.store(this.state, 0, 0);
    this.worker.postMessage(request);
    if (Atomics.wait(this.state, 0, 0, CALL_TIMEOUT_MS) === "timed-out") throw new AxnnError(`the GPU did not finish a kernel within ${CALL_TIMEOUT_MS / 1000} s`, { field: "webgpu" });
    if (Atomics.load(this.state, 0) === 2) throw new AxnnError(`GPU kernel failed: ${errorOf(this.control)}`, { field: "webgpu" });
    return request.result;
  }
}

let started: { connection: GpuConnection | null; why: string } | undefined;

/**
 * Asks a child process (probe.ts) whether Dawn finds an adapter, so that the warnings Dawn and the
 * Vulkan loader print on stderr when there is no driver stay out of this process's output: the
 * reason without an adapter, with those warnings in one line, or "" when there is one.
 */
function probeAdapter(): string {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL("./probe.js", import.meta.url))], { encoding: "utf8", timeout: START_TIMEOUT_MS, env: process.env });
  const warnings = [...new Set((r.stderr ?? "").split("\n").map((l) => l.trim().replace(/^Warning:\s*/, "")).filter((l) => l && !l.startsWith("at ")))];
  const said = warnings.length > 0 ? ` [driver messages: ${warnings.join("; ").slice(0, 300)}]` : "";
  if (r.error) return `the WebGPU probe did not run (${r.error.message})${said}`;
  const line = (r.stdout ?? "").trim().split("\n").pop() ?? "";
  let answer: ProbeAnswer;
  try {
    answer = JSON.parse(line) as ProbeAnswer;
  } catch {
    return `the WebGPU probe ${r.signal ? `was killed by ${r.signal}` : `exited with code ${r.status}`} without an answer${said}`;
  }
  return answer.why && answer.why + said;
}

/**
 * Starts the GPU worker once per process and waits for its adapter: the connection, or null and
 * why there is none (no driver, no adapter, the package missing).
 */
export function webGpu(): { connection: GpuConnection | null; why: string } {
  if (started) return started;
  const why = probeAdapter();
  if (why) return (started = { connection: null, why });
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const info = new Uint8Array(new SharedArrayBuffer(1024));
  const state = new Int32Array(control, 0, 2);
  let worker: Worker;
  try {
    // No execArgv: flags of the parent (--input-type, -e, test runners' options) do not apply to the worker.
    worker = new Worker(new URL("./worker.js", import.meta.url), { workerData: { control, info }, execArgv: [] });
  } catch (e) {
    return (started = { connection: null, why: `the WebGPU worker cannot start (${(e as Error).message})` });
  }
  // The worker must not keep the process alive; it holds the GPU objects until the process ends.
  worker.unref();
  if (Atomics.wait(state, 0, 0, START_TIMEOUT_MS) === "timed-out") {
    void worker.terminate();
    return (started = { connection: null, why: `no answer from the WebGPU adapter within ${START_TIMEOUT_MS / 1000} s` });
  }
  if (Atomics.load(state, 0) === 2) {
    const why = errorOf(control);
    void worker.terminate();
    return (started = { connection: null, why });
  }
  const text = new TextDecoder().decode(info.slice(0, info.indexOf(0) < 0 ? info.length : info.indexOf(0)));
  return (started = { connection: new GpuConnection(worker, control, JSON.parse(text) as WebGpuInfo), why: "" });
}

/** The WebGPU backend over the given CPU backend (which runs every kernel not on the GPU); null without an adapter. */
export function createWebGpuBackend(cpu: Backend): Backend | null {
  const { connection: gpu } = webGpu();
  if (!gpu) return null;
  const dense = (B: number, K: number, M: number): ConvGeometry => ({ N: B, C: K, H: 1, W: 1, M, R: 1, S: 1, groups: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, P: 1, Q: 1 });
  return {
    ...cpu,
    name: "webgpu",
    convLut: (input, weights, g, lut, padCode, out) => gpu.conv("lut", input, weights, g, padCode, lut, out),
    convExact: (input, weights, g, padCode, signed, out) => gpu.conv(signed ? "exact-signed" : "exact-unsigned", input, weights, g, padCode, null, out),
    convFloat: (input, weights, g, padValue, out) => gpu.conv("float", input, weights, g, padValue, null, out),
    convFloatGemm: (input, weights, g, out) => gpu.conv("float", input, weights, g, 0, null, out),
    denseLut: (input, weights, { B, K, M }, lut, out) => gpu.conv("lut", input, weights, dense(B, K, M), 0, lut, out),
    denseExact: (input, weights, { B, K, M }, signed, out) => gpu.conv(signed ? "exact-signed" : "exact-unsigned", input, weights, dense(B, K, M), 0, null, out),
    denseFloat: (input, weights, { B, K, M }, out) => gpu.conv("float", input, weights, dense(B, K, M), 0, null, out),
    gemmFloat: (a, b, dims, transA, transB, accumulate, out) => gpu.gemm(a, b, dims, transA, transB, accumulate, out),
    conv2dBackwardFloat: (input, weights, dy, g, dInput, dWeights, dBias) => gpu.convBackward(input, weights, dy, g, dInput, dWeights, dBias),
    denseBackwardFloat: (input, weights, dy, { B, K, M }, dInput, dWeights, dBias) => gpu.convBackward(input, weights, dy, dense(B, K, M), dInput, dWeights, dBias),
  };
}

/**
 * dequantizeAccReference (its argument order) computed on the GPU, bit for bit: true when done,
 * false where there is no adapter or the channels' terms are outside what the shader emulates
 * exactly (dequantize.ts). Not the backend's dequantizeAcc yet: on its own it would add a round
 * trip per layer; it is the step a GPU-resident network run builds on (docs/gpu.md).
 */
export function webGpuDequantize(acc: Int32Array, dims: DequantizeDims, channels: DequantizeChannels, sums: Int32Array | null, clampMax: number, out: Float32Array): boolean {
  const gpu = webGpu().connection;
  return gpu !== null && gpu.dequantize(acc, dims, channels, sums, clampMax, out);
}

/** The adapter's description, or null and why there is no adapter (starts the worker if needed). */
export function webGpuAdapter(): { info: WebGpuInfo | null; why: string } {
  const s = webGpu();
  return { info: s.connection?.info ?? null, why: s.why };
}
