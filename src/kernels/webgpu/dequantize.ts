// Dequantization of integer accumulators on the GPU, bit for bit dequantizeAccReference
// (src/kernels/reference.ts): y = float32((acc + constant - zw * sums) * scale + bias) computed
// in double by the CPU, which WGSL lacks. The shader emulates that double computation exactly in
// 32-bit integer arithmetic (WGSL's integer operations are exact on every implementation, unlike
// its float operations, which may be contracted or flush subnormals): the integer t, the 53-bit
// product t * scale rounded to nearest-even as a double multiplication rounds, the double addition
// of the bias (softfloat's shift-right-jam with 10 guard bits), then the rounding to float32 that
// Float32Array stores perform (subnormals and overflow to Infinity included), and the fused
// ReLU / ReLU6 clamp on the float32 bit pattern. Channels whose terms are outside the ranges
// this emulation covers (see encodeChannels) are left to the CPU: never a silently different value.
import type { DequantizeChannels } from "../backend.js";

/** Words per output channel in the channel buffer. */
export const CHANNEL_WORDS = 10;
/** params[]: total, M, inner, groups, hasSums, clampBits (0xffffffff: none), dispatch width. */
export const DEQUANTIZE_PARAM_COUNT = 8;

// Limits within which the emulated t = acc + constant - zw * sums is exact in double as the CPU
// computes it (|t| < 2^51), and the double product and sum stay normal and finite.
const MAX_CONSTANT = 2 ** 50;
const MAX_ZW = 2 ** 16;
const MIN_SCALE = 2 ** -900, MAX_SCALE = 2 ** 900, MAX_BIAS = 2 ** 1000;

const f64 = new Float64Array(1);
const words = new Uint32Array(f64.buffer);

/** A positive normal double as its 53-bit significand (lo, hi words) and exponent: v = sig * 2^exp. */
function decompose(v: number): [number, number, number] {
  f64[0] = v;
  const lo = words[0]!, hi = words[1]!;
  return [lo, (hi & 0xfffff) | 0x100000, ((hi >>> 20) & 0x7ff) - 1075];
}

/**
 * The channels' terms as the shader reads them (CHANNEL_WORDS per channel), or null when one of
 * them is outside what the shader emulates exactly (then the CPU dequantizes).
 */
export function encodeChannels(ch: DequantizeChannels, withSums: boolean): Uint32Array | null {
  const M = ch.scale.length;
  const out = new Uint32Array(M * CHANNEL_WORDS);
  const i32 = new Int32Array(out.buffer);
  for (let m = 0; m < M; m++) {
    const c = ch.constant[m]!, s = ch.scale[m]!, b = ch.bias[m]!, zw = ch.zw[m]!;
    if (!Number.isInteger(c) || Math.abs(c) > MAX_CONSTANT) return null;
    if (!(s >= MIN_SCALE && s <= MAX_SCALE)) return null;
    if (!Number.isFinite(b) || (b !== 0 && !(Math.abs(b) >= 2 ** -1000 && Math.abs(b) <= MAX_BIAS))) return null;
    if (withSums && Math.abs(zw) > MAX_ZW) return null;
    const o = m * CHANNEL_WORDS;
    const c64 = BigInt.asUintN(64, BigInt(c));
    out[o] = Number(c64 & 0xffffffffn);
    out[o + 1] = Number(c64 >> 32n);
    const [s0, s1, es] = decompose(s);
    out[o + 2] = s0;
    out[o + 3] = s1;
    i32[o + 4] = es;
    if (b !== 0) {
      const [b0, b1, eb] = decompose(Math.abs(b));
      out[o + 5] = b0;
      out[o + 6] = b1;
      i32[o + 7] = eb;
      out[o + 8] = b < 0 ? 1 : 0;
    }
    i32[o + 9] = withSums ? zw : 0;
  }
  return out;
}

/**
 * WGSL functions emulating double arithmetic in 32-bit integers: 64- and 128-bit integers, the
 * double Dbl (53-bit significand, exponent), round128 (an integer times 2^exp rounded to a double),
 * addDbl (softfloat's f64 addition) and toF32 (a double rounded to float32 bits). Shared by the
 * dequantization and the GPU-resident network's float ops (network-shaders.ts).
 */
