// Fused layers of a compiled execution plan (plan_conv.h). The direct driver is the phase-plane
// driver of axnn_native.cc (one task per image, group, block of positions and range of output
// channels) with the epilogue applied to each block of accumulators as it leaves the core; the
// GEMM driver is conv2dForwardGemmFloat's, with the epilogue applied as each chunk's result is
// copied into place. Reusable buffers live per calling thread: no allocation per batch.
#include "plan_conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define AXNN_PLAN_AVX2 1
#endif

#include "conv_backward.h"
#include "conv_layout.h"
#include "conv_phases.h"
#include "gemm.h"
#include "gemm_int16.h"
#include "lut_planes.h"
#include "thread_pool.h"

namespace axnn {
namespace {

constexpr double kFar = double(1 << 30);

inline uint8_t quantizeOne(float x, double scale, int zeroPoint, int qmin, int qmax) {
  // As fakeQuantize (qat_quantize.cc) and quantizeToCodes: trunc(v + copysign(0.5, v)) is roundHalfAway(v).
  const double v = double(x) / scale;
  double t = v + std::copysign(0.5, v);
  if (t != t) return 0;
  t = std::max(-kFar, std::min(t, kFar));
  const int q = std::max(qmin, std::min(int(t) + zeroPoint, qmax));
  return uint8_t(q & 0xff);
}

// The epilogue's steps after the layer's own value v, for output element i.
inline void finish(const Epilogue& e, int64_t i, float v) {
  if (e.residual) v = v + e.residual[i];
  if (e.hi >= 0) v = v > 0 ? (double(v) < e.hi ? v : float(e.hi)) : 0.0f;
  if (e.outFloat) e.outFloat[i] = v;
  if (e.outCodes) e.outCodes[i] = quantizeOne(v, e.codeScale, e.codeZero, e.codeMin, e.codeMax);
}

// ---- runs of outputs ----
// The epilogue works on runs of consecutive outputs of one channel: first the layer's own values
// into a small buffer (kRun at most), then the shared steps. Each has a scalar twin (the code above,
// element by element) and an AVX2 version doing the same IEEE operations in the same order (double
// lanes for the double arithmetic; no FMA: the target is "avx2" alone, so nothing is contracted),
// hence the same bits. The AVX2 versions serve every x86 level above scalar (AVX-512 included).

constexpr int64_t kRun = 64;

// The integer layer's values of channel m: float((acc + constant - zw * sum) * scale + bias).
struct IntChannel {
  double constant, scale, bias, zw;
  bool withSums;
};

void intValuesScalar(const IntChannel& c, const int32_t* acc, const int32_t* sums, int64_t n, float* v) {
  for (int64_t k = 0; k < n; k++) {
    const double t = c.withSums ? double(acc[k]) + c.constant - c.zw * double(sums[k]) : double(acc[k]) + c.constant;
    v[k] = float(t * c.scale + c.bias);
  }
}

void finishRunScalar(const Epilogue& e, const float* v, int64_t n, int64_t out0) {
  for (int64_t k = 0; k < n; k++) finish(e, out0 + k, v[k]);
}

void quantizeRunScalar(const float* x, int64_t n, double scale, int zeroPoint, int qmin, int qmax, uint8_t* codes) {
  for (int64_t i = 0; i < n; i++) codes[i] = quantizeOne(x[i], scale, zeroPoint, qmin, qmax);
}

#if AXNN_PLAN_AVX2
__attribute__((target("avx2"))) void intValuesAvx2(const IntChannel& c, const int32_t* acc, const int32_t* sums, int64_t n, float* v) {
  const __m256d cv = _mm256_set1_pd(c.constant), sv = _mm256_set1_pd(c.scale), bv = _mm256_set1_pd(c.bias), zv = _mm256_set1_pd(c.zw);
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    __m256d t = _mm256_add_pd(_mm256_cvtepi32_pd(_mm_loadu_si128(reinterpret_cast<const __m128i*>(acc + k))), cv);
    if (c.withSums) t = _mm256_sub_pd(t, _mm256_mul_pd(zv, _mm256_cvtepi32_pd(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sums + k)))));
    _mm_storeu_ps(v + k, _mm256_cvtpd_ps(_mm256_add_pd(_mm256_mul_pd(t, sv), bv)));
  }
  intValuesScalar(c, acc + k, sums ? sums + k : nullptr, n - k, v + k);
}

