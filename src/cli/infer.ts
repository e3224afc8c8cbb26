import type { Command } from "commander";
import { AxnnError } from "../util/errors.js";
import { loadOnnx } from "../onnx/import.js";
import { runBatchedWith, runModel } from "../nn/run.js";
import { plannedRunner } from "../plan/index.js";
import { readNpy, writeNpy } from "../nn/npy.js";
import { shapeToString, sizeOf, type Tensor } from "../nn/tensor.js";
import { resolveMultiplier } from "../multipliers/resolve.js";
import { CALIBRATION_METHODS, type CalibrationMethod } from "../quant/calibrate.js";
import { checkMultiplierFits, EXACT_INT8, quantizeModel, type LayerArithmetic } from "../quant/model.js";
import type { QuantScheme } from "../quant/params.js";
import type { Model } from "../nn/graph.js";
import { addOutOption, deviceOption, parseNumberOption } from "./common.js";

interface InferOptions {
  model: string;
  input: string;
  out: string;
  mode?: string;
  batchSize: string;
  outputName?: string;
  quant?: string;
  mult?: string;
  perChannel?: boolean;
  calibration: string;
  calibData?: string;
  calibSize: string;
}

const MODES = ["float", "int8", "approximate"];

/**
 * Calibration batches of a single-input model: `count` samples of `data` in chunks of the model's
 * fixed batch size (a short last chunk filled with samples from the start) or of `batchSize`.
 */
function calibrationBatches(model: Model, data: Tensor, count: number, batchSize: number): Record<string, Tensor>[] {
  const input = model.inputs[0]!;
  const n = Math.min(count, data.shape[0]!);
  const per = sizeOf(data.shape.slice(1));
  const chunk = input.shape[0] ?? batchSize;
  const out: Record<string, Tensor>[] = [];
  for (let start = 0; start < n; start += chunk) {
    const rows = input.shape[0] ?? Math.min(chunk, n - start);
    const buf = new Float32Array(rows * per);
    for (let r = 0; r < rows; r++) buf.set(data.data.subarray(((start + r) % n) * per, ((start + r) % n + 1) * per), r * per);
    out.push({ [input.name]: { shape: [rows, ...data.shape.slice(1)], data: buf } });
  }
  return out;
}

