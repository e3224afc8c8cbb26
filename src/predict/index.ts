export * from "./metrics.js";
export * from "./features.js";
export * from "./sampling.js";
export * from "./multipliers.js";
export * from "./dataset.js";
export * from "./predictors.js";
export * from "./evaluate.js";
