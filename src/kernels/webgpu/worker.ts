// The WebGPU worker thread: owns Dawn's GPU object, adapter and device (kept referenced for the
// process's lifetime: Dawn crashes intermittently when they are garbage-collected), the compiled
// pipelines and the uploaded weights and tables, and runs the kernels the main thread asks for
// (webgpu/backend.ts), answering through shared memory so that the main thread can wait
// synchronously. Protocol: protocol.ts.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { parentPort, workerData } from "node:worker_threads";
import { CONV_KINDS, shaderSource } from "./shaders.js";
import { dequantizeShader } from "./dequantize.js";
import { NETWORK_SHADERS } from "./network-shaders.js";
import { TRAINING_SHADERS, TRAINING_STEP_SHADERS } from "./training-shaders.js";
import { GRAPH_NONE, MAX_STEP_INPUTS, signalDone, type GraphRef, type GraphRequest, type KernelName, type KernelRequest, type Operand, type Request, type WorkerData } from "./protocol.js";

const data = workerData as WorkerData;
const keep: any[] = [];
let device: any;
const pipelines = new Map<KernelName, any>();
// Uploaded read-only operands by the main thread's id.
const cached = new Map<number, any>();
let usage: any;
let bindLayout: any;

async function init(): Promise<string> {
  let webgpu: any;
  try {
    webgpu = await import("webgpu");
  } catch (e) {
    return `the webgpu package cannot be loaded (${(e as Error).message.split("\n")[0]})`;
  }
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]);
  keep.push(gpu);
  const adapter = await gpu.requestAdapter();
  if (!adapter) return "no WebGPU adapter (no Vulkan, Metal or D3D12 driver that Dawn can use)";
  keep.push(adapter);
  const limits = adapter.limits;
  device = await adapter.requestDevice({
    // 7 storage buffers per shader: params, five inputs, the output (protocol.ts GraphStep).
    requiredLimits: { maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize, maxBufferSize: limits.maxBufferSize, maxStorageBuffersPerShaderStage: Math.min(limits.maxStorageBuffersPerShaderStage, 8) },
  });
  if (!device) return "the WebGPU adapter gave no device";
  keep.push(device);
  (globalThis as any).__axnnWebGpu = keep;
  usage = (globalThis as any).GPUBufferUsage;
  // An explicit layout: "auto" would drop the table binding of the shaders that do not read it.
  const stage = (globalThis as any).GPUShaderStage.COMPUTE;
  const entry = (binding: number, type: string) => ({ binding, visibility: stage, buffer: { type } });
  bindLayout = device.createBindGroupLayout({ entries: [0, 1, 2, 3, 5, 6].map((b) => entry(b, "read-only-storage")).concat(entry(4, "storage")) });
  const layout = device.createPipelineLayout({ bindGroupLayouts: [bindLayout] });
  device.pushErrorScope("validation");
  const sources: [KernelName, string][] = [...CONV_KINDS.map((kind): [KernelName, string] => [kind, shaderSource(kind)]), ["dequantize", dequantizeShader], ...NETWORK_SHADERS, ...TRAINING_SHADERS, ...TRAINING_STEP_SHADERS];
  for (const [name, code] of sources) {
    const module = device.createShaderModule({ code });
    pipelines.set(name, device.createComputePipeline({ layout, compute: { module, entryPoint: "main" } }));
  }
  const invalid = await device.popErrorScope();
  if (invalid) return `the WebGPU shaders do not compile here: ${invalid.message}`;
  const info = adapter.info ?? {};
  data.info.set(new TextEncoder().encode(JSON.stringify({
    vendor: info.vendor ?? "", architecture: info.architecture ?? "", description: info.description ?? "", isFallbackAdapter: info.isFallbackAdapter === true,
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize, maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
  })).slice(0, data.info.length));
  return "";
}