// Codes of 4 floats (quantizeOne lane by lane); false when a lane is NaN (the caller goes scalar).
__attribute__((target("avx2"))) inline bool codes4(__m128 x, __m256d scale, __m128i zero, __m128i lo, __m128i hi, __m128i* out) {
  const __m256d q = _mm256_div_pd(_mm256_cvtps_pd(x), scale);
  const __m256d half = _mm256_or_pd(_mm256_and_pd(q, _mm256_set1_pd(-0.0)), _mm256_set1_pd(0.5));
  __m256d t = _mm256_add_pd(q, half);
  if (_mm256_movemask_pd(_mm256_cmp_pd(t, t, _CMP_ORD_Q)) != 0xF) return false;
  t = _mm256_max_pd(_mm256_set1_pd(-kFar), _mm256_min_pd(t, _mm256_set1_pd(kFar)));
  const __m128i i = _mm_add_epi32(_mm256_cvttpd_epi32(t), zero);
  *out = _mm_and_si128(_mm_min_epi32(_mm_max_epi32(i, lo), hi), _mm_set1_epi32(0xff));
  return true;
}

// 8 codes from 8 floats: the low bytes of the clamped integers.
__attribute__((target("avx2"))) inline bool codes8(const float* x, __m256d scale, __m128i zero, __m128i lo, __m128i hi, uint8_t* out) {
  __m128i a, b;
  if (!codes4(_mm_loadu_ps(x), scale, zero, lo, hi, &a) || !codes4(_mm_loadu_ps(x + 4), scale, zero, lo, hi, &b)) return false;
  const __m128i words = _mm_packs_epi32(a, b);  // 0..255: no saturation
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(words, words));
  return true;
}

