// The model sidecar through the CLI: axnn train writes it, axnn eval takes its settings from it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeIdxUint8 } from "../src/data/idx.js";
import { ModelBuilder } from "../src/nn/builder.js";
import { writeOnnx } from "../src/onnx/index.js";
import { uniformRandom } from "../src/util/random.js";
import { AxnnError } from "../src/util/errors.js";
import { registerTrain } from "../src/cli/train.js";
import { registerEval } from "../src/cli/eval.js";
import { formatSidecar, sidecarPath } from "../src/zoo/sidecar.js";
import { runCommand } from "./cli-inprocess.js";

test("sidecar: axnn train records the normalisation, axnn eval uses it and the stored multipliers and ranges", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-sidecar-cli-"));
  try {
    const n = 96, rand = uniformRandom(5);
    const images = new Uint8Array(n * 36), labels = new Uint8Array(n);
    for (let s = 0; s < n; s++) {
      labels[s] = s % 2;
      for (let p = 0; p < 36; p++) images[s * 36 + p] = Math.floor(((p < 18) === (s % 2 === 0) ? 120 : 30) + rand() * 100);
    }
    writeFileSync(join(dir, "img.idx"), encodeIdxUint8([n, 6, 6], images));
    writeFileSync(join(dir, "lab.idx"), encodeIdxUint8([n], labels));
    const b = new ModelBuilder("tiny", { seed: 2 });
    const x = b.input("x", [null, 1, 6, 6]);
    b.output(b.softmax(b.dense(b.flatten(b.relu(b.conv2d(x, { outChannels: 4, kernel: 3 }))), { outFeatures: 2 })));
    writeOnnx(join(dir, "in.onnx"), b.build());
    const data = `idx:${join(dir, "img.idx")},${join(dir, "lab.idx")}`;
    const model = join(dir, "m.onnx");
    await runCommand(registerTrain, ["train", "--model", join(dir, "in.onnx"), "--data", data, "--epochs", "2", "--batch-size", "8", "--normalize", "0.4:0.3", "--json", "-o", model]);
    const side = JSON.parse(readFileSync(sidecarPath(model), "utf8"));
    assert.deepEqual(side.input, { normalize: "0.4:0.3" });

    const evalJson = async (args: string[]) => JSON.parse(await runCommand(registerEval, ["eval", "--model", model, "--data", data, "--json", ...args]));
    // No --normalize: the sidecar's. The same figures as with the option given explicitly.
    const implicit = await evalJson([]);
    const explicit = await evalJson(["--normalize", "0.4:0.3", "--no-sidecar"]);
    assert.equal(implicit.quant.settings_from, sidecarPath(model));
    assert.equal(explicit.quant.settings_from, undefined);
    assert.equal(implicit.float_top1, explicit.float_top1);
    assert.equal(implicit.int8_top1, explicit.int8_top1);

    // A sidecar with a multiplier assignment and calibrated ranges (as axnn finetune writes).
    const layers = (implicit.layers as { name: string }[]).map((l) => l.name);
    // Ranges far too wide on purpose: every input quantizes to the zero point, so the class is constant.
    const activations = Object.fromEntries(layers.map((name) => [name, { scale: 1000, zeroPoint: 3, qmin: 0, qmax: 255 }]));
    writeFileSync(sidecarPath(model), formatSidecar({
      input: { normalize: "0.4:0.3" },
      quantization: { scheme: "asym", perChannel: false, activations },
      multipliers: { default: "drum_k4_u8x8", layers: {} },
    }));
    const stored = await evalJson([]);
    assert.equal(stored.quant.ranges, "stored");
    assert.deepEqual(stored.layers.map((l: { multiplier: string }) => l.multiplier), layers.map(() => "drum_k4_u8x8"));
    // Command-line options win over the sidecar; a new calibration replaces the stored ranges.
    const overridden = await evalJson(["--mult", "exact", "--calibration", "minmax"]);
    assert.equal(overridden.quant.ranges, "calibrated");
    assert.deepEqual(overridden.layers.map((l: { multiplier: string }) => l.multiplier), layers.map(() => "exact"));
    assert.equal(overridden.int8_top1, implicit.int8_top1);
    // The stored ranges are really used: they lose all information, calibrated ones do not.
    assert.equal(stored.int8_top1, 0.5);
    assert.ok(overridden.int8_top1 > 0.9, `int8 with calibrated ranges ${overridden.int8_top1}`);

    // A sidecar naming a layer the model lacks is an error naming the file and the field.
    writeFileSync(sidecarPath(model), formatSidecar({ multipliers: { default: "exact", layers: { nope: "drum_k4_u8x8" } } }));
    await assert.rejects(evalJson([]), (e: unknown) => e instanceof AxnnError && /nope/.test(e.message) && e.message.includes(sidecarPath(model)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
