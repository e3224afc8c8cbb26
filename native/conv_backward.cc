// Backward convolution and dense kernels.
//
// Convolution, per group, over chunks of images (the "columns" of a chunk side by side):
//   col[(c, r, s), (n, p, q)] = x[n, c, p*sh + r*dh - pt, q*sw + s*dw - pl]   (im2col, 0 outside)
//   dW_g  += dY_g col^T          dY_g: [M/groups, (n, p, q)]
//   dcol   = W_g^T dY_g          then col2im adds dcol back into dX
// on the GEMM of gemm.h: for batches of 8 or more one pool task per chunk (its columns stay
// in L2), else chunk after chunk with each GEMM spread over the pool. Layers with one input
// channel per group (depthwise; also a first layer with C = 1) make GEMMs too thin to pay for
// packing, so a direct kernel runs them. Every sum has a fixed order independent of the
// thread count: tasks own whole outputs, and per-chunk parts are summed in chunk order.
#include "conv_backward.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv_phases.h"
#include "gemm.h"
#include "thread_pool.h"

namespace axnn {
namespace {

// Floats of im2col columns (and of the transposed dY) per chunk of images (16 MiB), at least one image.
constexpr int64_t kColumnBudget = int64_t(1) << 22;
// Floats of columns per chunk in the one-task-per-chunk path (1 MiB: L2-resident), and the
// chunks that path needs at least (enough tasks to keep a many-core pool busy).
constexpr int64_t kLocalColumnBudget = int64_t(1) << 18;
constexpr int64_t kMinLocalChunks = 8;
// Floats past the phase planes that a run may touch (none should; a margin all the same).
constexpr int64_t kTailElements = 64;

// A per-thread scratch buffer that only grows (training calls the same shapes over and over).
float* scratch(int slot, size_t n) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

// Runs fn(i) for i < n on the pool, or on the calling thread (inside a pool task: not reentrant).
template <typename Fn>
void forTasks(bool threaded, int64_t n, const Fn& fn) {
  if (threaded) {
    pool().parallelFor(n, fn);
  } else {
    for (int64_t i = 0; i < n; i++) fn(i);
  }
}

// The output columns q whose input column q*sw + s*dw - pl is inside [0, W): [lo, hi).
struct ColumnRange {
  int64_t lo, hi;
};
ColumnRange validColumns(const ConvGeom& g, int64_t s) {
  const int64_t off = s * g.dw - g.pl;
  int64_t lo = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;
  int64_t hi = off > g.W - 1 ? 0 : (g.W - 1 - off) / g.sw + 1;
  lo = std::min(lo, g.Q);
  hi = std::min(hi, g.Q);
  return {lo, std::max(lo, hi)};
}

void biasGradient(const ConvGeom& g, const float* dy, float* db) {
  const int64_t PQ = g.P * g.Q;
  pool().parallelFor(g.M, [&](int64_t m) {
    double sum = 0;
    for (int64_t n = 0; n < g.N; n++) {
      const float* plane = dy + (n * g.M + m) * PQ;
      float part = 0;  // float within a plane (vectorisable), double across planes
      for (int64_t i = 0; i < PQ; i++) part += plane[i];
      sum += part;
    }
    db[m] = float(sum);
  });
}

// One input channel per group: output channel m reads only input channel c = m / (M / groups).
// In the forward driver's phase-plane layout (conv_phases.h), with dY laid out at the planes'
// row stride (zeros past column Q), every tap is one long contiguous run of positions: dX
// takes an axpy per tap into the padded planes (whose interior is then copied out), dW a dot
// product per tap. Tasks are (image, channel); the per-image dW parts are summed in image order.
void depthwiseBackward(const Cores& cores, const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx, float* dw) {
  const Phases ph = phasesOf(g);
  const int64_t Mg = g.M / g.groups, RS = g.R * g.S, HW = g.H * g.W, PQ = g.P * g.Q;
  const int64_t nPos = (g.P - 1) * ph.Wph + g.Q;
  std::vector<int64_t> tapOff(static_cast<size_t>(RS));
  for (int64_t r = 0; r < g.R; r++)
    for (int64_t s = 0; s < g.S; s++) tapOff[size_t(r * g.S + s)] = tapOffset(g, ph, 0, r, s);
  // Where input element (iy, ix) lives in the phase planes: rowOffset[iy] + columnOffset[ix].
  std::vector<int64_t> rowOffset(static_cast<size_t>(g.H)), columnOffset(static_cast<size_t>(g.W));
  for (int64_t iy = 0; iy < g.H; iy++) rowOffset[size_t(iy)] = ((iy + g.pt) % g.sh) * g.sw * ph.planeSize + ((iy + g.pt) / g.sh) * ph.Wph;
  for (int64_t ix = 0; ix < g.W; ix++) columnOffset[size_t(ix)] = ((ix + g.pl) % g.sw) * ph.planeSize + (ix + g.pl) / g.sw;
  std::vector<double> parts(dw ? static_cast<size_t>(g.N * g.M * RS) : 0);
  pool().parallelFor(g.N * g.C, [&](int64_t task) {
    const int64_t n = task / g.C, c = task % g.C;
    float* planes = scratch(0, size_t(2 * (ph.channelStride + kTailElements) + nPos + kTailElements));
    float* xp = planes;                                        // the input channel's phase planes
    float* dxp = xp + ph.channelStride + kTailElements;        // its gradient, same layout
    float* dys = dxp + ph.channelStride + kTailElements;       // one dY plane at row stride Wph
    if (dw) prepareChannel(g, ph, x + task * HW, 0.0f, xp);
    if (dx) std::fill(dxp, dxp + ph.channelStride, 0.0f);
    std::fill(dys, dys + nPos, 0.0f);
    for (int64_t m = c * Mg; m < (c + 1) * Mg; m++) {
      const float* dyPlane = dy + (n * g.M + m) * PQ;
      for (int64_t p = 0; p < g.P; p++) std::memcpy(dys + p * ph.Wph, dyPlane + p * g.Q, sizeof(float) * size_t(g.Q));
      for (int64_t t = 0; t < RS; t++) {
        if (dx) cores.axpy(dxp + tapOff[size_t(t)], dys, w[m * RS + t], nPos);
        if (dw) parts[size_t((n * g.M + m) * RS + t)] = cores.dot(dys, xp + tapOff[size_t(t)], nPos);
      }
    }
    if (dx) {
      float* plane = dx + task * HW;
      for (int64_t iy = 0; iy < g.H; iy++) {
        const float* phaseRow = dxp + rowOffset[size_t(iy)];
        if (g.sw == 1) {
          std::memcpy(plane + iy * g.W, phaseRow + g.pl, sizeof(float) * size_t(g.W));
        } else {
          for (int64_t ix = 0; ix < g.W; ix++) plane[iy * g.W + ix] = phaseRow[columnOffset[size_t(ix)]];
        }
      }
    }
  });
  if (dw) {
    for (int64_t m = 0; m < g.M; m++) {
      for (int64_t t = 0; t < RS; t++) {
        double sum = 0;
        for (int64_t n = 0; n < g.N; n++) sum += parts[size_t((n * g.M + m) * RS + t)];
        dw[m * RS + t] = float(sum);
      }
    }
  }
}

}  // namespace

template <typename T>
void im2col(const ConvGeom& g, const T* x, int64_t grp, int64_t n0, int64_t nb, T* col, bool threaded, T pad) {
  const int64_t Cg = g.C / g.groups, RS = g.R * g.S, PQ = g.P * g.Q, L = nb * PQ;
  forTasks(threaded, Cg * RS, [&](int64_t row) {
    const int64_t cl = row / RS, r = (row % RS) / g.S, s = row % g.S;
    const int64_t c = grp * Cg + cl;
    const ColumnRange cols = validColumns(g, s);
    T* dst = col + row * L;
    for (int64_t n = 0; n < nb; n++) {
      const T* plane = x + ((n0 + n) * g.C + c) * g.H * g.W;
      for (int64_t p = 0; p < g.P; p++) {
        T* d = dst + n * PQ + p * g.Q;
        const int64_t iy = p * g.sh + r * g.dh - g.pt;
        if (iy < 0 || iy >= g.H) {
          std::fill(d, d + g.Q, pad);
          continue;
        }
        const T* src = plane + iy * g.W + s * g.dw - g.pl;
        std::fill(d, d + cols.lo, pad);
        if (g.sw == 1) {
          std::memcpy(d + cols.lo, src + cols.lo, sizeof(T) * size_t(cols.hi - cols.lo));
        } else {
          for (int64_t q = cols.lo; q < cols.hi; q++) d[q] = src[q * g.sw];
        }
        std::fill(d + cols.hi, d + g.Q, pad);
      }
    }
  });
}
template void im2col<float>(const ConvGeom&, const float*, int64_t, int64_t, int64_t, float*, bool, float);
template void im2col<int16_t>(const ConvGeom&, const int16_t*, int64_t, int64_t, int64_t, int16_t*, bool, int16_t);

namespace {

// Adds dcol (the layout of im2col) back into the dx planes of group `grp`, images [n0, n0 + nb).
void col2im(const ConvGeom& g, const float* dcol, int64_t grp, int64_t n0, int64_t nb, float* dx, bool threaded) {
  const int64_t Cg = g.C / g.groups, RS = g.R * g.S, PQ = g.P * g.Q, L = nb * PQ, HW = g.H * g.W;
  forTasks(threaded, nb * Cg, [&](int64_t task) {
    const int64_t n = task / Cg, cl = task % Cg;
    float* plane = dx + ((n0 + n) * g.C + grp * Cg + cl) * HW;
    std::fill(plane, plane + HW, 0.0f);
    for (int64_t r = 0; r < g.R; r++) {
      for (int64_t s = 0; s < g.S; s++) {
        const ColumnRange cols = validColumns(g, s);
        const float* src = dcol + (cl * RS + r * g.S + s) * L + n * PQ;
        for (int64_t p = 0; p < g.P; p++) {
          const int64_t iy = p * g.sh + r * g.dh - g.pt;
          if (iy < 0 || iy >= g.H) continue;
          const float* row = src + p * g.Q;
          float* d = plane + iy * g.W + s * g.dw - g.pl;
          if (g.sw == 1) {
            for (int64_t q = cols.lo; q < cols.hi; q++) d[q] += row[q];
          } else {
            for (int64_t q = cols.lo; q < cols.hi; q++) d[q * g.sw] += row[q];
          }
        }
      }
    }
  });
}

// The GEMM path with one pool task per chunk of nb images: each chunk's weight gradient is a
// part of its own, and the parts are summed in chunk order afterwards. The own GEMM runs on
// the task's thread.
void backwardByChunks(const GemmMicro& micro, const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx, float* dw, int64_t nb) {
  const int64_t Cg = g.C / g.groups, Mg = g.M / g.groups, Kg = Cg * g.R * g.S, PQ = g.P * g.Q;
  const int64_t chunks = (g.N + nb - 1) / nb;
  std::vector<float> parts(dw ? static_cast<size_t>(chunks * g.M * Kg) : 0);
  pool().parallelFor(chunks, [&](int64_t chunk) {
    const int64_t n0 = chunk * nb, count = std::min(nb, g.N - n0), len = count * PQ;
    float* col = scratch(0, size_t(Kg * len));
    const float* dyChunk = dy + n0 * g.M * PQ;
    if (count > 1) {
      float* dyT = scratch(1, size_t(g.M * len));
      for (int64_t m = 0; m < g.M; m++)
        for (int64_t n = 0; n < count; n++) std::memcpy(dyT + m * len + n * PQ, dyChunk + (n * g.M + m) * PQ, sizeof(float) * size_t(PQ));
      dyChunk = dyT;
    }
    for (int64_t grp = 0; grp < g.groups; grp++) {
      const MatView dyG{dyChunk + grp * Mg * len, len, 1};
      if (dw) {
        im2col(g, x, grp, n0, count, col, false);
        gemm(micro, Mg, Kg, len, dyG, MatView{col, 1, len}, parts.data() + (chunk * g.M + grp * Mg) * Kg, Kg, false, false);
      }
      if (dx) {
        gemm(micro, Kg, len, Mg, MatView{w + grp * Mg * Kg, 1, Kg}, dyG, col, len, false, false);
        col2im(g, col, grp, n0, count, dx, false);
      }
    }
  });
  if (dw) {
    const int64_t size = g.M * Kg;
    pool().parallelFor((size + 1023) / 1024, [&](int64_t block) {
      for (int64_t e = block * 1024; e < std::min(size, block * 1024 + 1024); e++) {
        float sum = parts[size_t(e)];
        for (int64_t c = 1; c < chunks; c++) sum += parts[size_t(c * size + e)];
        dw[e] = sum;
      }
    });
  }
}

}  // namespace

void conv2dBackwardFloat(const Cores& cores, const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx, float* dw, float* db) {
  if (db) biasGradient(g, dy, db);
  if (!dx && !dw) return;
  const int64_t Cg = g.C / g.groups;
  if (Cg == 1) {
    depthwiseBackward(cores, g, x, w, dy, dx, dw);
    return;
  }
  const GemmMicro& micro = cores.gemm;
  const int64_t Mg = g.M / g.groups, Kg = Cg * g.R * g.S, PQ = g.P * g.Q;
  const int64_t perImage = std::max(Kg, g.M) * PQ;  // floats of columns, or of dY, per image
  // Batches of 8 or more: chunks of at most an eighth of the batch whose columns stay in L2
  // (small planes) from im2col through both GEMMs to col2im, one pool task each (GEMMs on the
  // task's thread). With OpenBLAS selected, its own threads run each GEMM instead; images
  // whose columns pass 16 MiB go one at a time too (every thread would hold such a buffer).
  // The choice depends on the geometry only, so results never depend on the thread count.
  if (g.N >= kMinLocalChunks && perImage <= kColumnBudget && gemmBackend() == GemmBackend::Own) {
    backwardByChunks(micro, g, x, w, dy, dx, dw, std::max<int64_t>(1, std::min(g.N / kMinLocalChunks, kLocalColumnBudget / perImage)));
    return;
  }
  // Images per chunk: the columns (Kg rows) and the chunk's dY (M rows) each within the budget.
  const int64_t nb = std::max<int64_t>(1, std::min(g.N, kColumnBudget / perImage));
  const int64_t L = nb * PQ;
  float* col = scratch(0, size_t(Kg * L));
  // dY of the chunk as [M, (n, p, q)]: one image's dY already is.
  float* dyT = nb > 1 ? scratch(1, size_t(g.M * L)) : nullptr;
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    const int64_t count = std::min(nb, g.N - n0), len = count * PQ;
    const float* dyChunk = dy + n0 * g.M * PQ;
    if (dyT) {
      pool().parallelFor(g.M, [&](int64_t m) {
        for (int64_t n = 0; n < count; n++) std::memcpy(dyT + m * len + n * PQ, dyChunk + (n * g.M + m) * PQ, sizeof(float) * size_t(PQ));
      });
      dyChunk = dyT;
    }
    for (int64_t grp = 0; grp < g.groups; grp++) {
      const MatView dyG{dyChunk + grp * Mg * len, len, 1};  // [Mg, len]
      if (dw) {
        im2col(g, x, grp, n0, count, col, true);
        gemmAuto(micro, Mg, Kg, len, dyG, MatView{col, 1, len}, dw + grp * Mg * Kg, Kg, n0 > 0);
      }
      if (dx) {
        // dcol [Kg, len] = W_g^T dY_g, into the columns' buffer
        gemmAuto(micro, Kg, len, Mg, MatView{w + grp * Mg * Kg, 1, Kg}, dyG, col, len, false);
        col2im(g, col, grp, n0, count, dx, true);
      }
    }
  }
}

void denseBackwardFloat(const Cores& cores, int64_t B, int64_t K, int64_t M, const float* x, const float* w, const float* dy, float* dx, float* dw, float* db) {
  const GemmMicro& micro = cores.gemm;
  if (dx) gemmAuto(micro, B, K, M, MatView{dy, M, 1}, MatView{w, K, 1}, dx, K, false);
  if (dw) gemmAuto(micro, M, K, B, MatView{dy, 1, M}, MatView{x, K, 1}, dw, K, false);
  if (db) {
    for (int64_t m = 0; m < M; m++) {
      double sum = 0;
      for (int64_t b = 0; b < B; b++) sum += dy[b * M + m];
      db[m] = float(sum);
    }
  }
}

}  // namespace axnn
