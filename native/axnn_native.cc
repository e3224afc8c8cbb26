// axnn native kernels: Node binding, ISA dispatch and the convolution/dense drivers (the
// float32 GEMM and the backward kernels of training are in gemm.cc and conv_backward.cc).
//
// Driver: a convolution is computed "direct", without im2col. Each image channel is copied once
// into sh x sw phase planes of the padded input (plane (ph, pw) holds padded[y*sh + ph][x*sw + pw]),
// so that for every tap (c, r, s) the activations of the output positions p*rowStride + q form
// one contiguous run in one plane; positions with q >= Q are computed and dropped. The cores
// (kernels.h) then vectorise over positions. Dense layers run as 1x1 convolutions whose
// positions are the output neurons (the weights transposed) and whose per-"channel" scalar
// operands are one input row, so a whole row of outputs is vectorised even at batch 1.
#include <napi.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "batch_norm.h"
#include "conv_backward.h"
#include "conv_forward_gemm.h"
#include "elementwise.h"
#include "qat_quantize.h"
#include "conv_geometry.h"
#include "conv_layout.h"
#include "conv_phases.h"
#include "gemm.h"
#include "kernels.h"
#include "lut_planes.h"
#include "plan_conv.h"
#include "thread_pool.h"

namespace axnn {
namespace {

// Copies positions [pos0, pos0 + n) of one output plane from `tmp` to `outPlane` (P x Q).
template <typename Out>
void scatterPositions(const Layout& L, const Out* tmp, int64_t pos0, int64_t n, Out* outPlane) {
  int64_t pos = pos0;
  const int64_t end = pos0 + n;
  while (pos < end) {
    const int64_t p = pos / L.rowStride, q = pos % L.rowStride;
    const int64_t rowEnd = std::min(end, pos - q + L.rowStride);
    if (q < L.Q && p < L.P) {
      const int64_t count = std::min(rowEnd, pos - q + L.Q) - pos;
      std::memcpy(outPlane + p * L.Q + q, tmp + (pos - pos0), sizeof(Out) * count);
    }
    pos = rowEnd;
  }
}

// Runs core over every (image, group, position block, range of output channels).
// core(base, tapOff, sel, K, pos0, nPos, tmp); sel of global output channel m is selBase + m*K.
template <typename T, typename S, typename Out, typename Core>
void computeLayout(const Layout& L, const T* prepared, const S* selBase, Out* out, Core core) {
  const TaskSplit split = taskSplit(L);
  const int64_t M = L.Mg * L.groups;
  pool().parallelFor(split.coarse * split.mSplits, [&](int64_t task) {
    const ConvTask t = convTask(L, split, task);
    const T* base = prepared + t.n * L.imageStride;
    const int64_t* taps = L.tapOff.data() + t.grp * L.K;
    alignas(64) Out tmp[kMaxBlock];
    for (int64_t ml = t.mBegin; ml < t.mEnd; ml++) {
      const int64_t m = t.grp * L.Mg + ml;
      core(base, taps, selBase + m * L.K, int(L.K), t.pos0, t.nPos, tmp);
      scatterPositions(L, tmp, t.pos0, t.nPos, out + (t.n * M + m) * L.P * L.Q);
    }
  });
}

// All images' channels copied into their phase planes, with the pad code past the end for the cores' whole-chunk reads.
template <typename T>
std::vector<T> prepareImages(const ConvGeom& g, const Phases& ph, const Layout& L, const T* input, T pad) {
  std::vector<T> prepared(size_t(g.N * L.imageStride + kTailElements), pad);
  pool().parallelFor(g.N * g.C, [&](int64_t task) {
    prepareChannel(g, ph, input + task * g.H * g.W, pad, prepared.data() + task * ph.channelStride);
  });
  return prepared;
}

// conv2d: prepares all images' planes, then computes. Depthwise (groups == C) instead prepares
// each channel inside its own task, where it stays in cache for all of that channel's work.
template <typename T, typename Out, typename Core>
void conv2d(const ConvGeom& g, const T* input, const T* weights, T pad, Out* out, Core core) {
  const Phases ph = phasesOf(g);
  if (g.groups == g.C && g.C > 1) {
    ConvGeom one = g;
    one.N = 1;
    one.C = 1;
    one.M = g.M / g.C;
    one.groups = 1;
    Layout L = convLayout(one, ph);
    const int64_t blocks = (L.nPos + kMaxBlock - 1) / kMaxBlock;
    pool().parallelFor(g.N * g.C, [&](int64_t task) {
      const int64_t n = task / g.C, c = task % g.C;
      thread_local std::vector<T> plane;
      plane.resize(size_t(ph.channelStride + kTailElements));
      prepareChannel(g, ph, input + (n * g.C + c) * g.H * g.W, pad, plane.data());
      std::fill(plane.begin() + ph.channelStride, plane.end(), pad);
      alignas(64) Out tmp[kMaxBlock];
      for (int64_t ml = 0; ml < L.Mg; ml++) {
        const int64_t m = c * L.Mg + ml;
        for (int64_t b = 0; b < blocks; b++) {
          const int64_t pos0 = b * kMaxBlock;
          const int nPos = int(std::min<int64_t>(kMaxBlock, L.nPos - pos0));
          core(plane.data(), L.tapOff.data(), weights + m * L.K, int(L.K), pos0, nPos, tmp);
          scatterPositions(L, tmp, pos0, nPos, out + (n * g.M + m) * g.P * g.Q);
        }
      }
    });
    return;
  }
  Layout L = convLayout(g, ph);
  const std::vector<T> prepared = prepareImages(g, ph, L, input, pad);
  computeLayout(L, prepared.data(), weights, out, core);
}

// conv2d through a table with the plane-transform core (lut_planes.h): the tasks of the layer's
// plane split (planes.split: longer blocks than computeLayout's), each filling the accumulators of
// all its output channels in one core call.
void conv2dLutPlanes(const ConvGeom& g, const Phases& ph, const Layout& L, const uint8_t* input, uint8_t pad, const Cores& cores,
                     const LutCtx& lut, const LutPlanesData& planes, int32_t* out) {
  const std::vector<uint8_t> prepared = prepareImages(g, ph, L, input, pad);
  const TaskSplit& split = planes.split;
  const int64_t M = L.Mg * L.groups, stride = planes.view.outStride;
  pool().parallelFor(split.coarse * split.mSplits, [&](int64_t task) {
    const ConvTask t = convTask(L, split, task);
    const int64_t m0 = t.grp * L.Mg + t.mBegin, m1 = t.grp * L.Mg + t.mEnd;
    if (m0 >= m1) return;
    thread_local std::vector<uint32_t> acc;
    acc.resize(size_t((m1 - m0) * stride));
    cores.lutPlanes(prepared.data() + t.n * L.imageStride, L.tapOff.data() + t.grp * L.K, planes.view, lut, t.grp, m0, m1, t.pos0, t.nPos, acc.data());
    for (int64_t m = m0; m < m1; m++)
      scatterPositions(L, reinterpret_cast<const int32_t*>(acc.data() + (m - m0) * stride), t.pos0, t.nPos, out + (t.n * M + m) * L.P * L.Q);
  });
}

// dst[k * M + m] = src[m * K + k] for k in [k0, k1): columns k0..k1 of an M x K matrix.
template <typename T>
void transposeBlock(const T* src, int64_t K, int64_t M, int64_t k0, int64_t k1, T* dst) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t k = k0; k < k1; k++) dst[k * M + m] = src[m * K + k];
}

