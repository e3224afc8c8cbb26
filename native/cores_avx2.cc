// AVX2 cores (compiled with -mavx2 -mfma): the exact, float and plane-transform LUT cores of
// generic_cores.h, auto-vectorised for 256-bit registers (the plane core's additions of
// transformed planes: 8 products per vpaddd). The transform's lookups are scalar: vpgatherdd
// measured no faster on Zen (EPYC, AVX2 only). The direct LUT core is the portable one: 32-bit gathers
// (vpgatherdd, 8 lookups each) measured 1.3x to 2.5x slower than its scalar lookups with
// register accumulators on Zen 4, so there is no gather core.
#include "generic_cores.h"
#include "gemm_micro.h"


namespace axnn {
constexpr LutCosts kAvx2LutCosts{{1.0, 1.0, 1.0, 1.0}, 0.7, 0.15};
Cores avx2Cores() { return Cores{"avx2", lutGeneric, lutPlanesGeneric, kAvx2LutCosts, exactGeneric, floatGeneric, gemmMicro<VecAvx2, 6, 2, 4>(), axpyGeneric, dotGeneric}; }
}  // namespace axnn
