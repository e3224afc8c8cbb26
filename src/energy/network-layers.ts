import { macsPerLayer } from "../nn/analysis.js";
import { isApproximable, type ApproximableNode, type Model } from "../nn/graph.js";
import { AxnnError } from "../util/errors.js";
import { convProblem, depthwiseProblem, type Problem } from "./problem.js";

/**
 * A network's approximable layers (conv, depthwise, dense) by their shape alone, from a model or
 * written by hand, and each one's Timeloop problem (its workload).
 */

export type LayerKind = "conv" | "depthwise" | "dense";

/** One approximable layer of a network, described by its shape alone (no weights). */
export interface NetworkLayer {
  name: string;
  kind: LayerKind;
  inChannels: number;
  outChannels: number;
  /** Input height and width (1 and 1 for a dense layer). */
  inH: number;
  inW: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  /** [top, left, bottom, right] (ONNX order). */
  pads: [number, number, number, number];
  dilationH: number;
  dilationW: number;
  /** Conv groups (depthwise: groups = inChannels). */
  groups: number;
  /** Samples per inference (Timeloop's N; for dense, rows of the input). */
  batch: number;
}

export interface ConvLayerSpec {
  inChannels: number;
  outChannels: number;
  /** Input size: square or [height, width]. */
  inSize: number | [number, number];
  kernel: number | [number, number];
  stride?: number | [number, number];
  /** Symmetric padding per spatial axis, or [top, left, bottom, right]; default (kernel - 1) / 2 * dilation ("same" for odd kernels). */
  padding?: number | [number, number, number, number];
  dilation?: number | [number, number];
  groups?: number;
  batch?: number;
}

const pair = (v: number | [number, number]): [number, number] => (typeof v === "number" ? [v, v] : v);

/** A Conv2D layer (groups from the spec; use depthwiseLayer for depthwise). */
export function convLayer(name: string, spec: ConvLayerSpec): NetworkLayer {
  const [kh, kw] = pair(spec.kernel);
  const [dh, dw] = pair(spec.dilation ?? 1);
  const [sh, sw] = pair(spec.stride ?? 1);
  const [ih, iw] = pair(spec.inSize);
  const pad = spec.padding;
  const pads: [number, number, number, number] =
    pad === undefined ? [Math.floor(((kh - 1) * dh) / 2), Math.floor(((kw - 1) * dw) / 2), Math.floor(((kh - 1) * dh) / 2), Math.floor(((kw - 1) * dw) / 2)]
      : typeof pad === "number" ? [pad, pad, pad, pad] : pad;
  return {
    name, kind: "conv", inChannels: spec.inChannels, outChannels: spec.outChannels, inH: ih, inW: iw, kernelH: kh, kernelW: kw,
    strideH: sh, strideW: sw, pads, dilationH: dh, dilationW: dw, groups: spec.groups ?? 1, batch: spec.batch ?? 1,
  };
}

/** A depthwise convolution: one filter per input channel (times `channelMultiplier`). */
export function depthwiseLayer(name: string, spec: Omit<ConvLayerSpec, "outChannels" | "groups"> & { channelMultiplier?: number }): NetworkLayer {
  return { ...convLayer(name, { ...spec, outChannels: spec.inChannels * (spec.channelMultiplier ?? 1), groups: spec.inChannels }), kind: "depthwise" };
}

/** A fully connected layer. */
export function denseLayer(name: string, spec: { inFeatures: number; outFeatures: number; batch?: number }): NetworkLayer {
  return {
    name, kind: "dense", inChannels: spec.inFeatures, outChannels: spec.outFeatures, inH: 1, inW: 1, kernelH: 1, kernelW: 1,
    strideH: 1, strideW: 1, pads: [0, 0, 0, 0], dilationH: 1, dilationW: 1, groups: 1, batch: spec.batch ?? 1,
  };
}

/** Output height and width of a layer (floor rounding, as ONNX/PyTorch with explicit pads). */
export function layerOutputSize(layer: NetworkLayer): [number, number] {
  const axis = (inSize: number, k: number, s: number, d: number, pb: number, pe: number) => Math.floor((inSize + pb + pe - ((k - 1) * d + 1)) / s) + 1;
  return [
    axis(layer.inH, layer.kernelH, layer.strideH, layer.dilationH, layer.pads[0], layer.pads[2]),
    axis(layer.inW, layer.kernelW, layer.strideW, layer.dilationW, layer.pads[1], layer.pads[3]),
  ];
}

/** A layer as Timeloop sees it: one problem, run `repeat` times (conv groups, depthwise channel multipliers). */
export interface LayerWorkload {
  problem: Problem;
  repeat: number;
  outH: number;
  outW: number;
}

/**
 * The Timeloop problem of a layer. Timeloop's conv2D pairs R with the width (W = Wstride*P + Wdilation*R)
 * and S with the height. A grouped conv is `groups` independent convs of C/groups -> M/groups channels
 * run one after another; a depthwise layer with channel multiplier k is k depthwise passes. Padding
 * enters only through the output size (Timeloop's input extent is the padded one).
 */