// Bytes: 8 x 8 tiles, each transposed in eight 64-bit words by three rounds of block swaps
// (2x2, then 4x4, then 8x8 blocks), several times faster than byte by byte.
template <>
void transposeBlock<uint8_t>(const uint8_t* src, int64_t K, int64_t M, int64_t k0, int64_t k1, uint8_t* dst) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__  // byte j of a word is column j
  const int64_t kTiles = k0 + (k1 - k0) / 8 * 8, mTiles = M / 8 * 8;
  for (int64_t m0 = 0; m0 < mTiles; m0 += 8) {
    for (int64_t kt = k0; kt < kTiles; kt += 8) {
      uint64_t x[8];
      for (int i = 0; i < 8; i++) std::memcpy(&x[i], src + (m0 + i) * K + kt, 8);
      for (int i = 0; i < 8; i += 2) {
        const uint64_t t = ((x[i] >> 8) ^ x[i + 1]) & 0x00FF00FF00FF00FFull;
        x[i + 1] ^= t;
        x[i] ^= t << 8;
      }
      for (int i : {0, 1, 4, 5}) {
        const uint64_t t = ((x[i] >> 16) ^ x[i + 2]) & 0x0000FFFF0000FFFFull;
        x[i + 2] ^= t;
        x[i] ^= t << 16;
      }
      for (int i = 0; i < 4; i++) {
        const uint64_t t = ((x[i] >> 32) ^ x[i + 4]) & 0x00000000FFFFFFFFull;
        x[i + 4] ^= t;
        x[i] ^= t << 32;
      }
      for (int j = 0; j < 8; j++) std::memcpy(dst + (kt + j) * M + m0, &x[j], 8);
    }
  }
  // The ragged edges: rows past the last whole tile, and columns past the last whole tile.
  for (int64_t m = mTiles; m < M; m++)
    for (int64_t k = k0; k < k1; k++) dst[k * M + m] = src[m * K + k];
  for (int64_t m = 0; m < mTiles; m++)
    for (int64_t k = kTiles; k < k1; k++) dst[k * M + m] = src[m * K + k];
#else
  for (int64_t m = 0; m < M; m++)
    for (int64_t k = k0; k < k1; k++) dst[k * M + m] = src[m * K + k];
#endif
}

// dense: out[b, m] = sum_k prod(input[b, k], weights[m, k]). Runs as a 1x1 convolution over
// the transposed weights (positions = m), with one input row as the "weights" of output row b.
template <typename T, typename Out, typename Core>
void dense(int64_t B, int64_t K, int64_t M, const T* input, const T* weights, Out* out, Core core) {
  std::vector<T> transposed(size_t(K * M + kTailElements), T(0));
  pool().parallelFor((K + 63) / 64, [&](int64_t t) {
    transposeBlock(weights, K, M, t * 64, std::min(K, t * 64 + 64), transposed.data());
  });
  Layout L;
  L.images = 1;
  L.imageStride = 0;
  L.groups = 1;
  L.K = K;
  L.Mg = B;
  L.P = 1;
  L.Q = M;
  L.rowStride = M;
  L.nPos = M;
  L.tapOff.resize(size_t(K));
  for (int64_t k = 0; k < K; k++) L.tapOff[size_t(k)] = k * M;
  computeLayout(L, transposed.data(), input, out, core);
}

// ---- ISA dispatch ----

struct IsaState {
  std::vector<Cores> available;  // from the most portable to the fastest
  Cores current;
};

IsaState& isa() {
  static IsaState state = [] {
    IsaState s;
    s.available.push_back(scalarCores());
#if defined(AXNN_X86_CORES)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) s.available.push_back(avx2Cores());
    const bool bw = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    if (bw) s.available.push_back(avx512bwCores());
    // The avx512 unit is compiled with VBMI and VNNI (any of its code may use either).
    if (bw && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vnni")) s.available.push_back(avx512Cores());
#endif
#if defined(AXNN_ARM_CORES)
    s.available.push_back(neonCores());  // NEON is part of every AArch64 CPU
#endif
    s.current = s.available.back();
    return s;
  }();
  return state;
}

// ---- Node binding ----

template <typename A>
A typedArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsTypedArray()) throw Napi::TypeError::New(info.Env(), std::string("argument ") + what + " must be a typed array");
  return info[i].As<A>();
}

