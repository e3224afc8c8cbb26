export * from "./backward.js";
export * from "./tape.js";
export * from "./params.js";
export * from "./optim.js";
export * from "./loop.js";
export * from "./qat.js";
export * from "./finetune.js";
export * from "./gpu-step.js";
