// The GEMM driver (Goto-style): k is cut into blocks of kKc; for each block A is packed into
// panels of mr rows and B into panels of nr columns (k-major, zero-padded), then tasks over
// groups of mr x nr tiles of C run the ISA's micro-kernel (gemm_micro.h) block after block. Each tile adds its k blocks in
// order, so threads only decide who computes a tile, never how: results are bit-identical for
// any thread count.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#include <mutex>
#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#endif

#include "thread_pool.h"

namespace axnn {
namespace {

// k per packed block: a 12 x 256 A panel (12 KiB) and a 256 x 32 B panel (32 KiB) fit L1 + L2.
constexpr int64_t kKc = 256;
// Below this many multiply-adds a product runs on the calling thread (waking the pool costs more).
constexpr int64_t kParallelMinWork = int64_t(1) << 16;

// Floats of packed panels per round at most (16 MiB).
constexpr int64_t kPackBudget = int64_t(1) << 22;

// The calling thread's packing buffer, 64-byte aligned; it only grows (training repeats shapes).
float* packBuffer(size_t n) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < n + 16) buffer.resize(n + 16);
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buffer.data()) + 63) & ~uintptr_t(63));
}

// dst[k * dstStride + i] = src[i * srcStride + k] for i < rows, k < kc: a transposing copy, by
// 4 x 4 blocks in SSE registers where there are (reading whole lines, writing within L1).
void transposeInto(const float* src, int64_t srcStride, int rows, int64_t kc, float* dst, int dstStride) {
  int i = 0;
#if defined(__SSE2__)
  for (; i + 4 <= rows; i += 4) {
    const float* s0 = src + i * srcStride;
    int64_t k = 0;
    for (; k + 4 <= kc; k += 4) {
      __m128 r0 = _mm_loadu_ps(s0 + k), r1 = _mm_loadu_ps(s0 + srcStride + k);
      __m128 r2 = _mm_loadu_ps(s0 + 2 * srcStride + k), r3 = _mm_loadu_ps(s0 + 3 * srcStride + k);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      _mm_storeu_ps(dst + k * dstStride + i, r0);
      _mm_storeu_ps(dst + (k + 1) * dstStride + i, r1);
      _mm_storeu_ps(dst + (k + 2) * dstStride + i, r2);
      _mm_storeu_ps(dst + (k + 3) * dstStride + i, r3);
    }
    for (; k < kc; k++)
      for (int t = 0; t < 4; t++) dst[k * dstStride + i + t] = s0[t * srcStride + k];
  }
#endif
  for (; i < rows; i++)
    for (int64_t k = 0; k < kc; k++) dst[k * dstStride + i] = src[i * srcStride + k];
}

// dst[k * mr + i] = A(i0 + i, k0 + k) for i < rows, 0 for rows <= i < mr.
void packA(const MatView& A, int64_t i0, int rows, int64_t k0, int64_t kc, int mr, float* dst) {
  if (rows < mr) std::fill(dst, dst + kc * mr, 0.0f);
  if (A.cs == 1) {
    transposeInto(A.p + i0 * A.rs + k0, A.rs, rows, kc, dst, mr);
  } else {
    for (int64_t k = 0; k < kc; k++) {
      const float* src = A.p + (k0 + k) * A.cs + i0 * A.rs;
      float* d = dst + k * mr;
      for (int i = 0; i < rows; i++) d[i] = src[i * A.rs];
    }
  }
}

// dst[k * nr + j] = B(k0 + k, j0 + j) for j < cols, 0 for cols <= j < nr.
void packB(const MatView& B, int64_t k0, int64_t kc, int64_t j0, int cols, int nr, float* dst) {
  if (cols < nr) std::fill(dst, dst + kc * nr, 0.0f);
  if (B.cs == 1) {
    for (int64_t k = 0; k < kc; k++) std::memcpy(dst + k * nr, B.p + (k0 + k) * B.rs + j0, sizeof(float) * size_t(cols));
  } else if (B.rs == 1) {
    transposeInto(B.p + j0 * B.cs + k0, B.cs, cols, kc, dst, nr);
  } else {
    for (int j = 0; j < cols; j++)
      for (int64_t k = 0; k < kc; k++) dst[k * nr + j] = B.p[(k0 + k) * B.rs + (j0 + j) * B.cs];
  }
}

