import type { Command } from "commander";
import { AxnnError } from "../util/errors.js";
import { loadOnnx } from "../onnx/import.js";
import { runModel } from "../nn/run.js";
import { readNpy, writeNpy } from "../nn/npy.js";
import { shapeToString, sizeOf, type Tensor } from "../nn/tensor.js";
import type { Model } from "../nn/graph.js";

interface InferOptions {
  model: string;
  input: string;
  output: string;
  mode: string;
  batchSize: string;
  outputName?: string;
}

const MODES = ["float", "int8", "approximate"];

/**
 * Runs a model on a whole .npy batch, `batchSize` samples at a time, and concatenates the chunks
 * of the chosen output along the batch axis.
 */
export function inferBatched(model: Model, input: Tensor, batchSize: number, outputName?: string): Tensor {
  if (model.inputs.length !== 1) {
    throw new AxnnError(`the model has ${model.inputs.length} inputs (${model.inputs.map((i) => i.name).join(", ")}); only single-input models can be run from a .npy file`, { field: "--model" });
  }
  const out = outputName ?? model.outputs[0]!;
  if (!model.outputs.includes(out)) throw new AxnnError(`the model has no output "${out}"; its outputs are ${model.outputs.join(", ")}`, { field: "--output-name" });
  const inName = model.inputs[0]!.name;
  const declared = model.inputs[0]!.shape;
  if (input.shape.length !== declared.length || input.shape.length === 0) {
    throw new AxnnError(`input has shape ${shapeToString(input.shape)}, the model expects ${shapeToString(declared)} (batch first)`, { field: "--input" });
  }
  const n = input.shape[0]!;
  const per = sizeOf(input.shape.slice(1));
  // A model exported with a fixed batch (PyTorch without dynamic axes) runs in chunks of exactly that batch,
  // the last one zero-padded and its extra rows dropped.
  const fixedBatch = declared[0];
  const chunkSize = fixedBatch ?? batchSize;
  const chunks: Tensor[] = [];
  for (let start = 0; start < n; start += chunkSize) {
    const count = Math.min(chunkSize, n - start);
    let data = input.data.subarray(start * per, (start + count) * per);
    if (fixedBatch !== null && fixedBatch !== undefined && count < fixedBatch) {
      const padded = new Float32Array(fixedBatch * per);
      padded.set(data);
      data = padded;
    }
    const y = runModel(model, { [inName]: { shape: [data.length / per, ...input.shape.slice(1)], data } })[out]!;
    if (y.shape[0] !== data.length / per) {
      throw new AxnnError(`output "${out}" has shape ${shapeToString(y.shape)}; its first axis is not the batch`, { field: "--output-name" });
    }
    const rowSize = sizeOf(y.shape.slice(1));
    chunks.push({ shape: [count, ...y.shape.slice(1)], data: y.data.subarray(0, count * rowSize) });
  }
  if (chunks.length === 0) throw new AxnnError("the input holds no samples (batch of 0)", { field: "--input" });
  const rest = chunks[0]!.shape.slice(1);
  const total = chunks.reduce((s, c) => s + c.shape[0]!, 0);
  const data = new Float32Array(total * sizeOf(rest));
  let pos = 0;
  for (const c of chunks) {
    data.set(c.data, pos);
    pos += c.data.length;
  }
  return { shape: [total, ...rest], data };
}

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
      const y = inferBatched(model, input, batchSize, opts.outputName);
      writeNpy(opts.output, y);
      process.stderr.write(`wrote ${opts.output} ${shapeToString(y.shape)}\n`);
    });
}
