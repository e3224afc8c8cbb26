import type { AvgPoolNode, ConvNode, DenseNode, MaxPoolNode, Node, PadNode, ReduceMeanNode, ResizeNode, SoftmaxNode } from "./graph.js";
import { broadcastOffsets, nodeOutputShapes, normalizeAxis, windowGeometry } from "./shapes.js";
import { tapColumnRanges } from "../kernels/geometry.js";
import { AxnnError } from "../util/errors.js";
import { makeTensor, shapeToString, sizeOf, stridesOf, type Tensor } from "./tensor.js";

/** Largest tensor a node may produce (4 GiB of float32): anything bigger is a corrupt or mistaken shape. */
const MAX_ELEMENTS = 2 ** 30;

/**
 * Float32 reference implementations of every op. Sums accumulate in float64 (JS numbers), results are stored
 * as float32. Inputs are never modified; shape-only ops share the input's data.
 */
export function evalNode(node: Node, ins: readonly Tensor[]): Tensor[] {
  const outShape = nodeOutputShapes(node, ins.map((t) => t.shape))[0]!;
  if (sizeOf(outShape) > MAX_ELEMENTS) {
    throw new AxnnError(`output ${shapeToString(outShape)} has more than ${MAX_ELEMENTS} elements`, { field: `node "${node.name}" (${node.op})` });
  }
  const x = ins[0]!;
  switch (node.op) {
    case "Conv2D":
    case "DepthwiseConv2D":
      return [conv2d(node, x, outShape)];
    case "Dense":
      return [dense(node, x, outShape)];
    case "BatchNorm": {
      const c = node.scale.data.length;
      const a = new Float64Array(c);
      const b = new Float64Array(c);
      for (let i = 0; i < c; i++) {
        a[i] = node.scale.data[i]! / Math.sqrt(node.variance.data[i]! + node.epsilon);
        b[i] = node.bias.data[i]! - node.mean.data[i]! * a[i]!;
      }
      const inner = sizeOf(x.shape.slice(2));
      const out = new Float32Array(x.data.length);
      for (let o = 0, p = 0; o < x.data.length; o += inner, p = (p + 1) % c) {
        const ai = a[p]!, bi = b[p]!;
        for (let k = o; k < o + inner; k++) out[k] = x.data[k]! * ai + bi;
      }
      return [{ shape: outShape, data: out }];
    }
    case "Relu":
      return [map(x, (v) => (v > 0 ? v : 0))];
    case "Relu6":
      return [map(x, (v) => (v > 0 ? (v < 6 ? v : 6) : 0))];
    case "Clip": {
      const lo = node.min, hi = node.max;
      return [map(x, (v) => (v < lo ? lo : v > hi ? hi : v))];
    }
    case "Sigmoid":
      return [map(x, sigmoid)];
    case "Tanh":
      return [map(x, Math.tanh)];
    case "HardSwish":
      return [map(x, hardSwish)];
    case "HardSigmoid": {
      const { alpha, beta } = node;
      return [map(x, (v) => Math.max(0, Math.min(1, alpha * v + beta)))];
    }
    case "LeakyRelu": {
      const alpha = node.alpha;
      return [map(x, (v) => (v >= 0 ? v : alpha * v))];
    }
    case "PRelu":
      return [binary(x, ins[1]!, outShape, (v, slope) => (v >= 0 ? v : slope * v))];
    case "Identity":
    case "Flatten":
    case "Reshape":
    case "Squeeze":
    case "Unsqueeze":
      return [{ shape: outShape, data: x.data }];
    case "MaxPool":
      return [maxPool(node, x, outShape)];
    case "AvgPool":
      return [avgPool(node, x, outShape)];
    case "GlobalAvgPool": {
      const inner = sizeOf(x.shape.slice(2));
      const planes = x.shape[0]! * x.shape[1]!;
      const out = new Float32Array(planes);
      for (let p = 0; p < planes; p++) {
        let s = 0;
        for (let k = p * inner; k < (p + 1) * inner; k++) s += x.data[k]!;
        out[p] = s / inner;
      }
      return [{ shape: outShape, data: out }];
    }
    case "GlobalMaxPool": {
      const inner = sizeOf(x.shape.slice(2));
      const planes = x.shape[0]! * x.shape[1]!;
      const out = new Float32Array(planes);
      for (let p = 0; p < planes; p++) {
        let m = -Infinity;
        for (let k = p * inner; k < (p + 1) * inner; k++) if (x.data[k]! > m || Number.isNaN(x.data[k]!)) m = x.data[k]!;
        out[p] = m;
      }
      return [{ shape: outShape, data: out }];
    }
    case "Resize":
      return [resize(node, x, outShape)];
    case "Add":
      return [binary(x, ins[1]!, outShape, (a, b) => a + b)];
    case "Sub":
      return [binary(x, ins[1]!, outShape, (a, b) => a - b)];
    case "Mul":
      return [binary(x, ins[1]!, outShape, (a, b) => a * b)];
    case "Div":
      return [binary(x, ins[1]!, outShape, (a, b) => a / b)];
    case "Concat": {
      const axis = normalizeAxis(node.axis, x.shape.length, node.name);
      const outer = sizeOf(x.shape.slice(0, axis));
      const out = new Float32Array(sizeOf(outShape));
      let pos = 0;
      for (let o = 0; o < outer; o++) {
        for (const t of ins) {
          const chunk = sizeOf(t.shape.slice(axis));
          out.set(t.data.subarray(o * chunk, (o + 1) * chunk), pos);
          pos += chunk;
        }
      }
      return [{ shape: outShape, data: out }];
    }
    case "Transpose":
      return [transpose(x, node.perm)];
    case "Softmax":
      return [softmax(node, x)];
    case "Pad":
      return [pad(node, x, outShape)];
    case "ReduceMean":
      return [reduceMean(node, x, outShape)];
  }
}