template <typename Fn>
void forTasks(bool parallel, int64_t n, const Fn& fn) {
  if (parallel) {
    pool().parallelFor(n, fn);
  } else {
    for (int64_t i = 0; i < n; i++) fn(i);
  }
}

}  // namespace

void gemm(const GemmMicro& given, int64_t M, int64_t N, int64_t K, MatView A, MatView B, float* C, int64_t ldc, bool accumulate, bool threaded) {
  if (M <= 0 || N <= 0) return;
  // The narrow tile where it wastes fewer rows; each C element sums the same k in the same
  // order with either tile, so the choice never changes the result.
  GemmMicro micro = given;
  if (given.narrowMr > 0) {
    const auto padded = [M](int64_t mr) { return (M + mr - 1) / mr * mr; };
    if (padded(given.narrowMr) < padded(given.mr)) {
      micro.mr = given.narrowMr;
      micro.tile = given.narrowTile;
    }
  }
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; i++) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
    return;
  }
  const int mr = micro.mr, nr = micro.nr;
  const int64_t mStrips = (M + mr - 1) / mr, nStrips = (N + nr - 1) / nr;
  // Several k blocks are packed per round (as many as kPackBudget holds), so that a long k
  // (weight gradients sum over every position of the batch) costs few pool wake-ups.
  const int64_t panelFloats = mStrips * mr + nStrips * nr;
  const int64_t blocksPerRound = std::max<int64_t>(1, std::min((K + kKc - 1) / kKc, kPackBudget / (panelFloats * kKc)));
  const int64_t roundK = std::min(K, blocksPerRound * kKc);
  // Panels are kKc deep whatever the block's kc (the last one may be shorter).
  float* aPack = packBuffer(size_t(panelFloats * blocksPerRound * kKc));
  float* bPack = aPack + mStrips * mr * blocksPerRound * kKc;
  const bool parallel = threaded && M * N * K >= kParallelMinWork && pool().size() > 1;
  // Tile groups of about 96 x 256 (A panels from L2, one B panel in L1 across the group's rows),
  // made smaller until every thread has a few tasks.
  int64_t mPer = std::max<int64_t>(1, 96 / mr), nPer = std::max<int64_t>(1, 256 / nr);
  const int64_t want = parallel ? int64_t(pool().size()) * 4 : 1;
  for (;;) {
    const int64_t tasks = ((mStrips + mPer - 1) / mPer) * ((nStrips + nPer - 1) / nPer);
    if (tasks >= want || (mPer == 1 && nPer == 1)) break;
    if (nPer >= mPer && nPer > 1) nPer = (nPer + 1) / 2;
    else mPer = (mPer + 1) / 2;
  }
  const int64_t mGroups = (mStrips + mPer - 1) / mPer, nGroups = (nStrips + nPer - 1) / nPer;
  for (int64_t r0 = 0; r0 < K; r0 += roundK) {
    const int64_t rk = std::min(roundK, K - r0);
    const int64_t blocks = (rk + kKc - 1) / kKc;
    // Block b of the round: k in [r0 + b*kKc, +kc); its A strip s at aPack + (b * mStrips + s) * mr * kKc.
    const auto kcOf = [&](int64_t b) { return std::min(kKc, rk - b * kKc); };
    forTasks(parallel, blocks * (mStrips + nStrips), [&](int64_t t) {
      const int64_t b = t / (mStrips + nStrips), s = t % (mStrips + nStrips), k0 = r0 + b * kKc, kc = kcOf(b);
      if (s < mStrips) {
        packA(A, s * mr, int(std::min<int64_t>(mr, M - s * mr)), k0, kc, mr, aPack + (b * mStrips + s) * mr * kKc);
      } else {
        const int64_t j = s - mStrips;
        packB(B, k0, kc, j * nr, int(std::min<int64_t>(nr, N - j * nr)), nr, bPack + (b * nStrips + j) * nr * kKc);
      }
    });
    forTasks(parallel, mGroups * nGroups, [&](int64_t t) {
      const int64_t mg = t % mGroups, ng = t / mGroups;
      const int64_t msEnd = std::min(mStrips, (mg + 1) * mPer), nsEnd = std::min(nStrips, (ng + 1) * nPer);
      for (int64_t b = 0; b < blocks; b++) {
        const int64_t kc = kcOf(b);
        const bool add = accumulate || r0 + b * kKc > 0;
        for (int64_t ns = ng * nPer; ns < nsEnd; ns++) {
          const float* bp = bPack + (b * nStrips + ns) * nr * kKc;
          const int cols = int(std::min<int64_t>(nr, N - ns * nr));
          for (int64_t ms = mg * mPer; ms < msEnd; ms++) {
            const int rows = int(std::min<int64_t>(mr, M - ms * mr));
            micro.tile(kc, aPack + (b * mStrips + ms) * mr * kKc, bp, C + ms * mr * ldc + ns * nr, ldc, rows, cols, add);
          }
        }
      }
    });
  }
}

