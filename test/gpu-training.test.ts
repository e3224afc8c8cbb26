// The float training step resident on the GPU (src/train/gpu-step.ts) against the CPU path
// (forwardTape, softmaxCrossEntropy, backwardTape, optimizerStep on the TypeScript reference):
// one step of zoo networks (LeNet-5: conv, max pooling, dense; ResNet-8: BatchNorm, residual Adds,
// channel Pad, global average pooling; MobileNetV2: depthwise, ReLU6) compares the loss, every
// parameter's gradient (the first step's SGD velocity is g + decay w), the updated parameters and
// BatchNorm's running statistics; trainModel on the WebGPU backend (resident) against the CPU over
// a few epochs compares the loss curves. The GPU sums in float32 in its own order: every element
// is within TOLERANCE of the CPU's value relative to the tensor's largest magnitude.
// Skips only without a WebGPU adapter (CI requires one).
import { test } from "node:test";
import assert from "node:assert/strict";
import { webGpuAdapter } from "../src/kernels/webgpu/backend.js";
import { onBackend } from "./backends.js";
import type { Dataset } from "../src/data/datasets.js";
import type { Model } from "../src/nn/graph.js";
import { Rng } from "../src/nn/tensor.js";
import { cifarResNet, lenet5, mobileNetV2 } from "../src/zoo/index.js";
import { softmaxCrossEntropy } from "../src/train/backward.js";
import { GpuTrainingStep } from "../src/train/gpu-step.js";
import { trainModel, type TrainConfig } from "../src/train/loop.js";
import { DEFAULT_SGD, newOptimizerState, optimizerStep, type SgdConfig } from "../src/train/optim.js";
import { cloneModelForTraining, collectParams } from "../src/train/params.js";
import { backwardTape, forwardTape, logitsValue, zeroGrads } from "../src/train/tape.js";
import { uniformRandom } from "../src/util/random.js";
import { AxnnError } from "../src/util/errors.js";

const adapter = webGpuAdapter();
if (!adapter.info && process.env.AXNN_REQUIRE_GPU === "1") throw new Error(`AXNN_REQUIRE_GPU=1 but no WebGPU adapter: ${adapter.why}`);
const skip = !adapter.info && `${adapter.why}; set VK_ICD_FILENAMES to a Vulkan driver, e.g. SwiftShader's`;

/** Largest |gpu - cpu| allowed, relative to the CPU tensor's largest magnitude (float32 sums of a few thousand terms in another order). */
const TOLERANCE = 1e-4;

/** floor: a least scale (gradients whose true value is 0, e.g. of a bias feeding a BatchNorm, are rounding noise on both sides). */
function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tolerance = TOLERANCE, floor = 0): number {
  assert.equal(got.length, want.length, what);
  let scale = floor;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    assert.ok(d <= tolerance * scale + 1e-30, `${what}[${i}]: GPU ${got[i]}, CPU ${want[i]} (largest |value| ${scale})`);
    worst = Math.max(worst, scale > 0 ? d / scale : 0);
  }
  return worst;
}

const nets: { name: string; model: Model; input: number[] }[] = [
  { name: "LeNet-5", model: lenet5({ inputShape: [1, 16, 16], width: 0.5, seed: 3 }), input: [4, 1, 16, 16] },
  { name: "ResNet-8", model: cifarResNet("resnet8", { inputShape: [3, 8, 8], width: 0.25, seed: 4 }), input: [4, 3, 8, 8] },
  { name: "MobileNetV2", model: mobileNetV2({ inputShape: [3, 16, 16], width: 0.25, seed: 5 }), input: [8, 3, 16, 16] },
];

