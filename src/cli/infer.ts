import type { Command } from "commander";
import { AxnnError } from "../util/errors.js";
import { loadOnnx } from "../onnx/import.js";
import { runBatched } from "../nn/run.js";
import { readNpy, writeNpy } from "../nn/npy.js";
import { shapeToString } from "../nn/tensor.js";

interface InferOptions {
  model: string;
  input: string;
  output: string;
  mode: string;
  batchSize: string;
  outputName?: string;
}

const MODES = ["float", "int8", "approximate"];

/** `axnn infer`: runs an ONNX model on a .npy batch. */
export function registerInfer(program: Command): void {
  program
    .command("infer")
    .description("run an ONNX model on a .npy batch (float32, batch first) and write the output as .npy")
    .requiredOption("--model <file>", "ONNX model")
    .requiredOption("--input <file>", ".npy input, batch first (converted to float32)")
    .requiredOption("-o, --output <file>", ".npy output (float32)")
    .option("--mode <mode>", "float (reference arithmetic); int8 and approximate come with quantization", "float")
    .option("--batch-size <n>", "samples per chunk (a model with a fixed batch size uses its own)", "64")
    .option("--output-name <name>", "which model output to write (default: the first)")
    .action((opts: InferOptions) => {
      if (!MODES.includes(opts.mode)) throw new AxnnError(`expected one of ${MODES.join(", ")}, got "${opts.mode}"`, { field: "--mode" });
      if (opts.mode !== "float") {
        throw new AxnnError(`mode "${opts.mode}" needs quantized inference, which is not available yet; use --mode float`, { field: "--mode" });
      }
      const batchSize = Number(opts.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new AxnnError(`expected a positive integer, got "${opts.batchSize}"`, { field: "--batch-size" });
      const model = loadOnnx(opts.model);
      const input = readNpy(opts.input);
      let y;
      try {
        y = runBatched(model, input, batchSize, opts.outputName);
      } catch (e) {
        // Name the flag the user can fix.
        if (e instanceof AxnnError && (e.field === "input" || e.field === "inputs")) throw new AxnnError(`${opts.input}: ${e.message.replace(/^inputs?: /, "")}`, { field: "--input" });
        if (e instanceof AxnnError && e.field === "output") throw new AxnnError(e.message.replace(/^output: /, ""), { field: "--output-name" });
        throw e;
      }
      writeNpy(opts.output, y);
      process.stderr.write(`wrote ${opts.output} ${shapeToString(y.shape)}\n`);
    });
}
