// float32 GEMM: C (+)= A B over strided views, on axnn's own cache-blocked, multithreaded
// driver (gemm.cc) or on a system BLAS loaded at run time (cblas_sgemm from OpenBLAS), so the
// build never needs one.
#pragma once
#include <cstdint>
#include <string>

#include "kernels.h"

namespace axnn {

// A matrix view: element (i, j) is p[i * rs + j * cs]. Transposes are views with swapped strides.
struct MatView {
  const float* p;
  int64_t rs, cs;
};

enum class GemmBackend { Own, OpenBlas };

// C[i, j] = (accumulate ? C[i, j] : 0) + sum_k A(i, k) B(k, j) for i < M, j < N, C row-major
// with row stride ldc. Work is split over tiles of C only, never over k, and every tile sums k
// in the same blocks and order, so the result does not depend on the thread count.
// threaded = false runs on the calling thread only (for callers inside a pool task: the pool
// is not reentrant); the result is the same.
void gemm(const GemmMicro& micro, int64_t M, int64_t N, int64_t K, MatView A, MatView B, float* C, int64_t ldc, bool accumulate, bool threaded = true);

// The backend that gemmAuto uses (own unless set).
GemmBackend gemmBackend();
// Selects a backend; returns false (changing nothing) when OpenBLAS cannot be loaded.
bool setGemmBackend(GemmBackend b);
// Whether cblas_sgemm could be loaded (libopenblas.so.0, else libblas.so.3).
bool openBlasAvailable();
// Why OpenBLAS is not available (empty when it is).
std::string openBlasError();
// gemm() on the selected backend (OpenBLAS when selected and both views have a unit stride).
void gemmAuto(const GemmMicro& micro, int64_t M, int64_t N, int64_t K, MatView A, MatView B, float* C, int64_t ldc, bool accumulate);

}  // namespace axnn