test("one resident GPU training step equals the CPU step within float32 rounding: loss, every gradient, the SGD update, BatchNorm's running statistics (LeNet-5, ResNet-8, MobileNetV2)", { skip }, () => {
  const sgd: SgdConfig = { kind: "sgd", momentum: 0.9, weightDecay: 5e-4, nesterov: true };
  const lr = 0.05;
  for (const net of nets) {
    const x = new Rng(7).uniformTensor(net.input, -1, 1);
    const labels = Uint8Array.from({ length: net.input[0]! }, (_v, i) => (i * 3) % 10);
    const { value: logits } = logitsValue(net.model);
    // CPU: the reference path of trainModel.
    const cpuNet = cloneModelForTraining(net.model);
    const cpuParams = collectParams(cpuNet);
    const cpuOpt = newOptimizerState(sgd, cpuParams);
    const cpu = onBackend("typescript", () => {
      const tape = forwardTape(cpuNet, { [cpuNet.inputs[0]!.name]: x }, { training: true, bnMomentum: 0.1, target: logits, random: () => 0 });
      const r = softmaxCrossEntropy(tape.values.get(logits)!, labels);
      zeroGrads(cpuParams);
      backwardTape(tape, new Map([[logits, r.grad]]), cpuParams);
      optimizerStep(sgd, cpuOpt, cpuParams, lr);
      return r;
    });
    // GPU: the same step resident.
    const gpuNet = cloneModelForTraining(net.model);
    const gpuParams = collectParams(gpuNet);
    const gpuOpt = newOptimizerState(sgd, gpuParams);
    const step = new GpuTrainingStep(gpuNet, gpuParams, gpuOpt, net.input.slice(1), { logits, bnMomentum: 0.1, optimizer: sgd });
    const r = step.step(x.data, labels, lr);
    step.sync(gpuOpt);
    assert.ok(Math.abs(r.loss - cpu.loss) <= 1e-4 * Math.abs(cpu.loss), `${net.name}: loss GPU ${r.loss}, CPU ${cpu.loss}`);
    assert.equal(r.correct, cpu.correct, net.name);
    let worst = 0;
    // 1% of the network's largest gradient: the scale below which a gradient is rounding noise.
    const gradientFloor = 0.01 * Math.max(...cpuParams.map((c) => Math.max(...cpuOpt.slots.get(c.name)![0]!.map(Math.abs))));
    gpuParams.forEach((p, i) => {
      const c = cpuParams[i]!;
      assert.equal(p.name, c.name);
      // The first step's velocity is the gradient plus the decay term: compares every gradient.
      worst = Math.max(worst, assertClose(gpuOpt.slots.get(p.name)![0]!, cpuOpt.slots.get(c.name)![0]!, `${net.name} ${p.name} velocity`, TOLERANCE, gradientFloor));
      assert.ok(cpuOpt.slots.get(c.name)![0]!.some((v) => v !== 0), `${net.name} ${p.name}: a zero gradient (the comparison could not fail)`);
      worst = Math.max(worst, assertClose(p.data, c.data, `${net.name} ${p.name} after the update`, TOLERANCE, 2 * lr * gradientFloor));
    });
    // A running mean's scale is the running standard deviation (a mean near 0 is rounding noise).
    for (const [g, c] of gpuNet.nodes.map((n, i) => [n, cpuNet.nodes[i]!] as const)) {
      if (g.op !== "BatchNorm" || c.op !== "BatchNorm") continue;
      assertClose(g.mean.data, c.mean.data, `${net.name} ${g.name} running mean`, TOLERANCE, Math.sqrt(Math.max(...c.variance.data)));
      assertClose(g.variance.data, c.variance.data, `${net.name} ${g.name} running variance`);
    }
    console.log(`# ${net.name}: loss GPU ${r.loss.toPrecision(8)}, CPU ${cpu.loss.toPrecision(8)}; largest relative difference of a gradient or parameter ${worst.toExponential(2)}`);
  }
});

