// Quantization passes of QAT: every layer's input every step (the TypeScript loop divides and
// branches per element). Double arithmetic as JavaScript's, so the codes are bit-identical to
// quantizeToCodes; elements are independent, so the split over threads changes nothing.
#include "qat_quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "thread_pool.h"

namespace axnn {

void fakeQuantize(const float* x, int64_t n, double scale, int zeroPoint, int qmin, int qmax, uint8_t* codes, float* fake, uint8_t* mask) {
  std::vector<float> levels(size_t(qmax - qmin + 1));
  for (int q = qmin; q <= qmax; q++) levels[size_t(q - qmin)] = float(scale * double(q - zeroPoint));
  constexpr double kFar = double(1 << 30);
  constexpr int64_t kBlock = int64_t(1) << 15;
  const int64_t count = (n + kBlock - 1) / kBlock;
  auto run = [&](int64_t from, int64_t to) {
    for (int64_t i = from; i < to; i++) {
      const double v = double(x[i]) / scale;
      // trunc(v -+ 0.5) is roundHalfAway(v) (v - 0.5 = v + copysign(0.5, v) for v < 0; at -0 both
      // truncate to 0). The truncation is the conversion to an integer (std::trunc is a library
      // call without SSE4.1); values beyond +-2^30 clamp all the same. Branch-free: the signs of
      // activations are random.
      double t = v + std::copysign(0.5, v);
      if (t != t) {
        codes[i] = 0;
        fake[i] = std::numeric_limits<float>::quiet_NaN();
        mask[i] = 0;
        continue;
      }
      t = std::max(-kFar, std::min(t, kFar));
      const int r = int(t) + zeroPoint;
      const int q = std::max(qmin, std::min(r, qmax));
      codes[i] = uint8_t(q & 0xff);
      fake[i] = levels[size_t(q - qmin)];
      mask[i] = r == q ? 1 : 0;
    }
  };
  if (count <= 1) {
    run(0, n);
    return;
  }
  pool().parallelFor(count, [&](int64_t b) { run(b * kBlock, std::min(n, (b + 1) * kBlock)); });
}

void minMaxFloat(const float* x, int64_t n, double* lo, double* hi) {
  float l = std::numeric_limits<float>::infinity(), h = -l;
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    l = v < l ? v : l;
    h = v > h ? v : h;
  }
  *lo = l;
  *hi = h;
}

void dequantizeAcc(const int32_t* acc, int64_t batch, int64_t M, int64_t inner, int64_t groups, const double* constant, const double* scale,
                   const double* bias, const int32_t* zw, const int32_t* sums, double hi, float* out) {
  const int64_t perGroup = M / groups;
  auto plane = [&](int64_t nm) {
    const int64_t n = nm / M, m = nm % M;
    const int64_t base = nm * inner;
    const double c = constant[m], sc = scale[m], b = bias[m];
    const int32_t* a = acc + base;
    float* y = out + base;
    const int32_t* s = sums != nullptr && zw[m] != 0 ? sums + (n * groups + m / perGroup) * inner : nullptr;
    const double z = zw[m];
    // int32 values read through memcpy: out may alias acc.
    for (int64_t k = 0; k < inner; k++) {
      int32_t ak;
      std::memcpy(&ak, a + k, sizeof ak);
      const double t = s != nullptr ? (double(ak) + c - z * double(s[k])) : (double(ak) + c);
      float v = float(t * sc + b);
      if (hi >= 0) v = v > 0 ? (v < hi ? v : float(hi)) : 0.0f;
      std::memcpy(y + k, &v, sizeof v);
    }
  };
  const int64_t planes = batch * M;
  if (planes * inner < (int64_t(1) << 15)) {
    for (int64_t nm = 0; nm < planes; nm++) plane(nm);
    return;
  }
  pool().parallelFor(planes, plane);
}

}  // namespace axnn
