// WGSL shaders of the GPU-resident quantized network (src/quant/gpu-network.ts): the steps between
// the convolutions, each bit for bit the CPU's float32 reference (src/nn/ops.ts,
// src/quant/params.ts, QuantizedModel's fused activations). Float values live in buffers as their
// float32 bit patterns and every operation on them is integer arithmetic: WGSL's f32 operations
// may flush subnormals or contract into FMAs, its integer operations are exact everywhere.
// - quantize: activation codes by binary search in per-layer integer thresholds (quantizeToCodes is
//   monotone in its input, so the code of x is qmin + the number of thresholds <= x, thresholds
//   computed on the CPU with quantizeToCodes itself); NaN gives code 0 as the CPU's (NaN & 0xff).
// - window-sums: the activation codes under each window (windowCodeSums), for asymmetric weights.
// - add: a + b as the CPU computes it (the double sum of two float32 rounded to float32), with a
//   fused ReLU / ReLU6.
// - relu: v > 0 ? min(v, hi) : 0 on the bits (NaN gives 0, as on the CPU).
// - maxpool: the first greatest value of each window (v > best, NaN never taken, -0 == +0).
// - pad: Pad's data movement (constant, edge or reflect; rank up to 4), the constant as float32 bits.
// - global-avgpool, avgpool: the double sum in the CPU's order, divided by the count in double,
//   rounded to float32 (the CPU's s += x; s / count); avgpool over the CPU's own windows (avgPoolWindows).
// - add-broadcast: Add with numpy broadcasting (operand offsets from per-axis strides, 0 along a
//   broadcast axis), the same float32 sum as add.
// - concat: one input's slice of a Concat (one dispatch per input).
import { SOFT_DOUBLE_WGSL } from "./dequantize.js";

export type NetworkKernel = "quantize" | "window-sums" | "add" | "add-broadcast" | "relu" | "maxpool" | "global-avgpool" | "avgpool" | "pad" | "concat";

const BINDINGS = (params: number, a: string, b: string, c: string, out: string) => /* wgsl */ `
@group(0) @binding(0) var<storage, read> params: array<u32, ${params}>;
@group(0) @binding(1) var<storage, read> ${a};
@group(0) @binding(2) var<storage, read> ${b};
@group(0) @binding(3) var<storage, read> ${c};
@group(0) @binding(4) var<storage, read_write> ${out};
`;

// Helpers on float32 bit patterns.
const F32_BITS_WGSL = /* wgsl */ `
const NAN32 = 0x7fc00000u;
fn isNaN32(b: u32) -> bool { return (b & 0x7fffffffu) > 0x7f800000u; }
fn isInf32(b: u32) -> bool { return (b & 0x7fffffffu) == 0x7f800000u; }
fn isZero32(b: u32) -> bool { return (b & 0x7fffffffu) == 0u; }
// The float32 bits in an order that is the floats' order (-0 just below +0).
fn key32(b: u32) -> u32 { return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u); }
// a > b as floats (false with a NaN, -0 == +0).
fn gt32(a: u32, b: u32) -> bool {
  if (isNaN32(a) || isNaN32(b) || (isZero32(a) && isZero32(b))) { return false; }
  return key32(a) > key32(b);
}
// v > 0 ? (v < hi ? v : hi) : 0 (hi as bits; NaN gives 0).
fn clamp32(b: u32, hi: u32) -> u32 {
  if (isNaN32(b) || (b & 0x80000000u) != 0u || b == 0u) { return 0u; }
  return min(b, hi);
}
`;

// Float32 arithmetic through the emulated double (SOFT_DOUBLE_WGSL), as the CPU computes it.
const F32_ARITH_WGSL = /* wgsl */ `
${SOFT_DOUBLE_WGSL}
${F32_BITS_WGSL}
// A finite nonzero float32 as a double.
fn dblOf(b: u32) -> Dbl {
  let sign = b >> 31u; let e = (b >> 23u) & 0xffu; let m = b & 0x7fffffu;
  if (e == 0u) {
    let L = 31u - countLeadingZeros(m);
    return Dbl(sign, shl64(vec2<u32>(m, 0u), 52u - L), -149i - i32(52u - L), false);
  }
  return Dbl(sign, shl64(vec2<u32>(m | 0x800000u, 0u), 29u), i32(e) - 179i, false);
}
// a + b: the double sum of two float32 rounded to float32, as a Float32Array store of a + b.
fn add32(a: u32, b: u32) -> u32 {
  if (isNaN32(a) || isNaN32(b)) { return NAN32; }
  if (isInf32(a) || isInf32(b)) {
    if (isInf32(a) && isInf32(b) && a != b) { return NAN32; }
    return select(b, a, isInf32(a));
  }
  if (isZero32(a)) { return select(b, a & b, isZero32(b)); }
  if (isZero32(b)) { return a; }
  return toF32(addDbl(dblOf(a), dblOf(b)));
}
`;

