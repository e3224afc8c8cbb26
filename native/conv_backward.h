// Backward passes of float32 convolution and dense layers (conv_backward.cc).
#pragma once
#include <cstdint>

#include "conv_geometry.h"
#include "kernels.h"

namespace axnn {

// Gradients of out = conv2d(x, w) (+ bias) from dy = dLoss/dout ([N, M, P, Q]): dx [N, C, H, W],
// dw [M, C/groups, R, S], db [M]; each may be null (not computed). Every element is written.
void conv2dBackwardFloat(const Cores& cores, const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx, float* dw, float* db);

// Gradients of out[b, m] = sum_k x[b, k] w[m, k] (+ bias[m]): dx [B, K], dw [M, K], db [M]; each may be null.
void denseBackwardFloat(const Cores& cores, int64_t B, int64_t K, int64_t M, const float* x, const float* w, const float* dy, float* dx, float* dw, float* db);

}  // namespace axnn
