// WGSL shaders of training's float32 kernels on the GPU: the matrix product (gemmFloat) and the
// convolution's backward pass (conv2dBackwardFloat; dense layers as 1x1 convolutions), one
// invocation per result element, each summing its terms in float32 in a fixed order. As every
// backend's float32 kernels, they equal the reference (float64 sums) up to float32 rounding and
// summation order (docs/kernels.md); test/kernels-webgpu.test.ts bounds the difference.
import { PARAM_COUNT } from "./shaders.js";

export type TrainingKernel = "gemm" | "conv-backward-input" | "conv-backward-weights" | "conv-backward-bias";

/** params: m, n, k, transA, transB, accumulate, total, dispatch width. */
export const GEMM_PARAM_COUNT = 8;

const bindings = (params: number, a: string, b: string, c: string) => /* wgsl */ `
@group(0) @binding(0) var<storage, read> params: array<u32, ${params}>;
@group(0) @binding(1) var<storage, read> ${a}: array<f32>;
@group(0) @binding(2) var<storage, read> ${b}: array<f32>;
@group(0) @binding(3) var<storage, read> ${c}: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
`;

const gemmShader = /* wgsl */ `
${bindings(GEMM_PARAM_COUNT, "a", "b", "c")}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[7];
  if (idx >= params[6]) { return; }
  let m = params[0]; let n = params[1]; let k = params[2];
  let i = idx / n; let j = idx % n;
  var acc = select(0.0, c[idx], params[5] == 1u);
  for (var t = 0u; t < k; t++) {
    let av = select(a[i * k + t], a[t * m + i], params[3] == 1u);
    let bv = select(b[t * n + j], b[j * k + t], params[4] == 1u);
    acc = acc + av * bv;
  }
  out[idx] = acc;
}
`;

// The convolution geometry as the forward shaders take it (shaders.ts: geometryArray, total at 20, width at 21).
const GEOMETRY = /* wgsl */ `
  let N = params[0]; let C = params[1]; let H = params[2]; let W = params[3]; let M = params[4];
  let R = params[5]; let S = params[6]; let groups = params[7];
  let sh = params[8]; let sw = params[9]; let pt = i32(params[10]); let pl = i32(params[11]);
  let dh = params[14]; let dw = params[15]; let P = params[16]; let Q = params[17];
  let Cg = C / groups; let Mg = M / groups;
`;

// dInput[n, c, y, x] = sum over the output positions whose window reads (y, x) of dy * w.
const backwardInputShader = /* wgsl */ `
${bindings(PARAM_COUNT, "dy", "weights", "unused")}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[21];
  if (idx >= params[20]) { return; }
  ${GEOMETRY}
  let x = idx % W; var t = idx / W; let y = t % H; t = t / H; let c = t % C; let n = t / C;
  let g = c / Cg; let cl = c % Cg;
  var acc = 0.0;
  for (var ml = 0u; ml < Mg; ml++) {
    let m = g * Mg + ml;
    for (var r = 0u; r < R; r++) {
      let py = i32(y) + pt - i32(r * dh);
      if (py < 0 || py % i32(sh) != 0 || u32(py) / sh >= P) { continue; }
      let p = u32(py) / sh;
      for (var s = 0u; s < S; s++) {
        let qx = i32(x) + pl - i32(s * dw);
        if (qx < 0 || qx % i32(sw) != 0 || u32(qx) / sw >= Q) { continue; }
        let q = u32(qx) / sw;
        acc = acc + dy[((n * M + m) * P + p) * Q + q] * weights[((m * Cg + cl) * R + r) * S + s];
      }
    }
  }
  out[idx] = acc;
}
`;