export const QUANTIZE_PARAM_COUNT = 5;
const quantizeShader = /* wgsl */ `
${BINDINGS(QUANTIZE_PARAM_COUNT, "x: array<u32>", "thresholds: array<u32>", "unused: array<u32>", "out: array<u32>")}
${F32_BITS_WGSL}
// params: words, elements, thresholds, qmin (i32 bits), dispatch width.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let word = gid.x + gid.y * params[4];
  if (word >= params[0]) { return; }
  let n = params[2]; let qmin = bitcast<i32>(params[3]);
  var packed = 0u;
  for (var j = 0u; j < 4u; j++) {
    let i = word * 4u + j;
    if (i >= params[1]) { break; }
    let b = x[i];
    var code = 0u;
    if (!isNaN32(b)) {
      let k = key32(b);
      var lo = 0u; var hi = n;
      while (lo < hi) {
        let mid = (lo + hi) / 2u;
        if (thresholds[mid] <= k) { lo = mid + 1u; } else { hi = mid; }
      }
      code = bitcast<u32>(qmin + i32(lo)) & 0xffu;
    }
    packed = packed | (code << (8u * j));
  }
  out[word] = packed;
}
`;

// The convolution's params (shaders.ts PARAM_COUNT: geometry, pad code at 18, total at 20, width at 21).
const windowSumsShader = /* wgsl */ `
${BINDINGS(22, "codes: array<u32>", "unused1: array<u32>", "unused2: array<u32>", "out: array<i32>")}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[21];
  if (idx >= params[20]) { return; }
  let C = params[1]; let H = params[2]; let W = params[3];
  let R = params[5]; let S = params[6]; let groups = params[7];
  let sh = params[8]; let sw = params[9]; let pt = i32(params[10]); let pl = i32(params[11]);
  let dh = params[14]; let dw = params[15]; let P = params[16]; let Q = params[17];
  let q = idx % Q; var t = idx / Q; let p = t % P; t = t / P; let g = t % groups; let n = t / groups;
  let Cg = C / groups;
  var s = 0i;
  for (var cl = 0u; cl < Cg; cl++) {
    let c = g * Cg + cl;
    for (var r = 0u; r < R; r++) {
      let y = i32(p * sh + r * dh) - pt;
      for (var k = 0u; k < S; k++) {
        let x = i32(q * sw + k * dw) - pl;
        var a = params[18];
        if (y >= 0 && y < i32(H) && x >= 0 && x < i32(W)) {
          let i = ((n * C + c) * H + u32(y)) * W + u32(x);
          a = (codes[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
        }
        s = s + i32(a);
      }
    }
  }
  out[idx] = s;
}
`;

export const ELEMENTWISE_PARAM_COUNT = 3;
// params: total, clamp bits (0xffffffff: none), dispatch width.
const addShader = /* wgsl */ `
${BINDINGS(ELEMENTWISE_PARAM_COUNT, "a: array<u32>", "b: array<u32>", "unused: array<u32>", "out: array<u32>")}
${F32_ARITH_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[2];
  if (idx >= params[0]) { return; }
  var v = add32(a[idx], b[idx]);
  if (params[1] != 0xffffffffu) { v = clamp32(v, params[1]); }
  out[idx] = v;
}
`;

const reluShader = /* wgsl */ `
${BINDINGS(ELEMENTWISE_PARAM_COUNT, "x: array<u32>", "unused1: array<u32>", "unused2: array<u32>", "out: array<u32>")}
${F32_BITS_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[2];
  if (idx >= params[0]) { return; }
  out[idx] = clamp32(x[idx], params[1]);
}
`;

