// Fused layers of a compiled execution plan (plan_conv.cc): a convolution whose epilogue applies
// what the reference engine does in separate passes after it (dequantization with the zero-point
// cross terms, bias, residual Add, ReLU / ReLU6, quantization for the next integer layer), so the
// accumulators never leave the task that computed them. The conv inner loops are the ISA cores of
// kernels.h, unchanged.
#pragma once
#include <cstdint>

#include "conv_geometry.h"
#include "kernels.h"

namespace axnn {

// What happens to one output value v (float32) after the convolution, in this order:
//   v = float(v + residual[i])             when residual is given (a following same-shape Add);
//   v = v > 0 ? min(v, hi) : 0             when hi >= 0 (a following ReLU: hi = inf, ReLU6: 6);
//   outFloat[i] = v                        when outFloat is given;
//   outCodes[i] = quantize(v)              when outCodes is given: clamp(roundHalfAway(double(v) /
//                                          codeScale) + codeZero, codeMin, codeMax) & 0xff (NaN: 0).
// The first v of an integer layer is float((acc + constant[m] - zw[m] * windowSum) * scale[m] + bias[m])
// in double (windowSum: the window's activation-code sum, only when zw is given); of a float layer
// float(acc + bias[m]) (bias may be null).
struct Epilogue {
  const double* constant = nullptr;
  const double* scale = nullptr;
  const double* bias = nullptr;
  const int32_t* zw = nullptr;
  const float* floatBias = nullptr;
  double hi = -1;
  const float* residual = nullptr;
  float* outFloat = nullptr;
  uint8_t* outCodes = nullptr;
  double codeScale = 1;
  int codeZero = 0, codeMin = 0, codeMax = 255;
};

enum class IntMode { Lut, ExactSigned, ExactUnsigned };

// The factors of a separable product table: product(a, w) = act[a] * weight[w] for every
// activation code a (256) and weight code w (< weightCodes), as src/multipliers/separable.ts finds them.
struct SeparableFactors {
  const int16_t* act;
  const int16_t* weight;
  int64_t weightCodes;
};

// Which algorithm a fused integer layer ran (the plan profile shows it).
enum class IntAlgorithm { Separable, Planes, Direct };
const char* intAlgorithmName(IntAlgorithm a);

// Integer conv2d (LUT or exact products) of activation codes [N, C, H, W] with weight codes
// [M, C/groups, R, S], padding positions holding padCode, then the epilogue. Each output is
// computed by one task in a fixed order: the result does not depend on the thread count.
// With sep (the products' factors, which the caller verified against the table) the layer runs
// as an int16 GEMM of f(codes) (im2col) and g(weights) (gemm_int16.h) where a group has
// kSeparableMinChannels or more output channels, unless lutAlgorithm() forces direct or planes;
// the integer sums are the same.
constexpr int64_t kSeparableMinChannels = 8;
IntAlgorithm planConvInt(const Cores& cores, const ConvGeom& g, const uint8_t* codes, const uint8_t* weights, IntMode mode, uint8_t padCode,
                         const LutCtx* lut, const Epilogue& e, const SeparableFactors* sep = nullptr);

// float32 conv2d, zero padding, then the epilogue: as im2col + GEMM (the sums of conv2dForwardGemmFloat)
// where a group has 8 or more output channels, unless direct; else on the direct kernel (those of conv2dFloat).
void planConvFloat(const Cores& cores, const ConvGeom& g, const float* x, const float* w, bool direct, const Epilogue& e);

// codes[i] = quantize(x[i]) with the epilogue's rule (the same codes as quantizeToCodes).
void planQuantize(const Cores& cores, const float* x, int64_t n, double scale, int zeroPoint, int qmin, int qmax, uint8_t* codes);

}  // namespace axnn
