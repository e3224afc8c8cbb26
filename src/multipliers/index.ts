export * from "./multiplier.js";
export * from "./tfapprox.js";
export * from "./netlist/ir.js";
export * from "./netlist/simulate.js";
export * from "./metrics.js";
export * from "./netlist/verilog-read.js";
export * from "./netlist/verilog-write.js";
export * from "./generators/index.js";
