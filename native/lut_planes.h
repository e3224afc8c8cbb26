// Choosing between the two LUT convolution algorithms per layer, and the weight analysis of the
// plane-transform one (kernels.h, LutPlanes): shared by the conv driver (axnn_native.cc) and the
// plan's fused layers (plan_conv.cc), so both run the same sums through the same cores.
#pragma once
#include <cstdint>
#include <vector>

#include "conv_geometry.h"
#include "conv_layout.h"
#include "kernels.h"

namespace axnn {

// Auto: per layer, from the shapes and the level's measured costs; Direct / Planes: forced (tests, bench).
// Separable: the plan's int16 GEMM wherever the table factors (plan_conv.h), else as Auto; Auto
// takes it too, Direct and Planes never (so benchmarks can compare).
enum class LutAlgorithm { Auto, Direct, Planes, Separable };

// The process-wide choice (setLutAlgorithm in the addon; Auto unless changed).
LutAlgorithm& lutAlgorithm();

// A layer's LutPlanes with the arrays it points into.
struct LutPlanesData {
  std::vector<int32_t> start;
  std::vector<uint8_t> codes, plane;
  std::vector<uint16_t> byActivation, tables;
  std::vector<int64_t> tableAt;
  LutPlanes view{};
  TaskSplit split{};  // the layer's tasks for the plane core (view.outStride = split.block)
};

// Whether the layer (phase-plane layout L) runs on cores.lutPlanes; when it does, fills `data`,
// its split of the work included: position blocks as long as the transformed planes of a block
// fit kPlaneBytes (fewer halos, channel tables built less often), while `want` tasks remain
// (splitTasks). Never for depthwise layers (their driver has one output channel per channel) or
// channels with more than kMaxPlaneTaps taps.
bool useLutPlanes(const Cores& cores, const LutCtx& lut, const ConvGeom& g, const uint8_t* weights, const Layout& L, int64_t want, LutPlanesData& data);

}  // namespace axnn
