// BatchNorm of training over NCHW planes (batch_norm.h). One pool task per channel: a task owns
// all of its channel's sums, so the results do not depend on the thread count. Sums run in
// float within a plane, in kLanes independent partial sums (which the compiler vectorises: a
// single running float sum it may not reorder), and in double across planes.
#include "batch_norm.h"

#include "thread_pool.h"

namespace axnn {
namespace {

constexpr int kLanes = 16;

// Sum over i < n of f(i), as kLanes partial sums (lane i % kLanes) added up in lane order.
template <typename Fn>
inline float laneSum(int64_t n, const Fn& f) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) acc[l] += f(i + l);
  for (int l = 0; i < n; i++, l++) acc[l] += f(i);
  float s = 0;
  for (int l = 0; l < kLanes; l++) s += acc[l];
  return s;
}

// The sums of dy[i] and of dy[i] * xhat[i], xhat[i] = (x[i] - mean) * invStd, in one pass (lanes as laneSum).
inline void gradientSums(int64_t n, const float* dy, const float* x, float mean, float invStd, float& sumDy, float& sumDyXhat) {
  float a[kLanes] = {}, b[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; l++) {
      const float g = dy[i + l];
      a[l] += g;
      b[l] += g * ((x[i + l] - mean) * invStd);
    }
  }
  for (int l = 0; i < n; i++, l++) {
    a[l] += dy[i];
    b[l] += dy[i] * ((x[i] - mean) * invStd);
  }
  sumDy = 0;
  sumDyXhat = 0;
  for (int l = 0; l < kLanes; l++) {
    sumDy += a[l];
    sumDyXhat += b[l];
  }
}

}  // namespace

void channelMoments(const BnDims& d, const float* x, double* mean, double* variance) {
  pool().parallelFor(d.C, [&](int64_t c) {
    double sum = 0;
    for (int64_t n = 0; n < d.N; n++) {
      const float* plane = x + (n * d.C + c) * d.inner;
      sum += laneSum(d.inner, [&](int64_t i) { return plane[i]; });
    }
    const double count = double(d.N * d.inner);
    const double m = sum / count;
    const float mf = float(m);
    double sq = 0;
    for (int64_t n = 0; n < d.N; n++) {
      const float* plane = x + (n * d.C + c) * d.inner;
      sq += laneSum(d.inner, [&](int64_t i) {
        const float v = plane[i] - mf;
        return v * v;
      });
    }
    mean[c] = m;
    variance[c] = sq / count;
  });
}

void batchNormApply(const BnDims& d, const float* x, const double* mean, const double* invStd, const float* scale, const float* bias, float* out) {
  pool().parallelFor(d.N * d.C, [&](int64_t task) {
    const int64_t c = task % d.C;
    // out = x * a + b with a = scale * invStd, b = bias - mean * a.
    const float a = float(double(scale[c]) * invStd[c]);
    const float b = float(double(bias[c]) - mean[c] * double(scale[c]) * invStd[c]);
    const float* src = x + task * d.inner;
    float* dst = out + task * d.inner;
    for (int64_t i = 0; i < d.inner; i++) dst[i] = src[i] * a + b;
  });
}

void batchNormBackward(const BnDims& d, const float* x, const float* dy, const double* mean, const double* invStd, const float* scale, bool batchStats, float* dx, float* dScale, float* dBias) {
  pool().parallelFor(d.C, [&](int64_t c) {
    const float mf = float(mean[c]), is = float(invStd[c]);
    double sb = 0, sg = 0;
    for (int64_t n = 0; n < d.N; n++) {
      const int64_t o = (n * d.C + c) * d.inner;
      float pb, pg;
      gradientSums(d.inner, dy + o, x + o, mf, is, pb, pg);
      sb += pb;
      sg += pg;
    }
    dBias[c] = float(sb);
    dScale[c] = float(sg);
    if (!dx) return;
    const double count = double(d.N * d.inner);
    const float k1 = float(double(scale[c]) * invStd[c]);
    // With batch statistics the mean and variance depend on x too: dx = k1 (dy - mean(dy) - xhat mean(dy xhat)).
    const float mb = batchStats ? float(sb / count) : 0.0f, mg = batchStats ? float(sg / count) : 0.0f;
    for (int64_t n = 0; n < d.N; n++) {
      const int64_t o = (n * d.C + c) * d.inner;
      for (int64_t i = 0; i < d.inner; i++) dx[o + i] = k1 * (dy[o + i] - mb - ((x[o + i] - mf) * is) * mg);
    }
  });
}

}  // namespace axnn