export function layerWorkload(layer: NetworkLayer): LayerWorkload {
  const field = `layer "${layer.name}"`;
  const ints: [string, number][] = [
    ["inChannels", layer.inChannels], ["outChannels", layer.outChannels], ["inH", layer.inH], ["inW", layer.inW],
    ["kernelH", layer.kernelH], ["kernelW", layer.kernelW], ["strideH", layer.strideH], ["strideW", layer.strideW],
    ["dilationH", layer.dilationH], ["dilationW", layer.dilationW], ["groups", layer.groups], ["batch", layer.batch],
  ];
  for (const [k, v] of ints) if (!Number.isInteger(v) || v < 1) throw new AxnnError(`${k} must be a positive integer, got ${v}`, { field });
  if (layer.pads.length !== 4 || layer.pads.some((p) => !Number.isInteger(p) || p < 0)) throw new AxnnError(`pads must be 4 non-negative integers, got [${layer.pads.join(", ")}]`, { field });
  const [outH, outW] = layerOutputSize(layer);
  if (outH < 1 || outW < 1) throw new AxnnError(`the kernel does not fit the padded ${layer.inH}x${layer.inW} input`, { field });
  const common = { R: layer.kernelW, S: layer.kernelH, P: outW, Q: outH, N: layer.batch, Wstride: layer.strideW, Hstride: layer.strideH, Wdilation: layer.dilationW, Hdilation: layer.dilationH };
  if (layer.kind === "dense") {
    return { problem: convProblem({ R: 1, S: 1, P: 1, Q: 1, C: layer.inChannels, M: layer.outChannels, N: layer.batch }, layer.name), repeat: 1, outH: 1, outW: 1 };
  }
  if (layer.kind === "depthwise") {
    if (layer.groups !== layer.inChannels || layer.outChannels % layer.inChannels !== 0) {
      throw new AxnnError(`a depthwise layer needs groups = inChannels (${layer.inChannels}) and outChannels a multiple of it; got groups ${layer.groups}, outChannels ${layer.outChannels}`, { field });
    }
    return { problem: depthwiseProblem({ ...common, C: layer.inChannels }, layer.name), repeat: layer.outChannels / layer.inChannels, outH, outW };
  }
  if (layer.kind !== "conv") throw new AxnnError(`unknown layer kind "${String(layer.kind)}" (expected conv, depthwise or dense)`, { field });
  if (layer.inChannels % layer.groups !== 0 || layer.outChannels % layer.groups !== 0) {
    throw new AxnnError(`groups (${layer.groups}) must divide inChannels (${layer.inChannels}) and outChannels (${layer.outChannels})`, { field });
  }
  return { problem: convProblem({ ...common, C: layer.inChannels / layer.groups, M: layer.outChannels / layer.groups }, layer.name), repeat: layer.groups, outH, outW };
}

/** Multiply-accumulates of a layer, from its shape (kernel x input channels per group x outputs). */
export function layerMacs(layer: NetworkLayer): number {
  const [outH, outW] = layerOutputSize(layer);
  return layer.batch * layer.outChannels * outH * outW * (layer.inChannels / layer.groups) * layer.kernelH * layer.kernelW;
}

/**
 * The approximable layers of an imported model (src/nn), NCHW, at the declared input shape with
 * the batch set to `batch`. Dense layers on inputs of more than two axes count the leading axes as batch.
 */
export function layersFromModel(model: Model, opts: { batch?: number; inputShape?: number[] } = {}): NetworkLayer[] {
  const batch = opts.batch ?? 1;
  const rows = macsPerLayer(model, opts.inputShape);
  const nodes = new Map<string, ApproximableNode>(model.nodes.filter(isApproximable).map((n) => [n.name, n]));
  return rows.map((r) => {
    const node = nodes.get(r.name)!;
    if (node.op === "Dense") {
      const rowsPerSample = r.inputShape.slice(1, -1).reduce((a, b) => a * b, 1);
      return denseLayer(r.name, { inFeatures: node.weight.shape[1]!, outFeatures: node.weight.shape[0]!, batch: batch * rowsPerSample });
    }
    const [outC, cPerGroup, kh, kw] = node.weight.shape as [number, number, number, number];
    const [, inC, inH, inW] = r.inputShape as [number, number, number, number];
    // Effective pads reproduce the inferred output size (auto_pad resolved by the shape inference).
    const [, , outH, outW] = r.outputShape as [number, number, number, number];
    const spanH = (kh - 1) * node.dilations[0] + 1, spanW = (kw - 1) * node.dilations[1] + 1;
    const padH = Math.max(0, (outH - 1) * node.strides[0] + spanH - inH), padW = Math.max(0, (outW - 1) * node.strides[1] + spanW - inW);
    const base: NetworkLayer = {
      name: r.name, kind: node.op === "DepthwiseConv2D" ? "depthwise" : "conv", inChannels: inC, outChannels: outC, inH, inW,
      kernelH: kh, kernelW: kw, strideH: node.strides[0], strideW: node.strides[1],
      pads: [Math.floor(padH / 2), Math.floor(padW / 2), padH - Math.floor(padH / 2), padW - Math.floor(padW / 2)],
      dilationH: node.dilations[0], dilationW: node.dilations[1], groups: node.groups, batch,
    };
    // A Conv2D with groups = channels and one input channel per group is depthwise too.
    if (base.kind === "conv" && node.groups === inC && cPerGroup === 1 && inC > 1) base.kind = "depthwise";
    return base;
  });
}

/** A workload's shape as text, e.g. "C=16 M=16 R=3 S=3 N=1 P=32 Q=32 stride 2x2 x4". */
export function shapeText(w: LayerWorkload): string {
  const p = w.problem;
  const dims = p.dims.map((d, i) => `${d}=${p.bounds[i]}`).join(" ");
  const inputs = p.dataSpaces.find((d) => d.name === "Inputs")!;
  const stride = inputs.projection.slice(2).map((terms) => terms.find((t) => p.dims[t.dim] === "P" || p.dims[t.dim] === "Q")?.coef ?? 1);
  const s = stride.length === 2 && (stride[0] !== 1 || stride[1] !== 1) ? ` stride ${stride[1]}x${stride[0]}` : "";
  return `${dims}${s}${w.repeat > 1 ? ` x${w.repeat}` : ""}`;
}
