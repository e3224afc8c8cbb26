// axnn library API. The CLI (src/cli) is one client of exactly these exports.
export * from "./multipliers/index.js";
export { AxnnError, isAxnnError } from "./util/errors.js";
export { writeFileAtomic } from "./util/fs.js";
export * from "./report/index.js";
export { runDemo, paretoFront, type DemoOptions, type DemoResult, type DemoMultiplierRow } from "./demo/index.js";
export { axnnHome, dataPath } from "./util/paths.js";
export * from "./energy/index.js";
export * from "./nn/index.js";
export * from "./onnx/index.js";
export * from "./predict/index.js";
export * from "./quant/index.js";
export * from "./data/index.js";
export * from "./eval/index.js";
// The kernel backends (TypeScript reference, native ISA levels, WebGPU): which one runs, and the registry.
export { availableBackends, backend, kernelBackend, registerBackend, setBackend, type Backend, type BackendName } from "./kernels/index.js";
export { DEVICES, kernelDevice, parseDevice, selectDevice, type Device, type DeviceChoice } from "./kernels/index.js";
export { buildZooModel, zooNames, lenet5, mobileNetV2, cifarResNet, smallVgg, type ZooBuildOptions, type ZooModelName } from "./zoo/index.js";
export * from "./zoo/sidecar.js";
// The training API under its own names (energy already exports an "evaluate" for mappings).
export { trainModel, evaluate as evaluateModel, forwardTape, backwardTape, collectParams, softmaxCrossEntropy, optimizerStep, newOptimizerState, learningRate, DEFAULT_SGD, DEFAULT_ADAM } from "./train/index.js";
export type { TrainConfig, EpochMetrics, TrainResult, AugmentConfig, OptimizerConfig, SgdConfig, AdamConfig, ScheduleConfig, Param, Tape, TapeOptions } from "./train/index.js";
export { runFinetune, DEFAULT_FINETUNE_RANGES, type FinetuneSetup, type FinetuneReport } from "./train/finetune.js";
export * from "./search/index.js";
// Associative matching (AxP): clustering, the product memory, emulation, PE energy, sweeps.
export * from "./axp/index.js";
export * from "./search/nas/index.js";
export * from "./plan/index.js";
