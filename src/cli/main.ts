#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { isAxnnError } from "../util/errors.js";
import { registerDemo } from "./demo.js";
import { registerEnergy } from "./energy.js";
import { registerEval, registerSensitivity } from "./eval.js";
import { registerInfer } from "./infer.js";
import { registerMult } from "./mult.js";
import { registerPredict } from "./predict.js";
import { registerTrain } from "./train.js";
import { registerFinetune } from "./finetune.js";
import { registerAxp } from "./axp.js";
import { registerSearch } from "./search.js";
import { registerSearchNas } from "./search-nas.js";
import { registerWorker } from "./worker.js";

/** Builds the command tree. Each area registers its own subcommands in its own file. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name("axnn")
    .description("Approximate CNN toolkit: approximate multipliers, LUT emulation, retraining, accelerator energy")
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    // Usage errors read like every other error ("axnn: error: ..."). Set before the subcommands
    // are added: they copy the output configuration when created.
    .configureOutput({ outputError: (message, write) => write(`axnn: ${message}`) });
  registerMult(program);
  registerTrain(program);
  registerFinetune(program);
  registerEval(program);
  registerSensitivity(program);
  registerInfer(program);
  registerEnergy(program);
  registerPredict(program);
  registerSearch(program);
  registerDemo(program);
  registerAxp(program);
  registerSearchNas(program);
  registerWorker(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return e.exitCode;
    }
    if (isAxnnError(e)) {
      process.stderr.write(`axnn: error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (e) => {
    process.stderr.write(`axnn: internal error (please report): ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 70;
  },
);
