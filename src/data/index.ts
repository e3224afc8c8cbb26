export * from "./idx.js";
export * from "./datasets.js";
