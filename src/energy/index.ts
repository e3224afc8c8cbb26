export * from "./problem.js";
export * from "./arch.js";
export * from "./ert.js";
export * from "./mapping.js";
export * from "./model.js";
export * from "./timeloop-stats.js";
export * from "./presets.js";
export * from "./approx.js";
