import { ModelBuilder } from "../nn/builder.js";
import type { Model } from "../nn/graph.js";
import { BN_EPSILON, resolveCommon, resolveDepth, type ZooBuildOptions } from "./common.js";

/** Channels rounded to a multiple of 8, at least 90% of the unrounded value (torchvision's _make_divisible). */
export function makeDivisible(v: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor(v + divisor / 2) - (Math.floor(v + divisor / 2) % divisor));
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/** The paper's inverted-residual settings (t expansion, c channels, n repeats, s stride of the first). */
const BLOCKS: readonly [number, number, number, number][] = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];

/**
 * MobileNetV2 (Sandler et al. 2018, "MobileNetV2: Inverted residuals and linear bottlenecks").
 * Stem 3x3 conv (features.0), 17 inverted-residual blocks (1x1 expand unless t = 1, 3x3 depthwise,
 * 1x1 linear projection, each followed by BN, ReLU6 after the first two; residual add when stride
 * is 1 and channels match), a 1x1 conv to 1280 (features.18), global average pooling, dropout,
 * classifier. Channels are width-scaled and rounded to multiples of 8 as in torchvision; the last
 * conv keeps 1280 for width <= 1. Small inputs (at most 64 pixels high and wide, e.g. CIFAR) use the
 * usual CIFAR strides, as the energy zoo does: stride 1 in the stem and in the first 24-channel
 * block, so 32x32 ends at 4x4; larger inputs use the paper's strides (224 -> 7).
 */
export function mobileNetV2(opts: ZooBuildOptions = {}): Model {
  const o = resolveCommon("mobilenetv2", opts, [3, 32, 32]);
  resolveDepth("mobilenetv2", opts.depth, null);
  const [c, h, w] = o.inputShape;
  const small = h <= 64 && w <= 64;
  const b = new ModelBuilder("mobilenetv2", { seed: o.seed });
  const convBn = (x: string, name: string, outChannels: number, kernel: number, stride: number, act: boolean): string => {
    const y = b.batchNorm(b.conv2d(x, { outChannels, kernel, stride, padding: (kernel - 1) / 2, bias: false, name }), { name: `${name}.bn`, epsilon: BN_EPSILON });
    return act ? b.relu6(y, `${name}.relu6`) : y;
  };
  let inC = makeDivisible(32 * o.width);
  let x = convBn(b.input("input", [null, c, h, w]), "features.0", inC, 3, small ? 1 : 2, true);
  let index = 1;
  BLOCKS.forEach(([t, ch, n, s], group) => {
    const outC = makeDivisible(ch * o.width);
    for (let i = 0; i < n; i++) {
      const stride = i > 0 ? 1 : small && group === 1 ? 1 : s;
      const p = `features.${index}`;
      const hidden = inC * t;
      let y = t === 1 ? x : convBn(x, `${p}.expand`, hidden, 1, 1, true);
      y = b.batchNorm(b.depthwiseConv2d(y, { kernel: 3, stride, padding: 1, bias: false, name: `${p}.depthwise` }), { name: `${p}.depthwise.bn`, epsilon: BN_EPSILON });
      y = convBn(b.relu6(y, `${p}.depthwise.relu6`), `${p}.project`, outC, 1, 1, false);
      x = stride === 1 && inC === outC ? b.add(x, y, `${p}.add`) : y;
      inC = outC;
      index++;
    }
  });
  const last = o.width > 1 ? makeDivisible(1280 * o.width) : 1280;
  x = convBn(x, `features.${index}`, last, 1, 1, true);
  x = b.dropout(b.flatten(b.globalAvgPool(x, "avgpool"), 1, "flatten"), "dropout");
  b.output(b.dense(x, { outFeatures: o.classes, name: "classifier" }));
  return b.build();
}