export function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

export function hardSwish(v: number): number {
  return v * Math.max(0, Math.min(1, v / 6 + 0.5));
}

function map(x: Tensor, f: (v: number) => number): Tensor {
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f(x.data[i]!);
  return { shape: [...x.shape], data: out };
}

/**
 * Direct convolution ordered for memory locality: for each output plane, each (input channel, kernel tap)
 * adds a scaled input row segment to a float64 accumulator row; the valid output range of every tap is
 * computed once so the inner loop has no bounds checks. Four output channels of a group go together so
 * that each input element read serves four multiply-adds.
 */
function conv2d(node: ConvNode, x: Tensor, outShape: number[]): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [m, cg, kh, kw] = node.weight.shape as [number, number, number, number];
  const [, , oh, ow] = outShape as [number, number, number, number];
  const [sh, sw] = node.strides;
  const [dh, dw] = node.dilations;
  const g = windowGeometry(h, w, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false);
  const [pt, pl] = g.pads;
  const mPerGroup = m / node.groups;
  const wd = node.weight.data;
  const xd = x.data;
  const plane = oh * ow;
  const out = new Float32Array(n * m * plane);
  const acc = new Float64Array(4 * plane);
  // Valid output-column range of each horizontal tap.
  const { lo: owLo, hi: owHi } = tapColumnRanges(kw, dw, pl, sw, w, ow);
  const wStride = cg * kh * kw; // weights of one output channel
  for (let b = 0; b < n; b++) {
    for (let grp = 0; grp < node.groups; grp++) {
      for (let oc0 = grp * mPerGroup; oc0 < (grp + 1) * mPerGroup; oc0 += 4) {
        const block = Math.min(4, (grp + 1) * mPerGroup - oc0);
        for (let k = 0; k < 4; k++) acc.fill(k < block && node.bias ? node.bias.data[oc0 + k]! : 0, k * plane, (k + 1) * plane);
        for (let ic = 0; ic < cg; ic++) {
          const inPlane = (b * c + grp * cg + ic) * h * w;
          for (let i = 0; i < kh; i++) {
            for (let j = 0; j < kw; j++) {
              const wi = oc0 * wStride + (ic * kh + i) * kw + j;
              const w0 = wd[wi]!;
              const w1 = block > 1 ? wd[wi + wStride]! : 0;
              const w2 = block > 2 ? wd[wi + 2 * wStride]! : 0;
              const w3 = block > 3 ? wd[wi + 3 * wStride]! : 0;
              if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0) continue;
              const lo = owLo[j]!, hi = owHi[j]!;
              const colOff = j * dw - pl;
              for (let y = 0; y < oh; y++) {
                const iy = y * sh - pt + i * dh;
                if (iy < 0 || iy >= h) continue;
                const row = inPlane + iy * w + colOff;
                const a0 = y * ow, a1 = a0 + plane, a2 = a1 + plane, a3 = a2 + plane;
                if (block === 1) {
                  // Depthwise layers have one output channel per group.
                  for (let xo = lo; xo <= hi; xo++) acc[a0 + xo] += w0 * xd[row + xo * sw]!;
                  continue;
                }
                for (let xo = lo; xo <= hi; xo++) {
                  const v = xd[row + xo * sw]!;
                  acc[a0 + xo] += w0 * v;
                  acc[a1 + xo] += w1 * v;
                  acc[a2 + xo] += w2 * v;
                  acc[a3 + xo] += w3 * v;
                }
              }
            }
          }
        }
        for (let k = 0; k < block; k++) out.set(acc.subarray(k * plane, (k + 1) * plane), (b * m + oc0 + k) * plane);
      }
    }
  }
  return { shape: outShape, data: out };
}

