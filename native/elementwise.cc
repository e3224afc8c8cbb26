// Elementwise float32 kernels: branch-free selects that the compiler vectorises (the TypeScript
// loops branch on the sign of each element, which mispredicts on activations of random sign).
// Blocks of kBlock elements go to the pool; every element is independent of the split.
#include "elementwise.h"

#include <algorithm>

#include "thread_pool.h"

namespace axnn {
namespace {

constexpr int64_t kBlock = int64_t(1) << 15;

template <typename Fn>
void blocks(int64_t n, const Fn& fn) {
  const int64_t count = (n + kBlock - 1) / kBlock;
  if (count <= 1) {
    fn(int64_t(0), n);
    return;
  }
  pool().parallelFor(count, [&](int64_t b) { fn(b * kBlock, std::min(n, (b + 1) * kBlock)); });
}

}  // namespace

void reluFloat(const float* x, float* out, int64_t n) {
  blocks(n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) out[i] = x[i] > 0.0f ? x[i] : 0.0f;
  });
}

void addFloat(const float* a, const float* b, float* out, int64_t n) {
  blocks(n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) out[i] = a[i] + b[i];
  });
}

void reluBackwardFloat(const float* x, const float* dy, float* dx, int64_t n) {
  blocks(n, [&](int64_t lo, int64_t hi) {
    // dy is read unconditionally, so that the select is branch-free (a conditional load is not).
    for (int64_t i = lo; i < hi; i++) {
      const float g = dy[i];
      dx[i] = x[i] > 0.0f ? g : 0.0f;
    }
  });
}

}  // namespace axnn