ConvGeom geomArg(const Napi::CallbackInfo& info, size_t i) {
  auto a = typedArg<Napi::Int32Array>(info, i, "geometry");
  if (a.ElementLength() != kGeomFields) throw Napi::TypeError::New(info.Env(), "geometry must have 18 entries");
  int64_t v[kGeomFields];
  for (int j = 0; j < kGeomFields; j++) v[j] = a[j];
  ConvGeom g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17]};
  for (int j = 0; j < kGeomFields; j++)
    if (v[j] < 0) throw Napi::RangeError::New(info.Env(), "negative geometry entry");
  if (g.groups < 1 || g.C % g.groups || g.M % g.groups || g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.P < 1 || g.Q < 1 ||
      (g.P - 1) * g.sh + (g.R - 1) * g.dh >= g.H + g.pt + g.pb || (g.Q - 1) * g.sw + (g.S - 1) * g.dw >= g.W + g.pl + g.pr)
    throw Napi::RangeError::New(info.Env(), "inconsistent conv2d geometry");
  return g;
}

void checkLength(const Napi::Env& env, size_t have, int64_t need, const char* what) {
  if (int64_t(have) < need) throw Napi::RangeError::New(env, std::string(what) + " is shorter than the geometry needs");
}

// The three arrays of a convolution call against its geometry.
void checkConvLengths(const Napi::Env& env, const ConvGeom& g, size_t input, size_t weights, size_t out) {
  checkLength(env, input, g.N * g.C * g.H * g.W, "input");
  checkLength(env, weights, g.M * (g.C / g.groups) * g.R * g.S, "weights");
  checkLength(env, out, g.N * g.M * g.P * g.Q, "out");
}

// The LUT arguments: rows (Int32Array rows x 256), rows16 (Uint16Array rows x 256 of
// product - min, or empty when the products span 2^16 or more), planes (Uint8Array
// rows x planes x 256), planes, min.
struct LutArgs {
  LutCtx ctx;
  int64_t rows;
};
LutArgs lutArgs(const Napi::CallbackInfo& info, size_t i) {
  auto rows = typedArg<Napi::Int32Array>(info, i, "lut rows");
  auto rows16 = typedArg<Napi::Uint16Array>(info, i + 1, "lut rows16");
  auto planes = typedArg<Napi::Uint8Array>(info, i + 2, "lut planes");
  const int nPlanes = info[i + 3].As<Napi::Number>().Int32Value();
  const uint32_t minValue = uint32_t(info[i + 4].As<Napi::Number>().Int64Value());
  const size_t n = rows.ElementLength();
  if (nPlanes < 1 || nPlanes > 4 || n == 0 || n % 256 || planes.ElementLength() != n * size_t(nPlanes) ||
      (rows16.ElementLength() != 0 && (rows16.ElementLength() != n || nPlanes > 2)))
    throw Napi::RangeError::New(info.Env(), "inconsistent prepared LUT");
  const uint16_t* r16 = rows16.ElementLength() ? rows16.Data() : nullptr;
  return LutArgs{LutCtx{rows.Data(), planes.Data(), r16, nPlanes, minValue}, int64_t(n / 256)};
}

void checkCodes(const Napi::Env& env, const uint8_t* codes, int64_t n, int64_t rows, const char* what) {
  if (rows >= 256) return;
  for (int64_t i = 0; i < n; i++)
    if (codes[i] >= rows) throw Napi::RangeError::New(env, std::string(what) + " code beyond the table");
}

struct LutCall {
  const Cores* cores;
  const LutCtx* lut;
  void operator()(const uint8_t* base, const int64_t* taps, const uint8_t* sel, int K, int64_t pos0, int nPos, int32_t* tmp) const {
    cores->lut(base, taps, sel, K, *lut, pos0, nPos, reinterpret_cast<uint32_t*>(tmp));
  }
};
struct ExactCall {
  const Cores* cores;
  bool isSigned;
  void operator()(const uint8_t* base, const int64_t* taps, const uint8_t* sel, int K, int64_t pos0, int nPos, int32_t* tmp) const {
    cores->exact(base, taps, sel, K, isSigned, pos0, nPos, reinterpret_cast<uint32_t*>(tmp));
  }
};
struct FloatCall {
  const Cores* cores;
  void operator()(const float* base, const int64_t* taps, const float* sel, int K, int64_t pos0, int nPos, float* tmp) const {
    cores->flt(base, taps, sel, K, pos0, nPos, tmp);
  }
};

// convLut(input u8, weights u8, geometry i32[18], padCode, rows, rows16, planes, nPlanes, min, out i32)
Napi::Value ConvLut(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto input = typedArg<Napi::Uint8Array>(info, 0, "input");
  auto weights = typedArg<Napi::Uint8Array>(info, 1, "weights");
  const ConvGeom g = geomArg(info, 2);
  const uint8_t pad = uint8_t(info[3].As<Napi::Number>().Uint32Value());
  const LutArgs lut = lutArgs(info, 4);
  auto out = typedArg<Napi::Int32Array>(info, 9, "out");
  checkConvLengths(env, g, input.ElementLength(), weights.ElementLength(), out.ElementLength());
  checkCodes(env, weights.Data(), g.M * (g.C / g.groups) * g.R * g.S, lut.rows, "weight");
  const Cores cores = isa().current;
  const Phases ph = phasesOf(g);
  const Layout L = convLayout(g, ph);
  LutPlanesData planes;
  if (useLutPlanes(cores, lut.ctx, g, weights.Data(), L, tasksWanted(), planes)) {
    conv2dLutPlanes(g, ph, L, input.Data(), pad, cores, lut.ctx, planes, out.Data());
    return env.Undefined();
  }
  conv2d<uint8_t, int32_t>(g, input.Data(), weights.Data(), pad, out.Data(), LutCall{&cores, &lut.ctx});
  return env.Undefined();
}

