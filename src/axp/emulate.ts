import { tapColumnRanges } from "../kernels/geometry.js";
import { AxnnError } from "../util/errors.js";
import { isApproximable, type ApproximableNode, type ConvNode, type DenseNode, type Model } from "../nn/graph.js";
import { runModel } from "../nn/run.js";
import { nodeOutputShapes, windowGeometry } from "../nn/shapes.js";
import { sizeOf, type Tensor } from "../nn/tensor.js";
import type { LayerClusters } from "./cluster.js";
import { formatAndKey, roundWeight, type AxpFormat, type KeyLayout } from "./formats.js";
import { MemorySearcher, searchMemory, type LayerMemory, type LayerProfile, type MemoryEntry } from "./memory.js";
import { missActivationCode, missProduct, type LayerMissArithmetic } from "./miss.js";
import { quantizeValue } from "../quant/params.js";

/**
 * AxP arithmetic in a conv or dense layer: every multiplication w x a of a weight in bin b by an
 * activation a searches the layer's memory for (b, key(a)); a hit adds the stored product
 * centroid(b) x rep(entry), a miss the exact product centroid(b) x a (both operands as the PE's
 * format holds them). Sums accumulate in float64 in the same order as the float kernel (src/nn/ops)
 * and are stored as float32, so that a memory that changes no product gives the float outputs bit for bit.
 *
 * The fast kernel: a hit depends only on (bin, key), so each bin that has entries gets its own copy of
 * the input with every hit replaced by the entry's representative (the per-(bin, key) answers are
 * computed once per distinct key); the convolution then reads, for each weight, its bin's copy.
 *
 * With an approximate multiplier on the misses (src/axp/miss.ts) a miss is no longer w x a: each bin
 * then gets a plane of products instead (a hit's w x rep, a miss's entry of the layer's (bin,
 * activation code) table), built a few samples at a time, and the same convolution runs with every
 * weight 1 (1 x p = p exactly, so the sums are the reference's).
 */
export interface AxpLayer {
  node: ApproximableNode;
  clusters: LayerClusters;
  format: AxpFormat;
  layout: KeyLayout;
  /** Centroid of every bin as the PE holds it (rounded to the format). */
  weights: Float64Array;
  /** Every weight's value as the PE holds it (its bin's rounded centroid). */
  weightOf: Float32Array;
  activationScale: number;
  memory: LayerMemory;
  searcher: MemorySearcher;
  /** The approximate multiplier of the misses (none: a miss is the format's exact product). */
  miss?: LayerMissArithmetic;
}

/** Multiply-accumulate counts of one layer (all samples run so far). */
export interface LayerCounts {
  macs: number;
  hits: number;
  /** MACs whose activation is zero (after the format's rounding), hit or not. */
  zeroMacs: number;
  zeroHits: number;
  /** Outputs computed (a miss multiplier's integer sums are merged once per output). */
  outputs: number;
  samples: number;
}

export function emptyCounts(): LayerCounts {
  return { macs: 0, hits: 0, zeroMacs: 0, zeroHits: 0, outputs: 0, samples: 0 };
}

export function makeAxpLayer(node: ApproximableNode, clusters: LayerClusters, profile: LayerProfile, memory: LayerMemory, miss?: LayerMissArithmetic): AxpLayer {
  const format = profile.layout.format;
  const weights = Float64Array.from(clusters.centroids, (c) => roundWeight(c, format, profile.weightScale));
  const weightOf = new Float32Array(clusters.binOf.length);
  for (let i = 0; i < weightOf.length; i++) weightOf[i] = weights[clusters.binOf[i]!]!;
  if (miss && miss.binCode.length !== weights.length) throw new AxnnError(`internal error: the miss arithmetic has ${miss.binCode.length} bins, the layer ${weights.length}`, { field: `layer "${node.name}"` });
  return { node, clusters, format, layout: profile.layout, weights, weightOf, activationScale: profile.activationScale, memory, searcher: new MemorySearcher(memory), ...(miss ? { miss } : {}) };
}

// ---------------------------------------------------------------------------------------------
// How often each input position meets each bin: the MAC counts of a layer by (position, bin)

