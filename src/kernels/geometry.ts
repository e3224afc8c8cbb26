import { AxnnError } from "../util/errors.js";

/** Options of a 2-D convolution. Defaults: stride 1, no padding, dilation 1, one group. */
export interface ConvOptions {
  /** [vertical, horizontal]. */
  stride?: readonly [number, number];
  /** [top, left, bottom, right], as ONNX `pads` [y_begin, x_begin, y_end, x_end]. */
  padding?: readonly [number, number, number, number];
  /** [vertical, horizontal]. */
  dilation?: readonly [number, number];
  groups?: number;
}

/** A conv2d call resolved to numbers: input [N, C, H, W], weights [M, C/groups, R, S], output [N, M, P, Q]. */
export interface ConvGeometry {
  N: number; C: number; H: number; W: number;
  M: number; R: number; S: number; groups: number;
  sh: number; sw: number;
  pt: number; pl: number; pb: number; pr: number;
  dh: number; dw: number;
  P: number; Q: number;
}

/** The order in which the native addon takes a geometry. */
export function geometryArray(g: ConvGeometry): Int32Array {
  return Int32Array.from([g.N, g.C, g.H, g.W, g.M, g.R, g.S, g.groups, g.sh, g.sw, g.pt, g.pl, g.pb, g.pr, g.dh, g.dw, g.P, g.Q]);
}

function isDim(v: unknown, min: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= 0x7fffffff;
}

function checkShape(shape: readonly number[], rank: number, names: string, layer: string, arg: string): void {
  if (!Array.isArray(shape) || shape.length !== rank || !shape.every((d) => isDim(d, 1))) {
    throw new AxnnError(`expected a shape [${names}] of ${rank} positive integers, got ${JSON.stringify(shape)}`, { field: `${layer} ${arg}` });
  }
}

function checkPair(v: readonly number[] | undefined, dflt: number, min: number, what: string, layer: string): [number, number] {
  if (v === undefined) return [dflt, dflt];
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => isDim(x, min))) {
    throw new AxnnError(`expected [vertical, horizontal] integers >= ${min}, got ${JSON.stringify(v)}`, { field: `${layer} ${what}` });
  }
  return [v[0]!, v[1]!];
}

/** Resolves and checks a conv2d call (AxnnError naming the argument on any mismatch). */
export function convGeometry(
  layer: string,
  inputShape: readonly number[],
  weightShape: readonly number[],
  options: ConvOptions = {},
): ConvGeometry {
  checkShape(inputShape, 4, "batch, channels, height, width", layer, "input shape");
  checkShape(weightShape, 4, "outChannels, inChannels/groups, kernelHeight, kernelWidth", layer, "weight shape");
  const [N, C, H, W] = inputShape as [number, number, number, number];
  const [M, Cg, R, S] = weightShape as [number, number, number, number];
  const groups = options.groups ?? 1;
  if (!isDim(groups, 1)) throw new AxnnError(`groups must be a positive integer, got ${groups}`, { field: `${layer} groups` });
  if (C % groups !== 0 || M % groups !== 0) {
    throw new AxnnError(`groups = ${groups} must divide the input channels (${C}) and the output channels (${M})`, { field: `${layer} groups` });
  }
  if (Cg !== C / groups) {
    throw new AxnnError(`weight shape [${weightShape.join(", ")}]: expected ${C / groups} input channels per group (input has ${C} channels, groups = ${groups}), got ${Cg}`, { field: `${layer} weights` });
  }
  const [sh, sw] = checkPair(options.stride, 1, 1, "stride", layer);
  const [dh, dw] = checkPair(options.dilation, 1, 1, "dilation", layer);
  const padding = options.padding ?? [0, 0, 0, 0];
  if (!Array.isArray(padding) || padding.length !== 4 || !padding.every((x) => isDim(x, 0))) {
    throw new AxnnError(`expected [top, left, bottom, right] non-negative integers, got ${JSON.stringify(options.padding)}`, { field: `${layer} padding` });
  }
  const [pt, pl, pb, pr] = padding as [number, number, number, number];
  const spanH = dh * (R - 1) + 1, spanW = dw * (S - 1) + 1;
  const P = Math.floor((H + pt + pb - spanH) / sh) + 1;
  const Q = Math.floor((W + pl + pr - spanW) / sw) + 1;
  if (H + pt + pb < spanH || W + pl + pr < spanW) {
    throw new AxnnError(`kernel ${R}x${S} (dilated extent ${spanH}x${spanW}) is larger than the padded input ${H + pt + pb}x${W + pl + pr}`, { field: `${layer} weights` });
  }
  return { N, C, H, W, M, R, S, groups, sh, sw, pt, pl, pb, pr, dh, dw, P, Q };
}

/** A dense call resolved: input [B, K], weights [M, K], output [B, M]. */
export interface DenseGeometry { B: number; K: number; M: number }

export function denseGeometry(layer: string, inputShape: readonly number[], weightShape: readonly number[]): DenseGeometry {
  checkShape(inputShape, 2, "batch, inFeatures", layer, "input shape");
  checkShape(weightShape, 2, "outFeatures, inFeatures", layer, "weight shape");
  const [B, K] = inputShape as [number, number];
  const [M, K2] = weightShape as [number, number];
  if (K2 !== K) throw new AxnnError(`weight shape [${weightShape.join(", ")}]: expected [outFeatures, ${K}] to match the input's ${K} features`, { field: `${layer} weights` });
  return { B, K, M };
}

/** Checks that `data` holds exactly the elements of `shape`. */
export function checkLength(data: { length: number }, shape: readonly number[], layer: string, arg: string): void {
  const need = shape.reduce((a, b) => a * b, 1);
  if (data.length !== need) {
    throw new AxnnError(`expected ${need} elements for shape [${shape.join(", ")}], got ${data.length}`, { field: `${layer} ${arg}` });
  }
}

/**
 * For each horizontal tap j of a convolution (kernel width kw, dilation dw, left padding pl,
 * stride sw, input width w, output width ow): the first and last output column whose input
 * column j*dw - pl + q*sw lies inside the image; lo > hi when none does.
 */
export function tapColumnRanges(kw: number, dw: number, pl: number, sw: number, w: number, ow: number): { lo: Int32Array; hi: Int32Array } {
  const lo = new Int32Array(kw), hi = new Int32Array(kw);
  for (let j = 0; j < kw; j++) {
    const off = j * dw - pl;
    lo[j] = Math.max(0, Math.ceil(-off / sw));
    hi[j] = Math.min(ow - 1, Math.floor((w - 1 - off) / sw));
  }
  return { lo, hi };
}