// convExact(input u8, weights u8, geometry, padCode, signed, out i32)
Napi::Value ConvExact(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto input = typedArg<Napi::Uint8Array>(info, 0, "input");
  auto weights = typedArg<Napi::Uint8Array>(info, 1, "weights");
  const ConvGeom g = geomArg(info, 2);
  const uint8_t pad = uint8_t(info[3].As<Napi::Number>().Uint32Value());
  const bool isSigned = info[4].ToBoolean();
  auto out = typedArg<Napi::Int32Array>(info, 5, "out");
  checkConvLengths(env, g, input.ElementLength(), weights.ElementLength(), out.ElementLength());
  const Cores cores = isa().current;
  conv2d<uint8_t, int32_t>(g, input.Data(), weights.Data(), pad, out.Data(), ExactCall{&cores, isSigned});
  return env.Undefined();
}

// convFloat(input f32, weights f32, geometry, padValue, out f32)
Napi::Value ConvFloat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto input = typedArg<Napi::Float32Array>(info, 0, "input");
  auto weights = typedArg<Napi::Float32Array>(info, 1, "weights");
  const ConvGeom g = geomArg(info, 2);
  const float pad = float(info[3].As<Napi::Number>().DoubleValue());
  auto out = typedArg<Napi::Float32Array>(info, 4, "out");
  checkConvLengths(env, g, input.ElementLength(), weights.ElementLength(), out.ElementLength());
  const Cores cores = isa().current;
  conv2d<float, float>(g, input.Data(), weights.Data(), pad, out.Data(), FloatCall{&cores});
  return env.Undefined();
}

struct DenseDims {
  int64_t B, K, M;
};
DenseDims denseArgs(const Napi::CallbackInfo& info, size_t i, size_t inputLen, size_t weightLen, size_t outLen) {
  auto a = typedArg<Napi::Int32Array>(info, i, "dims");
  if (a.ElementLength() != 3 || a[0] < 1 || a[1] < 1 || a[2] < 1) throw Napi::RangeError::New(info.Env(), "dims must be [batch, K, M], all positive");
  DenseDims d{a[0], a[1], a[2]};
  checkLength(info.Env(), inputLen, d.B * d.K, "input");
  checkLength(info.Env(), weightLen, d.M * d.K, "weights");
  checkLength(info.Env(), outLen, d.B * d.M, "out");
  return d;
}

// denseLut(input u8, weights u8, dims i32[3], rows, rows16, planes, nPlanes, min, out): the LUT's rows
// are selected by the activation and indexed by the weight code (the table's own orientation).
Napi::Value DenseLut(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto input = typedArg<Napi::Uint8Array>(info, 0, "input");
  auto weights = typedArg<Napi::Uint8Array>(info, 1, "weights");
  const LutArgs lut = lutArgs(info, 3);
  auto out = typedArg<Napi::Int32Array>(info, 8, "out");
  const DenseDims d = denseArgs(info, 2, input.ElementLength(), weights.ElementLength(), out.ElementLength());
  if (lut.rows != 256) throw Napi::RangeError::New(env, "dense LUT must have 256 rows (one per activation)");
  const Cores cores = isa().current;
  dense<uint8_t, int32_t>(d.B, d.K, d.M, input.Data(), weights.Data(), out.Data(), LutCall{&cores, &lut.ctx});
  return env.Undefined();
}

Napi::Value DenseExact(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto input = typedArg<Napi::Uint8Array>(info, 0, "input");
  auto weights = typedArg<Napi::Uint8Array>(info, 1, "weights");
  const bool isSigned = info[3].ToBoolean();
  auto out = typedArg<Napi::Int32Array>(info, 4, "out");
  const DenseDims d = denseArgs(info, 2, input.ElementLength(), weights.ElementLength(), out.ElementLength());
  const Cores cores = isa().current;
  dense<uint8_t, int32_t>(d.B, d.K, d.M, input.Data(), weights.Data(), out.Data(), ExactCall{&cores, isSigned});
  return env.Undefined();
}

Napi::Value DenseFloat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto input = typedArg<Napi::Float32Array>(info, 0, "input");
  auto weights = typedArg<Napi::Float32Array>(info, 1, "weights");
  auto out = typedArg<Napi::Float32Array>(info, 3, "out");
  const DenseDims d = denseArgs(info, 2, input.ElementLength(), weights.ElementLength(), out.ElementLength());
  const Cores cores = isa().current;
  dense<float, float>(d.B, d.K, d.M, input.Data(), weights.Data(), out.Data(), FloatCall{&cores});
  return env.Undefined();
}

// A Float32Array argument that may be null (that output is not wanted); checked against `need` elements.
float* optionalFloats(const Napi::CallbackInfo& info, size_t i, int64_t need, const char* what) {
  if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  auto a = typedArg<Napi::Float32Array>(info, i, what);
  if (int64_t(a.ElementLength()) != need) throw Napi::RangeError::New(info.Env(), std::string(what) + " does not have the elements the geometry needs");
  return a.Data();
}

// gemmFloat(a f32, b f32, c f32, dims i32[3] = [M, N, K], transA, transB, accumulate): c [M, N]
// (+)= op(a) op(b), a stored [M, K] ([K, M] when transA), b stored [K, N] ([N, K] when transB).
Napi::Value GemmFloat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto a = typedArg<Napi::Float32Array>(info, 0, "a");
  auto b = typedArg<Napi::Float32Array>(info, 1, "b");
  auto c = typedArg<Napi::Float32Array>(info, 2, "c");
  auto dims = typedArg<Napi::Int32Array>(info, 3, "dims");
  if (dims.ElementLength() != 3 || dims[0] < 1 || dims[1] < 1 || dims[2] < 1) throw Napi::RangeError::New(env, "dims must be [M, N, K], all positive");
  const int64_t M = dims[0], N = dims[1], K = dims[2];
  const bool transA = info[4].ToBoolean(), transB = info[5].ToBoolean(), accumulate = info[6].ToBoolean();
  checkLength(env, a.ElementLength(), M * K, "a");
  checkLength(env, b.ElementLength(), K * N, "b");
  checkLength(env, c.ElementLength(), M * N, "c");
  const MatView A = transA ? MatView{a.Data(), 1, M} : MatView{a.Data(), K, 1};
  const MatView B = transB ? MatView{b.Data(), 1, K} : MatView{b.Data(), N, 1};
  gemmAuto(isa().current.gemm, M, N, K, A, B, c.Data(), N, accumulate);
  return env.Undefined();
}