__attribute__((target("avx2"))) void finishRunAvx2(const Epilogue& e, const float* v, int64_t n, int64_t out0) {
  alignas(32) float buf[kRun];
  const bool relu = e.hi >= 0;
  const __m256 hiv = _mm256_set1_ps(float(e.hi)), zero = _mm256_setzero_ps();
  const __m256d scale = _mm256_set1_pd(e.codeScale);
  const __m128i zp = _mm_set1_epi32(e.codeZero), lo = _mm_set1_epi32(e.codeMin), hi = _mm_set1_epi32(e.codeMax);
  for (int64_t k0 = 0; k0 < n; k0 += kRun) {
    const int64_t len = std::min(kRun, n - k0);
    int64_t k = 0;
    for (; k + 8 <= len; k += 8) {
      __m256 x = _mm256_loadu_ps(v + k0 + k);
      if (e.residual) x = _mm256_add_ps(x, _mm256_loadu_ps(e.residual + out0 + k0 + k));
      // v > 0 ? min(v, hi) : 0 (hi is 6 or inf, exact in float; NaN gives 0).
      if (relu) x = _mm256_and_ps(_mm256_min_ps(x, hiv), _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
      _mm256_store_ps(buf + k, x);
      if (e.outFloat) _mm256_storeu_ps(e.outFloat + out0 + k0 + k, x);
    }
    for (; k < len; k++) {  // the tail as finish's first steps
      float x = v[k0 + k];
      if (e.residual) x = x + e.residual[out0 + k0 + k];
      if (relu) x = x > 0 ? (double(x) < e.hi ? x : float(e.hi)) : 0.0f;
      buf[k] = x;
      if (e.outFloat) e.outFloat[out0 + k0 + k] = x;
    }
    if (!e.outCodes) continue;
    uint8_t* codes = e.outCodes + out0 + k0;
    k = 0;
    for (; k + 8 <= len; k += 8)
      if (!codes8(buf + k, scale, zp, lo, hi, codes + k)) quantizeRunScalar(buf + k, 8, e.codeScale, e.codeZero, e.codeMin, e.codeMax, codes + k);
    quantizeRunScalar(buf + k, len - k, e.codeScale, e.codeZero, e.codeMin, e.codeMax, codes + k);
  }
}

__attribute__((target("avx2"))) void quantizeRunAvx2(const float* x, int64_t n, double scale, int zeroPoint, int qmin, int qmax, uint8_t* codes) {
  const __m256d sv = _mm256_set1_pd(scale);
  const __m128i zp = _mm_set1_epi32(zeroPoint), lo = _mm_set1_epi32(qmin), hi = _mm_set1_epi32(qmax);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    if (!codes8(x + i, sv, zp, lo, hi, codes + i)) quantizeRunScalar(x + i, 8, scale, zeroPoint, qmin, qmax, codes + i);
  quantizeRunScalar(x + i, n - i, scale, zeroPoint, qmin, qmax, codes + i);
}
#endif

// The epilogue's entry points at the plan's ISA level (vector: any x86 level above scalar).
struct RunOps {
  void (*intValues)(const IntChannel&, const int32_t*, const int32_t*, int64_t, float*);
  void (*finishRun)(const Epilogue&, const float*, int64_t, int64_t);
  void (*quantizeRun)(const float*, int64_t, double, int, int, int, uint8_t*);
};

RunOps runOps(const Cores& cores) {
#if AXNN_PLAN_AVX2
  if (std::strcmp(cores.name, "scalar") != 0) return RunOps{intValuesAvx2, finishRunAvx2, quantizeRunAvx2};
#endif
  (void)cores;
  return RunOps{intValuesScalar, finishRunScalar, quantizeRunScalar};
}

template <typename T>
T* preparedBuffer(size_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// The direct driver: core(base, taps, sel, K, pos0, nPos, acc) fills acc; emit(m, acc, sums, n, out0)
// applies the epilogue to n consecutive outputs of channel m from out0 on (acc, sums: theirs).
// sumCore(base, taps, K, pos0, nPos, sums) fills the block's window sums when withSums.
// blockCore(base, taps, planes, grp, m0, m1, pos0, nPos, acc), when given (the plane-transform LUT
// core, lut_planes.h), fills the accumulators of output channels [m0, m1) at
// acc[(m - m0) * planes.outStride] in one call instead of core's one call per channel.
struct NoBlockCore {};
// Returns whether the block core ran.
template <typename T, typename Acc, typename Core, typename SumCore, typename Emit, typename BlockCore = NoBlockCore>
bool directConv(const ConvGeom& g, const T* input, const T* weights, T pad, bool withSums, Core core, SumCore sumCore, Emit emit,
                const LutCtx* planesLut = nullptr, BlockCore blockCore = {}) {
  const Phases ph = phasesOf(g);
  const Layout L = convLayout(g, ph);
  const size_t total = size_t(g.N * L.imageStride + kTailElements);
  T* prepared = preparedBuffer<T>(total);
  std::fill(prepared + g.N * L.imageStride, prepared + total, pad);
  pool().parallelFor(g.N * g.C, [&](int64_t task) {
    prepareChannel(g, ph, input + task * g.H * g.W, pad, prepared + task * ph.channelStride);
  });
  const int64_t PQ = g.P * g.Q;
  LutPlanesData planes;
  bool usePlanes = false;
  if constexpr (!std::is_same_v<BlockCore, NoBlockCore>) usePlanes = useLutPlanes(blockCore.cores, *planesLut, g, weights, L, tasksWanted(), planes);
  // The plane core's blocks may exceed kMaxBlock (planes.split); the direct cores' do not.
  const TaskSplit split = usePlanes ? planes.split : taskSplit(L);
  const int64_t stride = usePlanes ? planes.view.outStride : int64_t(kMaxBlock);
  pool().parallelFor(split.coarse * split.mSplits, [&](int64_t task) {
    const ConvTask t = convTask(L, split, task);
    const int64_t n = t.n, grp = t.grp, pos0 = t.pos0, mBegin = t.mBegin, mEnd = t.mEnd;
    const int nPos = t.nPos;
    const T* base = prepared + n * L.imageStride;
    const int64_t* taps = L.tapOff.data() + grp * L.K;
    alignas(64) Acc acc[kMaxBlock];
    thread_local std::vector<int32_t> sums;
    sums.resize(size_t(stride));
    if (withSums) sumCore(base, taps, int(L.K), pos0, nPos, sums.data());
    thread_local std::vector<Acc> blockAcc;
    if constexpr (!std::is_same_v<BlockCore, NoBlockCore>) {
      if (usePlanes && mBegin < mEnd) {
        blockAcc.resize(size_t((mEnd - mBegin) * stride));
        blockCore(base, taps, planes.view, grp, grp * L.Mg + mBegin, grp * L.Mg + mEnd, pos0, nPos, blockAcc.data());
      }
    }
    for (int64_t ml = mBegin; ml < mEnd; ml++) {
      const int64_t m = grp * L.Mg + ml;
      const Acc* accs = acc;
      if (usePlanes) accs = blockAcc.data() + (ml - mBegin) * stride;
      else core(base, taps, weights + m * L.K, int(L.K), pos0, nPos, acc);
      const int64_t plane = (n * g.M + m) * PQ;
      // The block's positions row by row; columns q >= Q of the phase-plane rows are dropped.
      // emit takes at most kMaxBlock outputs at once.
      int64_t pos = pos0;
      const int64_t end = pos0 + nPos;
      while (pos < end) {
        const int64_t p = pos / L.rowStride, q = pos % L.rowStride;
        const int64_t rowEnd = std::min(end, pos - q + L.rowStride);
        if (q < g.Q && p < g.P) {
          const int64_t stop = std::min(rowEnd, pos - q + g.Q);
          const int64_t out0 = plane + p * g.Q - (pos - q);
          for (int64_t from = pos; from < stop; from += kMaxBlock)
            emit(m, accs + (from - pos0), sums.data() + (from - pos0), std::min<int64_t>(kMaxBlock, stop - from), out0 + from);
        }
        pos = rowEnd;
      }
    }
  });
  return usePlanes;
}

// The window sums of the activation codes (the asymmetric cross term) of a block of positions:
// sums[i] = sum over the group's taps k of base[taps[k] + pos0 + i], as the exact core computes
// them against all-ones weights (exact integers either way), but as channel sums first, then one
// pass per tap of the window: Cg * (nPos + span) + RS * nPos additions instead of Cg * RS * nPos.
// A tap's offset is its channel's start plus its window offset (tapOffset), the same for every
// channel, so the window's offsets are those of the group's first channel.
void windowSums(const uint8_t* base, const int64_t* taps, int64_t Cg, int64_t RS, int64_t channelStride, int64_t pos0, int nPos, int32_t* sums) {
  const int64_t first = *std::min_element(taps, taps + RS);  // the first channel's lowest offset
  int64_t span = 0;
  for (int64_t rs = 0; rs < RS; rs++) span = std::max(span, taps[rs] - first);
  const int64_t len = nPos + span;
  thread_local std::vector<uint32_t> channelSum;
  if (int64_t(channelSum.size()) < len) channelSum.resize(size_t(len));
  uint32_t* cs = channelSum.data();
  const uint8_t* from = base + first + pos0;
  for (int64_t j = 0; j < len; j++) cs[j] = from[j];
  for (int64_t c = 1; c < Cg; c++) {
    const uint8_t* row = from + c * channelStride;
    for (int64_t j = 0; j < len; j++) cs[j] += row[j];
  }
  for (int i = 0; i < nPos; i++) sums[i] = 0;
  for (int64_t rs = 0; rs < RS; rs++) {
    const uint32_t* at = cs + (taps[rs] - first);
    for (int i = 0; i < nPos; i++) sums[i] = int32_t(uint32_t(sums[i]) + at[i]);
  }
}

float* gemmScratch(int slot, size_t n) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

constexpr int64_t kMinColumns = 256;
constexpr int64_t kChunkFloats = int64_t(1) << 18;

void gemmChunk(const GemmMicro& micro, const RunOps& ops, const ConvGeom& g, const float* x, const float* w, const Epilogue& e, int64_t n0, int64_t count, bool threaded) {
  const int64_t Cg = g.C / g.groups, Mg = g.M / g.groups, Kg = Cg * g.R * g.S, PQ = g.P * g.Q, len = count * PQ;
  float* col = gemmScratch(0, size_t(Kg * len));
  float* tmp = gemmScratch(1, size_t(Mg * len));
  for (int64_t grp = 0; grp < g.groups; grp++) {
    im2col(g, x, grp, n0, count, col, threaded);
    gemm(micro, Mg, len, Kg, MatView{w + grp * Mg * Kg, Kg, 1}, MatView{col, len, 1}, tmp, len, false, threaded);
    for (int64_t ml = 0; ml < Mg; ml++) {
      const int64_t m = grp * Mg + ml;
      float* row = tmp + ml * len;
      if (e.floatBias) {
        const float b = e.floatBias[m];
        for (int64_t k = 0; k < len; k++) row[k] = row[k] + b;
      }
      for (int64_t n = 0; n < count; n++) ops.finishRun(e, row + n * PQ, PQ, ((n0 + n) * g.M + m) * PQ);
    }
  }
}

// ---- separable tables: the int16 GEMM ----
// product(a, w) = f(a) g(w), so a layer's sums are the GEMM of g(weights) [Mg, Kg] with the im2col
// of f(codes) [Kg, images x P x Q] (pad positions: f(padCode)), chunk of images by chunk as
// planConvFloat's GEMM, then the epilogue on each channel's rows. The window sums of the
// asymmetric cross term are sums of the codes themselves (not of f), computed per image.

template <typename T>
T* scratchOf(int slot, size_t n) {
  thread_local std::vector<T> buffers[3];
  std::vector<T>& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

template <typename Fn>
void forEach(bool threaded, int64_t n, const Fn& fn) {
  if (threaded && n > 1) pool().parallelFor(n, fn);
  else
    for (int64_t i = 0; i < n; i++) fn(i);
}

// sums[p * Q + q] = the sum of the group's activation codes over output (p, q)'s window, padding
// counting padCode (the same integers as windowSums on the padded planes). img: one image's codes.
void imageWindowSums(const ConvGeom& g, const uint8_t* img, int64_t grp, uint8_t padCode, int32_t* sums) {
  const int64_t Cg = g.C / g.groups, HW = g.H * g.W;
  uint32_t* channelSum = scratchOf<uint32_t>(0, size_t(HW));
  const uint8_t* first = img + grp * Cg * HW;
  for (int64_t i = 0; i < HW; i++) channelSum[i] = first[i];
  for (int64_t c = 1; c < Cg; c++)
    for (int64_t i = 0; i < HW; i++) channelSum[i] += first[c * HW + i];
  const uint32_t padSum = uint32_t(Cg) * padCode;
  std::fill(sums, sums + g.P * g.Q, 0);
  for (int64_t r = 0; r < g.R; r++) {
    for (int64_t s = 0; s < g.S; s++) {
      const int64_t off = s * g.dw - g.pl;
      for (int64_t p = 0; p < g.P; p++) {
        int32_t* row = sums + p * g.Q;
        const int64_t iy = p * g.sh + r * g.dh - g.pt;
        if (iy < 0 || iy >= g.H) {
          for (int64_t q = 0; q < g.Q; q++) row[q] = int32_t(uint32_t(row[q]) + padSum);
          continue;
        }
        const uint32_t* src = channelSum + iy * g.W;
        for (int64_t q = 0; q < g.Q; q++) {
          const int64_t ix = q * g.sw + off;
          row[q] = int32_t(uint32_t(row[q]) + (ix >= 0 && ix < g.W ? src[ix] : padSum));
        }
      }
    }
  }
}

constexpr int64_t kSeparableChunk = int64_t(1) << 18;  // int16 elements of im2col per chunk (512 KiB)

void separableConv(const Cores& cores, const ConvGeom& g, const uint8_t* codes, const uint8_t* weights, uint8_t padCode, const SeparableFactors& sf,
                   const Epilogue& e) {
  const int64_t Cg = g.C / g.groups, Mg = g.M / g.groups, Kg = Cg * g.R * g.S, PQ = g.P * g.Q, CHW = g.C * g.H * g.W;
  const bool withSums = e.zw != nullptr;
  const Int16Kernel kernel = int16KernelFor(cores.name);
  const RunOps ops = runOps(cores);
  std::vector<PackedInt16A> packed(size_t(g.groups));
  {
    std::vector<int16_t> a(size_t(Mg * Kg));
    for (int64_t grp = 0; grp < g.groups; grp++) {
      const uint8_t* w = weights + grp * Mg * Kg;
      for (int64_t i = 0; i < Mg * Kg; i++) a[size_t(i)] = sf.weight[w[i]];
      packInt16A(a.data(), Mg, Kg, Kg, packed[size_t(grp)]);
    }
  }
  const int16_t fPad = sf.act[padCode];
  const int64_t nb = std::max<int64_t>(1, std::min({g.N, (kMinColumns + PQ - 1) / PQ, kSeparableChunk / std::max<int64_t>(1, Kg * PQ)}));
  const int64_t chunks = (g.N + nb - 1) / nb;
  auto chunk = [&](int64_t n0, int64_t count, bool threaded) {
    const int64_t len = count * PQ;
    int16_t* xf = scratchOf<int16_t>(0, size_t(count * CHW));
    int16_t* col = scratchOf<int16_t>(1, size_t(Kg * len));
    int32_t* acc = scratchOf<int32_t>(0, size_t(Mg * len));
    int32_t* sums = withSums ? scratchOf<int32_t>(1, size_t(len)) : nullptr;
    const uint8_t* in = codes + n0 * CHW;
    forEach(threaded, count, [&](int64_t n) {
      for (int64_t i = n * CHW; i < (n + 1) * CHW; i++) xf[i] = sf.act[in[i]];
    });
    for (int64_t grp = 0; grp < g.groups; grp++) {
      im2col<int16_t>(g, xf, grp, 0, count, col, threaded, fPad);
      gemmInt16(kernel, packed[size_t(grp)], len, col, len, acc, len, threaded);
      if (withSums) forEach(threaded, count, [&](int64_t n) { imageWindowSums(g, in + n * CHW, grp, padCode, sums + n * PQ); });
      forEach(threaded, Mg, [&](int64_t ml) {
        const int64_t m = grp * Mg + ml;
        const IntChannel c{e.constant[m], e.scale[m], e.bias[m], withSums ? double(e.zw[m]) : 0.0, withSums && e.zw[m] != 0};
        alignas(32) float v[kMaxBlock];
        for (int64_t n = 0; n < count; n++) {
          const int32_t* row = acc + ml * len + n * PQ;
          for (int64_t k0 = 0; k0 < PQ; k0 += kMaxBlock) {
            const int64_t k = std::min<int64_t>(kMaxBlock, PQ - k0);
            ops.intValues(c, row + k0, sums ? sums + n * PQ + k0 : nullptr, k, v);
            ops.finishRun(e, v, k, ((n0 + n) * g.M + m) * PQ + k0);
          }
        }
      });
    }
  };
  if (chunks >= 2 * int64_t(pool().size())) {
    pool().parallelFor(chunks, [&](int64_t c) { chunk(c * nb, std::min(nb, g.N - c * nb), false); });
  } else {
    for (int64_t n0 = 0; n0 < g.N; n0 += nb) chunk(n0, std::min(nb, g.N - n0), true);
  }
}

}  // namespace

const char* intAlgorithmName(IntAlgorithm a) {
  return a == IntAlgorithm::Separable ? "separable" : a == IntAlgorithm::Planes ? "planes" : "direct";
}

IntAlgorithm planConvInt(const Cores& cores, const ConvGeom& g, const uint8_t* codes, const uint8_t* weights, IntMode mode, uint8_t padCode,
                         const LutCtx* lut, const Epilogue& e, const SeparableFactors* sep) {
  const LutAlgorithm choice = lutAlgorithm();
  if (sep && (choice == LutAlgorithm::Auto || choice == LutAlgorithm::Separable) && g.M / g.groups >= kSeparableMinChannels) {
    separableConv(cores, g, codes, weights, padCode, *sep, e);
    return IntAlgorithm::Separable;
  }
  const bool withSums = e.zw != nullptr;
  const ExactCore exact = cores.exact;
  const LutCore lutCore = cores.lut;
  const bool isSigned = mode == IntMode::ExactSigned;
  const int64_t channelStride = phasesOf(g).channelStride, RS = g.R * g.S;
  auto sumCore = [&](const uint8_t* base, const int64_t* taps, int K, int64_t pos0, int nPos, int32_t* out) {
    windowSums(base, taps, K / RS, RS, channelStride, pos0, nPos, out);
  };
  // (acc + constant - zw * sum) * scale + bias in double, as dequantizeAcc.
  const RunOps ops = runOps(cores);
  auto emit = [&](int64_t m, const int32_t* acc, const int32_t* sums, int64_t n, int64_t out0) {
    const IntChannel c{e.constant[m], e.scale[m], e.bias[m], withSums ? double(e.zw[m]) : 0.0, withSums && e.zw[m] != 0};
    alignas(32) float v[kMaxBlock];
    ops.intValues(c, acc, sums, n, v);
    ops.finishRun(e, v, n, out0);
  };
  if (mode == IntMode::Lut) {
    auto core = [&](const uint8_t* base, const int64_t* taps, const uint8_t* sel, int K, int64_t pos0, int nPos, int32_t* out) {
      lutCore(base, taps, sel, K, *lut, pos0, nPos, reinterpret_cast<uint32_t*>(out));
    };
    struct PlanesCore {
      const Cores& cores;
      const LutCtx& lut;
      void operator()(const uint8_t* base, const int64_t* taps, const LutPlanes& lp, int64_t grp, int64_t m0, int64_t m1, int64_t pos0, int nPos, int32_t* acc) const {
        cores.lutPlanes(base, taps, lp, lut, grp, m0, m1, pos0, nPos, reinterpret_cast<uint32_t*>(acc));
      }
    };
    return directConv<uint8_t, int32_t>(g, codes, weights, padCode, withSums, core, sumCore, emit, lut, PlanesCore{cores, *lut}) ? IntAlgorithm::Planes
                                                                                                                               : IntAlgorithm::Direct;
  } else {
    auto core = [&](const uint8_t* base, const int64_t* taps, const uint8_t* sel, int K, int64_t pos0, int nPos, int32_t* out) {
      exact(base, taps, sel, K, isSigned, pos0, nPos, reinterpret_cast<uint32_t*>(out));
    };
    directConv<uint8_t, int32_t>(g, codes, weights, padCode, withSums, core, sumCore, emit);
    return IntAlgorithm::Direct;
  }
}

void planConvFloat(const Cores& cores, const ConvGeom& g, const float* x, const float* w, bool direct, const Epilogue& e) {
  const int64_t Mg = g.M / g.groups;
  if (direct || Mg < 8) {
    // The direct kernel, as conv2dFloat (few output channels per group: depthwise).
    const FloatCore flt = cores.flt;
    auto core = [&](const float* base, const int64_t* taps, const float* sel, int K, int64_t pos0, int nPos, float* out) {
      flt(base, taps, sel, K, pos0, nPos, out);
    };
    auto noSums = [](const float*, const int64_t*, int, int64_t, int, int32_t*) {};
    const RunOps ops = runOps(cores);
    auto emit = [&](int64_t m, const float* acc, const int32_t*, int64_t n, int64_t out0) {
      alignas(32) float v[kMaxBlock];
      const float b = e.floatBias ? e.floatBias[m] : 0.0f;
      if (e.floatBias)
        for (int64_t k = 0; k < n; k++) v[k] = acc[k] + b;
      ops.finishRun(e, e.floatBias ? v : acc, n, out0);
    };
    directConv<float, float>(g, x, w, 0.0f, false, core, noSums, emit);
    return;
  }
  const int64_t Kg = (g.C / g.groups) * g.R * g.S, PQ = g.P * g.Q;
  const int64_t nb = std::max<int64_t>(1, std::min({g.N, (kMinColumns + PQ - 1) / PQ, kChunkFloats / std::max<int64_t>(1, Kg * PQ)}));
  const int64_t chunks = (g.N + nb - 1) / nb;
  const RunOps ops = runOps(cores);
  if (chunks >= 2 * int64_t(pool().size())) {
    pool().parallelFor(chunks, [&](int64_t c) { gemmChunk(cores.gemm, ops, g, x, w, e, c * nb, std::min(nb, g.N - c * nb), false); });
  } else {
    for (int64_t n0 = 0; n0 < g.N; n0 += nb) gemmChunk(cores.gemm, ops, g, x, w, e, n0, std::min(nb, g.N - n0), true);
  }
}

void planQuantize(const Cores& cores, const float* x, int64_t n, double scale, int zeroPoint, int qmin, int qmax, uint8_t* codes) {
  constexpr int64_t kBlock = int64_t(1) << 15;
  const int64_t count = (n + kBlock - 1) / kBlock;
  const RunOps ops = runOps(cores);
  auto run = [&](int64_t b) {
    const int64_t from = b * kBlock, end = std::min(n, from + kBlock);
    ops.quantizeRun(x + from, end - from, scale, zeroPoint, qmin, qmax, codes + from);
  };
  if (count <= 1) {
    if (count == 1) run(0);
    return;
  }
  pool().parallelFor(count, run);
}

}  // namespace axnn