export const SOFT_DOUBLE_WGSL = /* wgsl */ `
// 64-bit integers as vec2<u32>(low word, high word).
fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let lo = a.x + b.x;
  return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}
fn sub64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}
fn lt64(a: vec2<u32>, b: vec2<u32>) -> bool { return a.y < b.y || (a.y == b.y && a.x < b.x); }
fn isZero64(a: vec2<u32>) -> bool { return (a.x | a.y) == 0u; }
fn clz64(a: vec2<u32>) -> u32 { return select(countLeadingZeros(a.y), 32u + countLeadingZeros(a.x), a.y == 0u); }
fn shl64(a: vec2<u32>, n: u32) -> vec2<u32> {
  if (n == 0u) { return a; }
  if (n >= 64u) { return vec2<u32>(0u, 0u); }
  if (n >= 32u) { return vec2<u32>(0u, a.x << (n - 32u)); }
  return vec2<u32>(a.x << n, (a.y << n) | (a.x >> (32u - n)));
}
fn shr64(a: vec2<u32>, n: u32) -> vec2<u32> {
  if (n == 0u) { return a; }
  if (n >= 64u) { return vec2<u32>(0u, 0u); }
  if (n >= 32u) { return vec2<u32>(a.y >> (n - 32u), 0u); }
  return vec2<u32>((a.x >> n) | (a.y << (32u - n)), a.y >> n);
}
// Shift right, the bits shifted out ORed into the lowest bit (softfloat's shiftRightJam64).
fn shrJam64(a: vec2<u32>, n: u32) -> vec2<u32> {
  if (n == 0u) { return a; }
  if (n >= 64u) { return vec2<u32>(select(0u, 1u, !isZero64(a)), 0u); }
  let lost = !isZero64(sub64(a, shl64(shr64(a, n), n)));
  let r = shr64(a, n);
  return vec2<u32>(r.x | select(0u, 1u, lost), r.y);
}
// Shift right by n rounding to nearest, ties to even.
fn shrRound64(a: vec2<u32>, n: u32) -> vec2<u32> {
  if (n == 0u) { return a; }
  if (n > 64u) { return vec2<u32>(0u, 0u); }
  let q = shr64(a, n);
  let rest = sub64(a, shl64(q, n));
  let half = shl64(vec2<u32>(1u, 0u), n - 1u);
  let up = lt64(half, rest) || (rest.x == half.x && rest.y == half.y && (q.x & 1u) == 1u);
  return select(q, add64(q, vec2<u32>(1u, 0u)), up);
}
fn mul32(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>((p00 & 0xffffu) | (mid << 16u), p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}
fn add128(a: vec4<u32>, b: vec4<u32>) -> vec4<u32> {
  var r = vec4<u32>(0u); var carry = 0u;
  for (var i = 0u; i < 4u; i++) {
    let s = a[i] + b[i];
    let s2 = s + carry;
    carry = select(0u, 1u, s < a[i]) + select(0u, 1u, s2 < s);
    r[i] = s2;
  }
  return r;
}
// 32 bits of p from bit 'start' up.
fn bits32(p: vec4<u32>, start: u32) -> u32 {
  let i = start >> 5u; let off = start & 31u;
  if (i >= 4u) { return 0u; }
  var v = p[i] >> off;
  if (off != 0u && i < 3u) { v = v | (p[i + 1u] << (32u - off)); }
  return v;
}
// Whether any bit of p below bit n is set.
fn anyBelow(p: vec4<u32>, n: u32) -> bool {
  var found = false;
  for (var i = 0u; i < 4u; i++) {
    if ((i + 1u) * 32u <= n) { found = found || p[i] != 0u; }
    else if (i * 32u < n) { found = found || (p[i] & ((1u << (n - i * 32u)) - 1u)) != 0u; }
  }
  return found;
}

struct Dbl { sign: u32, sig: vec2<u32>, exp: i32, zero: bool }  // sig in [2^52, 2^53): value = sig * 2^exp

// The double nearest (ties to even) to the 53-bit significand of a 128-bit integer times 2^exp.
fn round128(p: vec4<u32>, sign: u32, exp: i32) -> Dbl {
  var top = 3i;
  while (top > 0i && p[u32(top)] == 0u) { top--; }
  let L = u32(top) * 32u + 31u - countLeadingZeros(p[u32(top)]);
  if (L <= 52u) { return Dbl(sign, shl64(vec2<u32>(p.x, p.y), 52u - L), exp - i32(52u - L), false); }
  let r = L - 52u;
  var m = vec2<u32>(bits32(p, r), bits32(p, r + 32u) & 0x1fffffu);
  let round = (bits32(p, r - 1u) & 1u) == 1u;
  let sticky = anyBelow(p, r - 1u);
  var e = exp + i32(r);
  if (round && (sticky || (m.x & 1u) == 1u)) { m = add64(m, vec2<u32>(1u, 0u)); }
  if (m.y == 0x200000u) { m = vec2<u32>(0u, 0x100000u); e++; }
  return Dbl(sign, m, e, false);
}

// a + b in double (both nonzero), rounded to nearest even: softfloat's f64 addition.
fn addDbl(x: Dbl, y: Dbl) -> Dbl {
  var a = x; var b = y;
  if (a.exp < b.exp) { a = y; b = x; }
  let sa = shl64(a.sig, 10u);
  let sb = shrJam64(shl64(b.sig, 10u), u32(a.exp - b.exp));
  var z: vec2<u32>; var sign = a.sign; var e = a.exp;
  if (a.sign == b.sign) {
    z = add64(sa, sb);
    if ((z.y & 0x80000000u) != 0u) { z = shrJam64(z, 1u); e++; }
  } else {
    if (lt64(sa, sb)) { z = sub64(sb, sa); sign = b.sign; } else { z = sub64(sa, sb); }
    if (isZero64(z)) { return Dbl(0u, vec2<u32>(0u, 0u), 0i, true); }
    let shift = clz64(z) - 1u;
    z = shl64(z, shift);
    e -= i32(shift);
  }
  // z in [2^62, 2^63): 10 bits below the 53 kept.
  let low = z.x & 0x3ffu;
  z = shr64(z, 10u);
  if (low > 0x200u || (low == 0x200u && (z.x & 1u) == 1u)) { z = add64(z, vec2<u32>(1u, 0u)); }
  if (z.y == 0x200000u) { z = vec2<u32>(0u, 0x100000u); e++; }
  return Dbl(sign, z, e, false);
}

// The float32 bits of a double, rounded to nearest even (as a Float32Array store or Math.fround).
fn toF32(d: Dbl) -> u32 {
  if (d.zero) { return 0u; }
  let sign = d.sign << 31u;
  var E = d.exp + 52i;
  if (E >= -126i) {
    var m = shrRound64(d.sig, 29u).x;
    if (m == 0x1000000u) { m = 0x800000u; E++; }
    if (E > 127i) { return sign | 0x7f800000u; }
    return sign | (u32(E + 127i) << 23u) | (m & 0x7fffffu);
  }
  let shift = 29u + u32(-126i - E);
  return sign | shrRound64(d.sig, shift).x;
}

`;

