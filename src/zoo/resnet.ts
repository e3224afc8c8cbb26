import { ModelBuilder } from "../nn/builder.js";
import type { Model } from "../nn/graph.js";
import { BN_EPSILON, resolveCommon, resolveDepth, scaled, type ZooBuildOptions } from "./common.js";

/**
 * CIFAR ResNet (He et al. 2016, "Deep residual learning for image recognition", section 4.2):
 * conv1 3x3 16 + BN + ReLU, three stages of `depth` basic blocks (conv-BN-ReLU-conv-BN, add,
 * ReLU) with 16, 32, 64 channels (times `width`), the first conv of stages 2 and 3 with stride 2,
 * global average pooling, fc. 6n+2 weighted layers: ResNet-8/14/20 are n = 1/2/3.
 * Shortcuts are the paper's option A (identity; subsampled by 2 and zero-padded in channels where
 * the shape changes), written as a 1x1 stride-2 MaxPool (= x[:, :, ::2, ::2]) and a channel Pad,
 * so they carry no weights and the approximable layers are exactly those of the energy zoo.
 * Names follow the common PyTorch implementation: conv1, layerS.B.conv1/conv2, fc.
 */
export function cifarResNet(name: string, opts: ZooBuildOptions = {}, defaultDepth = 3): Model {
  const o = resolveCommon(name, opts, [3, 32, 32]);
  const n = resolveDepth(name, opts.depth, defaultDepth);
  const [c, h, w] = o.inputShape;
  const b = new ModelBuilder(name, { seed: o.seed });
  let x = b.input("input", [null, c, h, w]);
  const stem = scaled(16, o.width);
  x = b.relu(b.batchNorm(b.conv2d(x, { outChannels: stem, kernel: 3, padding: 1, bias: false, name: "conv1" }), { name: "bn1", epsilon: BN_EPSILON }), "relu");
  let inC = stem;
  [16, 32, 64].forEach((base, stage) => {
    const planes = scaled(base, o.width);
    for (let blk = 0; blk < n; blk++) {
      const p = `layer${stage + 1}.${blk}`;
      const stride = stage > 0 && blk === 0 ? 2 : 1;
      let y = b.conv2d(x, { outChannels: planes, kernel: 3, stride, padding: 1, bias: false, name: `${p}.conv1` });
      y = b.relu(b.batchNorm(y, { name: `${p}.bn1`, epsilon: BN_EPSILON }), `${p}.relu1`);
      y = b.batchNorm(b.conv2d(y, { outChannels: planes, kernel: 3, padding: 1, bias: false, name: `${p}.conv2` }), { name: `${p}.bn2`, epsilon: BN_EPSILON });
      let shortcut = x;
      if (stride !== 1) shortcut = b.maxPool(shortcut, { kernel: 1, stride, name: `${p}.shortcut.subsample` });
      if (planes !== inC) {
        const extra = planes - inC, before = Math.floor(extra / 2);
        shortcut = b.pad(shortcut, [0, before, 0, 0, 0, extra - before, 0, 0], { name: `${p}.shortcut.pad` });
      }
      x = b.relu(b.add(y, shortcut, `${p}.add`), `${p}.relu2`);
      inC = planes;
    }
  });
  x = b.flatten(b.globalAvgPool(x, "avgpool"), 1, "flatten");
  b.output(b.dense(x, { outFeatures: o.classes, name: "fc" }));
  return b.build();
}
