// Backward passes of float32 convolution and dense layers (conv_backward.cc).
#pragma once
#include <cstdint>

#include "conv_geometry.h"
#include "kernels.h"

namespace axnn {

// Gradients of out = conv2d(x, w) (+ bias) from dy = dLoss/dout ([N, M, P, Q]): dx [N, C, H, W],
// dw [M, C/groups, R, S], db [M]; each may be null (not computed). Every element is written.
void conv2dBackwardFloat(const Cores& cores, const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx, float* dw, float* db);

// col rows (cl, r, s) of group `grp` for images [n0, n0 + nb), row stride L = nb * P * Q:
// col[(cl, r, s), (n, p, q)] (pad at padding). Rows are runs of input rows (one memcpy each at
// stride 1). threaded: spread over the pool (false inside a pool task). For float and int16_t
// (the separable integer GEMM's transformed codes, plan_conv.cc).
template <typename T>
void im2col(const ConvGeom& g, const T* x, int64_t grp, int64_t n0, int64_t nb, T* col, bool threaded, T pad = T(0));

// Gradients of out[b, m] = sum_k x[b, k] w[m, k] (+ bias[m]): dx [B, K], dw [M, K], db [M]; each may be null.
void denseBackwardFloat(const Cores& cores, int64_t B, int64_t K, int64_t M, const float* x, const float* w, const float* dy, float* dx, float* dw, float* db);

}  // namespace axnn
