// Retraining that diverges: detected, restarted with a lower rate, or stopped with a clear message
// and no model written; a model worse than its input is said to be so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ModelBuilder } from "../src/nn/builder.js";
import { writeOnnx } from "../src/onnx/index.js";
import { loadDataset } from "../src/data/datasets.js";
import { trainModel, TrainingDiverged } from "../src/train/loop.js";
import { runFinetune } from "../src/train/finetune.js";
import { AxnnError } from "../src/util/errors.js";

let trainedFile: string | undefined;
const dir = mkdtempSync(join(tmpdir(), "axnn-diverge-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

/** A small MNIST model trained for one short epoch (about 90% float). */
function trained(): string {
  if (trainedFile) return trainedFile;
  const b = new ModelBuilder("mnist-small", { seed: 4 });
  const x = b.input("x", [null, 1, 28, 28]);
  const c = b.maxPool(b.relu(b.conv2d(x, { outChannels: 6, kernel: 5, name: "conv" })), { kernel: 2, stride: 2 });
  b.output(b.softmax(b.dense(b.flatten(c), { outFeatures: 10, name: "fc" })));
  const t = trainModel(b.build(), loadDataset("mnist", "train"), null, { epochs: 1, batchSize: 32, lr: 0.05, seed: 1, trainSamples: 2000, quiet: true });
  trainedFile = join(dir, "m.onnx");
  writeOnnx(trainedFile, t.model);
  return trainedFile;
}

test("exploding weights stop training with TrainingDiverged (epoch, batch, how much they grew)", () => {
  const b = new ModelBuilder("tiny", { seed: 2 });
  const x = b.input("x", [null, 1, 28, 28]);
  b.output(b.softmax(b.dense(b.flatten(x), { outFeatures: 10 })));
  const train = loadDataset("mnist", "train");
  // An absurd rate moves the weights by orders of magnitude in one step.
  assert.throws(() => trainModel(b.build(), train, null, { epochs: 1, batchSize: 16, lr: 1e4, seed: 1, trainSamples: 64, quiet: true, maxWeightGrowth: 10 }),
    (e: unknown) => e instanceof TrainingDiverged && e.epoch === 1 && e.batch === 1 && /the largest weight grew from .* \(over 10x\); lower the learning rate/.test(e.message));
  // Off (0, float training's default), the same run ends normally.
  trainModel(b.build(), train, null, { epochs: 1, batchSize: 16, lr: 1e4, seed: 1, trainSamples: 64, quiet: true });
});

test("finetune at a rate that diverges on every restart stops with a clear message and writes no model", () => {
  const out = join(dir, "never.onnx");
  assert.throws(() => runFinetune({ model: trained(), data: "mnist", mult: "drum_k3_u8x8", epochs: 1, trainSamples: 256, limit: 200, calibrationSize: 64, lr: 1e4, quiet: true, output: out }),
    (e: unknown) => e instanceof AxnnError && !(e instanceof TrainingDiverged) && /^--lr: retraining diverged 3 times \(last at lr 2500, epoch 1, batch \d+: the largest weight grew .*\); no model was written/.test(e.message));
  assert.equal(existsSync(out), false);
});

test("finetune that diverges once restarts from the input model at half the rate and a tenth of the range momentum, and says so", () => {
  const out = join(dir, "ft.onnx");
  // At 1 the weights explode within a few steps; at 0.5 they do not (but the model ends worse than it began).
  const { report } = runFinetune({ model: trained(), data: "mnist", mult: "drum_k3_u8x8", epochs: 1, trainSamples: 512, limit: 300, calibrationSize: 64, lr: 1, quiet: true, output: out });
  assert.equal(report.diverged.length, 1, JSON.stringify(report.diverged));
  assert.deepEqual([report.diverged[0]!.lr, report.diverged[0]!.range_momentum], [1, 0.1]);
  assert.match(report.diverged[0]!.reason, /^epoch 1, batch \d+: the largest weight grew from .* \(over 10x\)$/);
  assert.deepEqual([report.lr, report.range_momentum], [0.5, 0.01]);
  assert.match(report.warnings[0]!, /diverged once and was restarted with lr 0.5, range momentum 0.01/);
  assert.ok(report.after_top1 < report.before_top1, `after ${report.after_top1}, before ${report.before_top1}`);
  assert.equal(report.worse_than_input, true);
  assert.match(report.warnings[1]!, /the fine-tuned model is worse than the input: .*% after, .*% before/);
  assert.ok(existsSync(out));
});
