// The kernels' public entry point: every kernel and switch, re-exported from
//   addon.ts      loading the native addon; ISA level, GEMM backend and thread switches
//   inference.ts  integer (LUT, exact) and float32 conv2d / depthwise / dense of inference
//   training.ts   float32 GEMM, conv as GEMM, backward passes, BatchNorm, ReLU, Add
//   quantize.ts   fake quantization, min/max, dequantization of accumulators
// (args.ts: shared argument checks; geometry.ts: shapes; reference.ts: the plain-loop twins.)
// Semantics: docs/kernels.md.
export { convGeometry, denseGeometry, type ConvGeometry, type ConvOptions, type DenseGeometry } from "./geometry.js";
export {
  availableIsaLevels, gemmBackend, kernelBackend, kernelThreads, openBlasAvailable, setGemmBackend, setKernelIsa,
  type GemmBackend, type IsaLevel, type KernelBackend,
} from "./addon.js";
export * from "./inference.js";
export * from "./training.js";
export * from "./quantize.js";
