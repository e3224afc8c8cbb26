export * from "./accuracy.js";
export * from "./session.js";