/** `axnn infer`: runs an ONNX model on a .npy batch, in float, exact int8 or through an approximate multiplier. */
export function registerInfer(program: Command): void {
  addOutOption(deviceOption(program.command("infer"))
    .description("run an ONNX model on a .npy batch (float32, batch first) and write the output as .npy")
    .requiredOption("--model <file>", "ONNX model")
    .requiredOption("--input <file>", ".npy input, batch first (converted to float32)")
    .option("--mode <mode>", "float (reference arithmetic), int8 (quantized; through --mult when given) or approximate (needs --mult); default: approximate with --mult, else float")
    .option("--quant <scheme>", "sym (int8, signed multipliers) or asym (uint8 with zero points, unsigned); default from --mult, else asym")
    .option("--mult <name|file>", "approximate multiplier for every approximable layer (library or generator name, .bin, .v)")
    .option("--per-channel", "one weight scale per output channel")
    .option("--calibration <method>", `activation ranges: ${CALIBRATION_METHODS.join(", ")}`, "minmax")
    .option("--calib-data <file>", ".npy calibration samples (default: the input itself)")
    .option("--calib-size <n>", "calibration samples used", "256")
    .option("--batch-size <n>", "samples per chunk (a model with a fixed batch size uses its own)", "64")
    .option("--output-name <name>", "which model output to write (default: the first)"), "file", ".npy output (float32)", { required: true })
    .action((opts: InferOptions) => {
      // A multiplier implies approximate arithmetic.
      opts.mode ??= opts.mult !== undefined ? "approximate" : "float";
      if (!MODES.includes(opts.mode)) throw new AxnnError(`expected one of ${MODES.join(", ")}, got "${opts.mode}"`, { field: "--mode" });
      if (opts.mode === "float" && (opts.mult !== undefined || opts.quant !== undefined || opts.perChannel)) {
        throw new AxnnError(`--mode float runs in float32; --mult, --quant and --per-channel need --mode int8 or approximate`, { field: "--mode" });
      }
      if (opts.mode === "approximate" && opts.mult === undefined) throw new AxnnError("--mode approximate needs --mult <name|file>", { field: "--mult" });
      if (opts.quant !== undefined && opts.quant !== "sym" && opts.quant !== "asym") throw new AxnnError(`expected sym or asym, got "${opts.quant}"`, { field: "--quant" });
      if (!CALIBRATION_METHODS.includes(opts.calibration as CalibrationMethod)) throw new AxnnError(`expected one of ${CALIBRATION_METHODS.join(", ")}, got "${opts.calibration}"`, { field: "--calibration" });
      const batchSize = parseNumberOption(opts.batchSize, "--batch-size", { integer: true, positive: true });
      const calibSize = parseNumberOption(opts.calibSize, "--calib-size", { min: 1, integer: true });
      // Resolve the multiplier before the model is read: a typo should not wait for a large file.
      const multiplier = opts.mult !== undefined ? resolveMultiplier(opts.mult).multiplier : undefined;
      const scheme: QuantScheme = (opts.quant as QuantScheme | undefined) ?? (multiplier?.signed ? "sym" : "asym");
      if (multiplier) checkMultiplierFits(multiplier, scheme, "--mult");
      const model = loadOnnx(opts.model);
      const input = readNpy(opts.input);
      const rename = (e: unknown, file: string): never => {
        // Name the flag the user can fix.
        if (e instanceof AxnnError && (e.field === "input" || e.field === "inputs")) throw new AxnnError(`${file}: ${e.message.replace(/^inputs?: /, "")}`, { field: file === opts.input ? "--input" : "--calib-data" });
        if (e instanceof AxnnError && e.field === "output") throw new AxnnError(e.message.replace(/^output: /, ""), { field: "--output-name" });
        throw e;
      };
      // Float runs the reference engine (BatchNorm and every op as written: "reference arithmetic");
      // int8 and approximate run on compiled plans, whose outputs are the reference's bit for bit.
      let runnable = model;
      let run = (inputs: Record<string, Tensor>): Record<string, Tensor> => runModel(model, inputs);
      if (opts.mode !== "float") {
        if (model.inputs.length !== 1) throw new AxnnError(`the model has ${model.inputs.length} inputs; quantized inference needs a single-input model`, { field: "--model" });
        const calibFile = opts.calibData ?? opts.input;
        const calib = opts.calibData !== undefined ? readNpy(opts.calibData) : input;
        if (calib.shape.length === 0 || calib.shape[0] === 0) throw new AxnnError("no calibration samples", { field: "--calib-data" });
        let q;
        try {
          q = quantizeModel(model, calibrationBatches(model, calib, calibSize, batchSize), { scheme, perChannel: opts.perChannel ?? false, calibration: { method: opts.calibration as CalibrationMethod } });
        } catch (e) {
          rename(e, calibFile);
        }
        const arithmetic: LayerArithmetic = multiplier ? { kind: "lut", multiplier } : EXACT_INT8;
        run = plannedRunner(q!, arithmetic);
        runnable = q!.model;
      }
      let y;
      try {
        y = runBatchedWith(runnable, run, input, batchSize, opts.outputName);
      } catch (e) {
        rename(e, opts.input);
      }
      writeNpy(opts.out, y!);
      process.stderr.write(`wrote ${opts.out} ${shapeToString(y!.shape)}${opts.mode === "float" ? "" : ` (${scheme}${opts.perChannel ? " per-channel" : ""}, ${multiplier ? multiplier.name : "exact int8"})`}\n`);
    });
}
