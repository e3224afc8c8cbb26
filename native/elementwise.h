// Elementwise float32 kernels of training (elementwise.cc).
#pragma once
#include <cstdint>

namespace axnn {

// out[i] = x[i] > 0 ? x[i] : 0 (NaN gives 0, as the TypeScript ops).
void reluFloat(const float* x, float* out, int64_t n);
// out[i] = a[i] + b[i].
void addFloat(const float* a, const float* b, float* out, int64_t n);
// dx[i] = x[i] > 0 ? dy[i] : 0.
void reluBackwardFloat(const float* x, const float* dy, float* dx, int64_t n);

}  // namespace axnn