/**
 * For one sample, use[p * bins + b] = how many multiplications read the input element at position p
 * (conv: channel, row, column; dense: feature) with a weight of bin b. Padding is never multiplied.
 */
export interface LayerUse {
  positions: number;
  bins: number;
  use: Float64Array;
  /** Sum over bins. */
  useAll: Float64Array;
}

const useCache = new WeakMap<LayerClusters, Map<string, LayerUse>>();

export function layerUse(node: ApproximableNode, clusters: LayerClusters, inShape: readonly number[]): LayerUse {
  const key = inShape.slice(1).join("x");
  let m = useCache.get(clusters);
  if (!m) useCache.set(clusters, (m = new Map()));
  const hit = m.get(key);
  if (hit) return hit;
  const bins = clusters.centroids.length;
  let u: LayerUse;
  if (node.op === "Dense") {
    const [outF, inF] = node.weight.shape as [number, number];
    const use = new Float64Array(inF * bins);
    for (let o = 0; o < outF; o++) for (let k = 0; k < inF; k++) use[k * bins + clusters.binOf[o * inF + k]!]! += 1;
    u = { positions: inF, bins, use, useAll: sumBins(use, inF, bins) };
  } else {
    const [, c, h, w] = inShape as [number, number, number, number];
    const [m2, cg, kh, kw] = node.weight.shape as [number, number, number, number];
    const g = windowGeometry(h, w, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false);
    const [pt, pl] = g.pads;
    const mPerGroup = m2 / node.groups;
    // Bins of the output channels at each (input channel, tap).
    const tapBins = new Float64Array(c * kh * kw * bins);
    for (let oc = 0; oc < m2; oc++) {
      const grp = Math.floor(oc / mPerGroup);
      for (let icl = 0; icl < cg; icl++) {
        const ic = grp * cg + icl;
        for (let t = 0; t < kh * kw; t++) tapBins[(ic * kh * kw + t) * bins + clusters.binOf[(oc * cg + icl) * kh * kw + t]!]! += 1;
      }
    }
    const use = new Float64Array(c * h * w * bins);
    for (let ic = 0; ic < c; ic++) {
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const tb = (ic * kh * kw + i * kw + j) * bins;
          for (let yo = 0; yo < g.outH; yo++) {
            const y = yo * node.strides[0] - pt + i * node.dilations[0];
            if (y < 0 || y >= h) continue;
            for (let xo = 0; xo < g.outW; xo++) {
              const x = xo * node.strides[1] - pl + j * node.dilations[1];
              if (x < 0 || x >= w) continue;
              const p = ((ic * h + y) * w + x) * bins;
              for (let b = 0; b < bins; b++) use[p + b]! += tapBins[tb + b]!;
            }
          }
        }
      }
    }
    u = { positions: c * h * w, bins, use, useAll: sumBins(use, c * h * w, bins) };
  }
  m.set(key, u);
  return u;
}

function sumBins(use: Float64Array, positions: number, bins: number): Float64Array {
  const all = new Float64Array(positions);
  for (let p = 0; p < positions; p++) {
    let s = 0;
    for (let b = 0; b < bins; b++) s += use[p * bins + b]!;
    all[p] = s;
  }
  return all;
}

// ---------------------------------------------------------------------------------------------
// Fast kernel

interface PreparedInput {
  values: Float32Array;
  /**
   * Per bin: the input as that bin's multiplications see it (hits replaced), or `values` for bins
   * without entries; with a miss multiplier, the products themselves (see `products`).
   */
  planes: (Float32Array | Float64Array)[];
  /** The planes hold products: the kernels multiply them by 1 instead of the weight. */
  products: boolean;
  /** Per bin with entries: 1 where a search hits. */
  hits: Map<number, Uint8Array>;
}