// dWeights[m, cl, r, s] = sum over samples and output positions of dy * the input under that tap.
const backwardWeightsShader = /* wgsl */ `
${bindings(PARAM_COUNT, "input", "dy", "unused")}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[21];
  if (idx >= params[20]) { return; }
  ${GEOMETRY}
  let s = idx % S; var t = idx / S; let r = t % R; t = t / R; let cl = t % Cg; let m = t / Cg;
  let c = (m / Mg) * Cg + cl;
  var acc = 0.0;
  for (var n = 0u; n < N; n++) {
    for (var p = 0u; p < P; p++) {
      let y = i32(p * sh + r * dh) - pt;
      if (y < 0 || y >= i32(H)) { continue; }
      for (var q = 0u; q < Q; q++) {
        let x = i32(q * sw + s * dw) - pl;
        if (x < 0 || x >= i32(W)) { continue; }
        acc = acc + dy[((n * M + m) * P + p) * Q + q] * input[((n * C + c) * H + u32(y)) * W + u32(x)];
      }
    }
  }
  out[idx] = acc;
}
`;

// dBias[m] = sum of dy over samples and positions.
const backwardBiasShader = /* wgsl */ `
${bindings(PARAM_COUNT, "dy", "unused1", "unused2")}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m = gid.x + gid.y * params[21];
  if (m >= params[20]) { return; }
  ${GEOMETRY}
  var acc = 0.0;
  for (var n = 0u; n < N; n++) {
    for (var k = 0u; k < P * Q; k++) { acc = acc + dy[(n * M + m) * P * Q + k]; }
  }
  out[m] = acc;
}
`;

export const TRAINING_SHADERS: readonly [TrainingKernel, string][] = [
  ["gemm", gemmShader],
  ["conv-backward-input", backwardInputShader],
  ["conv-backward-weights", backwardWeightsShader],
  ["conv-backward-bias", backwardBiasShader],
];

// ---- A training step resident on the GPU (src/train/gpu-step.ts) ----
// Float32 arithmetic in a fixed order, as the other training kernels: within float32 rounding of
// the CPU's (double) reference, not bit for bit; test/gpu-training.test.ts bounds the difference.

export type TrainingStepKernel =
  | "bias-add" | "add-f32" | "clip-backward" | "bn-moments" | "bn-running" | "bn-apply" | "bn-backward-params" | "bn-backward-input"
  | "maxpool-argmax" | "gather" | "maxpool-backward" | "gap-f32" | "gap-backward" | "pad-backward" | "ce-grad" | "ce-loss" | "sgd-velocity" | "sgd-weights";

/** Bindings of the step kernels: params (0), up to five read-only inputs (1, 2, 3, 5, 6), the output (4). */
const stepBindings = (params: number, inputs: string[], out: string) => [
  `@group(0) @binding(0) var<storage, read> params: array<u32, ${params}>;`,
  ...inputs.map((decl, i) => `@group(0) @binding(${[1, 2, 3, 5, 6][i]}) var<storage, read> ${decl};`),
  `@group(0) @binding(4) var<storage, read_write> ${out};`,
].join("\n");

/** The shader's main over `total` invocations (params[totalAt]), the dispatch width at params[totalAt + 1]. */
const kernel = (params: number, inputs: string[], out: string, totalAt: number, body: string, helpers = "") => /* wgsl */ `
${stepBindings(params, inputs, out)}
${helpers}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[${totalAt + 1}];
  if (idx >= params[${totalAt}]) { return; }
  ${body}
}
`;

/** params of bias-add: total, channels, inner, width. */
export const BIAS_ADD_PARAMS = 4;
/** params of add-f32: total, width. */
export const ADD_F32_PARAMS = 2;
/** params of clip-backward: lo bits, hi bits, total, width (dx = lo < x < hi ? dy : 0). */
export const CLIP_BACKWARD_PARAMS = 4;
/** params of the BatchNorm kernels: n, channels, inner, epsilon bits (bn-running: momentum bits), total, width. */
export const BN_PARAMS = 6;
/** params of maxpool-argmax and maxpool-backward: network-shaders' MAXPOOL layout (planes, H, W, kh, kw, sh, sw, pt, pl, dh, dw, outH, outW, total, width). */
export const MAXPOOL_STEP_PARAMS = 15;
/** params of gather: total, width. */
export const GATHER_PARAMS = 2;
/** params of gap-f32 (total = planes) and gap-backward (total = inputs): inner, total, width. */
export const GAP_PARAMS = 3;
/** params of pad-backward: input shape (4), padded shape (4), begin pads (4, i32), total, width. */
export const PAD_BACKWARD_PARAMS = 14;
/** params of ce-grad (total = rows * classes) and ce-loss (total = rows): rows, classes, total, width. */
export const CE_PARAMS = 4;
/** params of the SGD kernels: momentum bits, weight decay bits, learning rate bits, nesterov (0/1), total, width. */
export const SGD_PARAMS = 6;