// convFloatGemm(input f32, weights f32, geometry, out f32): zero padding, im2col + GEMM
Napi::Value ConvFloatGemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto input = typedArg<Napi::Float32Array>(info, 0, "input");
  auto weights = typedArg<Napi::Float32Array>(info, 1, "weights");
  const ConvGeom g = geomArg(info, 2);
  auto out = typedArg<Napi::Float32Array>(info, 3, "out");
  checkConvLengths(env, g, input.ElementLength(), weights.ElementLength(), out.ElementLength());
  conv2dForwardGemmFloat(isa().current, g, input.Data(), weights.Data(), out.Data());
  return env.Undefined();
}

BnDims bnDims(const Napi::CallbackInfo& info, size_t i) {
  auto a = typedArg<Napi::Int32Array>(info, i, "dims");
  if (a.ElementLength() != 3 || a[0] < 1 || a[1] < 1 || a[2] < 1) throw Napi::RangeError::New(info.Env(), "dims must be [batch, channels, inner], all positive");
  return BnDims{a[0], a[1], a[2]};
}
template <typename T>
T bnArray(const Napi::CallbackInfo& info, size_t i, int64_t need, const char* what) {
  auto a = typedArg<T>(info, i, what);
  checkLength(info.Env(), a.ElementLength(), need, what);
  return a;
}

// channelMoments(x f32, dims i32[3] = [N, C, inner], mean f64[C], variance f64[C])
Napi::Value ChannelMoments(const Napi::CallbackInfo& info) {
  const BnDims d = bnDims(info, 1);
  auto x = bnArray<Napi::Float32Array>(info, 0, d.N * d.C * d.inner, "input");
  auto mean = bnArray<Napi::Float64Array>(info, 2, d.C, "mean");
  auto variance = bnArray<Napi::Float64Array>(info, 3, d.C, "variance");
  channelMoments(d, x.Data(), mean.Data(), variance.Data());
  return info.Env().Undefined();
}

// batchNormApply(x f32, dims, mean f64, invStd f64, scale f32, bias f32, out f32)
Napi::Value BatchNormApply(const Napi::CallbackInfo& info) {
  const BnDims d = bnDims(info, 1);
  auto x = bnArray<Napi::Float32Array>(info, 0, d.N * d.C * d.inner, "input");
  auto mean = bnArray<Napi::Float64Array>(info, 2, d.C, "mean");
  auto invStd = bnArray<Napi::Float64Array>(info, 3, d.C, "invStd");
  auto scale = bnArray<Napi::Float32Array>(info, 4, d.C, "scale");
  auto bias = bnArray<Napi::Float32Array>(info, 5, d.C, "bias");
  auto out = bnArray<Napi::Float32Array>(info, 6, d.N * d.C * d.inner, "out");
  batchNormApply(d, x.Data(), mean.Data(), invStd.Data(), scale.Data(), bias.Data(), out.Data());
  return info.Env().Undefined();
}

// batchNormBackward(x f32, dy f32, dims, mean f64, invStd f64, scale f32, batchStats, dx f32|null, dScale f32, dBias f32)
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  const BnDims d = bnDims(info, 2);
  const int64_t size = d.N * d.C * d.inner;
  auto x = bnArray<Napi::Float32Array>(info, 0, size, "input");
  auto dy = bnArray<Napi::Float32Array>(info, 1, size, "output gradient");
  auto mean = bnArray<Napi::Float64Array>(info, 3, d.C, "mean");
  auto invStd = bnArray<Napi::Float64Array>(info, 4, d.C, "invStd");
  auto scale = bnArray<Napi::Float32Array>(info, 5, d.C, "scale");
  const bool batchStats = info[6].ToBoolean();
  float* dx = optionalFloats(info, 7, size, "input gradient");
  auto dScale = bnArray<Napi::Float32Array>(info, 8, d.C, "scale gradient");
  auto dBias = bnArray<Napi::Float32Array>(info, 9, d.C, "bias gradient");
  batchNormBackward(d, x.Data(), dy.Data(), mean.Data(), invStd.Data(), scale.Data(), batchStats, dx, dScale.Data(), dBias.Data());
  return info.Env().Undefined();
}

// reluFloat(x f32, out f32)
Napi::Value ReluFloat(const Napi::CallbackInfo& info) {
  auto x = typedArg<Napi::Float32Array>(info, 0, "input");
  auto out = bnArray<Napi::Float32Array>(info, 1, int64_t(x.ElementLength()), "out");
  reluFloat(x.Data(), out.Data(), int64_t(x.ElementLength()));
  return info.Env().Undefined();
}

// addFloat(a f32, b f32, out f32)
Napi::Value AddFloat(const Napi::CallbackInfo& info) {
  auto a = typedArg<Napi::Float32Array>(info, 0, "a");
  const int64_t n = int64_t(a.ElementLength());
  auto b = bnArray<Napi::Float32Array>(info, 1, n, "b");
  auto out = bnArray<Napi::Float32Array>(info, 2, n, "out");
  addFloat(a.Data(), b.Data(), out.Data(), n);
  return info.Env().Undefined();
}