function prepareInput(layer: AxpLayer, x: Float32Array): PreparedInput {
  const { values, keys } = formatAndKey(x, layer.layout, layer.activationScale);
  const bins = layer.weights.length;
  const planes = new Array<Float32Array | Float64Array>(bins).fill(values);
  const hits = new Map<number, Uint8Array>();
  if (layer.memory.entries.length === 0 && !layer.miss) return { values, planes, products: false, hits };
  // Distinct keys once; each bin's answer per distinct key once.
  const localOf = new Map<number, number>();
  const distinct: number[] = [];
  const lid = new Int32Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    let l = localOf.get(k);
    if (l === undefined) {
      l = distinct.length;
      distinct.push(k);
      localOf.set(k, l);
    }
    lid[i] = l;
  }
  const entries = layer.memory.entries;
  const answers = new Map<number, { answer: Float64Array; isHit: Uint8Array }>();
  for (const b of layer.searcher.binsWithEntries) {
    const answer = new Float64Array(distinct.length);
    const isHit = new Uint8Array(distinct.length);
    distinct.forEach((k, l) => {
      const e = layer.searcher.search(b, k);
      if (e >= 0) {
        answer[l] = entries[e]!.rep;
        isHit[l] = 1;
      }
    });
    const hit = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) hit[i] = isHit[lid[i]!]!;
    hits.set(b, hit);
    answers.set(b, { answer, isHit });
  }
  if (layer.miss) return { values, planes: productPlanes(layer, layer.miss, values, lid, answers), products: true, hits };
  for (const [b, { answer, isHit }] of answers) {
    const plane = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const l = lid[i]!;
      plane[i] = isHit[l] ? answer[l]! : values[i]!;
    }
    planes[b] = plane;
  }
  return { values, planes, products: false, hits };
}

/** Every bin's products with a miss multiplier: a hit's w x rep, a miss's table entry (0 for a gated zero). */
function productPlanes(layer: AxpLayer, miss: LayerMissArithmetic, values: Float32Array, lid: Int32Array, answers: Map<number, { answer: Float64Array; isHit: Uint8Array }>): Float64Array[] {
  const codes = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) codes[i] = missActivationCode(miss, values[i]!);
  const planes: Float64Array[] = [];
  for (let b = 0; b < layer.weights.length; b++) {
    const w = Math.fround(layer.weights[b]!);
    const row = miss.table.subarray(b << 8, (b + 1) << 8);
    const a = answers.get(b);
    const plane = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const l = lid[i]!;
      plane[i] = a && a.isHit[l] ? w * a.answer[l]! : miss.zeroGating && values[i] === 0 ? 0 : row[codes[i]!]!;
    }
    planes.push(plane);
  }
  return planes;
}

function countMacs(use: LayerUse, p: PreparedInput, samples: number, counts: LayerCounts): void {
  const { positions, bins, useAll } = use;
  const v = p.values;
  let macs = 0, zeroMacs = 0;
  for (let i = 0, pos = 0; i < v.length; i++, pos = pos + 1 === positions ? 0 : pos + 1) {
    macs += useAll[pos]!;
    if (v[i] === 0) zeroMacs += useAll[pos]!;
  }
  let hits = 0, zeroHits = 0;
  for (const [b, hit] of p.hits) {
    const u = use.use;
    for (let i = 0, pos = 0; i < v.length; i++, pos = pos + 1 === positions ? 0 : pos + 1) {
      if (hit[i]) {
        const n = u[pos * bins + b]!;
        hits += n;
        if (v[i] === 0) zeroHits += n;
      }
    }
  }
  counts.macs += macs;
  counts.zeroMacs += zeroMacs;
  counts.hits += hits;
  counts.zeroHits += zeroHits;
  counts.samples += samples;
}

/** Weights of 1 (product planes): 1 x p is p exactly. */
const onesCache = new WeakMap<Float32Array, Float32Array>();
function kernelWeights(layer: AxpLayer, p: PreparedInput): Float32Array {
  if (!p.products) return layer.weightOf;
  let o = onesCache.get(layer.weightOf);
  if (!o) onesCache.set(layer.weightOf, (o = new Float32Array(layer.weightOf.length).fill(1)));
  return o;
}

