// Geometry of a conv2d call, shared by the forward driver and the backward kernels.
#pragma once
#include <cstdint>

namespace axnn {

// Input [N, C, H, W], weights [M, C/groups, R, S], output [N, M, P, Q]; strides sh, sw, pads
// top/left/bottom/right, dilations dh, dw. The order of the Int32Array the TypeScript side passes.
struct ConvGeom {
  int64_t N, C, H, W, M, R, S, groups, sh, sw, pt, pl, pb, pr, dh, dw, P, Q;
};
constexpr int kGeomFields = 18;

}  // namespace axnn
