// Reference kernels: plain nested loops, slow and obviously correct. They define what the
// native kernels compute (test/kernels-native.test.ts compares the two bit for bit) and are
// the fallback when the native addon is not built.
import { tapColumnRanges, type ConvGeometry, type DenseGeometry } from "./geometry.js";

/** A product of two raw operand codes (LUT lookup or exact product). */
export type ProductFn = (act: number, weight: number) => number;

/** Product through a multiplier table in the orientation `table[(act << weightBits) | w]`. */
export function lutProduct(table: Int32Array, weightBits: number): ProductFn {
  return (a, w) => table[(a << weightBits) | w]!;
}

/** Exact product of two 8-bit codes: int8 x int8 (two's complement) or uint8 x uint8. */
export function exactProduct(signed: boolean): ProductFn {
  return signed ? (a, w) => ((a << 24) >> 24) * ((w << 24) >> 24) : (a, w) => a * w;
}

/**
 * The convolution loop nest both references share: for every output element, `acc` starts at 0
 * and takes `step(acc, a, w)` for each tap, `a` being `pad` outside the image.
 */
function convLoops(
  input: ArrayLike<number>, weights: ArrayLike<number>, g: ConvGeometry, pad: number,
  out: Int32Array | Float32Array, step: (acc: number, a: number, w: number) => number,
): void {
  const Cg = g.C / g.groups, Mg = g.M / g.groups;
  for (let n = 0; n < g.N; n++) {
    for (let m = 0; m < g.M; m++) {
      const group = Math.floor(m / Mg);
      for (let p = 0; p < g.P; p++) {
        for (let q = 0; q < g.Q; q++) {
          let acc = 0;
          for (let cl = 0; cl < Cg; cl++) {
            const c = group * Cg + cl;
            for (let r = 0; r < g.R; r++) {
              for (let s = 0; s < g.S; s++) {
                const y = p * g.sh + r * g.dh - g.pt;
                const x = q * g.sw + s * g.dw - g.pl;
                const a = y >= 0 && y < g.H && x >= 0 && x < g.W ? input[((n * g.C + c) * g.H + y) * g.W + x]! : pad;
                acc = step(acc, a, weights[((m * Cg + cl) * g.R + r) * g.S + s]!);
              }
            }
          }
          out[((n * g.M + m) * g.P + p) * g.Q + q] = acc;
        }
      }
    }
  }
}

/**
 * Integer conv2d: out[n, m, p, q] = sum over (c, r, s) of product(x, w), with x the padded input
 * (padCode outside the image) and sums wrapped to int32 like the native int32 accumulators.
 */
export function conv2dIntReference(input: Uint8Array, weights: Uint8Array, g: ConvGeometry, product: ProductFn, padCode: number): Int32Array {
  const out = new Int32Array(g.N * g.M * g.P * g.Q);
  convLoops(input, weights, g, padCode, out, (acc, a, w) => (acc + product(a, w)) | 0);
  return out;
}

/** Integer dense: out[b, m] = sum over k of product(input[b, k], weights[m, k]), wrapped to int32. */
export function denseIntReference(input: Uint8Array, weights: Uint8Array, g: DenseGeometry, product: ProductFn): Int32Array {
  const out = new Int32Array(g.B * g.M);
  for (let b = 0; b < g.B; b++) {
    for (let m = 0; m < g.M; m++) {
      let acc = 0;
      for (let k = 0; k < g.K; k++) acc = (acc + product(input[b * g.K + k]!, weights[m * g.K + k]!)) | 0;
      out[b * g.M + m] = acc;
    }
  }
  return out;
}

/** Float conv2d with padValue outside the image (sums in double, rounded to float32 at the end). */
export function conv2dFloatReference(input: Float32Array, weights: Float32Array, g: ConvGeometry, padValue = 0): Float32Array {
  const out = new Float32Array(g.N * g.M * g.P * g.Q);
  convLoops(input, weights, g, padValue, out, (acc, a, w) => acc + a * w);
  return out;
}

/** Float dense (sums in double, rounded to float32 at the end). */
export function denseFloatReference(input: Float32Array, weights: Float32Array, g: DenseGeometry): Float32Array {
  const out = new Float32Array(g.B * g.M);
  for (let b = 0; b < g.B; b++) {
    for (let m = 0; m < g.M; m++) {
      let acc = 0;
      for (let k = 0; k < g.K; k++) acc += input[b * g.K + k]! * weights[m * g.K + k]!;
      out[b * g.M + m] = acc;
    }
  }
  return out;
}