function convFast(layer: AxpLayer, node: ConvNode, x: Tensor, p: PreparedInput, outShape: number[]): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [m, cg, kh, kw] = node.weight.shape as [number, number, number, number];
  const [, , oh, ow] = outShape as [number, number, number, number];
  const [sh, sw] = node.strides;
  const [dh, dw] = node.dilations;
  const g = windowGeometry(h, w, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false);
  const [pt, pl] = g.pads;
  const mPerGroup = m / node.groups;
  const wd = kernelWeights(layer, p);
  const binOf = layer.clusters.binOf;
  const planes = p.planes;
  const plane = oh * ow;
  const out = new Float32Array(n * m * plane);
  const acc = new Float64Array(4 * plane);
  const { lo: owLo, hi: owHi } = tapColumnRanges(kw, dw, pl, sw, w, ow);
  const wStride = cg * kh * kw;
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
              const x0 = planes[binOf[wi]!]!;
              const w1 = block > 1 ? wd[wi + wStride]! : 0;
              const x1 = block > 1 ? planes[binOf[wi + wStride]!]! : x0;
              const w2 = block > 2 ? wd[wi + 2 * wStride]! : 0;
              const x2 = block > 2 ? planes[binOf[wi + 2 * wStride]!]! : x0;
              const w3 = block > 3 ? wd[wi + 3 * wStride]! : 0;
              const x3 = block > 3 ? planes[binOf[wi + 3 * wStride]!]! : x0;
              // Adding w x a = 0 changes no float64 sum: skipping all-zero weights keeps the float kernel's result.
              if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0) continue;
              const lo = owLo[j]!, hi = owHi[j]!;
              const colOff = j * dw - pl;
              for (let y = 0; y < oh; y++) {
                const iy = y * sh - pt + i * dh;
                if (iy < 0 || iy >= h) continue;
                const row = inPlane + iy * w + colOff;
                const a0 = y * ow, a1 = a0 + plane, a2 = a1 + plane, a3 = a2 + plane;
                if (block === 1) {
                  for (let xo = lo; xo <= hi; xo++) acc[a0 + xo] += w0 * x0[row + xo * sw]!;
                  continue;
                }
                for (let xo = lo; xo <= hi; xo++) {
                  const idx = row + xo * sw;
                  acc[a0 + xo] += w0 * x0[idx]!;
                  acc[a1 + xo] += w1 * x1[idx]!;
                  acc[a2 + xo] += w2 * x2[idx]!;
                  acc[a3 + xo] += w3 * x3[idx]!;
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

function denseFast(layer: AxpLayer, node: DenseNode, x: Tensor, p: PreparedInput, outShape: number[]): Tensor {
  const [outF, inF] = node.weight.shape as [number, number];
  const rows = x.data.length / inF;
  const wd = kernelWeights(layer, p), binOf = layer.clusters.binOf, planes = p.planes;
  const out = new Float32Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    const xo = r * inF;
    for (let o = 0; o < outF; o++) {
      let s = node.bias ? node.bias.data[o]! : 0;
      const wo = o * inF;
      for (let k = 0; k < inF; k++) s += planes[binOf[wo + k]!]![xo + k]! * wd[wo + k]!;
      out[r * outF + o] = s;
    }
  }
  return { shape: outShape, data: out };
}

/** One layer with AxP arithmetic (fast kernel); adds its MAC counts to `counts` when given. */
export function axpLayerForward(layer: AxpLayer, x: Tensor, counts?: LayerCounts): Tensor {
  const node = layer.node;
  const outShape = nodeOutputShapes(node, [x.shape])[0]!;
  if (counts) counts.outputs += sizeOf(outShape);
  const run = (xs: Tensor, shape: number[]): Tensor => {
    const p = prepareInput(layer, xs.data);
    if (counts) countMacs(layerUse(node, layer.clusters, xs.shape), p, xs.shape[0]!, counts);
    return node.op === "Dense" ? denseFast(layer, node, xs, p, shape) : convFast(layer, node, xs, p, shape);
  };
  const n = x.shape[0]!;
  // Product planes are bins x input in float64: a few samples at a time.
  const chunk = layer.miss ? PRODUCT_CHUNK : n;
  if (n <= chunk) return run(x, outShape);
  const per = x.data.length / n, outPer = sizeOf(outShape) / n;
  const out = new Float32Array(sizeOf(outShape));
  for (let s = 0; s < n; s += chunk) {
    const k = Math.min(chunk, n - s);
    const y = run({ shape: [k, ...x.shape.slice(1)], data: x.data.subarray(s * per, (s + k) * per) }, [k, ...outShape.slice(1)]);
    out.set(y.data, s * outPer);
  }
  return { shape: outShape, data: out };
}

const PRODUCT_CHUNK = 8;

// ---------------------------------------------------------------------------------------------
// Reference kernel: one search of the memory (a linear scan) per multiplication

/**
 * The same layer, plainly: for every output, bias then every tap in order, each product looked up by
 * a linear scan of the memory. Also counts MACs, hits and zeros one multiplication at a time.
 */
export function axpLayerReference(layer: AxpLayer, x: Tensor, counts?: LayerCounts): Tensor {
  const node = layer.node;
  const outShape = nodeOutputShapes(node, [x.shape])[0]!;
  const { values, keys } = formatAndKey(x.data, layer.layout, layer.activationScale);
  const mem = layer.memory;
  const miss = layer.miss;
  if (counts) counts.outputs += sizeOf(outShape);
  const product = (wi: number, xi: number): number => {
    const bin = layer.clusters.binOf[wi]!;
    const e = searchMemory(mem, bin, keys[xi]!);
    if (counts) {
      counts.macs++;
      if (e >= 0) counts.hits++;
      if (values[xi] === 0) {
        counts.zeroMacs++;
        if (e >= 0) counts.zeroHits++;
      }
    }
    if (e >= 0) return layer.weightOf[wi]! * mem.entries[e]!.rep;
    if (!miss) return layer.weightOf[wi]! * values[xi]!;
    if (miss.zeroGating && values[xi] === 0) return 0;
    return missProduct(miss, quantizeValue(values[xi]!, miss.activation), miss.binCode[bin]!);
  };
  const out = new Float32Array(sizeOf(outShape));
  if (node.op === "Dense") {
    const [outF, inF] = node.weight.shape as [number, number];
    const rows = x.data.length / inF;
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < outF; o++) {
        let s = node.bias ? node.bias.data[o]! : 0;
        for (let k = 0; k < inF; k++) s += product(o * inF + k, r * inF + k);
        out[r * outF + o] = s;
      }
    }
  } else {
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const [m, cg, kh, kw] = node.weight.shape as [number, number, number, number];
    const [, , oh, ow] = outShape as [number, number, number, number];
    const g = windowGeometry(h, w, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false);
    const [pt, pl] = g.pads;
    const mPerGroup = m / node.groups;
    for (let b = 0; b < n; b++) {
      for (let oc = 0; oc < m; oc++) {
        const grp = Math.floor(oc / mPerGroup);
        for (let yo = 0; yo < oh; yo++) {
          for (let xo = 0; xo < ow; xo++) {
            let acc = node.bias ? node.bias.data[oc]! : 0;
            for (let ic = 0; ic < cg; ic++) {
              for (let i = 0; i < kh; i++) {
                const y = yo * node.strides[0] - pt + i * node.dilations[0];
                if (y < 0 || y >= h) continue;
                for (let j = 0; j < kw; j++) {
                  const xx = xo * node.strides[1] - pl + j * node.dilations[1];
                  if (xx < 0 || xx >= w) continue;
                  acc += product(((oc * cg + ic) * kh + i) * kw + j, ((b * c + grp * cg + ic) * h + y) * w + xx);
                }
              }
            }
            out[((b * m + oc) * oh + yo) * ow + xo] = acc;
          }
        }
      }
    }
    if (counts) counts.samples += n;
    return { shape: outShape, data: out };
  }
  if (counts) counts.samples += x.shape[0]!;
  return { shape: outShape, data: out };
}

