// Quantization passes of quantization-aware training (qat_quantize.cc).
#pragma once
#include <cstdint>

namespace axnn {

// The input of a QAT layer quantized with (scale, zeroPoint, qmin, qmax), in one pass, as the
// TypeScript fakeQuantizeReference: q = clamp(roundHalfAway(x / scale) + zeroPoint, qmin, qmax),
// codes[i] = q & 0xff, fake[i] = float(scale * (q - zeroPoint)), mask[i] = 0 where the clamp changed
// the value (NaN included), 1 elsewhere.
void fakeQuantize(const float* x, int64_t n, double scale, int zeroPoint, int qmin, int qmax, uint8_t* codes, float* fake, uint8_t* mask);

// The least and greatest of x[0..n), NaN skipped, as the TypeScript loop `if (v < lo) lo = v;
// if (v > hi) hi = v` from lo = +inf, hi = -inf (one thread, in order: the sign of a zero extreme
// is the first one's).
void minMaxFloat(const float* x, int64_t n, double* lo, double* hi);

// The integer layers' dequantization (src/quant integerLayer), per image n, output channel m and
// position k of [batch, M, inner]: y = float((acc + constant[m] - zw[m] * sums[s]) * scale[m] + bias[m])
// in double (the sums term only with sums and zw[m] != 0; s indexes [batch, groups, inner] at m's
// group), then clamped to [0, hi] unless hi < 0 (a fused ReLU / ReLU6; NaN gives 0). out may be acc's
// own memory (each element is read before it is written).
void dequantizeAcc(const int32_t* acc, int64_t batch, int64_t M, int64_t inner, int64_t groups, const double* constant, const double* scale,
                   const double* bias, const int32_t* zw, const int32_t* sums, double hi, float* out);

}  // namespace axnn