export const dequantizeShader = /* wgsl */ `
@group(0) @binding(0) var<storage, read> params: array<u32, ${DEQUANTIZE_PARAM_COUNT}>;
@group(0) @binding(1) var<storage, read> acc: array<i32>;
@group(0) @binding(2) var<storage, read> sums: array<i32>;
@group(0) @binding(3) var<storage, read> channels: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;

${SOFT_DOUBLE_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[6];
  if (idx >= params[0]) { return; }
  let M = params[1]; let inner = params[2]; let groups = params[3];
  let k = idx % inner; let nm = idx / inner; let m = nm % M; let n = nm / M;
  let o = m * ${CHANNEL_WORDS}u;
  // t = acc + constant - zw * sums as a 64-bit two's complement integer.
  let a = acc[idx];
  var t = add64(vec2<u32>(bitcast<u32>(a), select(0u, 0xffffffffu, a < 0i)), vec2<u32>(channels[o], channels[o + 1u]));
  let zw = bitcast<i32>(channels[o + 9u]);
  if (params[4] == 1u && zw != 0i) {
    let s = sums[(n * groups + m / (M / groups)) * inner + k];
    let neg = (zw < 0i) != (s < 0i);
    let uz = select(bitcast<u32>(zw), 0u - bitcast<u32>(zw), zw < 0i);
    let us = select(bitcast<u32>(s), 0u - bitcast<u32>(s), s < 0i);
    let p = mul32(uz, us);
    t = select(sub64(t, p), add64(t, p), neg);
  }
  let tNeg = (t.y & 0x80000000u) != 0u;
  let T = select(t, sub64(vec2<u32>(0u, 0u), t), tNeg);
  let bZero = (channels[o + 5u] | channels[o + 6u]) == 0u;
  let b = Dbl(channels[o + 8u], vec2<u32>(channels[o + 5u], channels[o + 6u]), bitcast<i32>(channels[o + 7u]), bZero);
  var y: Dbl;
  if (isZero64(T)) {
    y = b;
  } else {
    let S = vec2<u32>(channels[o + 2u], channels[o + 3u]);
    var p = vec4<u32>(0u);
    let p00 = mul32(T.x, S.x); let p01 = mul32(T.x, S.y); let p10 = mul32(T.y, S.x); let p11 = mul32(T.y, S.y);
    p = add128(vec4<u32>(p00.x, p00.y, 0u, 0u), vec4<u32>(0u, p01.x, p01.y, 0u));
    p = add128(p, vec4<u32>(0u, p10.x, p10.y, 0u));
    p = add128(p, vec4<u32>(0u, 0u, p11.x, p11.y));
    y = round128(p, select(0u, 1u, tNeg), bitcast<i32>(channels[o + 4u]));
    if (!bZero) { y = addDbl(y, b); }
  }
  var bits = toF32(y);
  let clampBits = params[5];
  if (clampBits != 0xffffffffu) {
    // v > 0 ? min(v, hi) : 0 on the bit pattern (positive floats order as their bits).
    bits = select(min(bits, clampBits), 0u, (bits & 0x80000000u) != 0u || bits == 0u);
  }
  out[idx] = bits;
}
`;