const f = (i: number) => `bitcast<f32>(params[${i}])`;

// -Infinity at run time (a constant -Infinity does not compile: WGSL's constants are finite).
const NEG_INF = /* wgsl */ `
fn negInf() -> f32 { return bitcast<f32>(0xff800000u | (params[0] & 0u)); }
`;

const BN_HELPERS = /* wgsl */ `
fn channelOf(i: u32) -> u32 { return (i / params[2]) % params[1]; }
`;

const stepShaders: [TrainingStepKernel, string][] = [
  ["bias-add", kernel(BIAS_ADD_PARAMS, ["x: array<f32>", "bias: array<f32>"], "out: array<f32>", 0,
    "out[idx] = x[idx] + bias[(idx / params[2]) % params[1]];")],
  ["add-f32", kernel(ADD_F32_PARAMS, ["a: array<f32>", "b: array<f32>"], "out: array<f32>", 0, "out[idx] = a[idx] + b[idx];")],
  ["clip-backward", kernel(CLIP_BACKWARD_PARAMS, ["x: array<f32>", "dy: array<f32>"], "out: array<f32>", 2,
    `let v = x[idx]; out[idx] = select(0.0, dy[idx], v > ${f(0)} && v < ${f(1)});`)],
  // Per channel: the mean and the biased variance (two passes), as channelMoments.
  ["bn-moments", kernel(BN_PARAMS, ["x: array<f32>"], "out: array<f32>", 4, `
  let n = params[0]; let C = params[1]; let inner = params[2]; let c = idx;
  let count = f32(n * inner);
  var s = 0.0;
  for (var b = 0u; b < n; b++) { let at = (b * C + c) * inner; for (var k = at; k < at + inner; k++) { s = s + x[k]; } }
  let m = s / count;
  var sq = 0.0;
  for (var b = 0u; b < n; b++) { let at = (b * C + c) * inner; for (var k = at; k < at + inner; k++) { let d = x[k] - m; sq = sq + d * d; } }
  out[c] = m; out[C + c] = sq / count;`)],
  // Running statistics, in place: (1 - momentum) old + momentum batch; the variance's unbiased estimate (PyTorch's).
  ["bn-running", kernel(BN_PARAMS, ["moments: array<f32>"], "out: array<f32>", 4, `
  let C = params[1]; let count = params[0] * params[2]; let m = ${f(3)};
  let v = moments[C + idx];
  let unbiased = select(v, v * f32(count) / f32(count - 1u), count > 1u);
  out[idx] = (1.0 - m) * out[idx] + m * moments[idx];
  out[C + idx] = (1.0 - m) * out[C + idx] + m * unbiased;`)],
  ["bn-apply", kernel(BN_PARAMS, ["x: array<f32>", "moments: array<f32>", "gb: array<f32>"], "out: array<f32>", 4, `
  let C = params[1]; let c = channelOf(idx);
  let invStd = 1.0 / sqrt(moments[C + c] + ${f(3)});
  out[idx] = (x[idx] - moments[c]) * invStd * gb[c] + gb[C + c];`, BN_HELPERS)],
  // [d scale (sum dy * xhat), d bias (sum dy)] per channel: the gradient of the [scale, bias] parameter buffer.
  ["bn-backward-params", kernel(BN_PARAMS, ["x: array<f32>", "dy: array<f32>", "moments: array<f32>"], "out: array<f32>", 4, `
  let n = params[0]; let C = params[1]; let inner = params[2]; let c = idx;
  let m = moments[c]; let invStd = 1.0 / sqrt(moments[C + c] + ${f(3)});
  var sg = 0.0; var sb = 0.0;
  for (var b = 0u; b < n; b++) {
    let at = (b * C + c) * inner;
    for (var k = at; k < at + inner; k++) { sb = sb + dy[k]; sg = sg + dy[k] * (x[k] - m) * invStd; }
  }
  out[c] = sg; out[C + c] = sb;`)],
  ["bn-backward-input", kernel(BN_PARAMS, ["x: array<f32>", "dy: array<f32>", "moments: array<f32>", "gb: array<f32>", "dgb: array<f32>"], "out: array<f32>", 4, `
  let C = params[1]; let c = channelOf(idx); let count = f32(params[0] * params[2]);
  let invStd = 1.0 / sqrt(moments[C + c] + ${f(3)});
  let xhat = (x[idx] - moments[c]) * invStd;
  out[idx] = gb[c] * invStd * (dy[idx] - dgb[C + c] / count - xhat * dgb[c] / count);`, BN_HELPERS)],
  // The first greatest value of each window (v > best, as maxPoolWithArgmax), -1 for a window with no input.
  ["maxpool-argmax", kernel(MAXPOOL_STEP_PARAMS, ["x: array<f32>"], "out: array<i32>", 13, `
  let H = params[1]; let W = params[2]; let kh = params[3]; let kw = params[4];
  let sh = params[5]; let sw = params[6]; let pt = i32(params[7]); let pl = i32(params[8]);
  let dh = params[9]; let dw = params[10]; let oh = params[11]; let ow = params[12];
  let xo = idx % ow; let y = (idx / ow) % oh; let plane = idx / (ow * oh);
  var best = negInf(); var at = -1i;
  for (var i = 0u; i < kh; i++) {
    let iy = i32(y * sh + i * dh) - pt;
    if (iy < 0 || iy >= i32(H)) { continue; }
    for (var j = 0u; j < kw; j++) {
      let ix = i32(xo * sw + j * dw) - pl;
      if (ix < 0 || ix >= i32(W)) { continue; }
      let k = (plane * H + u32(iy)) * W + u32(ix);
      if (x[k] > best) { best = x[k]; at = i32(k); }
    }
  }
  out[idx] = at;`, NEG_INF)],
  ["gather", kernel(GATHER_PARAMS, ["x: array<f32>", "at: array<i32>"], "out: array<f32>", 0,
    "let k = at[idx]; out[idx] = select(negInf(), x[max(k, 0i)], k >= 0i);", NEG_INF)],
  // Each input's gradient: the sum of dy over the windows whose argmax it is, in increasing output order (as the CPU adds).
  ["maxpool-backward", kernel(MAXPOOL_STEP_PARAMS, ["argmax: array<i32>", "dy: array<f32>"], "out: array<f32>", 13, `
  let H = params[1]; let W = params[2]; let kh = params[3]; let kw = params[4];
  let sh = i32(params[5]); let sw = i32(params[6]); let pt = i32(params[7]); let pl = i32(params[8]);
  let dh = i32(params[9]); let dw = i32(params[10]); let oh = i32(params[11]); let ow = i32(params[12]);
  let ix = i32(idx % W); let iy = i32((idx / W) % H); let plane = idx / (W * H);
  var acc = 0.0;
  for (var i = i32(kh) - 1i; i >= 0i; i--) {
    let ty = iy + pt - i * dh;
    if (ty < 0i || ty % sh != 0i || ty / sh >= oh) { continue; }
    for (var j = i32(kw) - 1i; j >= 0i; j--) {
      let tx = ix + pl - j * dw;
      if (tx < 0i || tx % sw != 0i || tx / sw >= ow) { continue; }
      let o = (plane * u32(oh) + u32(ty / sh)) * u32(ow) + u32(tx / sw);
      if (argmax[o] == i32(idx)) { acc = acc + dy[o]; }
    }
  }
  out[idx] = acc;`)],
  ["gap-f32", kernel(GAP_PARAMS, ["x: array<f32>"], "out: array<f32>", 1, `
  let inner = params[0]; var s = 0.0;
  for (var k = idx * inner; k < (idx + 1u) * inner; k++) { s = s + x[k]; }
  out[idx] = s / f32(inner);`)],
  ["gap-backward", kernel(GAP_PARAMS, ["dy: array<f32>"], "out: array<f32>", 1, "out[idx] = dy[idx / params[0]] / f32(params[0]);")],
  // Pad's gradient: the output gradient at each input position (0 where a negative pad cropped it).
  ["pad-backward", kernel(PAD_BACKWARD_PARAMS, ["dy: array<f32>"], "out: array<f32>", 12, `
  var rest = idx; var src = 0u; var stride = 1u; var inside = true;
  for (var k = 3i; k >= 0i; k--) {
    let c = i32(rest % params[u32(k)]) + bitcast<i32>(params[8u + u32(k)]);
    rest = rest / params[u32(k)];
    let d = params[4u + u32(k)];
    if (c < 0i || c >= i32(d)) { inside = false; }
    src = src + u32(max(c, 0i)) * stride;
    stride = stride * d;
  }
  out[idx] = select(0.0, dy[min(src, arrayLength(&dy) - 1u)], inside);`)],
  // Softmax cross-entropy of logits [rows, classes] against labels: the gradient (softmax - onehot) / rows.
  ["ce-grad", kernel(CE_PARAMS, ["logits: array<f32>", "labels: array<u32>"], "out: array<f32>", 2, `
  let K = params[1]; let r = idx / K; let i = idx % K; let o = r * K;
  var mx = logits[o];
  for (var k = 1u; k < K; k++) { mx = max(mx, logits[o + k]); }
  var s = 0.0;
  for (var k = 0u; k < K; k++) { s = s + exp(logits[o + k] - mx); }
  out[idx] = (exp(logits[idx] - mx) / s - select(0.0, 1.0, i == labels[r])) / f32(params[0]);`)],
  // Per row: the loss log(sum exp) + max - logit[label], and 1 where the first greatest logit is the label's.
  ["ce-loss", kernel(CE_PARAMS, ["logits: array<f32>", "labels: array<u32>"], "out: array<f32>", 2, `
  let K = params[1]; let o = idx * K;
  var mx = logits[o]; var arg = 0u;
  for (var k = 1u; k < K; k++) { if (logits[o + k] > mx) { mx = logits[o + k]; arg = k; } }
  var s = 0.0;
  for (var k = 0u; k < K; k++) { s = s + exp(logits[o + k] - mx); }
  out[2u * idx] = log(s) + mx - logits[o + labels[idx]];
  out[2u * idx + 1u] = select(0.0, 1.0, arg == labels[idx]);`)],
  // SGD (PyTorch's form, optim.ts): v = momentum v + g + decay w (in place) ...
  ["sgd-velocity", kernel(SGD_PARAMS, ["g: array<f32>", "w: array<f32>"], "out: array<f32>", 4,
    `out[idx] = ${f(0)} * out[idx] + (g[idx] + ${f(1)} * w[idx]);`)],
  // ... then w -= lr (nesterov ? g + decay w + momentum v : v) (in place).
  ["sgd-weights", kernel(SGD_PARAMS, ["v: array<f32>", "g: array<f32>"], "out: array<f32>", 4, `
  let w = out[idx];
  let step = select(v[idx], g[idx] + ${f(1)} * w + ${f(0)} * v[idx], params[3] == 1u);
  out[idx] = w - ${f(2)} * step;`)],
];

export const TRAINING_STEP_SHADERS: readonly [TrainingStepKernel, string][] = stepShaders;
