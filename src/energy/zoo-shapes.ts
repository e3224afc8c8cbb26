// The model-zoo networks' layer shapes for the energy model, for CIFAR-10-sized inputs (3x32x32).
// One description of each architecture: the shapes are read off the zoo's own builders
// (src/zoo), so `energy net --zoo resnet20` prices exactly the network `train --arch resnet20` trains.
import { AxnnError } from "../util/errors.js";
import { isApproximable } from "../nn/graph.js";
import { buildZooModel } from "../zoo/index.js";
import { layersFromModel, type NetworkLayer } from "./network.js";

export { makeDivisible } from "../zoo/mobilenetv2.js";

export const ZOO_NAMES = ["resnet8", "resnet14", "resnet20", "mobilenetv2", "vgg"] as const;
export type ZooName = (typeof ZOO_NAMES)[number];

export interface ZooOptions {
  batch?: number;
  /** Width multiplier of every hidden layer (default 1; see src/zoo). */
  widthMultiplier?: number;
  numClasses?: number;
}

export function isZooName(name: string): name is ZooName {
  return (ZOO_NAMES as readonly string[]).includes(name);
}

// Building a model draws its weights; the shapes of a (network, width, classes, depth) are kept.
const shapeCache = new Map<string, NetworkLayer[]>();

function zooShapes(name: ZooName, opts: ZooOptions, depth?: number): NetworkLayer[] {
  const key = JSON.stringify([name, opts.widthMultiplier ?? 1, opts.numClasses ?? 10, depth ?? null]);
  let layers = shapeCache.get(key);
  if (!layers) {
    const model = buildZooModel(name, { inputShape: [3, 32, 32], classes: opts.numClasses, width: opts.widthMultiplier, depth });
    // The builders' own (symmetric) pads rather than layersFromModel's smallest equivalent ones:
    // the same output sizes, and the pads the model zoo's layer lists always had.
    const pads = new Map(model.nodes.filter(isApproximable).map((n) => [n.name, n.op === "Dense" ? undefined : n.pads]));
    layers = layersFromModel(model).map((l) => ({ ...l, pads: [...(pads.get(l.name) ?? l.pads)] as NetworkLayer["pads"] }));
    shapeCache.set(key, layers);
  }
  const batch = opts.batch ?? 1;
  return layers.map((l) => ({ ...l, pads: [...l.pads] as NetworkLayer["pads"], batch }));
}

/**
 * CIFAR ResNet of He et al. 2016 with n basic blocks per stage (6n + 2 weighted layers;
 * src/zoo/resnet.ts): names conv1, layerS.B.convK, fc.
 */
export function cifarResNetLayers(n: number, opts: ZooOptions = {}): NetworkLayer[] {
  if (!Number.isInteger(n) || n < 1) throw new AxnnError(`n must be a positive integer, got ${n}`, { field: "resnet depth" });
  return zooShapes("resnet20", opts, n);
}

/** MobileNetV2 for 32x32 inputs (src/zoo/mobilenetv2.ts): features.0, features.i.expand/depthwise/project, classifier. */
export function cifarMobileNetV2Layers(opts: ZooOptions = {}): NetworkLayer[] {
  return zooShapes("mobilenetv2", opts);
}

/** The small VGG (src/zoo/vgg.ts): conv<stage>_<i>, fc1, fc2. */
export function smallVggLayers(opts: ZooOptions = {}): NetworkLayer[] {
  return zooShapes("vgg", opts);
}

/** The layer list of a zoo network by name. */
export function zooLayers(name: string, opts: ZooOptions = {}): NetworkLayer[] {
  if (!isZooName(name)) throw new AxnnError(`unknown zoo model "${name}" (expected one of ${ZOO_NAMES.join(", ")})`, { field: "--zoo" });
  return zooShapes(name, opts);
}
