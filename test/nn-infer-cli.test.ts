// `axnn infer` through its commander registration (the lead wires it into main.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerInfer } from "../src/cli/infer.js";
import { ModelBuilder } from "../src/nn/builder.js";
import { exportOnnx } from "../src/onnx/export.js";
import { runModel } from "../src/nn/run.js";
import { readNpy, writeNpy } from "../src/nn/npy.js";
import { Rng } from "../src/nn/tensor.js";
import { AxnnError } from "../src/util/errors.js";
import { runCommand } from "./cli-inprocess.js";

async function infer(args: string[]): Promise<void> {
  await runCommand(registerInfer, ["infer", ...args]);
}

test("infer --mode float: chunks of --batch-size give the same output as one run", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-infer-"));
  const b = new ModelBuilder("cli", { seed: 4 });
  const x = b.input("x", [null, 2, 6, 6]);
  b.output(b.softmax(b.dense(b.flatten(b.maxPool(b.relu(b.conv2d(x, { outChannels: 3, kernel: 3, padding: 1 })), { kernel: 2 })), { outFeatures: 4 })));
  const model = b.build();
  writeFileSync(join(dir, "m.onnx"), exportOnnx(model));
  const input = new Rng(8).uniformTensor([5, 2, 6, 6]);
  writeNpy(join(dir, "x.npy"), input);
  await infer(["--model", join(dir, "m.onnx"), "--input", join(dir, "x.npy"), "-o", join(dir, "y.npy"), "--batch-size", "2"]);
  const y = readNpy(join(dir, "y.npy"));
  const want = runModel(model, { x: input })[model.outputs[0]!]!;
  assert.deepEqual(y.shape, [5, 4]);
  assert.deepEqual(Array.from(y.data), Array.from(want.data));

  const rejects = (args: string[], pattern: RegExp) =>
    assert.rejects(infer(["--model", join(dir, "m.onnx"), "--input", join(dir, "x.npy"), "-o", join(dir, "z.npy"), ...args]), (e: unknown) => e instanceof AxnnError && pattern.test(e.message));
  await rejects(["--mode", "approximate"], /--mode approximate needs --mult/);
  await rejects(["--mode", "fast"], /--mode: expected one of float, int8, approximate/);
  await rejects(["--batch-size", "0"], /--batch-size: expected a positive integer/);
  await rejects(["--output-name", "nope"], /no output "nope"/);
  writeNpy(join(dir, "bad.npy"), new Rng(1).uniformTensor([5, 3, 6, 6]));
  await assert.rejects(
    infer(["--model", join(dir, "m.onnx"), "--input", join(dir, "bad.npy"), "-o", join(dir, "z.npy")]),
    (e: unknown) => e instanceof AxnnError && /--input: .*bad\.npy: input "x" has shape \[5,3,6,6\], the model expects \[\?,2,6,6\]/.test(e.message),
  );
  rmSync(dir, { recursive: true, force: true });
});

test("infer on a model with a fixed batch of 2 (PyTorch export without dynamic axes): chunks of 2, the last one padded", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-infer-"));
  const b = new ModelBuilder("fixed", { seed: 5 });
  const x = b.input("x", [2, 3]);
  b.output(b.dense(b.reshape(x, [2, -1]), { outFeatures: 2 }));
  const model = b.build();
  writeFileSync(join(dir, "m.onnx"), exportOnnx(model));
  const input = new Rng(2).uniformTensor([3, 3]);
  writeNpy(join(dir, "x.npy"), input);
  await infer(["--model", join(dir, "m.onnx"), "--input", join(dir, "x.npy"), "-o", join(dir, "y.npy")]);
  const y = readNpy(join(dir, "y.npy"));
  assert.deepEqual(y.shape, [3, 2]);
  // Rows 0-1 from the first chunk, row 2 from [row 2, zeros].
  const first = runModel(model, { x: { shape: [2, 3], data: input.data.subarray(0, 6) } })[model.outputs[0]!]!;
  const last = runModel(model, { x: { shape: [2, 3], data: Float32Array.of(...input.data.subarray(6, 9), 0, 0, 0) } })[model.outputs[0]!]!;
  assert.deepEqual(Array.from(y.data), [...first.data, ...last.data.subarray(0, 2)]);
  rmSync(dir, { recursive: true, force: true });
});
