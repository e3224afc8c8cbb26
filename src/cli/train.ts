import type { Command } from "commander";
import { loadDataset, parseNormalization, type Dataset } from "../data/datasets.js";
import type { Model } from "../nn/graph.js";
import { loadModel, saveModel } from "../zoo/sidecar.js";
import { buildZooModel } from "../zoo/index.js";
import { AxnnError } from "../util/errors.js";
import { checkOutputFile } from "../util/fs.js";
import { trainModel, type AugmentConfig, type EpochMetrics } from "../train/loop.js";
import type { OptimizerConfig, ScheduleConfig } from "../train/optim.js";
import { addOutOption, deviceOption, parseNumberOption, printJson, textTable } from "./common.js";

interface TrainCliOptions {
  arch?: string;
  model?: string;
  data: string;
  epochs: string;
  seed: string;
  batchSize: string;
  lr?: string;
  optimizer: string;
  momentum: string;
  weightDecay?: string;
  nesterov?: boolean;
  schedule: string;
  stepEpochs?: string;
  gamma: string;
  warmupEpochs: string;
  augment?: string;
  normalize?: string;
  dropout?: string;
  trainSamples?: string;
  testSamples?: string;
  width?: string;
  checkpoint?: string;
  resume?: boolean;
  json?: boolean;
  quiet?: boolean;
  out: string;
}

function parseAugment(spec: string): AugmentConfig {
  if (spec === "none") return {};
  const out: AugmentConfig = {};
  for (const part of spec.split("+")) {
    const crop = /^crop(?::(\d+))?$/.exec(part);
    if (crop) out.cropPadding = crop[1] === undefined ? 4 : Number(crop[1]);
    else if (part === "flip") out.horizontalFlip = true;
    else throw new AxnnError(`expected none, crop[:padding], flip or crop+flip, got "${spec}"`, { field: "--augment" });
  }
  return out;
}

function parseDropout(spec: string, model: Model): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of spec.split(",")) {
    const m = /^([^=]+)=([0-9.]+)$/.exec(part.trim());
    const rate = m ? Number(m[2]) : NaN;
    if (!m || !(rate >= 0 && rate < 1)) throw new AxnnError(`expected node=rate pairs (rate in [0, 1)), got "${part}"`, { field: "--dropout" });
    const node = model.nodes.find((n) => n.name === m[1]);
    if (!node || node.op !== "Identity") throw new AxnnError(`no Identity node "${m[1]}" in the model (dropout applies to the Identity nodes that dropout became)`, { field: "--dropout" });
    out[m[1]!] = rate;
  }
  return out;
}

