import type { BenchResult } from "./harness.js";
import { buildZooModel } from "../src/zoo/index.js";
import { loadDataset, parseNormalization } from "../src/data/datasets.js";
import { trainModel } from "../src/train/loop.js";
import { DEFAULT_SGD } from "../src/train/optim.js";
import { runFinetune } from "../src/train/finetune.js";

const SAMPLES = 4000;
const RESNET_SAMPLES = 3000;
/** Fewer for ResNet-8 QAT (images/s compare all the same): keeps the suite near a minute. */
const RESNET_QAT_SAMPLES = 1500;

/**
 * Training throughput on MNIST: float training of LeNet-5 and ResNet-8, and quantization-aware
 * training of LeNet-5 and ResNet-8 with the exact table and with an approximate multiplier in the forward pass
 * (one epoch over the same seeded subset; images/s of the training part only, as trainModel
 * reports it).
 */
export function benchTrain(): BenchResult[] {
  const train = loadDataset("mnist", "train");
  const model = buildZooModel("lenet5", { seed: 1 });
  const float = trainModel(model, train, null, {
    epochs: 1, batchSize: 64, lr: 0.02, seed: 1, optimizer: DEFAULT_SGD, schedule: { kind: "cosine" },
    normalization: parseNormalization("unit", train.name), trainSamples: SAMPLES, quiet: true,
  }).history[0]!;
  const rows: BenchResult[] = [{
    group: "training", name: `lenet5 mnist float32 (${SAMPLES} images, batch 64)`, ms: float.seconds * 1000, runs: 1,
    figures: { "images/s": float.imagesPerSecond, "x float time": 1 },
  }];
  // ResNet-8 (BatchNorm, residual additions, option-A shortcuts): the path of the zoo's CNNs.
  const resnetModel = buildZooModel("resnet8", { inputShape: train.shape.slice(1), classes: train.classes, seed: 1 });
  const resnet = trainModel(resnetModel, train, null, {
    epochs: 1, batchSize: 64, lr: 0.05, seed: 1, optimizer: DEFAULT_SGD, schedule: { kind: "cosine" },
    normalization: parseNormalization("unit", train.name), trainSamples: RESNET_SAMPLES, quiet: true,
  }).history[0]!;
  rows.push({
    group: "training", name: `resnet8 mnist float32 (${RESNET_SAMPLES} images, batch 64)`, ms: resnet.seconds * 1000, runs: 1,
    figures: { "images/s": resnet.imagesPerSecond, "x float time": 1 },
  });
  for (const mult of ["exact_u8x8", "drum_k4_u8x8", "drum_k4_s8x8"]) {
    const r = runFinetune({ model, data: "mnist", mult, epochs: 1, trainSamples: SAMPLES, limit: 200, quiet: true });
    const h = r.report.history[0]!;
    rows.push({
      group: "training", name: `lenet5 mnist QAT ${mult} (${SAMPLES} images, batch 64)`, ms: h.seconds * 1000, runs: 1,
      figures: { "images/s": h.imagesPerSecond, "x float time": float.imagesPerSecond / h.imagesPerSecond },
    });
  }
  // QAT of the (one epoch) trained ResNet-8: BatchNorm unfolded, asymmetric per-channel weight zero points.
  for (const mult of ["exact_u8x8", "drum_k4_u8x8"]) {
    const r = runFinetune({ model: resnetModel, data: "mnist", mult, epochs: 1, trainSamples: RESNET_QAT_SAMPLES, limit: 100, calibrationSize: 64, reestimateBatches: 0, quiet: true });
    const h = r.report.history[0]!;
    rows.push({
      group: "training", name: `resnet8 mnist QAT ${mult} (${RESNET_QAT_SAMPLES} images, batch 64)`, ms: h.seconds * 1000, runs: 1,
      figures: { "images/s": h.imagesPerSecond, "x float time": resnet.imagesPerSecond / h.imagesPerSecond },
    });
  }
  return rows;
}
