// GEMM micro-kernels: one MR x NR tile of C from packed panels of A and B (gemm.cc packs them),
// written once over a "vector traits" type and instantiated by each ISA's translation unit
// (inside an anonymous namespace, like generic_cores.h) with its own registers:
//   AVX-512: 12 x 32 (24 zmm accumulators), AVX2+FMA: 6 x 16 (12 ymm), baseline SSE: 4 x 8;
//   and narrow tiles of 8 x 32 (AVX-512) and 4 x 16 (AVX2) for M = 16, 32, 64 (conv channels).
// The accumulators stay in registers for the whole kc loop; every k does NR/lanes vector loads
// of B, MR broadcasts of A and MR*NR/lanes fused (or, on the baseline, separate) multiply-adds.
#pragma once
#include <cstring>
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#include "kernels.h"

namespace {

using namespace axnn;

#if defined(__AVX512F__)
struct VecAvx512 {
  using V = __m512;
  static constexpr int kLanes = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V broadcast(float x) { return _mm512_set1_ps(x); }
  static V madd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
};
#endif

#if defined(__AVX2__) && defined(__FMA__)
struct VecAvx2 {
  using V = __m256;
  static constexpr int kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V broadcast(float x) { return _mm256_set1_ps(x); }
  static V madd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
};
#endif

// The portable tile: GCC/Clang vector extensions, SSE registers on x86-64 and whatever the
// target has elsewhere (the compiler splits or scalarises them); plain arrays for others.
struct VecPortable {
#if defined(__GNUC__)
  typedef float V __attribute__((vector_size(16)));
  static V broadcast(float x) { return V{x, x, x, x}; }
  static V madd(V a, V b, V c) { return a * b + c; }
  static V add(V a, V b) { return a + b; }
#else
  struct V {
    float v[4];
  };
  static V broadcast(float x) { return V{{x, x, x, x}}; }
  static V madd(V a, V b, V c) {
    for (int i = 0; i < 4; i++) c.v[i] += a.v[i] * b.v[i];
    return c;
  }
  static V add(V a, V b) {
    for (int i = 0; i < 4; i++) a.v[i] += b.v[i];
    return a;
  }
#endif
  static constexpr int kLanes = 4;
  static V zero() { return broadcast(0.0f); }
  static V load(const float* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(float* p, V v) { std::memcpy(p, &v, sizeof v); }
};

// C[i][j] (+)= sum_k a[k*MR + i] * b[k*NR + j] for i < mr, j < nr; a and b are packed panels
// (zero past mr and nr, so the full tile is always computed and only its valid part stored).
template <typename T, int MR, int NV>
void gemmTile(int64_t kc, const float* __restrict a, const float* __restrict b, float* __restrict c, int64_t ldc, int mr, int nr, bool accumulate) {
  using V = typename T::V;
  constexpr int NR = NV * T::kLanes;
  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) acc[i][j] = T::zero();
  for (int64_t k = 0; k < kc; k++) {
    V bv[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) bv[j] = T::load(b + k * NR + j * T::kLanes);
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
      const V av = T::broadcast(a[k * MR + i]);
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) acc[i][j] = T::madd(av, bv[j], acc[i][j]);
    }
  }
  if (mr == MR && nr == NR) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        float* p = c + i * ldc + j * T::kLanes;
        T::store(p, accumulate ? T::add(T::load(p), acc[i][j]) : acc[i][j]);
      }
    }
    return;
  }
  alignas(64) float tile[MR][NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NV; j++) T::store(&tile[i][j * T::kLanes], acc[i][j]);
  for (int i = 0; i < mr; i++) {
    float* row = c + i * ldc;
    if (accumulate)
      for (int j = 0; j < nr; j++) row[j] += tile[i][j];
    else
      for (int j = 0; j < nr; j++) row[j] = tile[i][j];
  }
}

template <typename T, int MR, int NV, int NarrowMR = 0>
constexpr GemmMicro gemmMicro() {
  return GemmMicro{MR, NV * T::kLanes, gemmTile<T, MR, NV>, NarrowMR, NarrowMR > 0 ? gemmTile<T, (NarrowMR > 0 ? NarrowMR : 1), NV> : nullptr};
}

}  // namespace