// ---------------------------------------------------------------------------------------------
// Whole networks

export interface AxpNetwork {
  model: Model;
  layers: Map<string, AxpLayer>;
}

/** Runs a (clustered) model with AxP arithmetic in every layer of `net.layers`; counts per layer when `counts` is given. */
export function runAxp(net: AxpNetwork, input: Tensor, opts: { counts?: Map<string, LayerCounts>; reference?: boolean } = {}): Tensor {
  const inName = net.model.inputs[0]!.name;
  const out = runModel(net.model, { [inName]: input }, {
    kernel: (node, ins) => {
      const layer = net.layers.get(node.name);
      if (!layer) return undefined;
      let c: LayerCounts | undefined;
      if (opts.counts) {
        c = opts.counts.get(node.name);
        if (!c) opts.counts.set(node.name, (c = emptyCounts()));
      }
      return [(opts.reference ? axpLayerReference : axpLayerForward)(layer, ins[0]!, c)];
    },
  });
  return out[net.model.outputs[0]!]!;
}

/**
 * The calibration profile of every conv and dense layer: the (bin, key) pairs met on the calibration
 * batches with their MAC frequencies (most frequent first) and each key's representative (mean)
 * activation. Activations are the clustered model's, in the PE's format. Memories of any size and
 * matching rule are prefixes of the profile.
 */
