// Fused layers of a compiled execution plan (plan_conv.h). The direct driver is the phase-plane
// driver of axnn_native.cc (one task per image, group, block of positions and range of output
// channels) with the epilogue applied to each block of accumulators as it leaves the core; the
// GEMM driver is conv2dForwardGemmFloat's, with the epilogue applied as each chunk's result is
// copied into place. Reusable buffers live per calling thread: no allocation per batch.
#include "plan_conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "conv_backward.h"
#include "conv_phases.h"
#include "gemm.h"
#include "thread_pool.h"

namespace axnn {
namespace {

constexpr int64_t kTailElements = 256;  // a core reads whole 64-position chunks past the end
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

struct Layout {
  int64_t K = 0, Mg = 0, rowStride = 0, nPos = 0, imageStride = 0;
  std::vector<int64_t> tapOff;  // groups x K
};

Layout layoutOf(const ConvGeom& g, const Phases& ph) {
  Layout L;
  const int64_t Cg = g.C / g.groups;
  L.K = Cg * g.R * g.S;
  L.Mg = g.M / g.groups;
  L.rowStride = ph.Wph;
  L.nPos = (g.P - 1) * ph.Wph + g.Q;
  L.imageStride = g.C * ph.channelStride;
  L.tapOff.resize(size_t(g.groups * L.K));
  for (int64_t grp = 0; grp < g.groups; grp++)
    for (int64_t cl = 0; cl < Cg; cl++)
      for (int64_t r = 0; r < g.R; r++)
        for (int64_t s = 0; s < g.S; s++)
          L.tapOff[size_t(grp * L.K + (cl * g.R + r) * g.S + s)] = tapOffset(g, ph, grp * Cg + cl, r, s);
  return L;
}

template <typename T>
T* preparedBuffer(size_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// The direct driver: core(base, taps, sel, K, pos0, nPos, acc) fills acc; value(m, k, acc[k], sums) is
// the layer's own float value of position k of the block for output channel m.
// sumCore(base, taps, K, pos0, nPos, sums) fills the block's window sums when withSums.
template <typename T, typename Acc, typename Core, typename SumCore, typename Value>
void directConv(const ConvGeom& g, const T* input, const T* weights, T pad, bool withSums, const Epilogue& e, Core core, SumCore sumCore, Value value) {
  const Phases ph = phasesOf(g);
  const Layout L = layoutOf(g, ph);
  const size_t total = size_t(g.N * L.imageStride + kTailElements);
  T* prepared = preparedBuffer<T>(total);
  std::fill(prepared + g.N * L.imageStride, prepared + total, pad);
  pool().parallelFor(g.N * g.C, [&](int64_t task) {
    prepareChannel(g, ph, input + task * g.H * g.W, pad, prepared + task * ph.channelStride);
  });
  const int64_t blocks = (L.nPos + kMaxBlock - 1) / kMaxBlock;
  const int64_t coarse = g.N * g.groups * blocks;
  const int64_t want = int64_t(pool().size()) * 4;
  const int64_t mSplits = std::min<int64_t>(L.Mg, std::max<int64_t>(1, (want + coarse - 1) / coarse));
  const int64_t mPer = (L.Mg + mSplits - 1) / mSplits;
  const int64_t PQ = g.P * g.Q;
  pool().parallelFor(coarse * mSplits, [&](int64_t task) {
    const int64_t split = task % mSplits;
    int64_t rest = task / mSplits;
    const int64_t block = rest % blocks;
    rest /= blocks;
    const int64_t grp = rest % g.groups;
    const int64_t n = rest / g.groups;
    const int64_t pos0 = block * kMaxBlock;
    const int nPos = int(std::min<int64_t>(kMaxBlock, L.nPos - pos0));
    const T* base = prepared + n * L.imageStride;
    const int64_t* taps = L.tapOff.data() + grp * L.K;
    alignas(64) Acc acc[kMaxBlock];
    alignas(64) int32_t sums[kMaxBlock];
    if (withSums) sumCore(base, taps, int(L.K), pos0, nPos, sums);
    const int64_t mEnd = std::min(L.Mg, (split + 1) * mPer);
    for (int64_t ml = split * mPer; ml < mEnd; ml++) {
      const int64_t m = grp * L.Mg + ml;
      core(base, taps, weights + m * L.K, int(L.K), pos0, nPos, acc);
      const int64_t plane = (n * g.M + m) * PQ;
      // The block's positions row by row; columns q >= Q of the phase-plane rows are dropped.
      int64_t pos = pos0;
      const int64_t end = pos0 + nPos;
      while (pos < end) {
        const int64_t p = pos / L.rowStride, q = pos % L.rowStride;
        const int64_t rowEnd = std::min(end, pos - q + L.rowStride);
        if (q < g.Q && p < g.P) {
          const int64_t stop = std::min(rowEnd, pos - q + g.Q);
          const int64_t out0 = plane + p * g.Q - (pos - q);
          for (int64_t k = pos; k < stop; k++) finish(e, out0 + k, value(m, k - pos0, acc[k - pos0], sums));
        }
        pos = rowEnd;
      }
    }
  });
}

// All-ones weights for the window sums of the activation codes (the asymmetric cross term).
const uint8_t* ones(int64_t K) {
  thread_local std::vector<uint8_t> v;
  if (int64_t(v.size()) < K) v.assign(size_t(K), 1);
  return v.data();
}

float* gemmScratch(int slot, size_t n) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

constexpr int64_t kMinColumns = 256;
constexpr int64_t kChunkFloats = int64_t(1) << 18;

void gemmChunk(const GemmMicro& micro, const ConvGeom& g, const float* x, const float* w, const Epilogue& e, int64_t n0, int64_t count, bool threaded) {
  const int64_t Cg = g.C / g.groups, Mg = g.M / g.groups, Kg = Cg * g.R * g.S, PQ = g.P * g.Q, len = count * PQ;
  float* col = gemmScratch(0, size_t(Kg * len));
  float* tmp = gemmScratch(1, size_t(Mg * len));
  for (int64_t grp = 0; grp < g.groups; grp++) {
    im2col(g, x, grp, n0, count, col, threaded);
    gemm(micro, Mg, len, Kg, MatView{w + grp * Mg * Kg, Kg, 1}, MatView{col, len, 1}, tmp, len, false, threaded);
    for (int64_t ml = 0; ml < Mg; ml++) {
      const int64_t m = grp * Mg + ml;
      for (int64_t n = 0; n < count; n++) {
        const float* src = tmp + ml * len + n * PQ;
        const int64_t out0 = ((n0 + n) * g.M + m) * PQ;
        if (e.floatBias) {
          const float b = e.floatBias[m];
          for (int64_t k = 0; k < PQ; k++) finish(e, out0 + k, src[k] + b);
        } else {
          for (int64_t k = 0; k < PQ; k++) finish(e, out0 + k, src[k]);
        }
      }
    }
  }
}

}  // namespace

void planConvInt(const Cores& cores, const ConvGeom& g, const uint8_t* codes, const uint8_t* weights, IntMode mode, uint8_t padCode,
                 const LutCtx* lut, const Epilogue& e) {
  const bool withSums = e.zw != nullptr;
  const uint8_t* one = withSums ? ones((g.C / g.groups) * g.R * g.S) : nullptr;
  const ExactCore exact = cores.exact;
  const LutCore lutCore = cores.lut;
  const bool isSigned = mode == IntMode::ExactSigned;
  auto sumCore = [&](const uint8_t* base, const int64_t* taps, int K, int64_t pos0, int nPos, int32_t* out) {
    exact(base, taps, one, K, false, pos0, nPos, reinterpret_cast<uint32_t*>(out));
  };
  // (acc + constant - zw * sum) * scale + bias in double, as dequantizeAcc.
  auto value = [&](int64_t m, int64_t k, int32_t acc, const int32_t* sums) {
    const double t = withSums && e.zw[m] != 0 ? double(acc) + e.constant[m] - double(e.zw[m]) * double(sums[k]) : double(acc) + e.constant[m];
    return float(t * e.scale[m] + e.bias[m]);
  };
  if (mode == IntMode::Lut) {
    auto core = [&](const uint8_t* base, const int64_t* taps, const uint8_t* sel, int K, int64_t pos0, int nPos, int32_t* out) {
      lutCore(base, taps, sel, K, *lut, pos0, nPos, reinterpret_cast<uint32_t*>(out));
    };
    directConv<uint8_t, int32_t>(g, codes, weights, padCode, withSums, e, core, sumCore, value);
  } else {
    auto core = [&](const uint8_t* base, const int64_t* taps, const uint8_t* sel, int K, int64_t pos0, int nPos, int32_t* out) {
      exact(base, taps, sel, K, isSigned, pos0, nPos, reinterpret_cast<uint32_t*>(out));
    };
    directConv<uint8_t, int32_t>(g, codes, weights, padCode, withSums, e, core, sumCore, value);
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
    auto value = [&](int64_t m, int64_t, float acc, const int32_t*) { return e.floatBias ? acc + e.floatBias[m] : acc; };
    directConv<float, float>(g, x, w, 0.0f, false, e, core, noSums, value);
    return;
  }
  const int64_t Kg = (g.C / g.groups) * g.R * g.S, PQ = g.P * g.Q;
  const int64_t nb = std::max<int64_t>(1, std::min({g.N, (kMinColumns + PQ - 1) / PQ, kChunkFloats / std::max<int64_t>(1, Kg * PQ)}));
  const int64_t chunks = (g.N + nb - 1) / nb;
  if (chunks >= 2 * int64_t(pool().size())) {
    pool().parallelFor(chunks, [&](int64_t c) { gemmChunk(cores.gemm, g, x, w, e, c * nb, std::min(nb, g.N - c * nb), false); });
  } else {
    for (int64_t n0 = 0; n0 < g.N; n0 += nb) gemmChunk(cores.gemm, g, x, w, e, n0, std::min(nb, g.N - n0), true);
  }
}

void planQuantize(const float* x, int64_t n, double scale, int zeroPoint, int qmin, int qmax, uint8_t* codes) {
  constexpr int64_t kBlock = int64_t(1) << 15;
  const int64_t count = (n + kBlock - 1) / kBlock;
  auto run = [&](int64_t b) {
    const int64_t end = std::min(n, (b + 1) * kBlock);
    for (int64_t i = b * kBlock; i < end; i++) codes[i] = quantizeOne(x[i], scale, zeroPoint, qmin, qmax);
  };
  if (count <= 1) {
    if (count == 1) run(0);
    return;
  }
  pool().parallelFor(count, run);
}

}  // namespace axnn
