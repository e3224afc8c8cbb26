// Portable cores: plain C++ compiled for the baseline target (runs on any CPU Node runs on).
// Where the baseline has 128-bit vectors (x86-64's SSE2, AArch64), the plane core for tables
// whose products fit 16 bits transposes 8 x 8 tiles (generic_cores.h, Transpose8).
#include "generic_cores.h"
#include "gemm_micro.h"

namespace axnn {
#if defined(AXNN_TRANSPOSE8)
constexpr LutCosts kScalarLutCosts{{1.0, 1.0, 1.0, 1.0}, 0.7, 0.25, 0.25};
Cores scalarCores() { return Cores{"scalar", lutGeneric, lutPlanesTranspose8, kScalarLutCosts, exactGeneric, floatGeneric, gemmMicro<VecPortable, 4, 2>(), axpyGeneric, dotGeneric,
                                   channelTableTranspose8}; }
#else
constexpr LutCosts kScalarLutCosts{{1.0, 1.0, 1.0, 1.0}, 0.7, 0.25};
Cores scalarCores() { return Cores{"scalar", lutGeneric, lutPlanesGeneric, kScalarLutCosts, exactGeneric, floatGeneric, gemmMicro<VecPortable, 4, 2>(), axpyGeneric, dotGeneric}; }
#endif
}  // namespace axnn
