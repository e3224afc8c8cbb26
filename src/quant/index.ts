export * from "./params.js";
export * from "./calibrate.js";
export * from "./model.js";
export * from "./accumulator.js";
export { GpuQuantizedNetwork, quantizeThresholds } from "./gpu-network.js";
