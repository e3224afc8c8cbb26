import { layerOutputSize, type NetworkLayer } from "../energy/network.js";

/**
 * Per-layer features of the learned predictor: plain arithmetic on the layer's shape (a few dozen
 * floating-point operations, well under a microsecond). Sizes enter as log2 because the memory
 * energy per MAC varies with the ratios of sizes (reuse), which are differences of logs.
 */
export const LAYER_FEATURE_NAMES = [
  "is_conv", "is_depthwise", "is_dense",
  "log2_in_channels_per_group", "log2_out_channels", "log2_groups",
  "log2_in_h", "log2_out_h", "log2_out_w", "kernel_h", "kernel_w", "stride",
  "log2_macs", "log2_weights", "log2_inputs", "log2_outputs",
  "log2_weight_reuse", "log2_input_reuse", "log2_output_reuse",
] as const;

export function layerFeatures(l: NetworkLayer): number[] {
  const [outH, outW] = layerOutputSize(l);
  const cpg = l.inChannels / l.groups;
  const macs = l.batch * l.outChannels * outH * outW * cpg * l.kernelH * l.kernelW;
  const weights = l.outChannels * cpg * l.kernelH * l.kernelW;
  const inputs = l.batch * l.inChannels * l.inH * l.inW;
  const outputs = l.batch * l.outChannels * outH * outW;
  const lg = Math.log2;
  return [
    l.kind === "conv" ? 1 : 0, l.kind === "depthwise" ? 1 : 0, l.kind === "dense" ? 1 : 0,
    lg(cpg), lg(l.outChannels), lg(l.groups),
    lg(l.inH), lg(outH), lg(outW), l.kernelH, l.kernelW, Math.max(l.strideH, l.strideW),
    lg(macs), lg(weights), lg(inputs), lg(outputs),
    lg(macs / weights), lg(macs / inputs), lg(macs / outputs),
  ];
}

/** What identifies a layer's shape for the energy model (two layers with equal keys cost the same memory energy). */
export function layerShapeKey(l: NetworkLayer): string {
  return [l.kind, l.inChannels, l.outChannels, l.inH, l.inW, l.kernelH, l.kernelW, l.strideH, l.strideW, ...l.pads, l.dilationH, l.dilationW, l.groups, l.batch].join(",");
}
