// Forward float32 convolution on im2col + GEMM (conv_forward_gemm.cc).
#pragma once
#include "conv_geometry.h"
#include "kernels.h"

namespace axnn {

// out [N, M, P, Q] = conv2d(x [N, C, H, W], w [M, C/groups, R, S]), padding with zeros. Every
// output is written; the result does not depend on the thread count.
void conv2dForwardGemmFloat(const Cores& cores, const ConvGeom& g, const float* x, const float* w, float* out);

}  // namespace axnn
