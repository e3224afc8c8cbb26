import { ModelBuilder } from "../nn/builder.js";
import type { Model } from "../nn/graph.js";
import { resolveCommon, resolveDepth, scaled, type ZooBuildOptions } from "./common.js";

/**
 * LeNet-5 (LeCun et al. 1998, "Gradient-based learning applied to document recognition"):
 * conv1 6@5x5 -> pool -> conv2 16@5x5 -> pool -> fc1 120 -> fc2 84 -> fc3 classes. Modernised as
 * usual: ReLU instead of the scaled tanh, 2x2 max pooling instead of the trainable subsampling, a
 * full C3 connection table. Inputs smaller than 32x32 are zero-padded to 32 by conv1's padding
 * (the paper padded the 28x28 MNIST digits to 32x32), so MNIST gives the paper's 400-wide fc1.
 * No BatchNorm (the original has none).
 */
export function lenet5(opts: ZooBuildOptions = {}): Model {
  const o = resolveCommon("lenet5", opts, [1, 28, 28]);
  resolveDepth("lenet5", opts.depth, null);
  const [c, h, w] = o.inputShape;
  const b = new ModelBuilder("lenet5", { seed: o.seed });
  const padH = h < 32 ? Math.ceil((32 - h) / 2) : 0, padW = w < 32 ? Math.ceil((32 - w) / 2) : 0;
  let x = b.input("input", [null, c, h, w]);
  x = b.relu(b.conv2d(x, { outChannels: scaled(6, o.width), kernel: 5, padding: [padH, padW], name: "conv1" }), "relu1");
  x = b.maxPool(x, { kernel: 2, name: "pool1" });
  x = b.relu(b.conv2d(x, { outChannels: scaled(16, o.width), kernel: 5, name: "conv2" }), "relu2");
  x = b.maxPool(x, { kernel: 2, name: "pool2" });
  x = b.flatten(x, 1, "flatten");
  x = b.relu(b.dense(x, { outFeatures: scaled(120, o.width), name: "fc1" }), "relu3");
  x = b.relu(b.dense(x, { outFeatures: scaled(84, o.width), name: "fc2" }), "relu4");
  b.output(b.dense(x, { outFeatures: o.classes, name: "fc3" }));
  return b.build();
}