function dense(node: DenseNode, x: Tensor, outShape: number[]): Tensor {
  const [outF, inF] = node.weight.shape as [number, number];
  const rows = x.data.length / inF;
  const wd = node.weight.data, xd = x.data;
  const out = new Float32Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    const xo = r * inF;
    for (let o = 0; o < outF; o++) {
      let s = node.bias ? node.bias.data[o]! : 0;
      const wo = o * inF;
      for (let k = 0; k < inF; k++) s += xd[xo + k]! * wd[wo + k]!;
      out[r * outF + o] = s;
    }
  }
  return { shape: outShape, data: out };
}

function maxPool(node: MaxPoolNode, x: Tensor, outShape: number[]): Tensor {
  return { shape: outShape, data: maxPoolWithArgmax(node, x).out.data };
}

/**
 * MaxPool with, for every output, the flat input index it took (-1 if the window saw no
 * input); training's backward pass routes gradients through the same choice.
 */
export function maxPoolWithArgmax(node: MaxPoolNode, x: Tensor): { out: Tensor; argmax: Int32Array } {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [kh, kw] = node.kernel, [sh, sw] = node.strides, [dh, dw] = node.dilations;
  const g = windowGeometry(h, w, node.kernel, node.strides, node.dilations, node.pads, node.autoPad, node.ceilMode);
  const [pt, pl] = g.pads;
  const oh = g.outH, ow = g.outW;
  const out = new Float32Array(n * c * oh * ow);
  const argmax = new Int32Array(out.length).fill(-1);
  for (let p = 0; p < n * c; p++) {
    const plane = p * h * w;
    for (let y = 0; y < oh; y++) {
      for (let xo = 0; xo < ow; xo++) {
        let best = -Infinity, at = -1;
        for (let i = 0; i < kh; i++) {
          const iy = y * sh - pt + i * dh;
          if (iy < 0 || iy >= h) continue;
          for (let j = 0; j < kw; j++) {
            const ix = xo * sw - pl + j * dw;
            if (ix < 0 || ix >= w) continue;
            const v = x.data[plane + iy * w + ix]!;
            if (v > best) { best = v; at = plane + iy * w + ix; }
          }
        }
        const o = (p * oh + y) * ow + xo;
        out[o] = best;
        argmax[o] = at;
      }
    }
  }
  return { out: { shape: [n, c, oh, ow], data: out }, argmax };
}