// ---- OpenBLAS, loaded at run time ----

namespace {

// cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc), CBLAS enums.
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

struct Blas {
  SgemmFn sgemm = nullptr;
  std::string error;
};

const Blas& blas() {
  static Blas b = [] {
    Blas r;
#if defined(__unix__) || defined(__APPLE__)
    for (const char* name : {"libopenblas.so.0", "libblas.so.3"}) {
      void* lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (!lib) continue;
      r.sgemm = reinterpret_cast<SgemmFn>(dlsym(lib, "cblas_sgemm"));
      if (!r.sgemm) continue;
      // Its threads match ours (AXNN_THREADS), so both backends use the same cores.
      using SetThreads = void (*)(int);
      if (auto set = reinterpret_cast<SetThreads>(dlsym(lib, "openblas_set_num_threads"))) set(pool().size());
      return r;
    }
    r.error = "neither libopenblas.so.0 nor libblas.so.3 with cblas_sgemm could be loaded";
#else
    r.error = "run-time BLAS loading is only implemented for Unix-like systems";
#endif
    return r;
  }();
  return b;
}

// The default backend: axnn's own GEMM measured faster than OpenBLAS 0.3.21 on training-sized
// products (docs/kernels.md). The TypeScript side applies AXNN_BLAS.
std::atomic<int> selected{int(GemmBackend::Own)};

}  // namespace

bool openBlasAvailable() { return blas().sgemm != nullptr; }
std::string openBlasError() { return blas().error; }

GemmBackend gemmBackend() { return GemmBackend(selected.load()); }

bool setGemmBackend(GemmBackend b) {
  if (b == GemmBackend::OpenBlas && !openBlasAvailable()) return false;
  selected.store(int(b));
  return true;
}

void gemmAuto(const GemmMicro& micro, int64_t M, int64_t N, int64_t K, MatView A, MatView B, float* C, int64_t ldc, bool accumulate) {
  if (gemmBackend() == GemmBackend::OpenBlas && M > 0 && N > 0 && K > 0) {
    // CBLAS takes a matrix with one unit stride (row-major, or transposed) and a leading dimension.
    const bool aRow = A.cs == 1 && A.rs >= K, aCol = A.rs == 1 && A.cs >= M;
    const bool bRow = B.cs == 1 && B.rs >= N, bCol = B.rs == 1 && B.cs >= K;
    const int64_t kIntMax = 0x7fffffff;
    if ((aRow || aCol) && (bRow || bCol) && M <= kIntMax && N <= kIntMax && K <= kIntMax && ldc >= N && ldc <= kIntMax &&
        A.rs <= kIntMax && A.cs <= kIntMax && B.rs <= kIntMax && B.cs <= kIntMax) {
      blas().sgemm(kRowMajor, aRow ? kNoTrans : kTrans, bRow ? kNoTrans : kTrans, int(M), int(N), int(K), 1.0f, A.p,
                   int(aRow ? A.rs : A.cs), B.p, int(bRow ? B.rs : B.cs), accumulate ? 1.0f : 0.0f, C, int(ldc));
      return;
    }
  }
  gemm(micro, M, N, K, A, B, C, ldc, accumulate);
}

}  // namespace axnn
