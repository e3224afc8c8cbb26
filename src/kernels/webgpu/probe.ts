// Run as a child process by webGpu() (backend.ts) before Dawn is loaded in the main process: asks
// Dawn for an adapter and prints whether there is one as one JSON line on stdout. Without a driver,
// Dawn and the Vulkan loader write warnings ("vkCreateInstance: Found no drivers!") straight to
// the process's stderr, which JavaScript cannot silence; in this child the parent captures them
// and reports them in one line instead.
/* eslint-disable @typescript-eslint/no-explicit-any */
import type { ProbeAnswer } from "./protocol.js";

async function probe(): Promise<ProbeAnswer> {
  let webgpu: any;
  try {
    webgpu = await import("webgpu");
  } catch (e) {
    return { why: `the webgpu package cannot be loaded (${(e as Error).message.split("\n")[0]})` };
  }
  const gpu = webgpu.create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { why: "no WebGPU adapter (no Vulkan, Metal or D3D12 driver that Dawn can use)" };
  return { why: "" };
}

probe()
  .catch((e: Error) => ({ why: `WebGPU initialisation failed: ${e.message}` }))
  // Exit at once: the GPU object would keep the process alive.
  .then((answer) => process.stdout.write(JSON.stringify(answer) + "\n", () => process.exit(0)));