/** c [m, n] = op(a) op(b) (+ c when given), a stored [m, k] ([k, m] if transA), b [k, n] ([n, k] if transB); sums in double. */
export function gemmFloatReference(a: Float32Array, b: Float32Array, m: number, n: number, k: number, transA: boolean, transB: boolean, c: Float32Array | null): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = c ? c[i * n + j]! : 0;
      for (let t = 0; t < k; t++) acc += a[transA ? t * m + i : i * k + t]! * b[transB ? j * k + t : t * n + j]!;
      out[i * n + j] = acc;
    }
  }
  return out;
}

/** Gradients of a layer with respect to its input, weights and bias. */
export interface GradientsReference { dInput: Float32Array; dWeights: Float32Array; dBias: Float32Array }

/**
 * Conv2d backward, the one TypeScript convolution backward (the fallback without the native
 * addon, and what the native kernel is compared with). dBias[m] = sum of dy over (n, p, q); for
 * every tap inside the image dInput[x] += w dy and dWeights[w] += x dy. Float64 sums, rounded at
 * the end. Not a naive loop nest (that one was 6-10x slower on training's layers): without
 * im2col, in the forward kernel's memory order, for each (sample, output channel, input channel,
 * tap) one pass over the output rows accumulates the weight gradient (dy row . shifted x row) and
 * scatters w dy into dInput, four output channels of a group at a time. Its obviously correct
 * twin is the adjoint identity with conv2dFloatReference (test/kernels-backward.test.ts):
 * sum(dWeights w') = <dy, conv(input, w')> and sum(dInput x') = <dy, conv(x', weights)>.
 * `needInput` false leaves dInput zero and skips its work.
 */
export function conv2dBackwardFloatReference(input: Float32Array, weights: Float32Array, dy: Float32Array, g: ConvGeometry, needInput = true): GradientsReference {
  const { N: n, C: c, H: h, W: w, M: m, R: kh, S: kw, P: oh, Q: ow, sh, sw, dh, dw, pt, pl } = g;
  const cg = c / g.groups, mPerGroup = m / g.groups;
  const plane = oh * ow;
  const dW = new Float64Array(weights.length);
  const dX = needInput ? new Float64Array(input.length) : null;
  const biasAcc = new Float64Array(m);
  // The output columns whose tap j lands inside the image.
  const { lo: owLo, hi: owHi } = tapColumnRanges(kw, dw, pl, sw, w, ow);
  const wStride = cg * kh * kw;
  for (let b = 0; b < n; b++) {
    for (let oc0 = 0; oc0 < m; ) {
      const grp = Math.floor(oc0 / mPerGroup);
      // Four output channels of a group at once: each x read serves four weight-gradient sums
      // and each dInput element gets one read-modify-write for four products.
      const block = Math.min(4, (grp + 1) * mPerGroup - oc0) === 4 ? 4 : 1;
      for (let k = 0; k < block; k++) {
        const o = (b * m + oc0 + k) * plane;
        let s = 0;
        for (let q = o; q < o + plane; q++) s += dy[q]!;
        biasAcc[oc0 + k]! += s;
      }
      const dyPlane = (b * m + oc0) * plane;
      for (let ic = 0; ic < cg; ic++) {
        const inPlane = (b * c + grp * cg + ic) * h * w;
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const wi = oc0 * wStride + (ic * kh + i) * kw + j;
            const lo = owLo[j]!, hi = owHi[j]!;
            const colOff = j * dw - pl;
            if (block === 4) {
              const w0 = weights[wi]!, w1 = weights[wi + wStride]!, w2 = weights[wi + 2 * wStride]!, w3 = weights[wi + 3 * wStride]!;
              let g0 = 0, g1 = 0, g2 = 0, g3 = 0;
              for (let y = 0; y < oh; y++) {
                const iy = y * sh - pt + i * dh;
                if (iy < 0 || iy >= h) continue;
                const row = inPlane + iy * w + colOff;
                const d0 = dyPlane + y * ow, d1 = d0 + plane, d2 = d1 + plane, d3 = d2 + plane;
                for (let xo = lo; xo <= hi; xo++) {
                  const xi = row + xo * sw;
                  const v = input[xi]!;
                  const e0 = dy[d0 + xo]!, e1 = dy[d1 + xo]!, e2 = dy[d2 + xo]!, e3 = dy[d3 + xo]!;
                  g0 += e0 * v;
                  g1 += e1 * v;
                  g2 += e2 * v;
                  g3 += e3 * v;
                  if (dX) dX[xi]! += w0 * e0 + w1 * e1 + w2 * e2 + w3 * e3;
                }
              }
              dW[wi]! += g0;
              dW[wi + wStride]! += g1;
              dW[wi + 2 * wStride]! += g2;
              dW[wi + 3 * wStride]! += g3;
            } else {
              const wv = weights[wi]!;
              let gw = 0;
              for (let y = 0; y < oh; y++) {
                const iy = y * sh - pt + i * dh;
                if (iy < 0 || iy >= h) continue;
                const row = inPlane + iy * w + colOff;
                const dr = dyPlane + y * ow;
                for (let xo = lo; xo <= hi; xo++) {
                  const e = dy[dr + xo]!;
                  const xi = row + xo * sw;
                  gw += e * input[xi]!;
                  if (dX) dX[xi]! += wv * e;
                }
              }
              dW[wi]! += gw;
            }
          }
        }
      }
      oc0 += block;
    }
  }
  return { dInput: dX ? Float32Array.from(dX) : new Float32Array(input.length), dWeights: Float32Array.from(dW), dBias: Float32Array.from(biasAcc) };
}

