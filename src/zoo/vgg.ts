import { ModelBuilder } from "../nn/builder.js";
import type { Model } from "../nn/graph.js";
import { BN_EPSILON, resolveCommon, resolveDepth, scaled, type ZooBuildOptions } from "./common.js";

/**
 * A small VGG (after Simonyan & Zisserman 2015, "Very deep convolutional networks for large-scale
 * image recognition"): three stages of `depth` 3x3 convs (32, 64, 128 channels times `width`, pad 1),
 * each conv followed by BN and ReLU (the VGG-BN variant that CIFAR implementations use), each stage
 * ending in 2x2 max pooling (32 -> 4), then fc1 (128 times `width`) + ReLU + dropout and fc2.
 * Names conv<stage>_<i>, fc1, fc2, as the energy zoo.
 */
export function smallVgg(opts: ZooBuildOptions = {}): Model {
  const o = resolveCommon("vgg", opts, [3, 32, 32]);
  const depth = resolveDepth("vgg", opts.depth, 2);
  const [c, h, w] = o.inputShape;
  const b = new ModelBuilder("vgg", { seed: o.seed });
  let x = b.input("input", [null, c, h, w]);
  [32, 64, 128].forEach((base, stage) => {
    for (let i = 0; i < depth; i++) {
      const name = `conv${stage + 1}_${i + 1}`;
      const y = b.conv2d(x, { outChannels: scaled(base, o.width), kernel: 3, padding: 1, bias: false, name });
      x = b.relu(b.batchNorm(y, { name: `${name}.bn`, epsilon: BN_EPSILON }), `${name}.relu`);
    }
    x = b.maxPool(x, { kernel: 2, name: `pool${stage + 1}` });
  });
  x = b.flatten(x, 1, "flatten");
  x = b.dropout(b.relu(b.dense(x, { outFeatures: scaled(128, o.width), name: "fc1" }), "fc1.relu"), "dropout");
  b.output(b.dense(x, { outFeatures: o.classes, name: "fc2" }));
  return b.build();
}
