// Forward float32 convolution as im2col + GEMM (training's forward pass, where batches are
// large): per chunk of images and group, col = im2col(x) [Cg*R*S, (n, p, q)] and
// out_g = W_g col, on the GEMM of gemm.h. For layers with several output channels per group
// this beats the direct kernel of axnn_native.cc (one output channel at a time) by reusing each
// loaded column across a register tile of output channels; docs/kernels.md has the measurements.
#include "conv_forward_gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv_backward.h"
#include "gemm.h"
#include "thread_pool.h"

namespace axnn {
namespace {

// Columns per GEMM at least (several images' positions side by side for small planes), so that
// the B panels are full and A (the weights) is packed once per many columns.
constexpr int64_t kMinColumns = 256;
// Floats of im2col columns per chunk at most (1 MiB: L2-resident from im2col through the GEMM).
constexpr int64_t kChunkFloats = int64_t(1) << 18;

float* scratch(int slot, size_t n) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

// Images [n0, n0 + count) of every group: im2col, GEMM, and (for several images, whose
// outputs are interleaved by channel in NCHW) a copy of each output plane into place.
void forwardChunk(const GemmMicro& micro, const ConvGeom& g, const float* x, const float* w, float* out, int64_t n0, int64_t count, bool threaded) {
  const int64_t Cg = g.C / g.groups, Mg = g.M / g.groups, Kg = Cg * g.R * g.S, PQ = g.P * g.Q, len = count * PQ;
  float* col = scratch(0, size_t(Kg * len));
  float* tmp = count > 1 ? scratch(1, size_t(Mg * len)) : nullptr;
  for (int64_t grp = 0; grp < g.groups; grp++) {
    im2col(g, x, grp, n0, count, col, threaded);
    float* dst = tmp ? tmp : out + (n0 * g.M + grp * Mg) * PQ;
    gemm(micro, Mg, len, Kg, MatView{w + grp * Mg * Kg, Kg, 1}, MatView{col, len, 1}, dst, len, false, threaded);
    if (tmp) {
      for (int64_t m = 0; m < Mg; m++)
        for (int64_t n = 0; n < count; n++)
          std::memcpy(out + ((n0 + n) * g.M + grp * Mg + m) * PQ, tmp + m * len + n * PQ, sizeof(float) * size_t(PQ));
    }
  }
}

}  // namespace

void conv2dForwardGemmFloat(const Cores& cores, const ConvGeom& g, const float* x, const float* w, float* out) {
  const int64_t Kg = (g.C / g.groups) * g.R * g.S, PQ = g.P * g.Q;
  // Images per chunk: enough columns for full GEMM tiles, within the L2 budget. Each output is
  // one GEMM dot product whose k order does not depend on how columns are chunked or on the
  // threads, so the result is the same whichever path runs.
  const int64_t nb = std::max<int64_t>(1, std::min({g.N, (kMinColumns + PQ - 1) / PQ, kChunkFloats / std::max<int64_t>(1, Kg * PQ)}));
  const int64_t chunks = (g.N + nb - 1) / nb;
  if (chunks >= 2 * int64_t(pool().size())) {
    // One pool task per chunk: its columns stay in the task's cache, the GEMM on its thread.
    pool().parallelFor(chunks, [&](int64_t c) {
      forwardChunk(cores.gemm, g, x, w, out, c * nb, std::min(nb, g.N - c * nb), false);
    });
  } else {
    for (int64_t n0 = 0; n0 < g.N; n0 += nb) forwardChunk(cores.gemm, g, x, w, out, n0, std::min(nb, g.N - n0), true);
  }
}

}  // namespace axnn
