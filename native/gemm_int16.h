// Integer GEMM of int16 operands into int32 sums, for convolutions over separable multiplier
// tables (T[a][w] = f(a) * g(w): exact products, DRUM, operand truncation; docs/kernels.md,
// "Separable tables"): the layer's sum of T(x, w) is f(x) (im2col) times g(w), at GEMM speed.
// Sums are integers modulo 2^32, so their order never matters: the result is exactly the direct
// cores' (their accumulators wrap modulo 2^32 too) for any tiling and thread count.
#pragma once
#include <cstdint>
#include <vector>

namespace axnn {

// Which micro-kernel runs: AVX2 vpmaddwd tiles (any x86 level above scalar; the AVX-512 levels
// use them too), or the portable C++ tile (scalar, NEON), which the compiler vectorises.
enum class Int16Kernel { Portable, Avx2 };
Int16Kernel int16KernelFor(const char* levelName);

// Rows per packed strip of A (the tile height) and columns per packed panel of B.
constexpr int kInt16Mr = 4;
constexpr int kInt16Nr = 16;

// A (M x K, row-major, lda) packed for the tiles: strips of kInt16Mr rows (zero past M), each
// k-pair (k, k+1) of a row stored as one 32-bit word (low half: k), K rounded up to even (zero).
struct PackedInt16A {
  int64_t M = 0, K = 0, pairs = 0;
  std::vector<int32_t> data;  // strips x pairs x kInt16Mr words
};
void packInt16A(const int16_t* A, int64_t M, int64_t K, int64_t lda, PackedInt16A& out);

// C[m * ldc + j] = sum_{k < K} A[m][k] * B[k * ldb + j] modulo 2^32, for m < M, j < N; B has
// K rows (an odd K needs no extra row: the packed A's last pair has a zero high half, and B's
// row K is never read). threaded: tasks over column panels on the pool (false inside a pool task).
void gemmInt16(Int16Kernel kernel, const PackedInt16A& A, int64_t N, const int16_t* B, int64_t ldb, int32_t* C, int64_t ldc, bool threaded);

}  // namespace axnn
