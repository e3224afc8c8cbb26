// The int16 GEMM (gemm_int16.h). A is packed once per call into strips of kInt16Mr rows of k-pair
// words; each task packs one panel of kInt16Nr columns of B into k-pair order (the 16 columns of
// pair p: B[2p][j], B[2p+1][j] side by side, 64 bytes) and runs every strip of A against it, so
// the panel stays in L1 while A streams from L2. On AVX2 a tile is 4 x 16 int32 accumulators in 8
// ymm registers; per k-pair: two panel loads, four 32-bit broadcasts of A's pairs, eight vpmaddwd
// (int16 pairs -> int32 sums) and eight vpaddd.
#include "gemm_int16.h"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define AXNN_INT16_AVX2 1
#endif

#include "thread_pool.h"

namespace axnn {
namespace {

constexpr int kPanel = 2 * kInt16Nr;  // int16 per k-pair of a packed panel

// dst[p * kPanel + 2j + h] = B[2p + h][j0 + j] (0 past K rows or `cols` columns).
void packPanel(const int16_t* B, int64_t ldb, int64_t K, int64_t pairs, int64_t j0, int cols, int16_t* dst) {
  for (int64_t p = 0; p < pairs; p++) {
    const int16_t* r0 = B + 2 * p * ldb + j0;
    const int16_t* r1 = 2 * p + 1 < K ? r0 + ldb : nullptr;
    int16_t* d = dst + p * kPanel;
#if defined(__SSE2__)
    if (cols == kInt16Nr && r1) {
      for (int h = 0; h < kInt16Nr; h += 8) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r0 + h));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r1 + h));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 2 * h), _mm_unpacklo_epi16(a, b));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 2 * h + 8), _mm_unpackhi_epi16(a, b));
      }
      continue;
    }
#endif
    for (int j = 0; j < kInt16Nr; j++) {
      d[2 * j] = j < cols ? r0[j] : 0;
      d[2 * j + 1] = j < cols && r1 ? r1[j] : 0;
    }
  }
}

// Stores the rows < rows, columns < cols of a kInt16Mr x kInt16Nr tile.
void storeTile(const int32_t (*tile)[kInt16Nr], int32_t* C, int64_t ldc, int rows, int cols) {
  for (int i = 0; i < rows; i++) std::memcpy(C + i * ldc, tile[i], sizeof(int32_t) * size_t(cols));
}

// The portable tile: uint32 arithmetic (wrapping is defined; every product fits int32).
void tilePortable(int64_t pairs, const int32_t* a, const int16_t* b, int32_t* C, int64_t ldc, int rows, int cols) {
  uint32_t acc[kInt16Mr][kInt16Nr] = {};
  for (int64_t p = 0; p < pairs; p++) {
    const int16_t* bp = b + p * kPanel;
    for (int i = 0; i < kInt16Mr; i++) {
      const uint32_t word = uint32_t(a[p * kInt16Mr + i]);
      const int32_t a0 = int16_t(word & 0xffff), a1 = int16_t(word >> 16);
      for (int j = 0; j < kInt16Nr; j++) acc[i][j] += uint32_t(a0 * bp[2 * j]) + uint32_t(a1 * bp[2 * j + 1]);
    }
  }
  int32_t tile[kInt16Mr][kInt16Nr];
  std::memcpy(tile, acc, sizeof tile);
  storeTile(tile, C, ldc, rows, cols);
}

