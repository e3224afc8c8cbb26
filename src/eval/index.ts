export * from "./accuracy.js";
export * from "./session.js";
export * from "./evaluate.js";
export * from "./sensitivity.js";