/**
 * The windows of AvgPool over one input plane, clipped to the input, with their divisors:
 * five numbers per output position (y0, y1, x0, x1, count). The forward kernel and training's
 * backward pass both read them.
 */
export function avgPoolWindows(node: AvgPoolNode, h: number, w: number): { outH: number; outW: number; windows: Int32Array } {
  const [kh, kw] = node.kernel, [sh, sw] = node.strides;
  const g = windowGeometry(h, w, node.kernel, node.strides, [1, 1], node.pads, node.autoPad, node.ceilMode);
  const [pt, pl, pb, pr] = g.pads;
  const windows = new Int32Array(g.outH * g.outW * 5);
  for (let y = 0, k = 0; y < g.outH; y++) {
    // Window in padded coordinates, cut at the end padding (a ceil-mode window may overhang it).
    const y0 = y * sh - pt;
    const y1 = Math.min(y0 + kh, h + pb);
    for (let xo = 0; xo < g.outW; xo++, k += 5) {
      const x0 = xo * sw - pl;
      const x1 = Math.min(x0 + kw, w + pr);
      const [cy0, cy1, cx0, cx1] = [Math.max(y0, 0), Math.min(y1, h), Math.max(x0, 0), Math.min(x1, w)];
      windows.set([cy0, cy1, cx0, cx1, node.countIncludePad ? (y1 - y0) * (x1 - x0) : (cy1 - cy0) * (cx1 - cx0)], k);
    }
  }
  return { outH: g.outH, outW: g.outW, windows };
}

function avgPool(node: AvgPoolNode, x: Tensor, outShape: number[]): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const { outH, outW, windows } = avgPoolWindows(node, h, w);
  const out = new Float32Array(n * c * outH * outW);
  for (let p = 0, o = 0; p < n * c; p++) {
    const plane = p * h * w;
    for (let k = 0; k < windows.length; k += 5, o++) {
      const [y0, y1, x0, x1, count] = [windows[k]!, windows[k + 1]!, windows[k + 2]!, windows[k + 3]!, windows[k + 4]!];
      let s = 0;
      for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) s += x.data[plane + iy * w + ix]!;
      out[o] = s / count;
    }
  }
  return { shape: outShape, data: out };
}

function binary(a: Tensor, b: Tensor, outShape: number[], f: (x: number, y: number) => number): Tensor {
  const n = sizeOf(outShape);
  const out = new Float32Array(n);
  const ad = a.data, bd = b.data;
  if (ad.length === n && bd.length === n) {
    for (let i = 0; i < n; i++) out[i] = f(ad[i]!, bd[i]!);
    return { shape: outShape, data: out };
  }
  if (bd.length === 1 || ad.length === 1) {
    const scalarB = bd.length === 1;
    const s = scalarB ? bd[0]! : ad[0]!;
    const v = scalarB ? ad : bd;
    for (let i = 0; i < n; i++) out[i] = scalarB ? f(v[i]!, s) : f(s, v[i]!);
    return { shape: outShape, data: out };
  }
  const off = broadcastOffsets(outShape, a.shape, b.shape);
  for (let i = 0; i < n; i++) out[i] = f(ad[off.a[i]!]!, bd[off.b[i]!]!);
  return { shape: outShape, data: out };
}

export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  const rank = perm.length;
  const outShape = perm.map((p) => x.shape[p]!);
  const inStrides = stridesOf(x.shape);
  const s = perm.map((p) => inStrides[p]!);
  const n = x.data.length;
  const out = new Float32Array(n);
  if (n === 0) return { shape: outShape, data: out };
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let i = 0; i < n; i++) {
    out[i] = x.data[src]!;
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]!++;
      src += s[k]!;
      if (idx[k]! < outShape[k]!) break;
      src -= s[k]! * outShape[k]!;
      idx[k] = 0;
    }
  }
  return { shape: outShape, data: out };
}