function storage(bytes: ArrayBufferView): any {
  const size = Math.max(4, Math.ceil(bytes.byteLength / 4) * 4);
  // COPY_SRC: a cached operand that steps update in place (training state) is read back.
  const buffer = device.createBuffer({ size, usage: usage.STORAGE | usage.COPY_DST | usage.COPY_SRC, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  buffer.unmap();
  return buffer;
}

// A cached operand's buffer (uploaded again when data comes with it), or a buffer for this request only (pushed to temps).
function operand(o: Operand, temps: any[]): any {
  if (o.id === undefined) {
    const b = storage(o.data ?? new Uint32Array(1));
    temps.push(b);
    return b;
  }
  if (o.data) {
    cached.get(o.id)?.destroy();
    cached.set(o.id, storage(o.data));
  }
  const b = cached.get(o.id);
  if (!b) throw new Error(`operand ${o.id} was never uploaded`);
  return b;
}

async function run(req: KernelRequest): Promise<void> {
  const total = req.total;
  const groupsNeeded = Math.ceil(total / 64);
  const width = Math.min(groupsNeeded, 32768);
  const params = Uint32Array.from(req.params);
  params[req.widthAt] = width * 64;
  const outBytes = Math.max(4, total * 4);
  const temps: any[] = [];
  const paramBuf = storage(params);
  const inputBuf = storage(req.input);
  temps.push(paramBuf, inputBuf);
  const secondBuf = operand(req.second, temps);
  const thirdBuf = operand(req.third ?? {}, temps);
  const dummy = storage(new Uint32Array(1));
  temps.push(dummy);
  const outBuf = device.createBuffer({ size: outBytes, usage: usage.STORAGE | usage.COPY_SRC });
  const readBuf = device.createBuffer({ size: outBytes, usage: usage.MAP_READ | usage.COPY_DST });
  temps.push(outBuf, readBuf);
  const pipeline = pipelines.get(req.kernel)!;
  // Validation and out-of-memory errors are reported, never a silently unwritten result.
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  const bind = device.createBindGroup({
    layout: bindLayout,
    entries: [paramBuf, inputBuf, secondBuf, thirdBuf, outBuf, dummy, dummy].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(width, Math.ceil(groupsNeeded / width));
  pass.end();
  encoder.copyBufferToBuffer(outBuf, 0, readBuf, 0, outBytes);
  device.queue.submit([encoder.finish()]);
  const invalid = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (invalid || oom) {
    for (const b of temps) b.destroy();
    throw new Error((invalid ?? oom).message);
  }
  await readBuf.mapAsync((globalThis as any).GPUMapMode.READ);
  new Uint8Array(req.result).set(new Uint8Array(readBuf.getMappedRange(), 0, total * 4));
  readBuf.unmap();
  for (const b of temps) b.destroy();
}

// A graph: every step in one command buffer (dispatches in separate passes, so each sees the
// previous ones' writes), the intermediate values on the GPU only, one readback at the end.
async function runGraph(req: GraphRequest): Promise<void> {
  const temps: any[] = [];
  try {
    const operands = req.operands.map((o) => operand(o, temps));
    const scratch = req.scratch.map((bytes) => {
      const b = device.createBuffer({ size: Math.max(4, Math.ceil(bytes / 4) * 4), usage: usage.STORAGE | usage.COPY_SRC });
      temps.push(b);
      return b;
    });
    const dummy = storage(new Uint32Array(1));
    temps.push(dummy);
    const buffer = (ref: GraphRef): any => {
      if (ref === GRAPH_NONE) return dummy;
      const b = ref >= 0 ? operands[ref] : scratch[-1 - ref];
      if (!b) throw new Error(`graph buffer ${ref} does not exist`);
      return b;
    };
    for (const step of req.steps) {
      if (step.inputs.length > MAX_STEP_INPUTS) throw new Error(`a ${step.kernel} step with ${step.inputs.length} inputs (at most ${MAX_STEP_INPUTS})`);
      [...step.inputs, step.out].forEach(buffer);
    }
    req.outputs.forEach((o) => buffer(o.ref));
    const outBytes = Math.max(4, req.outputs.reduce((n, o) => n + o.words * 4, 0));
    const readBuf = device.createBuffer({ size: outBytes, usage: usage.MAP_READ | usage.COPY_DST });
    temps.push(readBuf);
    device.pushErrorScope("out-of-memory");
    device.pushErrorScope("validation");
    const encoder = device.createCommandEncoder();
    for (const step of req.steps) {
      const groupsNeeded = Math.max(1, Math.ceil(step.total / 64));
      const width = Math.min(groupsNeeded, 32768);
      const params = Uint32Array.from(step.params);
      params[step.widthAt] = width * 64;
      const paramBuf = storage(params);
      temps.push(paramBuf);
      const ins = Array.from({ length: MAX_STEP_INPUTS }, (_v, i) => buffer(step.inputs[i] ?? GRAPH_NONE));
      const bind = device.createBindGroup({
        layout: bindLayout,
        entries: [paramBuf, ins[0], ins[1], ins[2], buffer(step.out), ins[3], ins[4]].map((b, binding) => ({ binding, resource: { buffer: b } })),
      });
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipelines.get(step.kernel)!);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(width, Math.ceil(groupsNeeded / width));
      pass.end();
    }
    let at = 0;
    for (const o of req.outputs) {
      if (o.words > 0) encoder.copyBufferToBuffer(buffer(o.ref), 0, readBuf, at, o.words * 4);
      at += o.words * 4;
    }
    device.queue.submit([encoder.finish()]);
    const invalid = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (invalid || oom) throw new Error((invalid ?? oom).message);
    await readBuf.mapAsync((globalThis as any).GPUMapMode.READ);
    new Uint8Array(req.result).set(new Uint8Array(readBuf.getMappedRange(), 0, at));
    readBuf.unmap();
  } finally {
    for (const b of temps) b.destroy();
  }
}

const ready = init().catch((e: Error) => `WebGPU initialisation failed: ${e.message}`);
ready.then((why) => signalDone(data.control, why));

parentPort!.on("message", async (req: Request) => {
  if (req.op === "free") {
    cached.get(req.id)?.destroy();
    cached.delete(req.id);
    return;
  }
  let error = "";
  try {
    if (req.op === "graph") await runGraph(req);
    else await run(req);
  } catch (e) {
    error = (e as Error).message || String(e);
  }
  signalDone(data.control, error);
});
