// --device cpu|gpu|auto and AXNN_DEVICE: the option on every command that runs kernels, the
// no-adapter path in child processes (a clear one-line message or error, never Dawn's driver
// warnings, never a crash), and the same results on the GPU as on the CPU. The GPU runs skip
// with a message when no WebGPU adapter can be created (CI has SwiftShader and requires it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { registerEval, registerSensitivity } from "../src/cli/eval.js";
import { registerInfer } from "../src/cli/infer.js";
import { registerTrain } from "../src/cli/train.js";
import { registerFinetune } from "../src/cli/finetune.js";
import { registerSearch } from "../src/cli/search.js";
import { registerSearchNas } from "../src/cli/search-nas.js";
import { registerWorker } from "../src/cli/worker.js";
import { registerAxp } from "../src/cli/axp.js";
import { kernelBackend, kernelDevice, selectDevice, setBackend } from "../src/kernels/index.js";
import { webGpuAdapter } from "../src/kernels/webgpu/backend.js";
import { writeNpy } from "../src/nn/npy.js";
import { Rng } from "../src/nn/tensor.js";
import { AxnnError } from "../src/util/errors.js";
import { runCommand } from "./cli-inprocess.js";
import { REPO_ROOT } from "./shared.js";
import { writeTinyCnn, writeTwoClassIdx } from "./tiny-idx.js";

const CLI = join(REPO_ROOT, "dist", "src", "cli", "main.js");
const adapter = webGpuAdapter();
if (!adapter.info && process.env.AXNN_REQUIRE_GPU === "1") throw new Error(`AXNN_REQUIRE_GPU=1 but no WebGPU adapter: ${adapter.why}`);
const noGpu = !adapter.info && `${adapter.why}; set VK_ICD_FILENAMES to a Vulkan driver, e.g. SwiftShader's`;

/** The commands that run kernels, with the least arguments that pass commander's own checks. */
const COMMANDS: { register: (p: Command) => void; args: string[] }[] = [
  { register: registerEval, args: ["eval", "--model", "m.onnx", "--data", "mnist"] },
  { register: registerSensitivity, args: ["sensitivity", "--model", "m.onnx", "--data", "mnist", "--mult", "exact"] },
  { register: registerInfer, args: ["infer", "--model", "m.onnx", "--input", "x.npy", "-o", "y.npy"] },
  { register: registerTrain, args: ["train", "--arch", "lenet5", "--data", "mnist", "--epochs", "1", "-o", "m.onnx"] },
  { register: registerFinetune, args: ["finetune", "--model", "m.onnx", "--data", "mnist", "--epochs", "1", "-o", "f.onnx"] },
  { register: registerSearch, args: ["search", "assign", "--model", "m.onnx", "--data", "mnist", "--mults", "exact", "-o", "out"] },
  { register: registerSearchNas, args: ["search", "nas", "--data", "mnist", "--mults", "exact", "-o", "out"] },
  { register: registerWorker, args: ["worker", "--queue", "redis://127.0.0.1:1"] },
  { register: registerAxp, args: ["axp", "cluster", "--model", "m.onnx", "--clusters", "4", "-o", "c.onnx"] },
  { register: registerAxp, args: ["axp", "sweep", "--model", "m.onnx", "--data", "mnist"] },
];

/** Runs fn and then restores the kernel backend in use before (an in-process --device switches it). */
async function keepingBackend<T>(fn: () => Promise<T>): Promise<T> {
  const before = kernelBackend();
  try {
    return await fn();
  } finally {
    setBackend(before);
  }
}

test("every kernel command takes --device and AXNN_DEVICE, checked before the command runs", async () => {
  for (const { register, args } of COMMANDS) {
    const name = args[0] === "search" || args[0] === "axp" ? `${args[0]} ${args[1]}` : args[0]!;
    await assert.rejects(runCommand(register, [...args, "--device", "tpu"]), (e: unknown) => e instanceof AxnnError && e.message === `--device: expected cpu, gpu or auto, got "tpu"`, name);
    process.env.AXNN_DEVICE = "npu";
    try {
      await assert.rejects(runCommand(register, args), (e: unknown) => e instanceof AxnnError && e.message === `AXNN_DEVICE: expected cpu, gpu or auto, got "npu"`, name);
    } finally {
      delete process.env.AXNN_DEVICE;
    }
  }
});