/** Dense backward: dInput = dy W, dWeights = dy^T input, dBias = column sums of dy; sums in double. */
export function denseBackwardFloatReference(input: Float32Array, weights: Float32Array, dy: Float32Array, g: DenseGeometry): GradientsReference {
  const dInput = new Float32Array(g.B * g.K), dWeights = new Float32Array(g.M * g.K), dBias = new Float32Array(g.M);
  for (let b = 0; b < g.B; b++) {
    for (let k = 0; k < g.K; k++) {
      let acc = 0;
      for (let m = 0; m < g.M; m++) acc += dy[b * g.M + m]! * weights[m * g.K + k]!;
      dInput[b * g.K + k] = acc;
    }
  }
  for (let m = 0; m < g.M; m++) {
    let bias = 0;
    for (let b = 0; b < g.B; b++) bias += dy[b * g.M + m]!;
    dBias[m] = bias;
    for (let k = 0; k < g.K; k++) {
      let acc = 0;
      for (let b = 0; b < g.B; b++) acc += dy[b * g.M + m]! * input[b * g.K + k]!;
      dWeights[m * g.K + k] = acc;
    }
  }
  return { dInput, dWeights, dBias };
}

/** Per-channel mean and biased variance of x [n, c, inner] (double sums, two passes). */
export function channelMomentsReference(x: Float32Array, n: number, c: number, inner: number): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(c), variance = new Float64Array(c);
  const count = n * inner;
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let b = 0; b < n; b++) for (let k = (b * c + ch) * inner, e = k + inner; k < e; k++) s += x[k]!;
    const m = s / count;
    let sq = 0;
    for (let b = 0; b < n; b++) for (let k = (b * c + ch) * inner, e = k + inner; k < e; k++) sq += (x[k]! - m) ** 2;
    mean[ch] = m;
    variance[ch] = sq / count;
  }
  return { mean, variance };
}

/** out = (x - mean) invStd scale + bias per channel (double arithmetic, rounded to float32). */
export function batchNormApplyReference(x: Float32Array, n: number, c: number, inner: number, mean: Float64Array, invStd: Float64Array, scale: Float32Array, bias: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const m = mean[ch]!, is = invStd[ch]!, g = scale[ch]!, be = bias[ch]!;
      for (let k = (b * c + ch) * inner, e = k + inner; k < e; k++) out[k] = (x[k]! - m) * is * g + be;
    }
  }
  return out;
}

/** BatchNorm backward (see batchNormBackward in index.ts), double sums. */
export function batchNormBackwardReference(
  x: Float32Array, dy: Float32Array, n: number, c: number, inner: number, mean: Float64Array, invStd: Float64Array, scale: Float32Array, batchStats: boolean,
): { dInput: Float32Array; dScale: Float32Array; dBias: Float32Array } {
  const count = n * inner;
  const dInput = new Float32Array(x.length), dScale = new Float32Array(c), dBias = new Float32Array(c);
  for (let ch = 0; ch < c; ch++) {
    const m = mean[ch]!, is = invStd[ch]!;
    let sb = 0, sg = 0;
    for (let b = 0; b < n; b++) {
      for (let k = (b * c + ch) * inner, e = k + inner; k < e; k++) {
        sb += dy[k]!;
        sg += dy[k]! * (x[k]! - m) * is;
      }
    }
    dBias[ch] = sb;
    dScale[ch] = sg;
    const k1 = scale[ch]! * is;
    const mb = batchStats ? sb / count : 0, mg = batchStats ? sg / count : 0;
    for (let b = 0; b < n; b++) {
      for (let k = (b * c + ch) * inner, e = k + inner; k < e; k++) dInput[k] = k1 * (dy[k]! - mb - (x[k]! - m) * is * mg);
    }
  }
  return { dInput, dScale, dBias };
}

