export * from "./tensor.js";
export * from "./graph.js";
export * from "./shapes.js";
export { evalNode } from "./ops.js";
export { runModel, runBatched, runBatchedWith, type RunOptions } from "./run.js";
export { foldBatchNorm, simplify, removeIdentities, fuseBiasAdd, fusePadIntoConv, cancelTransposes, sinkTransposes, removeDeadNodes, dropUnusedConstants } from "./passes.js";
export { macsPerLayer, approximableLayers, type LayerMacs } from "./analysis.js";
export { ModelBuilder, type ConvOptions, type DepthwiseOptions, type DenseOptions, type PoolOptions } from "./builder.js";
export { parseNpy, readNpy, encodeNpy, writeNpy } from "./npy.js";