// fakeQuantize(x f32, params f64[4] = [scale, zeroPoint, qmin, qmax], codes u8, fake f32, mask u8)
Napi::Value FakeQuantize(const Napi::CallbackInfo& info) {
  auto x = typedArg<Napi::Float32Array>(info, 0, "input");
  const int64_t n = int64_t(x.ElementLength());
  auto p = bnArray<Napi::Float64Array>(info, 1, 4, "params");
  const double scale = p[0];
  const int zeroPoint = int(p[1]), qmin = int(p[2]), qmax = int(p[3]);
  if (!(scale > 0) || qmin > qmax || qmin < -128 || qmax > 255 || zeroPoint < qmin || zeroPoint > qmax) {
    throw Napi::RangeError::New(info.Env(), "params must be [scale > 0, zeroPoint in [qmin, qmax], qmin <= qmax within -128..255]");
  }
  auto codes = bnArray<Napi::Uint8Array>(info, 2, n, "codes");
  auto fake = bnArray<Napi::Float32Array>(info, 3, n, "fake");
  auto mask = bnArray<Napi::Uint8Array>(info, 4, n, "mask");
  fakeQuantize(x.Data(), n, scale, zeroPoint, qmin, qmax, codes.Data(), fake.Data(), mask.Data());
  return info.Env().Undefined();
}

// minMaxFloat(x f32, out f64[2] = [least, greatest])
Napi::Value MinMaxFloat(const Napi::CallbackInfo& info) {
  auto x = typedArg<Napi::Float32Array>(info, 0, "input");
  auto out = bnArray<Napi::Float64Array>(info, 1, 2, "out");
  minMaxFloat(x.Data(), int64_t(x.ElementLength()), out.Data(), out.Data() + 1);
  return info.Env().Undefined();
}

// dequantizeAcc(acc i32, dims i32[4] = [batch, M, inner, groups], constant f64[M], scale f64[M], bias f64[M], zw i32[M], sums i32 | null, hi, out f32)
Napi::Value DequantizeAcc(const Napi::CallbackInfo& info) {
  auto dims = bnArray<Napi::Int32Array>(info, 1, 4, "dims");
  const int64_t batch = dims[0], M = dims[1], inner = dims[2], groups = dims[3];
  if (batch < 0 || M < 1 || inner < 0 || groups < 1 || M % groups != 0) throw Napi::RangeError::New(info.Env(), "dims must be [batch, M, inner, groups] with groups dividing M");
  auto acc = bnArray<Napi::Int32Array>(info, 0, batch * M * inner, "acc");
  auto constant = bnArray<Napi::Float64Array>(info, 2, M, "constant");
  auto scale = bnArray<Napi::Float64Array>(info, 3, M, "scale");
  auto bias = bnArray<Napi::Float64Array>(info, 4, M, "bias");
  auto zw = bnArray<Napi::Int32Array>(info, 5, M, "zw");
  const int32_t* sums = nullptr;
  if (!info[6].IsNull() && !info[6].IsUndefined()) sums = bnArray<Napi::Int32Array>(info, 6, batch * groups * inner, "sums").Data();
  const double hi = info[7].As<Napi::Number>().DoubleValue();
  auto out = bnArray<Napi::Float32Array>(info, 8, batch * M * inner, "out");
  dequantizeAcc(acc.Data(), batch, M, inner, groups, constant.Data(), scale.Data(), bias.Data(), zw.Data(), sums, hi, out.Data());
  return info.Env().Undefined();
}

// reluBackwardFloat(x f32, dy f32, dx f32)
Napi::Value ReluBackwardFloat(const Napi::CallbackInfo& info) {
  auto x = typedArg<Napi::Float32Array>(info, 0, "input");
  const int64_t n = int64_t(x.ElementLength());
  auto dy = bnArray<Napi::Float32Array>(info, 1, n, "output gradient");
  auto dx = bnArray<Napi::Float32Array>(info, 2, n, "input gradient");
  reluBackwardFloat(x.Data(), dy.Data(), dx.Data(), n);
  return info.Env().Undefined();
}

// conv2dBackwardFloat(x f32, w f32, dy f32, geometry, dx f32|null, dw f32|null, db f32|null)
Napi::Value Conv2dBackwardFloat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = typedArg<Napi::Float32Array>(info, 0, "input");
  auto w = typedArg<Napi::Float32Array>(info, 1, "weights");
  auto dy = typedArg<Napi::Float32Array>(info, 2, "output gradient");
  const ConvGeom g = geomArg(info, 3);
  checkConvLengths(env, g, x.ElementLength(), w.ElementLength(), dy.ElementLength());
  float* dx = optionalFloats(info, 4, g.N * g.C * g.H * g.W, "input gradient");
  float* dw = optionalFloats(info, 5, g.M * (g.C / g.groups) * g.R * g.S, "weight gradient");
  float* db = optionalFloats(info, 6, g.M, "bias gradient");
  conv2dBackwardFloat(isa().current, g, x.Data(), w.Data(), dy.Data(), dx, dw, db);
  return env.Undefined();
}

// denseBackwardFloat(x f32, w f32, dy f32, dims i32[3] = [B, K, M], dx|null, dw|null, db|null)
Napi::Value DenseBackwardFloat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = typedArg<Napi::Float32Array>(info, 0, "input");
  auto w = typedArg<Napi::Float32Array>(info, 1, "weights");
  auto dy = typedArg<Napi::Float32Array>(info, 2, "output gradient");
  const DenseDims d = denseArgs(info, 3, x.ElementLength(), w.ElementLength(), dy.ElementLength());
  float* dx = optionalFloats(info, 4, d.B * d.K, "input gradient");
  float* dw = optionalFloats(info, 5, d.M * d.K, "weight gradient");
  float* db = optionalFloats(info, 6, d.M, "bias gradient");
  denseBackwardFloat(isa().current, d.B, d.K, d.M, x.Data(), w.Data(), dy.Data(), dx, dw, db);
  return env.Undefined();
}

