// `axnn train` (registerTrain on its own command tree; main.ts wires it separately).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runModel } from "../src/nn/run.js";
import { loadOnnx } from "../src/onnx/index.js";
import { AxnnError } from "../src/util/errors.js";
import { registerTrain } from "../src/cli/train.js";
import { runCommand } from "./cli-inprocess.js";
import { writeTinyCnn, writeTwoClassIdx } from "./tiny-idx.js";

const axnnTrain = (args: string[]): Promise<string> => runCommand(registerTrain, ["train", ...args]);

test("axnn train: an ONNX model on IDX data, JSON metrics, ONNX out; resume; bad options", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-train-cli-"));
  try {
    const n = 80;
    const { data, images, labels } = writeTwoClassIdx(dir, n, 3);
    writeTinyCnn(join(dir, "in.onnx"), 3);
    const common = ["--model", join(dir, "in.onnx"), "--data", data, "--batch-size", "8", "--lr", "0.05", "--schedule", "step", "--step-epochs", "2"];
    const json = JSON.parse(await axnnTrain([...common, "--epochs", "3", "--json", "--checkpoint", join(dir, "ck"), "-o", join(dir, "out.onnx")]));
    assert.equal(json.history.length, 3);
    assert.ok(Math.abs(json.history[2].lr - 0.005) < 1e-12); // third epoch: decayed once by the default gamma 0.1
    assert.ok(json.history[2].trainAccuracy >= 0.95, `train accuracy ${json.history[2].trainAccuracy}`);
    // The written model classifies the data as the reported test accuracy says.
    const trained = loadOnnx(join(dir, "out.onnx"));
    const xs = { shape: [n, 1, 6, 6], data: Float32Array.from(images, (v) => v / 255) };
    const y = runModel(trained, { x: xs })[trained.outputs[0]!]!;
    let correct = 0;
    for (let s = 0; s < n; s++) if ((y.data[2 * s + 1]! > y.data[2 * s]! ? 1 : 0) === labels[s]) correct++;
    assert.equal(correct / n, json.history[2].testAccuracy);
    // Resuming a finished run trains nothing more and reports the same history.
    const again = JSON.parse(await axnnTrain([...common, "--epochs", "3", "--json", "--checkpoint", join(dir, "ck"), "--resume", "-o", join(dir, "out2.onnx")]));
    assert.equal(again.startEpoch, 3);
    assert.deepEqual(again.history, json.history);
    await assert.rejects(axnnTrain([...common, "--epochs", "3", "--optimizer", "rmsprop", "-o", join(dir, "x.onnx")]), (e: unknown) => e instanceof AxnnError && /--optimizer/.test(e.message));
    await assert.rejects(axnnTrain([...common, "--arch", "lenet5", "--epochs", "1", "-o", join(dir, "x.onnx")]), (e: unknown) => e instanceof AxnnError && /either --arch or --model/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
