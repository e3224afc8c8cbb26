// AArch64 NEON cores (NEON is part of the AArch64 baseline: no extra flags; built where
// binding.gyp's target_arch is arm64). The exact, float and plane-transform cores are the plain
// loops of generic_cores.h, which the compiler vectorises for 128-bit registers.
//
// Direct LUT core, for tables whose products span less than 2^16 (one or two byte planes, as
// every 8x8 multiplier): a byte plane of one weight's row is 256 bytes = 16 q registers, and
// tbl/tbx (vqtbl4q_u8 / vqtbx4q_u8) look up 16 activations in 64 entries each; tbx leaves lanes
// whose index is out of its 64 entries unchanged, so one tbl and three tbx on the index minus
// 64, 128 and 192 look up the whole plane. A plane's bytes are summed in 16-bit lanes (at most 256
// taps between flushes: 256 * 255 < 2^16), widened to int32 at the flush and recombined as
// sum_b plane_b << 8b, plus K * min. Wider tables use the portable core. Only checked under
// qemu-user (test/kernels-neon.test.ts), never timed: no ARM machine was at hand.
#if defined(__aarch64__)
#include <arm_neon.h>

#include <algorithm>

#include "generic_cores.h"
#include "gemm_micro.h"

namespace {

constexpr int kTapsPerFlush = 256;  // 256 * 255 < 2^16
constexpr int kChunks = 4;          // 16-position chunks per pass: 4 indices + 8 accumulators + 16 table registers

// Adds plane b's contribution (<< 8b) for CH chunks of 16 positions at pos0 to total (CH x 16 int32).
template <int CH>
void lutPlaneChunks(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, const uint8_t* planes, int nPlanes, int b,
                    int64_t pos0, uint32_t* total) {
  const uint8x16_t k64 = vdupq_n_u8(64);
  for (int k0 = 0; k0 < K; k0 += kTapsPerFlush) {
    const int kEnd = std::min(K, k0 + kTapsPerFlush);
    uint16x8_t lo[CH], hi[CH];
    for (int c = 0; c < CH; c++) lo[c] = hi[c] = vdupq_n_u16(0);
    for (int k = k0; k < kEnd; k++) {
      const uint8_t* row = planes + (size_t(sel[k]) * nPlanes + b) * 256;
      const uint8x16x4_t t0 = vld1q_u8_x4(row), t1 = vld1q_u8_x4(row + 64), t2 = vld1q_u8_x4(row + 128), t3 = vld1q_u8_x4(row + 192);
      const uint8_t* a = base + tapOff[k] + pos0;
      for (int c = 0; c < CH; c++) {
        uint8x16_t idx = vld1q_u8(a + 16 * c);
        uint8x16_t v = vqtbl4q_u8(t0, idx);
        idx = vsubq_u8(idx, k64);
        v = vqtbx4q_u8(v, t1, idx);
        idx = vsubq_u8(idx, k64);
        v = vqtbx4q_u8(v, t2, idx);
        idx = vsubq_u8(idx, k64);
        v = vqtbx4q_u8(v, t3, idx);
        lo[c] = vaddw_u8(lo[c], vget_low_u8(v));
        hi[c] = vaddw_high_u8(hi[c], v);
      }
    }
    const int32x4_t shift = vdupq_n_s32(8 * b);
    for (int c = 0; c < CH; c++) {
      uint32_t* t = total + 16 * c;
      vst1q_u32(t, vaddq_u32(vld1q_u32(t), vshlq_u32(vmovl_u16(vget_low_u16(lo[c])), shift)));
      vst1q_u32(t + 4, vaddq_u32(vld1q_u32(t + 4), vshlq_u32(vmovl_high_u16(lo[c]), shift)));
      vst1q_u32(t + 8, vaddq_u32(vld1q_u32(t + 8), vshlq_u32(vmovl_u16(vget_low_u16(hi[c])), shift)));
      vst1q_u32(t + 12, vaddq_u32(vld1q_u32(t + 12), vshlq_u32(vmovl_high_u16(hi[c]), shift)));
    }
  }
}

void lutNeon(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, const LutCtx& lut, int64_t pos0, int nPos, uint32_t* out) {
  if (lut.planes > 2) {  // products wider than 16 bits
    lutGeneric(base, tapOff, sel, K, lut, pos0, nPos, out);
    return;
  }
  alignas(64) uint32_t tmp[kMaxBlock];
  const int chunks = (nPos + 15) / 16;  // the driver keeps whole 64-position chunks readable
  std::fill(tmp, tmp + 16 * chunks, 0u);
  for (int b = 0; b < lut.planes; b++) {
    int c = 0;
    for (; c + kChunks <= chunks; c += kChunks) lutPlaneChunks<kChunks>(base, tapOff, sel, K, lut.bytePlanes, lut.planes, b, pos0 + 16 * c, tmp + 16 * c);
    for (; c < chunks; c++) lutPlaneChunks<1>(base, tapOff, sel, K, lut.bytePlanes, lut.planes, b, pos0 + 16 * c, tmp + 16 * c);
  }
  const uint32_t offset = uint32_t(K) * lut.minValue;  // every position went through K lookups
  for (int i = 0; i < nPos; i++) out[i] = tmp[i] + offset;
}

}  // namespace

namespace axnn {
// Not measured (no ARM machine): the direct core issues about 10 instructions per 16 products and
// plane, against about 3 per product for the portable core; the plane core's adds are 4 per vector.
constexpr LutCosts kNeonLutCosts{{0.3, 0.5, 1.0, 1.0}, 0.7, 0.25};
Cores neonCores() { return Cores{"neon", lutNeon, lutPlanesGeneric, kNeonLutCosts, exactGeneric, floatGeneric, gemmMicro<VecPortable, 4, 2>(), axpyGeneric, dotGeneric}; }
}  // namespace axnn
#endif