// The epilogue arguments of the plan's fused layers, from argument i on: hi, residual f32 | null,
// outFloat f32 | null, outCodes u8 | null, codeParams f64[4] = [scale, zeroPoint, qmin, qmax] | null.
Epilogue epilogueArgs(const Napi::CallbackInfo& info, size_t i, int64_t size) {
  Epilogue e;
  e.hi = info[i].As<Napi::Number>().DoubleValue();
  auto present = [&](size_t j) { return !info[j].IsNull() && !info[j].IsUndefined(); };
  if (present(i + 1)) e.residual = bnArray<Napi::Float32Array>(info, i + 1, size, "residual").Data();
  if (present(i + 2)) e.outFloat = bnArray<Napi::Float32Array>(info, i + 2, size, "outFloat").Data();
  if (present(i + 3)) {
    e.outCodes = bnArray<Napi::Uint8Array>(info, i + 3, size, "outCodes").Data();
    auto p = bnArray<Napi::Float64Array>(info, i + 4, 4, "codeParams");
    e.codeScale = p[0];
    e.codeZero = int(p[1]);
    e.codeMin = int(p[2]);
    e.codeMax = int(p[3]);
    if (!(e.codeScale > 0) || e.codeMin > e.codeMax || e.codeMin < -128 || e.codeMax > 255 || e.codeZero < e.codeMin || e.codeZero > e.codeMax)
      throw Napi::RangeError::New(info.Env(), "codeParams must be [scale > 0, zeroPoint in [qmin, qmax], qmin <= qmax within -128..255]");
  }
  if (!e.outFloat && !e.outCodes) throw Napi::RangeError::New(info.Env(), "a fused layer needs outFloat or outCodes");
  return e;
}

// planConvInt(codes u8, weights u8, geometry, mode (0 LUT, 1 exact int8, 2 exact uint8), padCode,
// rows, rows16, planes, nPlanes, min (the prepared LUT; ignored unless mode 0), channels f64[3M] =
// constant, scale, bias, zw i32[M] | null, then the epilogue (epilogueArgs), then optionally the
// products' separable factors f i16[256], g i16[weight codes] (plan_conv.h). Returns the algorithm
// that ran: "separable", "planes" or "direct".
Napi::Value PlanConvInt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto input = typedArg<Napi::Uint8Array>(info, 0, "input");
  auto weights = typedArg<Napi::Uint8Array>(info, 1, "weights");
  const ConvGeom g = geomArg(info, 2);
  const int mode = info[3].As<Napi::Number>().Int32Value();
  if (mode < 0 || mode > 2) throw Napi::RangeError::New(env, "mode must be 0 (LUT), 1 (exact int8) or 2 (exact uint8)");
  const uint8_t pad = uint8_t(info[4].As<Napi::Number>().Uint32Value());
  checkLength(env, input.ElementLength(), g.N * g.C * g.H * g.W, "input");
  checkLength(env, weights.ElementLength(), g.M * (g.C / g.groups) * g.R * g.S, "weights");
  LutArgs lut{};
  if (mode == 0) {
    lut = lutArgs(info, 5);
    checkCodes(env, weights.Data(), g.M * (g.C / g.groups) * g.R * g.S, lut.rows, "weight");
  }
  auto channels = bnArray<Napi::Float64Array>(info, 10, 3 * g.M, "channels");
  Epilogue e = epilogueArgs(info, 12, g.N * g.M * g.P * g.Q);
  e.constant = channels.Data();
  e.scale = channels.Data() + g.M;
  e.bias = channels.Data() + 2 * g.M;
  if (!info[11].IsNull() && !info[11].IsUndefined()) e.zw = bnArray<Napi::Int32Array>(info, 11, g.M, "zw").Data();
  SeparableFactors sep{};
  const bool separable = info.Length() > 17 && !info[17].IsNull() && !info[17].IsUndefined();
  if (separable) {
    sep.act = bnArray<Napi::Int16Array>(info, 17, 256, "separable activation factors").Data();
    auto w = typedArg<Napi::Int16Array>(info, 18, "separable weight factors");
    sep.weight = w.Data();
    sep.weightCodes = int64_t(w.ElementLength());
    checkCodes(env, weights.Data(), g.M * (g.C / g.groups) * g.R * g.S, sep.weightCodes, "weight");
  }
  const Cores cores = isa().current;
  const IntAlgorithm ran = planConvInt(cores, g, input.Data(), weights.Data(), mode == 0 ? IntMode::Lut : mode == 1 ? IntMode::ExactSigned : IntMode::ExactUnsigned,
                                       pad, mode == 0 ? &lut.ctx : nullptr, e, separable ? &sep : nullptr);
  return Napi::String::New(env, intAlgorithmName(ran));
}

// planConvFloat(x f32, w f32, geometry, bias f32[M] | null, direct, then the epilogue (epilogueArgs)):
// direct runs conv2dFloat's kernel (the same sums), else im2col + GEMM where a group has 8 or more output channels.
Napi::Value PlanConvFloat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto input = typedArg<Napi::Float32Array>(info, 0, "input");
  auto weights = typedArg<Napi::Float32Array>(info, 1, "weights");
  const ConvGeom g = geomArg(info, 2);
  checkLength(env, input.ElementLength(), g.N * g.C * g.H * g.W, "input");
  checkLength(env, weights.ElementLength(), g.M * (g.C / g.groups) * g.R * g.S, "weights");
  Epilogue e = epilogueArgs(info, 5, g.N * g.M * g.P * g.Q);
  if (!info[3].IsNull() && !info[3].IsUndefined()) e.floatBias = bnArray<Napi::Float32Array>(info, 3, g.M, "bias").Data();
  planConvFloat(isa().current, g, input.Data(), weights.Data(), info[4].ToBoolean(), e);
  return env.Undefined();
}

