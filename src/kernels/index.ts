// The kernels' public entry point: every kernel and switch, re-exported from
//   backend.ts    the interface every backend implements
//   registry.ts   the one place where the backend is chosen (setBackend, selectDevice, setKernelIsa, AXNN_ISA, AXNN_DEVICE)
//   addon.ts      loading the native addon; GEMM backend and thread switches
//   inference.ts  integer (LUT, exact) and float32 conv2d / depthwise / dense of inference
//   training.ts   float32 GEMM, conv as GEMM, backward passes, BatchNorm, ReLU, Add
//   quantize.ts   fake quantization, min/max, dequantization of accumulators
// (args.ts: shared argument checks; geometry.ts: shapes; reference.ts: the plain-loop twins;
// typescript-backend.ts and native-backend.ts: the CPU backends.)
// Semantics: docs/kernels.md.
export { convGeometry, denseGeometry, type ConvGeometry, type ConvOptions, type DenseGeometry } from "./geometry.js";
export { gemmBackend, kernelThreads, openBlasAvailable, setGemmBackend, setLutAlgorithm, type GemmBackend, type IsaLevel, type LutAlgorithm } from "./addon.js";
export type { Backend, BackendName, DequantizeDims, QuantizeParams } from "./backend.js";
export {
  availableBackends, availableIsaLevels, backend, findBackend, kernelBackend, registerBackend, registeredBackends, setBackend, setKernelIsa,
  type KernelBackend,
  DEVICES, kernelDevice, parseDevice, selectDevice, type Device, type DeviceChoice,
} from "./registry.js";
export * from "./inference.js";
export * from "./training.js";
export * from "./quantize.js";
