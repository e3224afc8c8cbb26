// `axnn infer --mode int8 | approximate`: quantized inference of a .npy batch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerInfer } from "../src/cli/infer.js";
import { ModelBuilder } from "../src/nn/builder.js";
import { exportOnnx } from "../src/onnx/export.js";
import { loadOnnx } from "../src/onnx/import.js";
import { readNpy, writeNpy } from "../src/nn/npy.js";
import { Rng } from "../src/nn/tensor.js";
import { quantizeModel, EXACT_INT8 } from "../src/quant/index.js";
import { AxnnError } from "../src/util/errors.js";
import { runCommand } from "./cli-inprocess.js";

async function infer(args: string[]): Promise<void> {
  await runCommand(registerInfer, ["infer", ...args]);
}

test("infer --mode int8 equals the engine run with the input as calibration data; the exact table equals int8; bad flags are refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-qinfer-"));
  const b = new ModelBuilder("q", { seed: 4 });
  const x = b.input("x", [null, 2, 8, 8]);
  const h = b.relu(b.batchNorm(b.conv2d(x, { outChannels: 4, kernel: 3, padding: 1, bias: false })));
  b.output(b.dense(b.flatten(b.maxPool(h, { kernel: 2 })), { outFeatures: 5 }));
  writeFileSync(join(dir, "m.onnx"), exportOnnx(b.build()));
  const input = new Rng(8).uniformTensor([7, 2, 8, 8]);
  writeNpy(join(dir, "x.npy"), input);
  const run = (out: string, ...flags: string[]) => infer(["--model", join(dir, "m.onnx"), "--input", join(dir, "x.npy"), "-o", join(dir, out), "--batch-size", "3", ...flags]);

  await run("int8.npy", "--mode", "int8", "--quant", "sym", "--per-channel");
  const model = loadOnnx(join(dir, "m.onnx"));
  const q = quantizeModel(model, [{ x: input }], { scheme: "sym", perChannel: true, calibration: { method: "minmax" } });
  const want = q.run({ x: input }, EXACT_INT8)[model.outputs[0]!]!;
  const got = readNpy(join(dir, "int8.npy"));
  assert.deepEqual(got.shape, [7, 5]);
  assert.deepEqual(got.data, want.data);

  await run("lut.npy", "--mode", "approximate", "--mult", "exact_s8x8", "--per-channel");
  assert.deepEqual(readNpy(join(dir, "lut.npy")).data, want.data);
  await run("drum.npy", "--mode", "int8", "--mult", "drum_k3_u8x8");
  assert.notDeepEqual(readNpy(join(dir, "drum.npy")).data, readNpy(join(dir, "int8.npy")).data);
  // A multiplier implies approximate mode: no --mode needed.
  await run("implied.npy", "--mult", "exact_s8x8", "--per-channel");
  assert.deepEqual(readNpy(join(dir, "implied.npy")).data, want.data);
  // -o/--out is the output option; --output, its old name, still works (hidden), but not both.
  await infer(["--model", join(dir, "m.onnx"), "--input", join(dir, "x.npy"), "--output", join(dir, "old.npy"), "--mode", "int8", "--quant", "sym", "--per-channel"]);
  assert.deepEqual(readNpy(join(dir, "old.npy")).data, want.data);
  await assert.rejects(infer(["--model", join(dir, "m.onnx"), "--input", join(dir, "x.npy"), "--out", join(dir, "a.npy"), "--output", join(dir, "b.npy")]), /give -o\/--out once/);
  await assert.rejects(infer(["--model", join(dir, "m.onnx"), "--input", join(dir, "x.npy")]), /required option '-o, --out <file>' not specified/);

  const rejects = (flags: string[], pattern: RegExp) => assert.rejects(run("z.npy", ...flags), (e: unknown) => e instanceof AxnnError && pattern.test(e.message));
  await rejects(["--mode", "float", "--mult", "drum_k4_u8x8"], /--mode: --mode float runs in float32/);
  await rejects(["--mode", "approximate"], /--mult: --mode approximate needs --mult/);
  await rejects(["--mode", "int8", "--mult", "drum_k4_s8x8", "--quant", "asym"], /--mult: multiplier "drum_k4_s8x8" is signed/);
  await rejects(["--mode", "int8", "--mult", "no_such_thing"], /unknown multiplier "no_such_thing"/);
  await rejects(["--mode", "int8", "--calibration", "kl"], /--calibration: expected one of minmax, percentile, mse/);
  writeNpy(join(dir, "bad.npy"), new Rng(1).uniformTensor([3, 3, 8, 8]));
  await rejects(["--mode", "int8", "--calib-data", join(dir, "bad.npy")], /--calib-data: .*bad\.npy: input "x" has shape \[3,3,8,8\], the model expects \[\?,2,8,8\]/);
  rmSync(dir, { recursive: true, force: true });
});