export const MAXPOOL_PARAM_COUNT = 15;
// params: planes (N*C), H, W, kh, kw, sh, sw, pt, pl, dh, dw, outH, outW, total, dispatch width.
const maxPoolShader = /* wgsl */ `
${BINDINGS(MAXPOOL_PARAM_COUNT, "x: array<u32>", "unused1: array<u32>", "unused2: array<u32>", "out: array<u32>")}
${F32_BITS_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[14];
  if (idx >= params[13]) { return; }
  let H = params[1]; let W = params[2]; let kh = params[3]; let kw = params[4];
  let sh = params[5]; let sw = params[6]; let pt = i32(params[7]); let pl = i32(params[8]);
  let dh = params[9]; let dw = params[10]; let oh = params[11]; let ow = params[12];
  let xo = idx % ow; let y = (idx / ow) % oh; let plane = idx / (ow * oh);
  var best = 0xff800000u;
  for (var i = 0u; i < kh; i++) {
    let iy = i32(y * sh + i * dh) - pt;
    if (iy < 0 || iy >= i32(H)) { continue; }
    for (var j = 0u; j < kw; j++) {
      let ix = i32(xo * sw + j * dw) - pl;
      if (ix < 0 || ix >= i32(W)) { continue; }
      let v = x[(plane * H + u32(iy)) * W + u32(ix)];
      if (gt32(v, best)) { best = v; }
    }
  }
  out[idx] = best;
}
`;

// The CPU's s = 0; s += x (double); s / count rounded to float32, on bit patterns: Avg holds the
// double sum of the finite nonzero terms and whether a NaN, +Infinity or -Infinity was seen
// (adding a zero to a double sum changes nothing; the sum starts at +0). After F32_ARITH_WGSL.
const AVERAGE_WGSL = /* wgsl */ `
// A nonzero double divided by n (1..65535), rounded to nearest even: the 53-bit significand times
// 2^64 divided in 16-bit digits, the remainder jammed into the lowest quotient bit (far below the
// rounding position, since the quotient has over 100 bits).
fn divDbl(d: Dbl, n: u32) -> Dbl {
  let num = vec4<u32>(0u, 0u, d.sig.x, d.sig.y);
  var q = vec4<u32>(0u);
  var rem = 0u;
  for (var i = 3i; i >= 0i; i--) {
    let w = num[u32(i)];
    let hi = (rem << 16u) | (w >> 16u);
    let qh = hi / n; rem = hi % n;
    let lo = (rem << 16u) | (w & 0xffffu);
    let ql = lo / n; rem = lo % n;
    q[u32(i)] = (qh << 16u) | ql;
  }
  q.x = q.x | select(0u, 1u, rem != 0u);
  return round128(q, d.sign, d.exp - 64i);
}
struct Avg { s: Dbl, nan: bool, posInf: bool, negInf: bool }
fn avgAdd(a: Avg, b: u32) -> Avg {
  var r = a;
  if (isNaN32(b)) { r.nan = true; }
  else if (isInf32(b)) { if ((b & 0x80000000u) != 0u) { r.negInf = true; } else { r.posInf = true; } }
  else if (!isZero32(b)) {
    if (r.s.zero) { r.s = dblOf(b); } else { r.s = addDbl(r.s, dblOf(b)); }
  }
  return r;
}
fn avgOf(a: Avg, count: u32) -> u32 {
  if (a.nan || (a.posInf && a.negInf)) { return NAN32; }
  if (a.posInf) { return 0x7f800000u; }
  if (a.negInf) { return 0xff800000u; }
  if (count == 0u) { return NAN32; } // 0 / 0
  if (a.s.zero) { return 0u; }
  return toF32(divDbl(a.s, count));
}
`;

export const GLOBAL_AVGPOOL_PARAM_COUNT = 3;
/** The largest plane global-avgpool divides by (the long division works on 16-bit digits). */
export const GLOBAL_AVGPOOL_MAX_INNER = 0xffff;
// params: planes, inner, dispatch width.
const globalAvgPoolShader = /* wgsl */ `
${BINDINGS(GLOBAL_AVGPOOL_PARAM_COUNT, "x: array<u32>", "unused1: array<u32>", "unused2: array<u32>", "out: array<u32>")}
${F32_ARITH_WGSL}
${AVERAGE_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = gid.x + gid.y * params[2];
  if (p >= params[0]) { return; }
  let inner = params[1];
  var acc = Avg(Dbl(0u, vec2<u32>(0u, 0u), 0i, true), false, false, false);
  for (var k = p * inner; k < (p + 1u) * inner; k++) { acc = avgAdd(acc, x[k]); }
  out[p] = avgOf(acc, inner);
}
`;

