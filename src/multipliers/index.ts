export * from "./multiplier.js";
export * from "./tfapprox.js";
export * from "./netlist/ir.js";
export * from "./netlist/simulate.js";