function softmax(node: SoftmaxNode, x: Tensor): Tensor {
  const axis = normalizeAxis(node.axis, x.shape.length, node.name);
  const len = node.coerce2d ? sizeOf(x.shape.slice(axis)) : x.shape[axis]!;
  const inner = node.coerce2d ? 1 : sizeOf(x.shape.slice(axis + 1));
  const outer = x.data.length / (len * inner || 1);
  const out = new Float32Array(x.data.length);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const base = o * len * inner + k;
      let mx = -Infinity;
      for (let i = 0; i < len; i++) mx = Math.max(mx, x.data[base + i * inner]!);
      let s = 0;
      for (let i = 0; i < len; i++) s += Math.exp(x.data[base + i * inner]! - mx);
      for (let i = 0; i < len; i++) out[base + i * inner] = Math.exp(x.data[base + i * inner]! - mx) / s;
    }
  }
  return { shape: [...x.shape], data: out };
}

function pad(node: PadNode, x: Tensor, outShape: number[]): Tensor {
  const rank = x.shape.length;
  const out = new Float32Array(sizeOf(outShape));
  if (node.mode === "constant" && node.pads.every((p) => p >= 0)) {
    // Growing only: copy the input's contiguous blocks into place (a channel pad copies whole images).
    if (node.value !== 0) out.fill(node.value);
    forEachPaddedRow(x.shape, outShape, node.pads, (src, dst, len) => out.set(x.data.subarray(src, src + len), dst));
    return { shape: outShape, data: out };
  }
  const inStrides = stridesOf(x.shape);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < out.length; i++) {
    let src = 0;
    let inside = true;
    for (let k = 0; k < rank; k++) {
      let c = idx[k]! - node.pads[k]!;
      const d = x.shape[k]!;
      if (c < 0 || c >= d) {
        if (node.mode === "constant") { inside = false; break; }
        if (node.mode === "edge") c = c < 0 ? 0 : d - 1;
        else c = c < 0 ? -c : 2 * (d - 1) - c;
      }
      src += c * inStrides[k]!;
    }
    out[i] = inside ? x.data[src]! : node.value;
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k]! < outShape[k]!) break;
      idx[k] = 0;
    }
  }
  return { shape: outShape, data: out };
}

/**
 * For a constant Pad with non-negative pads: calls fn(inputOffset, outputOffset, length) for
 * every contiguous block of the input inside the padded output. Trailing unpadded axes merge
 * into the block (a channel pad of NCHW copies whole images).
 */
export function forEachPaddedRow(inShape: readonly number[], outShape: readonly number[], pads: readonly number[], fn: (src: number, dst: number, len: number) => void): void {
  const rank = inShape.length;
  if (rank === 0) {
    fn(0, 0, 1);
    return;
  }
  // Axes from `axis` on form one contiguous block in both arrays: those after it are unpadded.
  let axis = rank - 1;
  while (axis > 0 && pads[axis] === 0 && pads[axis + rank] === 0) axis--;
  const len = sizeOf(inShape.slice(axis));
  const inner = sizeOf(inShape.slice(axis + 1));
  const os = stridesOf(outShape);
  const rows = len === 0 ? 0 : sizeOf(inShape) / len;
  const idx = new Array<number>(axis).fill(0);
  for (let r = 0; r < rows; r++) {
    let dst = pads[axis]! * inner;
    for (let k = 0; k < axis; k++) dst += (idx[k]! + pads[k]!) * os[k]!;
    fn(r * len, dst, len);
    for (let k = axis - 1; k >= 0; k--) {
      if (++idx[k]! < inShape[k]!) break;
      idx[k] = 0;
    }
  }
}