/** The CLI in a child process with the given environment changes. */
function axnn(args: string[], env: Record<string, string | undefined>): { code: number | null; stdout: string; stderr: string } {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k]; else childEnv[k] = v;
  const r = spawnSync(process.execPath, [CLI, ...args], { env: childEnv, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("without a Vulkan driver: auto runs on the CPU after one line saying why, gpu is a one-line error; no driver warnings, no crash", { skip: process.platform !== "linux" && "the no-driver case is made with VK_ICD_FILENAMES (Linux)" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-device-"));
  try {
    writeTinyCnn(join(dir, "m.onnx"), 3);
    writeNpy(join(dir, "x.npy"), new Rng(3).uniformTensor([4, 1, 6, 6], 0, 1));
    const infer = (out: string, extra: string[]) => ["infer", "--model", join(dir, "m.onnx"), "--input", join(dir, "x.npy"), "-o", join(dir, out), "--mode", "approximate", "--mult", "drum_k3_u8x8", ...extra];
    const noDriver = { VK_ICD_FILENAMES: join(dir, "no-such-icd.json"), AXNN_DEVICE: undefined };

    const cpu = axnn(infer("cpu.npy", ["--device", "cpu"]), noDriver);
    assert.equal(cpu.code, 0, cpu.stderr);
    assert.doesNotMatch(cpu.stderr, /GPU|Warning|vkCreateInstance/, "--device cpu never looks for a GPU");

    const auto = axnn(infer("auto.npy", ["--device", "auto"]), noDriver);
    assert.equal(auto.code, 0, auto.stderr);
    const autoLines = auto.stderr.trim().split("\n");
    assert.match(autoLines[0]!, /^axnn: no usable GPU \(no WebGPU adapter .*Found no drivers.*\); running on the CPU \(/);
    assert.equal(autoLines.filter((l) => !l.startsWith("wrote ")).length, 1, auto.stderr);
    assert.deepEqual(readFileSync(join(dir, "auto.npy")), readFileSync(join(dir, "cpu.npy")));

    const gpu = axnn(infer("gpu.npy", ["--device", "gpu"]), noDriver);
    assert.equal(gpu.code, 1, gpu.stderr);
    assert.match(gpu.stderr, /^axnn: error: --device: no usable GPU: no WebGPU adapter [^\n]*\n$/);

    const env = axnn(infer("env.npy", []), { ...noDriver, AXNN_DEVICE: "gpu" });
    assert.equal(env.code, 1, env.stderr);
    assert.match(env.stderr, /^axnn: error: AXNN_DEVICE: no usable GPU: [^\n]*\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("AXNN_DEVICE selects the library's kernels in a process that never parses options (search nas's candidate processes)", { skip: noGpu }, () => {
  const probe = `import("${join(REPO_ROOT, "dist", "src", "kernels", "index.js")}").then((k) => console.log(k.kernelBackend(), k.kernelDevice()))`;
  const run = (device: string) => spawnSync(process.execPath, ["--input-type=module", "-e", probe], { env: { ...process.env, AXNN_DEVICE: device }, encoding: "utf8" });
  const gpu = run("gpu");
  assert.equal(gpu.stdout.trim(), "webgpu gpu", gpu.stderr);
  const cpu = run("cpu");
  assert.match(cpu.stdout.trim(), /^(typescript|native-\w+) cpu$/, cpu.stderr);
  assert.equal(kernelDevice(), "cpu");
});

test("auto takes a hardware adapter and passes over a software one (SwiftShader), saying why", { skip: noGpu }, () => {
  const before = kernelBackend();
  try {
    const choice = selectDevice("auto");
    if (adapter.info!.isFallbackAdapter) {
      assert.equal(choice.device, "cpu");
      assert.equal(kernelBackend(), before);
      assert.match(choice.note, /^the only GPU adapter is a software one \(.+\), slower than the CPU kernels; running on the CPU/);
    } else {
      assert.deepEqual(choice, { device: "gpu", backend: "webgpu", note: "" });
      assert.equal(kernelDevice(), "gpu");
    }
  } finally {
    setBackend(before);
  }
});

test("eval, sensitivity, infer and finetune give the same results with --device gpu as with --device cpu", { skip: noGpu }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-device-"));
  try {
    const { data } = writeTwoClassIdx(dir, 24, 5);
    const model = join(dir, "m.onnx");
    writeTinyCnn(model, 4);
    const evalArgs = ["--model", model, "--data", data, "--calib-size", "8", "--batch-size", "8", "--json"];
    const strip = (r: object) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.endsWith("images_per_s") && k !== "backend" && k !== "elapsed_ms"));
    const onDevice = (register: (p: Command) => void, args: string[], device: string) =>
      keepingBackend(async () => {
        const out = await runCommand(register, [...args, "--device", device]);
        return { out, backend: kernelBackend() };
      });

    const evalCpu = await onDevice(registerEval, ["eval", ...evalArgs, "--mult", "drum_k3_u8x8"], "cpu");
    const evalGpu = await onDevice(registerEval, ["eval", ...evalArgs, "--mult", "drum_k3_u8x8"], "gpu");
    assert.equal(evalGpu.backend, "webgpu");
    assert.equal(JSON.parse(evalGpu.out).backend, "webgpu");
    assert.deepEqual(strip(JSON.parse(evalGpu.out)), strip(JSON.parse(evalCpu.out)));

    const sensCpu = await onDevice(registerSensitivity, ["sensitivity", ...evalArgs, "--mult", "drum_k3_u8x8"], "cpu");
    const sensGpu = await onDevice(registerSensitivity, ["sensitivity", ...evalArgs, "--mult", "drum_k3_u8x8"], "gpu");
    assert.deepEqual(strip(JSON.parse(sensGpu.out)), strip(JSON.parse(sensCpu.out)));

    writeNpy(join(dir, "x.npy"), new Rng(9).uniformTensor([6, 1, 6, 6], 0, 1));
    const inferArgs = (out: string) => ["infer", "--model", model, "--input", join(dir, "x.npy"), "-o", join(dir, out), "--mode", "approximate", "--mult", "drum_k3_u8x8", "--per-channel"];
    await onDevice(registerInfer, inferArgs("cpu.npy"), "cpu");
    await onDevice(registerInfer, inferArgs("gpu.npy"), "gpu");
    assert.deepEqual(readFileSync(join(dir, "gpu.npy")), readFileSync(join(dir, "cpu.npy")));

    // QAT's approximate layers run on the GPU bit for bit; calibration's float convolution sums in
    // the GPU's order (float32 results agree up to summation order), so the loss may differ in its last bits.
    const finetuneArgs = (out: string) => ["finetune", "--model", model, "--data", data, "--mult", "drum_k3_u8x8", "--epochs", "1", "--train-samples", "16", "--limit", "8",
      "--calib-size", "8", "--batch-size", "8", "--quiet", "--json", "-o", join(dir, out)];
    const ftCpu = JSON.parse((await onDevice(registerFinetune, finetuneArgs("ft-cpu.onnx"), "cpu")).out);
    const ftGpu = JSON.parse((await onDevice(registerFinetune, finetuneArgs("ft-gpu.onnx"), "gpu")).out);
    type Epoch = { trainLoss: number; trainAccuracy: number; imagesPerSecond?: number; seconds?: number };
    const losses = (r: { history: Epoch[] }) => r.history.map((h) => h.trainLoss);
    const rest = (r: { history: Epoch[] }) => ({ ...strip(r), history: r.history.map(({ trainLoss: _l, imagesPerSecond: _i, seconds: _s, ...h }) => h) });
    assert.deepEqual(rest(ftGpu), rest(ftCpu));
    losses(ftGpu).forEach((l, i) => assert.ok(Math.abs(l - losses(ftCpu)[i]!) <= 1e-6 * Math.abs(losses(ftCpu)[i]!), `epoch ${i + 1} loss ${l} on the GPU, ${losses(ftCpu)[i]} on the CPU`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
