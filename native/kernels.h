// Inner loops ("cores") of axnn's integer and float convolution kernels, one set per ISA level.
//
// Every layer is reduced by the driver (axnn_native.cc) to the same problem: for one output
// channel, a block of consecutive "positions" and K taps, sum over the taps of
// product(stream_k[pos], sel[k]), where stream_k = base + tapOff[k] is a contiguous run of
// 8-bit operand codes (or floats) and sel[k] is the tap's scalar operand (a weight code).
// Positions are contiguous in every stream, which is what lets the cores vectorise over them.
#pragma once
#include <cstdint>

namespace axnn {

// A multiplier table prepared for the cores. Rows are selected by the scalar operand and
// indexed by the vector operand (for convolution: row = weight code, index = activation code).
struct LutCtx {
  // rows x 256 int32 products (row-major), for the portable core.
  const int32_t* rowsI32;
  // rows x planes x 256 bytes: byte b of (product - minValue), for the AVX-512 core.
  const uint8_t* bytePlanes;
  // rows x 256 uint16 (product - min), when planes <= 2, for the AVX-512 BW core; else null.
  const uint16_t* rowsU16;
  int planes;         // 1..4: bytes needed for (max - min) of the products
  uint32_t minValue;  // the smallest product (as uint32, arithmetic is modulo 2^32)
};

// Positions per core call at most.
constexpr int kMaxBlock = 256;
// Taps per input channel (R * S) at most for the plane-transform core.
constexpr int kMaxPlaneTaps = 256;

// LUT core: out[i] = sum_k table(sel[k], stream_k[pos0 + i]) mod 2^32, for i < nPos (nPos <= kMaxBlock).
using LutCore = void (*)(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K,
                         const LutCtx& lut, int64_t pos0, int nPos, uint32_t* out);
// Exact integer core: signed int8 x int8 or uint8 x uint8 products.
using ExactCore = void (*)(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K,
                           bool isSigned, int64_t pos0, int nPos, uint32_t* out);
// Float core: stream and weights are float32.
using FloatCore = void (*)(const float* base, const int64_t* tapOff, const float* sel, int K,
                           int64_t pos0, int nPos, float* out);

// A convolution's weights grouped for the plane-transform LUT algorithm (lut_planes.h): per input
// channel, the distinct weight codes its taps use, and for every tap (m, cl, r, s) the index of
// its code among them.
struct LutPlanes {
  int64_t Cg, RS;          // input channels per group, taps per channel (R * S)
  const int32_t* start;    // C + 1 entries: channel c's distinct codes are codes[start[c] .. start[c + 1])
  const uint8_t* codes;
  const uint8_t* plane;    // M x Cg x RS: the tap's index among its channel's distinct codes
  // For cores that transpose 16-bit tables (LutCosts::planeTranspose): the table by activation,
  // byActivation[a * rowsP + w] = lut.rowsU16[w * 256 + a] for the weight codes w < rowsP (a
  // multiple of 16 past the largest code the layer uses); null otherwise.
  const uint16_t* byActivation = nullptr;
  int64_t rowsP = 0;
  // Channel c's own table by activation, when prepared once for the layer (tableAt[c] >= 0):
  // tables[tableAt[c] + a * Dp + d] = lut.rowsU16[code d * 256 + a] for its D distinct codes
  // (Dp: D rounded up to 16). Null, or -1 for a channel, when not prepared.
  const uint16_t* tables = nullptr;
  const int64_t* tableAt = nullptr;
  // The cores' accumulator stride (LutPlanesCore's out), a multiple of 16 and at least the
  // positions of any call: the driver's block length (conv_layout.h TaskSplit::block; it may
  // exceed kMaxBlock for this algorithm).
  int64_t outStride = kMaxBlock;
};

// The runs of activations one input channel's taps read for the positions [pos0, pos0 + nPos)
// (the plane cores and their cost model): the taps sorted by offset, a new run where the next
// offset lies more than nPos past the current run's last (a strided layer's phase planes:
// transforming the gap would cost more than the second run's overlap). Run r is
// [pos0 + lo[r], pos0 + lo[r] + len[r]), len a multiple of 16 (the transposing cores' tiles; the
// drivers keep kTailElements readable past the last); the runs lie one after another, run r
// from at[r], in the transformed planes (total elements per plane). Tap k reads run of[k].
struct TapRuns {
  int n = 0;
  int64_t total = 0;
  int64_t lo[kMaxPlaneTaps], len[kMaxPlaneTaps], at[kMaxPlaneTaps];
  uint8_t of[kMaxPlaneTaps];
};
inline void tapRuns(const int64_t* offs, int RS, int64_t nPos, TapRuns& runs) {
  uint8_t order[kMaxPlaneTaps];
  for (int k = 0; k < RS; k++) {
    int i = k;
    for (; i > 0 && offs[order[i - 1]] > offs[k]; i--) order[i] = order[i - 1];
    order[i] = uint8_t(k);
  }
  runs.n = 0;
  runs.total = 0;
  int64_t last = 0;
  auto close = [&]() {
    const int r = runs.n - 1;
    runs.len[r] = (last - runs.lo[r] + nPos + 15) & ~int64_t(15);
    runs.at[r] = runs.total;
    runs.total += runs.len[r];
  };
  for (int i = 0; i < RS; i++) {
    const int64_t off = offs[order[i]];
    if (runs.n == 0 || off - last > nPos) {
      if (runs.n > 0) close();
      runs.lo[runs.n++] = off;
    }
    last = off;
    runs.of[order[i]] = uint8_t(runs.n - 1);
  }
  close();
}

// For a core transposing 16-bit tables, channel c of D distinct codes whose runs are lenP (a
// multiple of 16) long together: whether its planes come from the layer's table (all rowsP codes, one
// transpose pass) rather than from a table of its own (D codes: prepared for the layer, or built
// by a pass over 256 rows, then a pass over the run), and the elements transposed either way.
inline int64_t paddedCodes(int64_t D) { return (D + 15) & ~int64_t(15); }
inline bool planesFromLayerTable(const LutPlanes& lp, int64_t c, int64_t D, int64_t lenP) {
  if (lp.byActivation == nullptr || (lp.tableAt != nullptr && lp.tableAt[c] >= 0)) return false;
  return lp.rowsP * lenP <= paddedCodes(D) * (256 + lenP);
}
inline int64_t planeTransposes(const LutPlanes& lp, int64_t c, int64_t D, int64_t lenP) {
  if (planesFromLayerTable(lp, c, D, lenP)) return lp.rowsP * lenP;
  return paddedCodes(D) * ((lp.tableAt != nullptr && lp.tableAt[c] >= 0 ? 0 : 256) + lenP);
}

// Plane-transform LUT core: the accumulators of output channels [m0, m1) of group grp for the
// positions [pos0, pos0 + nPos) (nPos <= lp.outStride): out[(m - m0) * lp.outStride + i] =
// sum_k table(w_mk, stream_k[pos0 + i]) mod 2^32, the same sums as LutCore (out holds
// (m1 - m0) * lp.outStride elements; a core may write any value at positions nPos and above).
// tapOff holds the group's Cg * RS tap offsets. Each input channel's run of activations is mapped
// once through the table row of each distinct weight code ("transformed planes"), and the sums
// become additions of shifted transformed planes.
using LutPlanesCore = void (*)(const uint8_t* base, const int64_t* tapOff, const LutPlanes& lp, const LutCtx& lut, int64_t grp,
                               int64_t m0, int64_t m1, int64_t pos0, int nPos, uint32_t* out);

// A channel's table by activation for a core transposing 16-bit tables (LutPlanes::tables):
// table[a * Dp + d] = rowsU16[codes[d] * 256 + a] for d < Dp (codes past D: any of its codes).
using LutPlanesTable = void (*)(const uint16_t* rowsU16, const uint8_t* codes, int64_t D, uint16_t* table);

// Relative costs of the two LUT algorithms on one level (arbitrary units: the portable direct
// core's cost per product of an 8x8 table is 1; lut_planes.cc compares them per layer): the
// direct core's cost per product for tables of 1 to 4 byte planes, and the plane core's cost per
// transformed activation (one lookup in one row, in L1) and per added product; and, for a level
// whose plane core transposes 16-bit tables (products within 16 bits), the cost per element of
// one transpose pass (0: the level has no such core; lut_planes.cc).
struct LutCosts {
  double directPerProduct[4];
  double planeLookup, planeAdd;
  double planeTranspose = 0;
};

// GEMM micro-kernel (gemm_micro.h): C[i][j] (+)= sum_k a[k*mr + i] * b[k*nr + j] over one
// mr x nr tile (rows < rows, columns < cols stored), from panels packed by gemm.cc.
using GemmTile = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int rows, int cols, bool accumulate);
struct GemmMicro {
  int mr, nr;  // the tile's shape
  GemmTile tile;
  // The same with fewer rows (narrowMr, 0 for none), for products whose M is a multiple of it
  // but not of mr (16, 32 or 64 channels against 12-row tiles): no rows of zeros computed.
  int narrowMr;
  GemmTile narrowTile;
};

// y[i] += a * x[i] for i < n (y and x do not overlap).
using AxpyCore = void (*)(float* y, const float* x, float a, int64_t n);
// sum of a[i] * b[i] for i < n: float partial sums over lanes, added in double.
using DotCore = double (*)(const float* a, const float* b, int64_t n);

struct Cores {
  const char* name;
  LutCore lut;
  LutPlanesCore lutPlanes;
  LutCosts lutCosts;
  ExactCore exact;
  FloatCore flt;
  GemmMicro gemm;
  AxpyCore axpy;  // the depthwise backward kernel's rows (conv_backward.cc)
  DotCore dot;
  LutPlanesTable lutPlanesTable = nullptr;  // with LutCosts::planeTranspose > 0
};

Cores scalarCores();
#if defined(AXNN_X86_CORES)  // set by binding.gyp where cores_avx2.cc and cores_avx512.cc are built
Cores avx2Cores();
Cores avx512bwCores();
Cores avx512Cores();
#endif
#if defined(AXNN_ARM_CORES)  // set by binding.gyp where cores_neon.cc is built (AArch64)
Cores neonCores();
#endif

}  // namespace axnn
