// The model sidecar through the CLI: axnn train writes it, axnn eval takes its settings from it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AxnnError } from "../src/util/errors.js";
import { registerTrain } from "../src/cli/train.js";
import { registerEval } from "../src/cli/eval.js";
import { formatSidecar, sidecarPath } from "../src/zoo/sidecar.js";
import { runCommand } from "./cli-inprocess.js";
import { writeTinyCnn, writeTwoClassIdx } from "./tiny-idx.js";

test("sidecar: axnn train records the normalisation, axnn eval uses it and the stored multipliers and ranges", async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-sidecar-cli-"));
  try {
    const { data } = writeTwoClassIdx(dir, 96, 5);
    writeTinyCnn(join(dir, "in.onnx"), 4);
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
