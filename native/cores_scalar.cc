// Portable cores: plain C++ compiled for the baseline target (runs on any CPU Node runs on).
#include "generic_cores.h"

namespace axnn {
Cores scalarCores() { return Cores{"scalar", lutGeneric, exactGeneric, floatGeneric}; }
}  // namespace axnn
