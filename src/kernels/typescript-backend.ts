// The TypeScript backend: the reference kernels of reference.ts behind the backend interface.
// Slow and obviously correct; the fallback when the native addon is not built (or AXNN_NO_NATIVE=1).
import type { Backend } from "./backend.js";
import {
  addReference, batchNormApplyReference, batchNormBackwardReference, channelMomentsReference, conv2dBackwardFloatReference,
  conv2dFloatReference, conv2dIntReference, denseBackwardFloatReference, denseFloatReference, denseIntReference,
  dequantizeAccReference, exactProduct, fakeQuantizeReference, gemmFloatReference, lutProduct, minMaxReference,
  reluBackwardReference, reluReference,
} from "./reference.js";

function setIf(target: Float32Array | null, values: Float32Array): void {
  if (target) target.set(values);
}

export const typescriptBackend: Backend = {
  name: "typescript",
  convLut: (input, weights, g, lut, padCode, out) => out.set(conv2dIntReference(input, weights, g, lutProduct(lut.table, lut.weightBits), padCode)),
  convExact: (input, weights, g, padCode, signed, out) => out.set(conv2dIntReference(input, weights, g, exactProduct(signed), padCode)),
  convFloat: (input, weights, g, padValue, out) => out.set(conv2dFloatReference(input, weights, g, padValue)),
  denseLut: (input, weights, g, lut, out) => out.set(denseIntReference(input, weights, g, lutProduct(lut.table, lut.weightBits))),
  denseExact: (input, weights, g, signed, out) => out.set(denseIntReference(input, weights, g, exactProduct(signed))),
  denseFloat: (input, weights, g, out) => out.set(denseFloatReference(input, weights, g)),
  gemmFloat: (a, b, { m, n, k }, transA, transB, accumulate, out) => out.set(gemmFloatReference(a, b, m, n, k, transA, transB, accumulate ? out : null)),
  convFloatGemm: (input, weights, g, out) => out.set(conv2dFloatReference(input, weights, g, 0)),
  conv2dBackwardFloat(input, weights, outputGrad, g, dInput, dWeights, dBias) {
    const r = conv2dBackwardFloatReference(input, weights, outputGrad, g, dInput !== null);
    setIf(dInput, r.dInput);
    setIf(dWeights, r.dWeights);
    setIf(dBias, r.dBias);
  },
  denseBackwardFloat(input, weights, outputGrad, g, dInput, dWeights, dBias) {
    const r = denseBackwardFloatReference(input, weights, outputGrad, g);
    setIf(dInput, r.dInput);
    setIf(dWeights, r.dWeights);
    setIf(dBias, r.dBias);
  },
  channelMoments(input, { n, c, inner }, mean, variance) {
    const r = channelMomentsReference(input, n, c, inner);
    mean.set(r.mean);
    variance.set(r.variance);
  },
  batchNormApply: (input, { n, c, inner }, mean, invStd, scale, bias, out) => out.set(batchNormApplyReference(input, n, c, inner, mean, invStd, scale, bias)),
  batchNormBackward(input, outputGrad, { n, c, inner }, mean, invStd, scale, batchStats, dInput, dScale, dBias) {
    const r = batchNormBackwardReference(input, outputGrad, n, c, inner, mean, invStd, scale, batchStats);
    setIf(dInput, r.dInput);
    dScale.set(r.dScale);
    dBias.set(r.dBias);
  },
  relu: (input, out) => out.set(reluReference(input)),
  reluBackward: (input, outputGrad, dInput) => dInput.set(reluBackwardReference(input, outputGrad)),
  add: (a, b, out) => out.set(addReference(a, b)),
  fakeQuantize: (input, { scale, zeroPoint, qmin, qmax }, codes, fake, mask) => fakeQuantizeReference(input, scale, zeroPoint, qmin, qmax, codes, fake, mask),
  minMax: (input) => minMaxReference(input),
  dequantizeAcc: (acc, { batch, channels, inner, groups }, ch, sums, clampMax, out) =>
    dequantizeAccReference(acc, batch, channels, inner, groups, ch.constant, ch.scale, ch.bias, ch.zw, sums, clampMax, out),
};
