// AVX-512 cores (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vbmi -mavx512vnni: only
// selected on CPUs with all of them, Ice Lake and Zen 4 onwards).
//
// LUT core: the table row of one weight (its products with all 256 activations) is split into
// byte planes of (product - min); each plane is 256 bytes = 4 zmm registers, and vpermi2b
// (_mm512_permutex2var_epi8) looks up 64 activations in 128 entries at once, so two of them and
// a blend on the activation's top bit look up 64 activations in the whole plane. A plane's bytes
// are summed in 16-bit lanes (at most 256 taps between flushes, so they cannot overflow) and
// widened to 32 bits at the flush; planes are recombined as sum_b plane_b << 8b, plus K * min.
#include <immintrin.h>
#include <algorithm>
#include "generic_cores.h"
#include "gemm_micro.h"

namespace {

constexpr int kTapsPerFlush = 256;  // 256 * 255 < 2^16: a plane's byte sums fit 16-bit lanes

// Output positions of one 64-lane chunk from the 16-bit sums of even- and odd-numbered bytes
// ("even" and "odd" hold positions 2j and 2j+1 in word j), widened to 4 x 16 int32.
inline void widenEvenOdd(__m512i even, __m512i odd, int shift, __m512i* dst) {
  const __m512i lo = _mm512_unpacklo_epi16(even, odd);  // lane L: positions 16L .. 16L+7
  const __m512i hi = _mm512_unpackhi_epi16(even, odd);  // lane L: positions 16L+8 .. 16L+15
  const __m512i first = _mm512_permutex2var_epi64(lo, _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), hi);
  const __m512i second = _mm512_permutex2var_epi64(lo, _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15), hi);
  const __m512i parts[4] = {
      _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(first, 0)),
      _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(first, 1)),
      _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(second, 0)),
      _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(second, 1)),
  };
  const __m128i count = _mm_cvtsi32_si128(shift);
  for (int q = 0; q < 4; q++) dst[q] = _mm512_add_epi32(dst[q], _mm512_sll_epi32(parts[q], count));
}

// CH chunks of 64 positions with B byte planes; accumulators stay in registers across taps.
template <int B, int CH>
void lutChunks(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, const uint8_t* planes, int64_t pos0, uint32_t* out) {
  __m512i total[CH][4];
  for (int c = 0; c < CH; c++)
    for (int q = 0; q < 4; q++) total[c][q] = _mm512_setzero_si512();
  for (int k0 = 0; k0 < K; k0 += kTapsPerFlush) {
    const int kEnd = std::min(K, k0 + kTapsPerFlush);
    __m512i all[CH][B], odd[CH][B];  // 16-bit sums of whole words, and of their high bytes
    for (int c = 0; c < CH; c++)
      for (int b = 0; b < B; b++) all[c][b] = odd[c][b] = _mm512_setzero_si512();
    for (int k = k0; k < kEnd; k++) {
      const uint8_t* row = planes + size_t(sel[k]) * (B * 256);
      const uint8_t* a = base + tapOff[k] + pos0;
      __m512i t[B][4];
      for (int b = 0; b < B; b++)
        for (int j = 0; j < 4; j++) t[b][j] = _mm512_loadu_si512(row + b * 256 + j * 64);
      for (int c = 0; c < CH; c++) {
        const __m512i idx = _mm512_loadu_si512(a + 64 * c);
        const __mmask64 upper = _mm512_movepi8_mask(idx);  // activation >= 128
        for (int b = 0; b < B; b++) {
          const __m512i lower = _mm512_permutex2var_epi8(t[b][0], idx, t[b][1]);
          const __m512i higher = _mm512_permutex2var_epi8(t[b][2], idx, t[b][3]);
          const __m512i v = _mm512_mask_blend_epi8(upper, lower, higher);
          all[c][b] = _mm512_add_epi16(all[c][b], v);
          odd[c][b] = _mm512_add_epi16(odd[c][b], _mm512_srli_epi16(v, 8));
        }
      }
    }
    for (int c = 0; c < CH; c++) {
      for (int b = 0; b < B; b++) {
        // Even bytes' sum = whole-word sum - 256 * odd bytes' sum (mod 2^16, exact as it is < 2^16).
        const __m512i even = _mm512_sub_epi16(all[c][b], _mm512_slli_epi16(odd[c][b], 8));
        widenEvenOdd(even, odd[c][b], 8 * b, total[c]);
      }
    }
  }
  for (int c = 0; c < CH; c++)
    for (int q = 0; q < 4; q++) _mm512_storeu_si512(out + 64 * c + 16 * q, total[c][q]);
}

template <int B, int MaxCH>
void lutPlanes(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, const uint8_t* planes, int64_t pos0, int chunks, uint32_t* out) {
  int c = 0;
  for (; c + MaxCH <= chunks; c += MaxCH) lutChunks<B, MaxCH>(base, tapOff, sel, K, planes, pos0 + 64 * c, out + 64 * c);
  for (; c < chunks; c++) lutChunks<B, 1>(base, tapOff, sel, K, planes, pos0 + 64 * c, out + 64 * c);
}

void lutAvx512(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, const LutCtx& lut, int64_t pos0, int nPos, uint32_t* out) {
  alignas(64) uint32_t tmp[kMaxBlock];
  const int chunks = (nPos + 63) / 64;  // the driver keeps whole chunks readable
  switch (lut.planes) {
    case 1: lutPlanes<1, 4>(base, tapOff, sel, K, lut.bytePlanes, pos0, chunks, tmp); break;
    case 2: lutPlanes<2, 4>(base, tapOff, sel, K, lut.bytePlanes, pos0, chunks, tmp); break;
    case 3: lutPlanes<3, 2>(base, tapOff, sel, K, lut.bytePlanes, pos0, chunks, tmp); break;
    default: lutPlanes<4, 1>(base, tapOff, sel, K, lut.bytePlanes, pos0, chunks, tmp); break;
  }
  const uint32_t offset = uint32_t(K) * lut.minValue;  // every position went through K lookups
  for (int i = 0; i < nPos; i++) out[i] = tmp[i] + offset;
}