/** Ten classes of 3x8x8 images: class k brightens row k % 8 and channel k % 3, with noise. */
function stripesDataset(count: number, seed: number): Dataset {
  const rand = uniformRandom(seed);
  const images = new Uint8Array(count * 192), labels = new Uint8Array(count);
  for (let s = 0; s < count; s++) {
    const label = s % 10;
    labels[s] = label;
    for (let i = 0; i < 192; i++) {
      const c = Math.floor(i / 64), y = Math.floor((i % 64) / 8);
      images[s * 192 + i] = Math.floor((y === label % 8 || c === label % 3 ? 120 : 30) + rand() * 100);
    }
  }
  return { name: "stripes", split: "train", shape: [count, 3, 8, 8], images, labels, classes: 10 };
}

test("trainModel on the WebGPU backend trains resident on the GPU with the CPU's loss curve (ResNet-8, 3 epochs, a smaller last batch); QAT and dropout fall back with one note", { skip }, () => {
  const model = cifarResNet("resnet8", { inputShape: [3, 8, 8], width: 0.25, seed: 6 });
  const train = stripesDataset(40, 1);
  const config: TrainConfig = { epochs: 3, batchSize: 16, lr: 0.05, seed: 2, quiet: true, optimizer: DEFAULT_SGD };
  const cpu = onBackend("typescript", () => trainModel(model, train, null, config));
  const notes: string[] = [];
  const gpu = onBackend("webgpu", () => trainModel(model, train, null, { ...config, onGpuFallback: (why) => notes.push(why) }));
  assert.equal(notes.length, 0, notes.join("; "));
  const losses = (h: typeof cpu.history) => h.map((m) => m.trainLoss);
  console.log(`# ResNet-8 train loss per epoch: GPU ${losses(gpu.history).map((v) => v.toFixed(6)).join(", ")}; CPU ${losses(cpu.history).map((v) => v.toFixed(6)).join(", ")}`);
  assert.ok(cpu.history.at(-1)!.trainLoss < cpu.history[0]!.trainLoss, "the CPU's loss falls (the curve is worth comparing)");
  losses(gpu.history).forEach((l, i) => assert.ok(Math.abs(l - cpu.history[i]!.trainLoss) <= 1e-3 * cpu.history[i]!.trainLoss, `epoch ${i + 1}: GPU ${l}, CPU ${cpu.history[i]!.trainLoss}`));
  // The trained weights came back from the GPU (sync), on the CPU's trajectory after 9 steps (BatchNorm over batches of 16 and 8 amplifies float32 rounding step after step: within 5% of each tensor's largest value).
  const gp = collectParams(gpu.model), cp = collectParams(cpu.model);
  gp.forEach((p, i) => assertClose(p.data, cp[i]!.data, `trained ${p.name}`, 5e-2));
  // Dropout has no resident form: one note, the step-by-step path.
  onBackend("webgpu", () => trainModel(model, train, null, { ...config, epochs: 1, dropout: { anything: 0.5 }, onGpuFallback: (why) => notes.push(why) }));
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, /dropout does not train resident/);
});

test("the resident step refuses what has no GPU form, naming it, and checks its labels", { skip }, () => {
  const net = nets[0]!;
  const m = cloneModelForTraining(net.model);
  const params = collectParams(m);
  const { value: logits } = logitsValue(m);
  assert.throws(() => new GpuTrainingStep(m, params, newOptimizerState({ kind: "adam", beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }, params), net.input.slice(1), { logits, bnMomentum: 0.1, optimizer: { kind: "adam", beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } }),
    (e: unknown) => e instanceof AxnnError && /adam optimizer/.test(e.message));
  const step = new GpuTrainingStep(m, params, newOptimizerState(DEFAULT_SGD, params), net.input.slice(1), { logits, bnMomentum: 0.1, optimizer: DEFAULT_SGD });
  const x = new Rng(1).uniformTensor([2, ...net.input.slice(1)]);
  assert.throws(() => step.step(x.data, [1, 10], 0.1), /label 10 of row 1 is outside 0..9/);
});
