import { AxnnError } from "../util/errors.js";
import { convLayer, denseLayer, depthwiseLayer, type NetworkLayer } from "./network.js";

/**
 * Layer shapes of the model-zoo networks for CIFAR-10-sized inputs (3x32x32, 10 classes), as plain
 * layer lists: energy needs only shapes, not weights or the inference engine. The model zoo builds
 * real models with the same shapes and layer names.
 */
export const ZOO_NAMES = ["resnet8", "resnet14", "resnet20", "mobilenetv2", "vgg"] as const;
export type ZooName = (typeof ZOO_NAMES)[number];

export interface ZooOptions {
  batch?: number;
  /** MobileNetV2 width multiplier (default 1). */
  widthMultiplier?: number;
  numClasses?: number;
}

export function isZooName(name: string): name is ZooName {
  return (ZOO_NAMES as readonly string[]).includes(name);
}

/**
 * CIFAR ResNet of He et al. 2016 (section 4.2): a 3x3 conv with 16 filters, then three stages of n
 * basic blocks (two 3x3 convs each) with 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps (the
 * first conv of stages 2 and 3 has stride 2), global average pooling and a 10-way dense layer:
 * 6n + 2 weighted layers. Shortcuts are identity with zero-padded channels (their option A), so
 * they have no weights. Names follow the common PyTorch implementation: conv1, layerS.B.convK, fc.
 */
export function cifarResNetLayers(n: number, opts: ZooOptions = {}): NetworkLayer[] {
  if (!Number.isInteger(n) || n < 1) throw new AxnnError(`n must be a positive integer, got ${n}`, { field: "resnet depth" });
  const batch = opts.batch ?? 1;
  const layers: NetworkLayer[] = [convLayer("conv1", { inChannels: 3, outChannels: 16, inSize: 32, kernel: 3, batch })];
  let inC = 16, size = 32;
  [16, 32, 64].forEach((width, stage) => {
    for (let b = 0; b < n; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      layers.push(convLayer(`layer${stage + 1}.${b}.conv1`, { inChannels: inC, outChannels: width, inSize: size, kernel: 3, stride, batch }));
      size = size / stride;
      layers.push(convLayer(`layer${stage + 1}.${b}.conv2`, { inChannels: width, outChannels: width, inSize: size, kernel: 3, batch }));
      inC = width;
    }
  });
  layers.push(denseLayer("fc", { inFeatures: 64, outFeatures: opts.numClasses ?? 10, batch }));
  return layers;
}

/** Channels rounded to a multiple of 8, at least 90% of the unrounded value (torchvision's _make_divisible). */
export function makeDivisible(v: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor(v + divisor / 2) - (Math.floor(v + divisor / 2) % divisor));
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/**
 * MobileNetV2 (Sandler et al. 2018) for 32x32 inputs: the paper's blocks (t, c, n, s) =
 * (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1), with the usual
 * CIFAR changes: the stem conv and the first stride-2 block use stride 1, so 32x32 ends at 4x4. Each
 * block: 1x1 expansion (not when t = 1), 3x3 depthwise, 1x1 projection; then a 1x1 conv to 1280
 * channels (1280 x width when width > 1) and a dense classifier. Channels are width-scaled and
 * rounded to multiples of 8 as in torchvision.
 */
export function cifarMobileNetV2Layers(opts: ZooOptions = {}): NetworkLayer[] {
  const width = opts.widthMultiplier ?? 1;
  if (!(width > 0)) throw new AxnnError(`the width multiplier must be positive, got ${width}`, { field: "widthMultiplier" });
  const batch = opts.batch ?? 1;
  const blocks: [number, number, number, number][] = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];
  let inC = makeDivisible(32 * width);
  let size = 32;
  const layers: NetworkLayer[] = [convLayer("features.0", { inChannels: 3, outChannels: inC, inSize: size, kernel: 3, batch })];
  let index = 1;
  for (const [t, c, n, s] of blocks) {
    const outC = makeDivisible(c * width);
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const hidden = inC * t;
      const prefix = `features.${index}`;
      if (t !== 1) layers.push(convLayer(`${prefix}.expand`, { inChannels: inC, outChannels: hidden, inSize: size, kernel: 1, batch }));
      layers.push(depthwiseLayer(`${prefix}.depthwise`, { inChannels: hidden, inSize: size, kernel: 3, stride, batch }));
      size = Math.floor((size + 2 - 3) / stride) + 1;
      layers.push(convLayer(`${prefix}.project`, { inChannels: hidden, outChannels: outC, inSize: size, kernel: 1, batch }));
      inC = outC;
      index++;
    }
  }
  const last = width > 1 ? makeDivisible(1280 * width) : 1280;
  layers.push(convLayer(`features.${index}`, { inChannels: inC, outChannels: last, inSize: size, kernel: 1, batch }));
  layers.push(denseLayer("classifier", { inFeatures: last, outFeatures: opts.numClasses ?? 10, batch }));
  return layers;
}

/**
 * A small VGG-style network: three stages of two 3x3 convs (32, 64, 128 filters), each stage
 * followed by 2x2 max pooling (32 -> 16 -> 8 -> 4), then dense 2048 -> 128 -> classes.
 */
export function smallVggLayers(opts: ZooOptions = {}): NetworkLayer[] {
  const batch = opts.batch ?? 1;
  const layers: NetworkLayer[] = [];
  let inC = 3, size = 32;
  [32, 64, 128].forEach((width, stage) => {
    for (let i = 0; i < 2; i++) {
      layers.push(convLayer(`conv${stage + 1}_${i + 1}`, { inChannels: inC, outChannels: width, inSize: size, kernel: 3, batch }));
      inC = width;
    }
    size /= 2;
  });
  layers.push(denseLayer("fc1", { inFeatures: inC * size * size, outFeatures: 128, batch }));
  layers.push(denseLayer("fc2", { inFeatures: 128, outFeatures: opts.numClasses ?? 10, batch }));
  return layers;
}

/** The layer list of a zoo network by name. */
export function zooLayers(name: string, opts: ZooOptions = {}): NetworkLayer[] {
  switch (name) {
    case "resnet8": return cifarResNetLayers(1, opts);
    case "resnet14": return cifarResNetLayers(2, opts);
    case "resnet20": return cifarResNetLayers(3, opts);
    case "mobilenetv2": return cifarMobileNetV2Layers(opts);
    case "vgg": return smallVggLayers(opts);
    default: throw new AxnnError(`unknown zoo model "${name}" (expected one of ${ZOO_NAMES.join(", ")})`, { field: "--zoo" });
  }
}