/** `axnn train`: trains a zoo architecture or an ONNX model on a dataset and writes ONNX. */
export function registerTrain(program: Command): void {
  addOutOption(deviceOption(program.command("train"))
    .description("train a CNN (softmax cross-entropy) on the CPU and write it as ONNX")
    .option("--arch <name>", "zoo architecture (lenet5, resnet8, resnet14, resnet20, mobilenetv2, vgg), fresh weights from --seed")
    .option("--model <file>", "ONNX model to train further (instead of --arch)")
    .requiredOption("--data <spec>", "mnist, fashion-mnist or cifar10:<dir>")
    .requiredOption("--epochs <n>", "epochs")
    .option("--seed <n>", "seed of weights, shuffling, augmentation and dropout", "1")
    .option("--batch-size <n>", "batch size", "64")
    .option("--lr <rate>", "base learning rate (default 0.05 for sgd, 0.001 for adam)")
    .option("--optimizer <kind>", "sgd or adam", "sgd")
    .option("--momentum <m>", "SGD momentum", "0.9")
    .option("--nesterov", "Nesterov momentum")
    .option("--weight-decay <wd>", "L2 weight decay of conv/dense weights (default 5e-4 for sgd, 0 for adam)")
    .option("--schedule <kind>", "constant, step or cosine", "cosine")
    .option("--step-epochs <n>", "step schedule: epochs between decays (default a third of the run)")
    .option("--gamma <g>", "step schedule: decay factor", "0.1")
    .option("--warmup-epochs <n>", "linear warm-up epochs", "0")
    .option("--augment <spec>", "none, crop[:padding], flip or crop+flip (default crop+flip for cifar10, none otherwise)")
    .option("--normalize <spec>", "unit ([0, 1]), standard (the dataset's usual mean/std) or mean:std; default unit, as axnn eval: evaluate with the same --normalize")
    .option("--dropout <node=rate,...>", "dropout rates of Identity nodes (ModelBuilder/ONNX Dropout) during training")
    .option("--train-samples <n>", "train on a seeded random subset")
    .option("--test-samples <n>", "evaluate on a seeded random subset")
    .option("--width <w>", "zoo width multiplier")
    .option("--checkpoint <dir>", "write a checkpoint after every epoch")
    .option("--resume", "continue from the checkpoint in --checkpoint when there is one")
    .option("--json", "print the per-epoch metrics as JSON")
    .option("--quiet", "no progress bar"), "file", "trained model (.onnx)", { required: true })
    .action((o: TrainCliOptions) => {
      if ((o.arch === undefined) === (o.model === undefined)) throw new AxnnError("give either --arch or --model", { field: "--arch" });
      const epochs = parseNumberOption(o.epochs, "--epochs", { min: 1, integer: true });
      checkOutputFile(o.out);
      const seed = parseNumberOption(o.seed, "--seed", { integer: true });
      const batchSize = parseNumberOption(o.batchSize, "--batch-size", { min: 1, integer: true });
      const train: Dataset = loadDataset(o.data, "train");
      const test: Dataset = loadDataset(o.data, "test");
      const width = parseNumberOption(o.width, "--width", { min: 0 });
      const loaded = o.model !== undefined ? loadModel(o.model) : undefined;
      const model = loaded ? loaded.model : buildZooModel(o.arch!, { inputShape: train.shape.slice(1), classes: train.classes, seed, width });
      let optimizer: OptimizerConfig;
      if (o.optimizer === "sgd") {
        optimizer = {
          kind: "sgd", momentum: parseNumberOption(o.momentum, "--momentum", { min: 0 }), nesterov: o.nesterov === true,
          weightDecay: o.weightDecay === undefined ? 5e-4 : parseNumberOption(o.weightDecay, "--weight-decay", { min: 0 }),
        };
      } else if (o.optimizer === "adam") {
        optimizer = { kind: "adam", beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: o.weightDecay === undefined ? 0 : parseNumberOption(o.weightDecay, "--weight-decay", { min: 0 }) };
      } else {
        throw new AxnnError(`expected sgd or adam, got "${o.optimizer}"`, { field: "--optimizer" });
      }
      if (!["constant", "step", "cosine"].includes(o.schedule)) throw new AxnnError(`expected constant, step or cosine, got "${o.schedule}"`, { field: "--schedule" });
      const schedule: ScheduleConfig = {
        kind: o.schedule as ScheduleConfig["kind"],
        stepEpochs: parseNumberOption(o.stepEpochs, "--step-epochs", { min: 1, integer: true }),
        gamma: parseNumberOption(o.gamma, "--gamma", { min: 0 }),
        warmupEpochs: parseNumberOption(o.warmupEpochs, "--warmup-epochs", { min: 0 }),
      };
      const lr = o.lr === undefined ? (optimizer.kind === "sgd" ? 0.05 : 0.001) : parseNumberOption(o.lr, "--lr", { min: 0 });
      const normalize = o.normalize ?? loaded?.sidecar?.input?.normalize ?? "unit";
      const normalization = parseNormalization(normalize, train.name);
      const augment = parseAugment(o.augment ?? (train.name === "cifar10" ? "crop+flip" : "none"));
      const rows: EpochMetrics[] = [];
      const result = trainModel(model, train, test, {
        epochs, batchSize, lr, seed, optimizer, schedule, augment, normalization,
        dropout: o.dropout === undefined ? undefined : parseDropout(o.dropout, model),
        trainSamples: parseNumberOption(o.trainSamples, "--train-samples", { min: 1, integer: true }),
        testSamples: parseNumberOption(o.testSamples, "--test-samples", { min: 1, integer: true }),
        checkpointDir: o.checkpoint, resume: o.resume === true, quiet: o.quiet === true || o.json === true,
        onGpuFallback: (why) => process.stderr.write(`axnn: ${why}\n`),
        onEpoch: (m) => {
          rows.push(m);
          if (!o.json) {
            process.stdout.write(`epoch ${m.epoch}/${epochs}: loss ${m.trainLoss.toFixed(4)}, train accuracy ${(100 * m.trainAccuracy).toFixed(2)}%, ` +
              `test accuracy ${m.testAccuracy === null ? "-" : (100 * m.testAccuracy).toFixed(2) + "%"}, lr ${m.lr.toPrecision(3)}, ${m.imagesPerSecond.toFixed(0)} images/s\n`);
          }
        },
      });
      // The sidecar records how inputs are normalised, so axnn eval and finetune need no --normalize.
      saveModel(o.out, result.model, {
        input: { normalize },
        ...(o.arch !== undefined ? { zoo: { name: o.arch, options: { seed, ...(width !== undefined ? { width } : {}) } } } : {}),
      });
      if (o.json) {
        printJson({ model: o.model ?? o.arch, data: o.data, epochs, seed, startEpoch: result.startEpoch, history: result.history, output: o.out });
      } else {
        if (result.startEpoch > 0) process.stdout.write(`resumed after epoch ${result.startEpoch}\n`);
        if (rows.length === 0) {
          process.stdout.write(textTable(["epoch", "loss", "train acc", "test acc"], result.history.map((m) => [m.epoch, m.trainLoss, m.trainAccuracy, m.testAccuracy ?? undefined])) + "\n");
        }
        process.stdout.write(`wrote ${o.out}\n`);
      }
    });
}
