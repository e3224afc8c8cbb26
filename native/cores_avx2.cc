// AVX2 cores (compiled with -mavx2 -mfma): the exact, float and plane-transform LUT cores of
// generic_cores.h, auto-vectorised for 256-bit registers; the plane core for tables whose
// products fit 16 bits (lutPlanesU16With) on 16 x 16 transposes. The direct LUT core is the
// portable one: 32-bit gathers (vpgatherdd, 8 lookups each) measured 1.3x to 2.5x slower than its
// scalar lookups with register accumulators on Zen 4, so there is no gather core.
#include <immintrin.h>

#include "generic_cores.h"
#include "gemm_micro.h"

namespace {

// Transposes 16 rows of 16 uint16 in place: three unpack stages within the 128-bit lanes (8x8
// transposes of both halves), then the lanes exchanged.
inline void transpose16(__m256i r[16]) {
  __m256i u[16], v[16];
  for (int i = 0; i < 16; i += 2) {
    u[i] = _mm256_unpacklo_epi16(r[i], r[i + 1]);
    u[i + 1] = _mm256_unpackhi_epi16(r[i], r[i + 1]);
  }
  for (int b = 0; b < 16; b += 4) {
    v[b] = _mm256_unpacklo_epi32(u[b], u[b + 2]);
    v[b + 1] = _mm256_unpackhi_epi32(u[b], u[b + 2]);
    v[b + 2] = _mm256_unpacklo_epi32(u[b + 1], u[b + 3]);
    v[b + 3] = _mm256_unpackhi_epi32(u[b + 1], u[b + 3]);
  }
  for (int h = 0; h < 16; h += 8) {
    for (int j = 0; j < 4; j++) {
      u[h + 2 * j] = _mm256_unpacklo_epi64(v[h + j], v[h + j + 4]);
      u[h + 2 * j + 1] = _mm256_unpackhi_epi64(v[h + j], v[h + j + 4]);
    }
  }
  for (int c = 0; c < 8; c++) {
    r[c] = _mm256_permute2x128_si256(u[c], u[8 + c], 0x20);
    r[c + 8] = _mm256_permute2x128_si256(u[c], u[8 + c], 0x31);
  }
}

// 16 x 16 tiles for the plane core of generic_cores.h (lutPlanesU16With).
struct Transpose16 {
  static constexpr int kLanes = 16;
  static void tile(const uint16_t* const* at, int64_t offset, uint16_t* dst, int64_t stride) {
    __m256i r[16];
    for (int i = 0; i < 16; i++) r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at[i] + offset));
    transpose16(r);
    for (int t = 0; t < 16; t++) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + t * stride), r[t]);
  }
};

// acc[i] += sum of the N uint16 streams' element i, 16 positions per pass (two accumulators,
// zero-extending loads).
template <int N>
inline void addU16N(const uint16_t* const* s, int nPos, uint32_t* acc) {
  const uint16_t* p[N];
  for (int k = 0; k < N; k++) p[k] = s[k];
  auto wide = [](const uint16_t* q) { return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))); };
  for (int i = 0; i < nPos; i += 16) {  // up to 15 positions past nPos: planes and acc have room
    __m256i t0 = wide(p[0] + i), t1 = wide(p[0] + i + 8);
    for (int k = 1; k < N; k++) {
      t0 = _mm256_add_epi32(t0, wide(p[k] + i));
      t1 = _mm256_add_epi32(t1, wide(p[k] + i + 8));
    }
    __m256i* a = reinterpret_cast<__m256i*>(acc + i);
    _mm256_storeu_si256(a, _mm256_add_epi32(_mm256_loadu_si256(a), t0));
    _mm256_storeu_si256(a + 1, _mm256_add_epi32(_mm256_loadu_si256(a + 1), t1));
  }
}
struct AddU16 {
  template <int N>
  static void run(const uint16_t* const* s, int nPos, uint32_t* acc) { addU16N<N>(s, nPos, acc); }
};
void addU16Avx2(const uint16_t* const* s, int n, int nPos, uint32_t* acc) { addInGroups<AddU16>(s, n, nPos, acc); }

void lutPlanesAvx2(const uint8_t* base, const int64_t* tapOff, const LutPlanes& lp, const LutCtx& lut, int64_t grp, int64_t m0, int64_t m1,
                   int64_t pos0, int nPos, uint32_t* out) {
  lutPlanesU16With<Transpose16, addU16Avx2>(base, tapOff, lp, lut, grp, m0, m1, pos0, nPos, out);
}
void channelTableAvx2(const uint16_t* rowsU16, const uint8_t* codes, int64_t D, uint16_t* table) {
  channelTableWith<Transpose16>(rowsU16, codes, D, table);
}

}  // namespace

namespace axnn {
constexpr LutCosts kAvx2LutCosts{{1.0, 1.0, 1.0, 1.0}, 0.7, 0.15, 0.15};
Cores avx2Cores() { return Cores{"avx2", lutGeneric, lutPlanesAvx2, kAvx2LutCosts, exactGeneric, floatGeneric, gemmMicro<VecAvx2, 6, 2, 4>(), axpyGeneric, dotGeneric,
                                channelTableAvx2}; }
}  // namespace axnn
