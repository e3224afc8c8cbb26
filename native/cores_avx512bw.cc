// AVX-512 BW cores without VBMI (compiled with -mavx512f -mavx512bw -mavx512vl), for CPUs such
// as Skylake-SP and Cascade Lake that lack vpermi2b.
//
// LUT core: for tables whose products span less than 2^16, the row of one weight as 256 uint16
// (product - min) is 8 zmm registers; four vpermi2w (_mm512_permutex2var_epi16) look up 32
// activations in 64 entries each and blends on activation bits 6 and 7 pick the result. The
// low and high bytes of the looked-up words are summed in 16-bit lanes between flushes (at most
// 256 taps, so they cannot overflow), as in the VBMI core. Wider tables use the portable core.
#include <immintrin.h>
#include <algorithm>
#include "generic_cores.h"
#include "gemm_micro.h"

namespace {

constexpr int kTapsPerFlush = 256;  // 256 * 255 < 2^16

// CH chunks of 32 positions; accumulators stay in registers across taps.
template <int CH>
void lutWordChunks(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, const uint16_t* rows, int64_t pos0, uint32_t* out) {
  __m512i total[CH][2];
  for (int c = 0; c < CH; c++) total[c][0] = total[c][1] = _mm512_setzero_si512();
  const __m512i bit6 = _mm512_set1_epi16(0x40), bit7 = _mm512_set1_epi16(0x80);
  for (int k0 = 0; k0 < K; k0 += kTapsPerFlush) {
    const int kEnd = std::min(K, k0 + kTapsPerFlush);
    __m512i all[CH], high[CH];  // 16-bit sums of the words and of their high bytes
    for (int c = 0; c < CH; c++) all[c] = high[c] = _mm512_setzero_si512();
    for (int k = k0; k < kEnd; k++) {
      const uint16_t* row = rows + size_t(sel[k]) * 256;
      const uint8_t* a = base + tapOff[k] + pos0;
      __m512i t[8];
      for (int j = 0; j < 8; j++) t[j] = _mm512_loadu_si512(row + 32 * j);
      for (int c = 0; c < CH; c++) {
        const __m512i idx = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 32 * c)));
        const __mmask32 b6 = _mm512_test_epi16_mask(idx, bit6), b7 = _mm512_test_epi16_mask(idx, bit7);
        const __m512i q0 = _mm512_permutex2var_epi16(t[0], idx, t[1]);
        const __m512i q1 = _mm512_permutex2var_epi16(t[2], idx, t[3]);
        const __m512i q2 = _mm512_permutex2var_epi16(t[4], idx, t[5]);
        const __m512i q3 = _mm512_permutex2var_epi16(t[6], idx, t[7]);
        const __m512i lower = _mm512_mask_blend_epi16(b6, q0, q1);
        const __m512i upper = _mm512_mask_blend_epi16(b6, q2, q3);
        const __m512i v = _mm512_mask_blend_epi16(b7, lower, upper);
        all[c] = _mm512_add_epi16(all[c], v);
        high[c] = _mm512_add_epi16(high[c], _mm512_srli_epi16(v, 8));
      }
    }
    for (int c = 0; c < CH; c++) {
      // Low bytes' sum = word sum - 256 * high bytes' sum (mod 2^16, exact as it is < 2^16).
      const __m512i low = _mm512_sub_epi16(all[c], _mm512_slli_epi16(high[c], 8));
      for (int h = 0; h < 2; h++) {
        const __m512i lo32 = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(low, h));
        const __m512i hi32 = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(high[c], h));
        total[c][h] = _mm512_add_epi32(total[c][h], _mm512_add_epi32(lo32, _mm512_slli_epi32(hi32, 8)));
      }
    }
  }
  for (int c = 0; c < CH; c++)
    for (int h = 0; h < 2; h++) _mm512_storeu_si512(out + 32 * c + 16 * h, total[c][h]);
}

void lutAvx512bw(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, const LutCtx& lut, int64_t pos0, int nPos, uint32_t* out) {
  if (lut.planes > 2 || lut.rowsU16 == nullptr) {  // products wider than 16 bits
    lutGeneric(base, tapOff, sel, K, lut, pos0, nPos, out);
    return;
  }
  alignas(64) uint32_t tmp[kMaxBlock];
  const int chunks = (nPos + 31) / 32;  // the driver keeps whole 64-position chunks readable
  int c = 0;
  for (; c + 4 <= chunks; c += 4) lutWordChunks<4>(base, tapOff, sel, K, lut.rowsU16, pos0 + 32 * c, tmp + 32 * c);
  for (; c < chunks; c++) lutWordChunks<1>(base, tapOff, sel, K, lut.rowsU16, pos0 + 32 * c, tmp + 32 * c);
  const uint32_t offset = uint32_t(K) * lut.minValue;  // every position went through K lookups
  for (int i = 0; i < nPos; i++) out[i] = tmp[i] + offset;
}

}  // namespace

namespace axnn {
constexpr LutCosts kAvx512BwLutCosts{{0.15, 0.15, 1.0, 1.0}, 0.7, 0.05};
Cores avx512bwCores() { return Cores{"avx512bw", lutAvx512bw, lutPlanesGeneric, kAvx512BwLutCosts, exactGeneric, floatGeneric, gemmMicro<VecAvx512, 12, 2, 8>(), axpyGeneric, dotGeneric}; }
}  // namespace axnn
