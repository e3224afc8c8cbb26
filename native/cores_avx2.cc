// AVX2 cores (compiled with -mavx2 -mfma): the exact and float cores of generic_cores.h,
// auto-vectorised for 256-bit registers. The LUT core is the portable one: 32-bit gathers
// (vpgatherdd, 8 lookups each) measured 1.3x to 2.5x slower than its scalar lookups with
// register accumulators on Zen 4, so there is no gather core.
#include "generic_cores.h"
#include "gemm_micro.h"

namespace axnn {
Cores avx2Cores() { return Cores{"avx2", lutGeneric, exactGeneric, floatGeneric, gemmMicro<VecAvx2, 6, 2, 4>(), axpyGeneric, dotGeneric}; }
}  // namespace axnn