export function calibrationProfiles(
  model: Model,
  clusters: Map<string, LayerClusters>,
  format: AxpFormat,
  layout: KeyLayout,
  batches: Tensor[],
): Map<string, LayerProfile> {
  const inName = model.inputs[0]!.name;
  const nodes = model.nodes.filter(isApproximable);
  const actScales = format === "int8" ? activationScales(model, batches) : new Map<string, number>();
  const acc = new Map<string, { freq: Map<number, Float64Array>; sum: Map<number, number>; count: Map<number, number>; bins: number }>();
  const scales = new Map<string, { act: number; weight: number }>();
  for (const n of nodes) {
    const cl = clusters.get(n.name);
    if (!cl) throw new AxnnError(`layer "${n.name}" has no clustering`, { field: "clusters" });
    let wmax = 0;
    for (const c of cl.centroids) wmax = Math.max(wmax, Math.abs(c));
    scales.set(n.name, { act: actScales.get(n.name) ?? 1, weight: format === "int8" ? wmax / 127 || 1 : 1 });
    acc.set(n.name, { freq: new Map(), sum: new Map(), count: new Map(), bins: cl.centroids.length });
  }
  for (const xb of batches) {
    runModel(model, { [inName]: xb }, {
      kernel: (node, ins) => {
        if (!isApproximable(node)) return undefined;
        const a = acc.get(node.name)!;
        const x = ins[0]!;
        const { values, keys } = formatAndKey(x.data, layout, scales.get(node.name)!.act);
        const use = layerUse(node, clusters.get(node.name)!, x.shape);
        const B = use.bins;
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i]!;
          let f = a.freq.get(k);
          if (!f) {
            a.freq.set(k, (f = new Float64Array(B)));
            a.sum.set(k, 0);
            a.count.set(k, 0);
          }
          a.sum.set(k, a.sum.get(k)! + values[i]!);
          a.count.set(k, a.count.get(k)! + 1);
          const base = (i % use.positions) * B;
          for (let b = 0; b < B; b++) f[b]! += use.use[base + b]!;
        }
        return undefined;
      },
    });
  }
  const out = new Map<string, LayerProfile>();
  for (const n of nodes) {
    const a = acc.get(n.name)!;
    const candidates: MemoryEntry[] = [];
    for (const [key, f] of a.freq) {
      const rep = Math.fround(a.sum.get(key)! / a.count.get(key)!);
      for (let b = 0; b < a.bins; b++) if (f[b]! > 0) candidates.push({ bin: b, key, rep, frequency: f[b]! });
    }
    candidates.sort((p, q) => q.frequency - p.frequency || p.bin - q.bin || p.key - q.key);
    const s = scales.get(n.name)!;
    out.set(n.name, { layer: n.name, layout, bins: a.bins, candidates, activationScale: s.act, weightScale: s.weight });
  }
  return out;
}

/** int8 activation scale of every conv and dense layer: the largest |input| on the batches / 127. */
export function activationScales(model: Model, batches: Tensor[]): Map<string, number> {
  const inName = model.inputs[0]!.name;
  const m = new Map<string, number>();
  for (const x of batches) {
    runModel(model, { [inName]: x }, {
      kernel: (node, ins) => {
        if (!isApproximable(node)) return undefined;
        let v = m.get(node.name) ?? 0;
        for (const a of ins[0]!.data) v = Math.max(v, Math.abs(a));
        m.set(node.name, v);
        return undefined;
      },
    });
  }
  for (const [k, v] of m) m.set(k, v / 127 || 1);
  return m;
}
