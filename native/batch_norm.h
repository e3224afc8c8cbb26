// BatchNorm kernels of training (batch_norm.cc), over x [N, C, inner] (NCHW: inner = H * W).
#pragma once
#include <cstdint>

namespace axnn {

struct BnDims {
  int64_t N, C, inner;
};

// Per channel: mean and biased variance (two passes: the variance sums (x - mean)^2).
void channelMoments(const BnDims& d, const float* x, double* mean, double* variance);

// out = (x - mean) * invStd * scale + bias, per channel.
void batchNormApply(const BnDims& d, const float* x, const double* mean, const double* invStd, const float* scale, const float* bias, float* out);

// From dy = dLoss/dout of out = xhat * scale + bias, xhat = (x - mean) * invStd: dScale = sum dy xhat,
// dBias = sum dy per channel, and dx (when not null): through xhat only, or, with batchStats,
// through the batch mean and variance too.
void batchNormBackward(const BnDims& d, const float* x, const float* dy, const double* mean, const double* invStd, const float* scale, bool batchStats, float* dx, float* dScale, float* dBias);

}  // namespace axnn
