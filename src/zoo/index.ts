import { AxnnError } from "../util/errors.js";
import type { Model } from "../nn/graph.js";
import type { ZooBuildOptions } from "./common.js";
import { lenet5 } from "./lenet.js";
import { cifarResNet } from "./resnet.js";
import { mobileNetV2 } from "./mobilenetv2.js";
import { smallVgg } from "./vgg.js";

export type { ZooBuildOptions } from "./common.js";
export { lenet5 } from "./lenet.js";
export { cifarResNet } from "./resnet.js";
export { mobileNetV2 } from "./mobilenetv2.js";
export { smallVgg } from "./vgg.js";
export * from "./sidecar.js";

const ZOO_MODELS = ["lenet5", "resnet8", "resnet14", "resnet20", "mobilenetv2", "vgg"] as const;
export type ZooModelName = (typeof ZOO_MODELS)[number];

/** The names buildZooModel accepts. */
export function zooNames(): ZooModelName[] {
  return [...ZOO_MODELS];
}

/**
 * Builds a zoo network with He-uniform weights from the seed and identity BatchNorms. For the
 * ResNets, `depth` (blocks per stage) overrides the one in the name (resnet20 with depth 5 is ResNet-32).
 */
export function buildZooModel(name: string, opts: ZooBuildOptions = {}): Model {
  switch (name) {
    case "lenet5": return lenet5(opts);
    case "resnet8": return cifarResNet("resnet8", opts, 1);
    case "resnet14": return cifarResNet("resnet14", opts, 2);
    case "resnet20": return cifarResNet("resnet20", opts, 3);
    case "mobilenetv2": return mobileNetV2(opts);
    case "vgg": return smallVgg(opts);
    default: throw new AxnnError(`unknown zoo model "${name}" (expected one of ${ZOO_MODELS.join(", ")})`, { field: "model" });
  }
}
