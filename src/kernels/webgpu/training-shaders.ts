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
