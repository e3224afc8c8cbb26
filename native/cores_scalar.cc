// Portable cores: plain C++ compiled for the baseline target (runs on any CPU Node runs on).
#include "generic_cores.h"
#include "gemm_micro.h"

namespace axnn {
Cores scalarCores() { return Cores{"scalar", lutGeneric, exactGeneric, floatGeneric, gemmMicro<VecPortable, 4, 2>(), axpyGeneric, dotGeneric}; }
}  // namespace axnn
