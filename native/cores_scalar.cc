// Portable cores: plain C++ compiled for the baseline target (runs on any CPU Node runs on).
#include "generic_cores.h"
#include "gemm_micro.h"

namespace axnn {
constexpr LutCosts kScalarLutCosts{{1.0, 1.0, 1.0, 1.0}, 0.7, 0.25};
Cores scalarCores() { return Cores{"scalar", lutGeneric, lutPlanesGeneric, kScalarLutCosts, exactGeneric, floatGeneric, gemmMicro<VecPortable, 4, 2>(), axpyGeneric, dotGeneric}; }
}  // namespace axnn
