// The training loop: a tiny network learns a tiny problem; optimizers and schedules against hand
// calculations; determinism for a seed; resume after an interruption equals an uninterrupted run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Dataset } from "../src/data/datasets.js";
import { ModelBuilder } from "../src/nn/builder.js";
import type { Model } from "../src/nn/graph.js";
import { uniformRandom } from "../src/util/random.js";
import { AxnnError } from "../src/util/errors.js";
import { augmentedBatch, evaluate, trainModel, type TrainConfig } from "../src/train/loop.js";
import { learningRate, newOptimizerState, optimizerStep } from "../src/train/optim.js";
import { collectBuffers, collectParams, type Param } from "../src/train/params.js";

/**
 * Two classes of 1x8x8 images: class 0 is bright on the left half, class 1 on the right half,
 * with uniform noise: linearly separable, but only after looking at the pixels' positions.
 */
function halvesDataset(count: number, seed: number, split: "train" | "test"): Dataset {
  const rand = uniformRandom(seed);
  const images = new Uint8Array(count * 64);
  const labels = new Uint8Array(count);
  for (let s = 0; s < count; s++) {
    const label = s % 2;
    labels[s] = label;
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const bright = (x < 4) === (label === 0);
        images[s * 64 + y * 8 + x] = Math.floor((bright ? 110 : 40) + rand() * 100);
      }
    }
  }
  return { name: "halves", split, shape: [count, 1, 8, 8], images, labels, classes: 2 };
}

function smallCnn(seed = 1): Model {
  const b = new ModelBuilder("small", { seed });
  const x = b.input("x", [null, 1, 8, 8]);
  let h = b.relu(b.batchNorm(b.conv2d(x, { outChannels: 4, kernel: 3, padding: 1, bias: false })));
  h = b.maxPool(h, { kernel: 2 });
  h = b.dropout(b.flatten(h), "drop");
  b.output(b.softmax(b.dense(h, { outFeatures: 2 })));
  return b.build();
}

const train = halvesDataset(96, 1, "train");
const testSet = halvesDataset(64, 2, "test");