export function reluReference(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! > 0 ? x[i]! : 0;
  return out;
}

export function reluBackwardReference(x: Float32Array, dy: Float32Array): Float32Array {
  const dx = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) dx[i] = x[i]! > 0 ? dy[i]! : 0;
  return dx;
}

export function addReference(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

/**
 * QAT's quantization of a layer's input (scale, zeroPoint, qmin, qmax as src/quant QuantParams), in
 * one pass: q = clamp(roundHalfAway(x / scale) + zeroPoint, qmin, qmax), its 8-bit code, the
 * fake-quantized value float32(scale * (q - zeroPoint)), and 0 in mask where the clamp changed the
 * value, 1 elsewhere. (The arithmetic of quantizeValue and quantizeToCodes.)
 */
export function fakeQuantizeReference(
  x: Float32Array, scale: number, zeroPoint: number, qmin: number, qmax: number,
  codes: Uint8Array, fake: Float32Array, mask: Uint8Array,
): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! / scale;
    // trunc(v -+ 0.5) is roundHalfAway(v): for v < 0, trunc(v - 0.5) = -floor(0.5 - v).
    const r = Math.trunc(v < 0 ? v - 0.5 : v + 0.5) + zeroPoint;
    const q = r < qmin ? qmin : r > qmax ? qmax : r;
    codes[i] = q & 0xff;
    fake[i] = scale * (q - zeroPoint);
    mask[i] = r === q ? 1 : 0;
  }
}

/** The least and greatest element, NaN skipped (+Infinity and -Infinity when there is none). */
export function minMaxReference(x: Float32Array): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/**
 * The integer layers' dequantization (src/quant integerLayer): per image n, output channel m of M and
 * position k of inner, y = float32((acc + constant[m] - zw[m] * sums[n, group of m, k]) * scale[m] + bias[m])
 * (the sums term only with sums and zw[m] != 0), clamped to [0, hi] when hi >= 0 (a fused ReLU or
 * ReLU6; NaN gives 0). out may be acc's own buffer: each element is read before it is written.
 */
export function dequantizeAccReference(
  acc: Int32Array, batch: number, M: number, inner: number, groups: number,
  constant: Float64Array, scale: Float64Array, bias: Float64Array, zw: Int32Array, sums: Int32Array | null, hi: number, out: Float32Array,
): void {
  const perGroup = M / groups;
  for (let n = 0; n < batch; n++) {
    for (let m = 0; m < M; m++) {
      const base = (n * M + m) * inner;
      const sumBase = (n * groups + Math.floor(m / perGroup)) * inner;
      if (sums !== null && zw[m] !== 0) dequantizePlaneWithSums(acc, out, base, inner, constant[m]!, scale[m]!, bias[m]!, zw[m]!, sums, sumBase, hi);
      else dequantizePlane(acc, out, base, inner, constant[m]!, scale[m]!, bias[m]!, hi);
    }
  }
}

// Small monomorphic loops that compile to tight code. With a clamp the float32 value (Math.fround)
// is clamped, exactly as a separate ReLU would.
function dequantizePlane(acc: Int32Array, y: Float32Array, base: number, inner: number, constant: number, scale: number, b: number, hi: number): void {
  if (hi < 0) {
    for (let k = base; k < base + inner; k++) y[k] = (acc[k]! + constant) * scale + b;
    return;
  }
  for (let k = base; k < base + inner; k++) {
    const v = Math.fround((acc[k]! + constant) * scale + b);
    y[k] = v > 0 ? (v < hi ? v : hi) : 0;
  }
}

function dequantizePlaneWithSums(
  acc: Int32Array, y: Float32Array, base: number, inner: number, constant: number, scale: number, b: number,
  zw: number, sums: Int32Array, sumBase: number, hi: number,
): void {
  const shift = sumBase - base;
  if (hi < 0) {
    for (let k = base; k < base + inner; k++) y[k] = (acc[k]! + constant - zw * sums[k + shift]!) * scale + b;
    return;
  }
  for (let k = base; k < base + inner; k++) {
    const v = Math.fround((acc[k]! + constant - zw * sums[k + shift]!) * scale + b);
    y[k] = v > 0 ? (v < hi ? v : hi) : 0;
  }
}