// planQuantize(x f32, params f64[4] = [scale, zeroPoint, qmin, qmax], codes u8)
Napi::Value PlanQuantize(const Napi::CallbackInfo& info) {
  auto x = typedArg<Napi::Float32Array>(info, 0, "input");
  const int64_t n = int64_t(x.ElementLength());
  auto p = bnArray<Napi::Float64Array>(info, 1, 4, "params");
  const double scale = p[0];
  const int zeroPoint = int(p[1]), qmin = int(p[2]), qmax = int(p[3]);
  if (!(scale > 0) || qmin > qmax || qmin < -128 || qmax > 255 || zeroPoint < qmin || zeroPoint > qmax)
    throw Napi::RangeError::New(info.Env(), "params must be [scale > 0, zeroPoint in [qmin, qmax], qmin <= qmax within -128..255]");
  auto codes = bnArray<Napi::Uint8Array>(info, 2, n, "codes");
  planQuantize(isa().current, x.Data(), n, scale, zeroPoint, qmin, qmax, codes.Data());
  return info.Env().Undefined();
}

Napi::Value GetGemmBackend(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), gemmBackend() == GemmBackend::OpenBlas ? "openblas" : "own");
}

// setGemmBackend("own" | "openblas"): throws when OpenBLAS cannot be loaded.
Napi::Value SetGemmBackend(const Napi::CallbackInfo& info) {
  const std::string want = info[0].As<Napi::String>().Utf8Value();
  if (want != "own" && want != "openblas") throw Napi::Error::New(info.Env(), "unknown GEMM backend " + want);
  if (!setGemmBackend(want == "own" ? GemmBackend::Own : GemmBackend::OpenBlas)) throw Napi::Error::New(info.Env(), "OpenBLAS is not available: " + openBlasError());
  return info.Env().Undefined();
}

// "" when OpenBLAS's cblas_sgemm is loadable, else why not.
Napi::Value OpenBlasStatus(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), openBlasError()); }

Napi::Value IsaLevels(const Napi::CallbackInfo& info) {
  auto& s = isa();
  Napi::Array arr = Napi::Array::New(info.Env(), s.available.size());
  for (size_t i = 0; i < s.available.size(); i++) arr.Set(uint32_t(i), s.available[i].name);
  return arr;
}

Napi::Value GetIsa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), isa().current.name); }

// setIsa(name): selects one of isaLevels(); throws if this CPU lacks it.
Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  const std::string want = info[0].As<Napi::String>().Utf8Value();
  auto& s = isa();
  for (const Cores& c : s.available) {
    if (want == c.name) {
      s.current = c;
      return Napi::String::New(info.Env(), c.name);
    }
  }
  throw Napi::Error::New(info.Env(), "ISA level " + want + " is not available on this CPU");
}

// setLutAlgorithm("auto" | "direct" | "planes" | "separable"): how LUT convolutions are computed (lut_planes.h).
Napi::Value SetLutAlgorithm(const Napi::CallbackInfo& info) {
  const std::string want = info[0].As<Napi::String>().Utf8Value();
  if (want == "auto") lutAlgorithm() = LutAlgorithm::Auto;
  else if (want == "direct") lutAlgorithm() = LutAlgorithm::Direct;
  else if (want == "planes") lutAlgorithm() = LutAlgorithm::Planes;
  else if (want == "separable") lutAlgorithm() = LutAlgorithm::Separable;
  else throw Napi::Error::New(info.Env(), "unknown LUT algorithm " + want);
  return info.Env().Undefined();
}

Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pool().size()); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("convLut", Napi::Function::New(env, ConvLut));
  exports.Set("convExact", Napi::Function::New(env, ConvExact));
  exports.Set("convFloat", Napi::Function::New(env, ConvFloat));
  exports.Set("denseLut", Napi::Function::New(env, DenseLut));
  exports.Set("denseExact", Napi::Function::New(env, DenseExact));
  exports.Set("denseFloat", Napi::Function::New(env, DenseFloat));
  exports.Set("gemmFloat", Napi::Function::New(env, GemmFloat));
  exports.Set("convFloatGemm", Napi::Function::New(env, ConvFloatGemm));
  exports.Set("channelMoments", Napi::Function::New(env, ChannelMoments));
  exports.Set("batchNormApply", Napi::Function::New(env, BatchNormApply));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackward));
  exports.Set("reluFloat", Napi::Function::New(env, ReluFloat));
  exports.Set("addFloat", Napi::Function::New(env, AddFloat));
  exports.Set("fakeQuantize", Napi::Function::New(env, FakeQuantize));
  exports.Set("minMaxFloat", Napi::Function::New(env, MinMaxFloat));
  exports.Set("dequantizeAcc", Napi::Function::New(env, DequantizeAcc));
  exports.Set("reluBackwardFloat", Napi::Function::New(env, ReluBackwardFloat));
  exports.Set("conv2dBackwardFloat", Napi::Function::New(env, Conv2dBackwardFloat));
  exports.Set("denseBackwardFloat", Napi::Function::New(env, DenseBackwardFloat));
  exports.Set("gemmBackend", Napi::Function::New(env, GetGemmBackend));
  exports.Set("setGemmBackend", Napi::Function::New(env, SetGemmBackend));
  exports.Set("openBlasStatus", Napi::Function::New(env, OpenBlasStatus));
  exports.Set("isaLevels", Napi::Function::New(env, IsaLevels));
  exports.Set("getIsa", Napi::Function::New(env, GetIsa));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("threads", Napi::Function::New(env, Threads));
  exports.Set("setLutAlgorithm", Napi::Function::New(env, SetLutAlgorithm));
  exports.Set("planConvInt", Napi::Function::New(env, PlanConvInt));
  exports.Set("planConvFloat", Napi::Function::New(env, PlanConvFloat));
  exports.Set("planQuantize", Napi::Function::New(env, PlanQuantize));
  return exports;
}

}  // namespace
}  // namespace axnn

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return axnn::Init(env, exports); }
NODE_API_MODULE(axnn_native, InitModule)
