export * from "./kmeans.js";
export * from "./cluster.js";
export * from "./formats.js";
export * from "./memory.js";
export * from "./emulate.js";
export * from "./energy.js";
export * from "./evaluate.js";
export * from "./sweep.js";
