import { ModelBuilder } from "../src/nn/builder.js";
import type { Model } from "../src/nn/graph.js";
import { Rng, type Tensor } from "../src/nn/tensor.js";

/** conv 3x3 pad 1 (6) + ReLU + grouped conv stride 2 (6, groups 2) + ReLU + depthwise 3x3 + flatten + dense 5, on [N, 2, 8, 8]. */
export function tinyAxpModel(seed: number): Model {
  const b = new ModelBuilder("axp-tiny", { seed });
  const x = b.input("x", [null, 2, 8, 8]);
  let h = b.relu(b.conv2d(x, { outChannels: 6, kernel: 3, padding: 1, name: "c1" }));
  h = b.relu(b.conv2d(h, { outChannels: 6, kernel: 3, stride: 2, groups: 2, name: "c2" }));
  h = b.depthwiseConv2d(h, { kernel: 3, padding: 1, name: "dw" });
  b.output(b.dense(b.flatten(h), { outFeatures: 5, name: "fc" }));
  return b.build();
}

/** Inputs in [-1, 2): negative values (an asymmetric zero point), and ReLU zeros after the first layer. */
export function randomAxpInput(n: number, seed: number): Tensor {
  return new Rng(seed).uniformTensor([n, 2, 8, 8], -1, 2);
}

export const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