test("a tiny CNN learns a separable two-class problem (SGD with momentum, and Adam with cosine schedule)", () => {
  const before = evaluate(smallCnn(), testSet, Int32Array.from({ length: 64 }, (_v, i) => i), 32);
  const sgd = trainModel(smallCnn(), train, testSet, { epochs: 4, batchSize: 16, lr: 0.05, quiet: true });
  const last = sgd.history.at(-1)!;
  assert.equal(sgd.history.length, 4);
  assert.ok(last.trainAccuracy >= 0.95, `train accuracy ${last.trainAccuracy}`);
  assert.ok(last.testAccuracy! >= 0.95, `test accuracy ${last.testAccuracy} (before training ${before.accuracy})`);
  assert.ok(last.trainLoss < sgd.history[0]!.trainLoss, "the loss falls");
  assert.ok(before.accuracy < 0.8, `untrained accuracy ${before.accuracy}`);
  assert.ok(last.imagesPerSecond > 0);
  const adam = trainModel(smallCnn(), train, testSet, {
    epochs: 4, batchSize: 16, lr: 0.01, quiet: true,
    optimizer: { kind: "adam", beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
    schedule: { kind: "cosine" }, dropout: { drop: 0.2 },
  });
  assert.ok(adam.history.at(-1)!.testAccuracy! >= 0.95, `Adam test accuracy ${adam.history.at(-1)!.testAccuracy}`);
});

test("SGD and Adam updates against hand calculations; weight decay only on weights", () => {
  const param = (isWeight: boolean): Param => ({ name: isWeight ? "w" : "b", data: Float32Array.of(1), shape: [1], grad: Float32Array.of(0.5), isWeight });
  const ps = [param(true), param(false)];
  const sgd = { kind: "sgd" as const, momentum: 0.9, weightDecay: 0.1, nesterov: false };
  const st = newOptimizerState(sgd, ps);
  optimizerStep(sgd, st, ps, 0.1);
  // w: g = 0.5 + 0.1 * 1 = 0.6, v = 0.6, w = 1 - 0.06; b: no decay, v = 0.5, b = 0.95.
  assert.ok(Math.abs(ps[0]!.data[0]! - 0.94) < 1e-7);
  assert.ok(Math.abs(ps[1]!.data[0]! - 0.95) < 1e-7);
  optimizerStep(sgd, st, ps, 0.1);
  // b: v = 0.9 * 0.5 + 0.5 = 0.95, b = 0.95 - 0.095.
  assert.ok(Math.abs(ps[1]!.data[0]! - 0.855) < 1e-6);

  const nes = { ...sgd, weightDecay: 0, nesterov: true };
  const q = [param(false)];
  optimizerStep(nes, newOptimizerState(nes, q), q, 0.1);
  // v = 0.5, step = g + mu v = 0.95.
  assert.ok(Math.abs(q[0]!.data[0]! - 0.905) < 1e-7);

  const adam = { kind: "adam" as const, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
  const a = [param(true)];
  const ast = newOptimizerState(adam, a);
  optimizerStep(adam, ast, a, 0.1);
  // First step: bias-corrected m = g, v = g^2, so the update is lr * g / |g| = 0.1.
  assert.ok(Math.abs(a[0]!.data[0]! - 0.9) < 1e-6);
  a[0]!.grad[0] = -0.5;
  optimizerStep(adam, ast, a, 0.1);
  // m = 0.9 * 0.05 - 0.05 = -0.005 -> /0.19; v = 0.999 * 0.00025 + 0.00025 -> /(1 - 0.999^2).
  const m = -0.005 / 0.19, v = (0.999 * 0.00025 + 0.001 * 0.25) / (1 - 0.999 ** 2);
  assert.ok(Math.abs(a[0]!.data[0]! - (0.9 - (0.1 * m) / (Math.sqrt(v) + 1e-8))) < 1e-6);
});

test("learning-rate schedules: step, cosine, warm-up", () => {
  const step = { kind: "step" as const, stepEpochs: 2, gamma: 0.5 };
  assert.equal(learningRate(step, 1, 0, 0, 10, 6), 1);
  assert.equal(learningRate(step, 1, 1, 9, 10, 6), 1);
  assert.equal(learningRate(step, 1, 2, 0, 10, 6), 0.5);
  assert.equal(learningRate(step, 1, 5, 3, 10, 6), 0.25);
  const cos = { kind: "cosine" as const };
  assert.equal(learningRate(cos, 2, 0, 0, 4, 10), 2);
  assert.ok(Math.abs(learningRate(cos, 2, 5, 0, 4, 10) - 1) < 1e-12); // halfway: cos(pi/2) = 0
  assert.ok(Math.abs(learningRate(cos, 2, 7, 2, 4, 10) - (1 + Math.cos(Math.PI * 0.75))) < 1e-12);
  const warm = { kind: "cosine" as const, warmupEpochs: 2 };
  assert.ok(Math.abs(learningRate(warm, 1, 0, 1, 4, 10) - 0.25) < 1e-12); // 0.5 epochs of 2 done
  assert.ok(Math.abs(learningRate(warm, 1, 1, 3, 4, 10) - 1) < 1e-12);
  assert.ok(Math.abs(learningRate(warm, 1, 6, 0, 4, 10) - 0.5) < 1e-12); // halfway through the 8 cosine epochs
});

test("augmentation: a crop shifts the image with zero padding, a flip mirrors it", () => {
  const ds: Dataset = { name: "t", split: "train", shape: [1, 1, 2, 3], images: Uint8Array.of(10, 20, 30, 40, 50, 60), labels: Uint8Array.of(0), classes: 1 };
  const norm = { mean: [0], std: [1 / 255] }; // values back to pixels
  // random() draws: dy, dx (in 0..2p, minus p), then the flip coin.
  const draws = (...v: number[]) => () => v.shift()!;
  const pixels = (t: { data: Float32Array }) => Array.from(t.data, (v) => Math.round(v));
  assert.deepEqual(pixels(augmentedBatch(ds, Int32Array.of(0), 0, 1, norm, { cropPadding: 1, horizontalFlip: true }, draws(0.5, 0.5, 0.9))), [10, 20, 30, 40, 50, 60]);
  assert.deepEqual(pixels(augmentedBatch(ds, Int32Array.of(0), 0, 1, norm, { cropPadding: 1, horizontalFlip: true }, draws(0.5, 0.5, 0.1))), [30, 20, 10, 60, 50, 40]);
  // dy = +1, dx = -1: output (y, x) reads (y + 1, x - 1).
  assert.deepEqual(pixels(augmentedBatch(ds, Int32Array.of(0), 0, 1, norm, { cropPadding: 1 }, draws(0.99, 0))), [0, 40, 50, 0, 0, 0]);
});

function weightsOf(model: Model): Float32Array[] {
  return [...collectParams(model).map((p) => p.data), ...collectBuffers(model).map((b) => b.data)];
}

test("deterministic for a seed; resume after an interruption equals the uninterrupted run bit for bit", () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-train-"));
  try {
    const config: TrainConfig = {
      epochs: 3, batchSize: 12, lr: 0.05, seed: 7, quiet: true,
      augment: { cropPadding: 1, horizontalFlip: true }, dropout: { drop: 0.3 },
      schedule: { kind: "cosine", warmupEpochs: 1 },
    };
    const original = smallCnn();
    const full = trainModel(original, train, testSet, config);
    const again = trainModel(smallCnn(), train, testSet, config);
    assert.deepEqual(weightsOf(again.model), weightsOf(full.model));
    const other = trainModel(smallCnn(), train, testSet, { ...config, seed: 8 });
    assert.notDeepEqual(weightsOf(other.model), weightsOf(full.model));

    const ckpt = join(dir, "ck");
    assert.throws(() => trainModel(smallCnn(), train, testSet, {
      ...config, checkpointDir: ckpt,
      onEpoch: (m) => {
        if (m.epoch === 2) throw new Error("interrupted");
      },
    }), /interrupted/);
    // The default optimizer spelled out with its keys in another order is the same setting.
    const sameSgd = { nesterov: false, weightDecay: 5e-4, momentum: 0.9, kind: "sgd" as const };
    const resumed = trainModel(smallCnn(), train, testSet, { ...config, optimizer: sameSgd, checkpointDir: ckpt, resume: true });
    assert.equal(resumed.startEpoch, 2);
    assert.deepEqual(weightsOf(resumed.model), weightsOf(full.model));
    assert.deepEqual(resumed.history.map((h) => [h.trainLoss, h.testAccuracy]), full.history.map((h) => [h.trainLoss, h.testAccuracy]));
    // The caller's model is not changed by training.
    assert.deepEqual(weightsOf(original), weightsOf(smallCnn()));
    assert.notDeepEqual(weightsOf(full.model), weightsOf(original));

    assert.throws(() => trainModel(smallCnn(), train, testSet, { ...config, seed: 9, checkpointDir: ckpt, resume: true }), (e: unknown) => e instanceof AxnnError && /seed 7/.test(e.message));
    writeFileSync(join(ckpt, "checkpoint.bin"), "garbage that is not a checkpoint");
    assert.throws(() => trainModel(smallCnn(), train, testSet, { ...config, checkpointDir: ckpt, resume: true }), (e: unknown) => e instanceof AxnnError && /not an axnn training checkpoint/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