// Exact products with VNNI vpdpbusd (u8 x s8, four byte products summed into each int32 lane).
// The four bytes of a lane are four neighbouring positions, so accumulator j takes the weight
// in byte j only and collects positions 4i + j. The activations' top bit is flipped, making
// them a + 128 as u8 or a - 128 as s8, and a constant per output channel corrects the sum:
//  - int8 x int8: (a + 128) as u8 times the s8 weight, minus 128 * sum(w);
//  - uint8 x uint8: the u8 weight times (a - 128) as s8, plus 128 * sum(w).
template <bool Signed, int CH>
void exactVnniChunks(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, int64_t pos0, uint32_t* out) {
  __m512i acc[CH][4];
  for (int c = 0; c < CH; c++)
    for (int j = 0; j < 4; j++) acc[c][j] = _mm512_setzero_si512();
  const __m512i flip = _mm512_set1_epi8(char(0x80));
  uint32_t weightSum = 0;
  for (int k = 0; k < K; k++) {
    weightSum += Signed ? uint32_t(int32_t(int8_t(sel[k]))) : uint32_t(sel[k]);
    __m512i wj[4];
    for (int j = 0; j < 4; j++) wj[j] = _mm512_set1_epi32(int(uint32_t(sel[k]) << (8 * j)));
    const uint8_t* a = base + tapOff[k] + pos0;
    for (int c = 0; c < CH; c++) {
      const __m512i v = _mm512_xor_si512(_mm512_loadu_si512(a + 64 * c), flip);
      for (int j = 0; j < 4; j++)
        acc[c][j] = Signed ? _mm512_dpbusd_epi32(acc[c][j], v, wj[j]) : _mm512_dpbusd_epi32(acc[c][j], wj[j], v);
    }
  }
  const __m512i correction = _mm512_set1_epi32(int(weightSum * (Signed ? uint32_t(-128) : 128u)));
  for (int c = 0; c < CH; c++) {
    __m512i r[4];
    for (int j = 0; j < 4; j++) r[j] = _mm512_add_epi32(acc[c][j], correction);
    // Transpose back to position order: r[j] lane i is position 4i + j.
    const __m512i s0 = _mm512_unpacklo_epi32(r[0], r[1]), s1 = _mm512_unpackhi_epi32(r[0], r[1]);
    const __m512i s2 = _mm512_unpacklo_epi32(r[2], r[3]), s3 = _mm512_unpackhi_epi32(r[2], r[3]);
    const __m512i u0 = _mm512_unpacklo_epi64(s0, s2), u1 = _mm512_unpackhi_epi64(s0, s2);  // block L: 16L+0..3, 16L+4..7
    const __m512i u2 = _mm512_unpacklo_epi64(s1, s3), u3 = _mm512_unpackhi_epi64(s1, s3);  // block L: 16L+8..11, 16L+12..15
    const __m512i t0 = _mm512_shuffle_i32x4(u0, u1, 0x44), t1 = _mm512_shuffle_i32x4(u2, u3, 0x44);
    const __m512i t2 = _mm512_shuffle_i32x4(u0, u1, 0xEE), t3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);
    _mm512_storeu_si512(out + 64 * c, _mm512_shuffle_i32x4(t0, t1, 0x88));
    _mm512_storeu_si512(out + 64 * c + 16, _mm512_shuffle_i32x4(t0, t1, 0xDD));
    _mm512_storeu_si512(out + 64 * c + 32, _mm512_shuffle_i32x4(t2, t3, 0x88));
    _mm512_storeu_si512(out + 64 * c + 48, _mm512_shuffle_i32x4(t2, t3, 0xDD));
  }
}

template <bool Signed, int MaxCH>
void exactVnniTyped(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, int64_t pos0, int nPos, uint32_t* out) {
  alignas(64) uint32_t tmp[kMaxBlock];
  const int chunks = (nPos + 63) / 64;  // the driver keeps whole chunks readable
  int c = 0;
  for (; c + MaxCH <= chunks; c += MaxCH) exactVnniChunks<Signed, MaxCH>(base, tapOff, sel, K, pos0 + 64 * c, tmp + 64 * c);
  for (; c < chunks; c++) exactVnniChunks<Signed, 1>(base, tapOff, sel, K, pos0 + 64 * c, tmp + 64 * c);
  std::memcpy(out, tmp, sizeof(uint32_t) * nPos);
}

void exactVnni(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, bool isSigned, int64_t pos0, int nPos, uint32_t* out) {
  if (isSigned) exactVnniTyped<true, 4>(base, tapOff, sel, K, pos0, nPos, out);
  else exactVnniTyped<false, 4>(base, tapOff, sel, K, pos0, nPos, out);
}

}  // namespace

namespace axnn {
constexpr LutCosts kAvx512LutCosts{{0.1, 0.1, 0.2, 0.27}, 0.7, 0.05};
Cores avx512Cores() { return Cores{"avx512", lutAvx512, lutPlanesGeneric, kAvx512LutCosts, exactVnni, floatGeneric, gemmMicro<VecAvx512, 12, 2, 8>(), axpyGeneric, dotGeneric}; }
}  // namespace axnn