function reduceMean(node: ReduceMeanNode, x: Tensor, outShape: number[]): Tensor {
  const rank = x.shape.length;
  const axes = new Set((node.axes ?? x.shape.map((_d, i) => i)).map((a) => normalizeAxis(a, rank, node.name)));
  // Output offsets as seen from the input index: reduced axes do not move it.
  const keptShape = x.shape.map((d, i) => (axes.has(i) ? 1 : d));
  const ks = stridesOf(keptShape);
  const s = x.shape.map((_d, i) => (axes.has(i) ? 0 : ks[i]!));
  const sums = new Float64Array(sizeOf(keptShape));
  const idx = new Array<number>(rank).fill(0);
  let dst = 0;
  for (let i = 0; i < x.data.length; i++) {
    sums[dst] += x.data[i]!;
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]!++;
      dst += s[k]!;
      if (idx[k]! < x.shape[k]!) break;
      dst -= s[k]! * x.shape[k]!;
      idx[k] = 0;
    }
  }
  const count = x.data.length / sums.length;
  const out = new Float32Array(sums.length);
  for (let i = 0; i < out.length; i++) out[i] = sums[i]! / count;
  return makeTensor(outShape, out);
}

/**
 * For one resized axis: the input position each output position reads (nearest: one index;
 * linear: the two neighbours and the second one's weight), clamped to the input. Coordinates
 * are computed in float32 as onnxruntime does, so that ties round the same way.
 */
export function resizeAxis(node: ResizeNode, inLen: number, outLen: number, scale: number): { lo: Int32Array; hi: Int32Array; frac: Float32Array } {
  const f = Math.fround;
  const lo = new Int32Array(outLen), hi = new Int32Array(outLen), frac = new Float32Array(outLen);
  for (let o = 0; o < outLen; o++) {
    let c: number;
    switch (node.coordinates) {
      case "half_pixel": c = f(f(f(o + 0.5) / scale) - 0.5); break;
      case "pytorch_half_pixel": c = outLen > 1 ? f(f(f(o + 0.5) / scale) - 0.5) : 0; break;
      case "align_corners": c = outLen > 1 ? f(f(o * (inLen - 1)) / (outLen - 1)) : 0; break;
      case "asymmetric": c = f(o / scale); break;
      case "tf_half_pixel_for_nn": c = f(f(o + 0.5) / scale); break;
    }
    if (node.mode === "nearest") {
      let i: number;
      switch (node.nearestMode) {
        case "round_prefer_floor": i = c === Math.floor(c) + 0.5 ? Math.floor(c) : Math.round(c); break;
        case "round_prefer_ceil": i = c === Math.floor(c) + 0.5 ? Math.ceil(c) : Math.round(c); break;
        case "floor": i = Math.floor(c); break;
        case "ceil": i = Math.ceil(c); break;
      }
      lo[o] = hi[o] = Math.min(Math.max(i, 0), inLen - 1);
      continue;
    }
    const cc = Math.min(Math.max(c, 0), inLen - 1);
    const i0 = Math.min(Math.floor(cc), inLen - 1);
    lo[o] = i0;
    hi[o] = Math.min(i0 + 1, inLen - 1);
    frac[o] = cc - i0;
  }
  return { lo, hi, frac };
}

function resize(node: ResizeNode, x: Tensor, outShape: number[]): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [, , oh, ow] = outShape as [number, number, number, number];
  const [sh, sw] = node.scales ?? [Math.fround(oh / h), Math.fround(ow / w)];
  const ys = resizeAxis(node, h, oh, sh), xs = resizeAxis(node, w, ow, sw);
  const out = new Float32Array(n * c * oh * ow);
  for (let p = 0, o = 0; p < n * c; p++) {
    const plane = p * h * w;
    for (let y = 0; y < oh; y++) {
      const r0 = plane + ys.lo[y]! * w, r1 = plane + ys.hi[y]! * w, fy = ys.frac[y]!;
      for (let xo = 0; xo < ow; xo++, o++) {
        const x0 = xs.lo[xo]!, x1 = xs.hi[xo]!, fx = xs.frac[xo]!;
        if (node.mode === "nearest") {
          out[o] = x.data[r0 + x0]!;
          continue;
        }
        const top = x.data[r0 + x0]! * (1 - fx) + x.data[r0 + x1]! * fx;
        const bottom = x.data[r1 + x0]! * (1 - fx) + x.data[r1 + x1]! * fx;
        out[o] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return { shape: outShape, data: out };
}