export const PAD_PARAM_COUNT = 16;
// params: output shape (4), input shape (4), begin pads (4, i32), mode (0 constant, 1 edge, 2 reflect), value bits, total, dispatch width.
const padShader = /* wgsl */ `
${BINDINGS(PAD_PARAM_COUNT, "x: array<u32>", "unused1: array<u32>", "unused2: array<u32>", "out: array<u32>")}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[15];
  if (idx >= params[14]) { return; }
  var rest = idx; var src = 0u; var stride = 1u; var inside = true;
  for (var k = 3i; k >= 0i; k--) {
    let o = rest % params[u32(k)]; rest = rest / params[u32(k)];
    let d = i32(params[4u + u32(k)]);
    var c = i32(o) - bitcast<i32>(params[8u + u32(k)]);
    if (c < 0i || c >= d) {
      if (params[12] == 0u) { inside = false; }
      else if (params[12] == 1u) { c = select(d - 1i, 0i, c < 0i); }
      else { c = select(2i * (d - 1i) - c, -c, c < 0i); }
    }
    src = src + u32(c) * stride;
    stride = stride * u32(d);
  }
  out[idx] = select(params[13], x[src], inside);
}
`;

export const AVGPOOL_PARAM_COUNT = 6;
// params: planes (N*C), plane size (H*W), input row width W, windows per plane, total, dispatch width.
// windows: avgPoolWindows' five numbers per output position (y0, y1, x0, x1, count), clipped to the input.
const avgPoolShader = /* wgsl */ `
${BINDINGS(AVGPOOL_PARAM_COUNT, "x: array<u32>", "windows: array<u32>", "unused: array<u32>", "out: array<u32>")}
${F32_ARITH_WGSL}
${AVERAGE_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[5];
  if (idx >= params[4]) { return; }
  let plane = (idx / params[3]) * params[1]; let k = (idx % params[3]) * 5u;
  let W = params[2];
  var acc = Avg(Dbl(0u, vec2<u32>(0u, 0u), 0i, true), false, false, false);
  for (var iy = windows[k]; iy < windows[k + 1u]; iy++) {
    for (var ix = windows[k + 2u]; ix < windows[k + 3u]; ix++) { acc = avgAdd(acc, x[plane + iy * W + ix]); }
  }
  out[idx] = avgOf(acc, windows[k + 4u]);
}
`;

/** The highest rank add-broadcast handles. */
export const BROADCAST_MAX_RANK = 6;
export const ADD_BROADCAST_PARAM_COUNT = 3 * BROADCAST_MAX_RANK + 3;
// params: output shape (6, leading 1s), a's and b's steps per axis (6 each, 0 along a broadcast
// axis), total, clamp bits (0xffffffff: none), dispatch width.
const addBroadcastShader = /* wgsl */ `
${BINDINGS(ADD_BROADCAST_PARAM_COUNT, "a: array<u32>", "b: array<u32>", "unused: array<u32>", "out: array<u32>")}
${F32_ARITH_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[20];
  if (idx >= params[18]) { return; }
  var rest = idx; var ia = 0u; var ib = 0u;
  for (var k = 5i; k >= 0i; k--) {
    let d = params[u32(k)];
    let i = rest % d; rest = rest / d;
    ia = ia + i * params[6u + u32(k)];
    ib = ib + i * params[12u + u32(k)];
  }
  var v = add32(a[ia], b[ib]);
  if (params[19] != 0xffffffffu) { v = clamp32(v, params[19]); }
  out[idx] = v;
}
`;

export const CONCAT_PARAM_COUNT = 5;
// params: this input's chunk (values per outer index), the output's chunk, this input's offset in
// it, total (outer * chunk), dispatch width. Writes only this input's slice of out.
const concatShader = /* wgsl */ `
${BINDINGS(CONCAT_PARAM_COUNT, "x: array<u32>", "unused1: array<u32>", "unused2: array<u32>", "out: array<u32>")}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[4];
  if (idx >= params[3]) { return; }
  let o = idx / params[0]; let j = idx % params[0];
  out[o * params[1] + params[2] + j] = x[idx];
}
`;

export const NETWORK_SHADERS: readonly [NetworkKernel, string][] = [
  ["quantize", quantizeShader],
  ["window-sums", windowSumsShader],
  ["add", addShader],
  ["relu", reluShader],
  ["maxpool", maxPoolShader],
  ["global-avgpool", globalAvgPoolShader],
  ["avgpool", avgPoolShader],
  ["add-broadcast", addBroadcastShader],
  ["concat", concatShader],
  ["pad", padShader],
];
