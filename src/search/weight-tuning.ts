import type { Multiplier } from "../multipliers/multiplier.js";
import { decodeOperand, tableIndex } from "../multipliers/multiplier.js";
import { isApproximable } from "../nn/graph.js";
import { runModel } from "../nn/run.js";
import type { Tensor } from "../nn/tensor.js";
import { EXACT_INT8, type QuantizedModel, type QuantizedWeights } from "../quant/model.js";
import { quantizeToCodes } from "../quant/params.js";

/**
 * ALWANN's weight update (Mrazek et al., ICCAD 2019), without training: for one layer and one
 * approximate multiplier M, each weight integer w becomes the w' (within `window` of w) that
 * minimises the expected squared error of M(a, w') against the exact a * w over the layer's
 * measured distribution of activation codes a. The zero-point cross terms keep the original
 * integers (they are computed exactly), so only the table operands (codes) change.
 */
export function tuneWeights(w: QuantizedWeights, m: Multiplier, activationHistogram: Float64Array, window = 16): QuantizedWeights {
  const bits = w.bits;
  const signed = m.signed;
  const { qmin, qmax } = w.params[0]!;
  const mask = (1 << bits) - 1;
  const acts: number[] = [];
  for (let a = 0; a < 256; a++) if (activationHistogram[a]! > 0) acts.push(a);
  const best = new Map<number, number>();
  const chooseFor = (v: number): number => {
    let bestV = v, bestErr = Infinity;
    // Candidates nearest first, so that ties keep the closest integer (the original on a tie).
    for (let d = 0; d <= window; d++) {
      for (const c of d === 0 ? [v] : [v - d, v + d]) {
        if (c < qmin || c > qmax) continue;
        const code = c & mask;
        let err = 0;
        for (const a of acts) {
          const e = m.table[tableIndex(a, code, bits)]! - decodeOperand(a, 8, signed) * v;
          err += activationHistogram[a]! * e * e;
          if (err >= bestErr) break;
        }
        if (err < bestErr) {
          bestErr = err;
          bestV = c;
        }
      }
    }
    return bestV;
  };
  const codes = new Uint8Array(w.codes.length);
  for (let i = 0; i < w.values.length; i++) {
    const v = w.values[i]!;
    let t = best.get(v);
    if (t === undefined) {
      t = chooseFor(v);
      best.set(v, t);
    }
    codes[i] = t & mask;
  }
  return { ...w, codes };
}

/**
 * The distribution of every approximable layer's input codes (256 bins each) over these batches,
 * with every layer exact int8: what the layers see, measured once.
 */
export function activationHistograms(qmodel: QuantizedModel, inputName: string, batches: readonly Tensor[]): Map<string, Float64Array> {
  const hist = new Map<string, Float64Array>();
  for (const name of qmodel.layerNames()) hist.set(name, new Float64Array(256));
  const base = qmodel.runOptions(EXACT_INT8);
  for (const x of batches) {
    runModel(qmodel.model, { [inputName]: x }, {
      kernel: (node, ins) => {
        if (isApproximable(node)) {
          const layer = qmodel.layers.get(node.name)!;
          const h = hist.get(node.name)!;
          for (const c of quantizeToCodes(ins[0]!.data, layer.input)) h[c]!++;
        }
        return base.kernel!(node, ins);
      },
    });
  }
  return hist;
}