#if AXNN_INT16_AVX2
__attribute__((target("avx2"))) void tileAvx2(int64_t pairs, const int32_t* a, const int16_t* b, int32_t* C, int64_t ldc, int rows, int cols) {
  __m256i acc[kInt16Mr][2];
  for (int i = 0; i < kInt16Mr; i++) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  for (int64_t p = 0; p < pairs; p++) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p * kPanel));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p * kPanel + 16));
    const int32_t* ap = a + p * kInt16Mr;
    for (int i = 0; i < kInt16Mr; i++) {
      const __m256i av = _mm256_set1_epi32(ap[i]);
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(av, b0));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(av, b1));
    }
  }
  if (rows == kInt16Mr && cols == kInt16Nr) {
    for (int i = 0; i < kInt16Mr; i++) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(C + i * ldc), acc[i][0]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(C + i * ldc + 8), acc[i][1]);
    }
    return;
  }
  alignas(32) int32_t tile[kInt16Mr][kInt16Nr];
  for (int i = 0; i < kInt16Mr; i++) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(tile[i]), acc[i][0]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(tile[i] + 8), acc[i][1]);
  }
  storeTile(tile, C, ldc, rows, cols);
}
#endif

}  // namespace

Int16Kernel int16KernelFor(const char* levelName) {
#if AXNN_INT16_AVX2
  if (std::strcmp(levelName, "scalar") != 0) return Int16Kernel::Avx2;
#endif
  (void)levelName;
  return Int16Kernel::Portable;
}

void packInt16A(const int16_t* A, int64_t M, int64_t K, int64_t lda, PackedInt16A& out) {
  const int64_t strips = (M + kInt16Mr - 1) / kInt16Mr, pairs = (K + 1) / 2;
  out.M = M;
  out.K = K;
  out.pairs = pairs;
  out.data.assign(size_t(strips * pairs * kInt16Mr), 0);
  for (int64_t m = 0; m < M; m++) {
    int32_t* strip = out.data.data() + (m / kInt16Mr) * pairs * kInt16Mr + m % kInt16Mr;
    const int16_t* row = A + m * lda;
    for (int64_t p = 0; p < pairs; p++) {
      const uint16_t lo = uint16_t(row[2 * p]), hi = 2 * p + 1 < K ? uint16_t(row[2 * p + 1]) : 0;
      strip[p * kInt16Mr] = int32_t(uint32_t(lo) | uint32_t(hi) << 16);
    }
  }
}

void gemmInt16(Int16Kernel kernel, const PackedInt16A& A, int64_t N, const int16_t* B, int64_t ldb, int32_t* C, int64_t ldc, bool threaded) {
  const int64_t M = A.M, pairs = A.pairs, strips = (M + kInt16Mr - 1) / kInt16Mr, panels = (N + kInt16Nr - 1) / kInt16Nr;
  if (M <= 0 || N <= 0) return;
  auto tile = tilePortable;
#if AXNN_INT16_AVX2
  if (kernel == Int16Kernel::Avx2) tile = tileAvx2;
#endif
  (void)kernel;
  auto run = [&](int64_t panel) {
    thread_local std::vector<int16_t> packed;
    if (int64_t(packed.size()) < pairs * kPanel) packed.resize(size_t(pairs * kPanel));
    const int64_t j0 = panel * kInt16Nr;
    const int cols = int(std::min<int64_t>(kInt16Nr, N - j0));
    packPanel(B, ldb, A.K, pairs, j0, cols, packed.data());
    for (int64_t s = 0; s < strips; s++) {
      const int rows = int(std::min<int64_t>(kInt16Mr, M - s * kInt16Mr));
      tile(pairs, A.data.data() + s * pairs * kInt16Mr, packed.data(), C + s * kInt16Mr * ldc + j0, ldc, rows, cols);
    }
  };
  // A few tasks per thread, each a run of panels (one panel is too little work to hand out).
  const int64_t tasks = threaded && pool().size() > 1 ? std::min<int64_t>(panels, int64_t(pool().size()) * 4) : 1;
  if (tasks > 1) {
    pool().parallelFor(tasks, [&](int64_t t) {
      for (int64_t p = panels * t / tasks; p < panels * (t + 1) / tasks; p++) run(p);
    });
  } else {
    for (int64_t p = 0; p < panels; p++) run(p);
  }
}

}  // namespace axnn
