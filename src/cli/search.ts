import type { Command } from "commander";
import { AxnnError } from "../util/errors.js";
import { searchAssignment, type AssignmentProgress } from "../search/assign-search.js";
import { assignmentSummaryJson, writeAssignmentReport } from "../search/assign-report.js";
import type { AssignmentEnergySource, AssignmentObjective } from "../search/assign.js";
import { addOutOption, deviceOption, parseNumberOption, printJson, textTable } from "./common.js";

interface AssignOptions {
  model: string;
  data: string;
  mults: string;
  layers?: string;
  tiles?: string;
  objectives: string;
  energy: string;
  predictor?: string;
  arch: string;
  ert?: string;
  tuneWeights?: boolean;
  finetuneFront?: string;
  finetuneSamples?: string;
  budget: string;
  population: string;
  seed: string;
  maxDrop?: string;
  hvDrop: string;
  valSize: string;
  calibSize: string;
  testLimit?: string;
  quant?: string;
  normalize?: string;
  baselines: boolean;
  out: string;
  resume?: boolean;
  json?: boolean;
}

/** A one-line status on a terminal (stderr), overwritten in place; nothing when quiet or not a TTY. */
function statusLine(quiet: boolean, budget: number) {
  const live = !quiet && process.stderr.isTTY;
  let method = "", since = Date.now(), last = 0;
  return {
    note(line: string) {
      if (!quiet) process.stderr.write(`${live ? "\r\x1b[K" : ""}${line}\n`);
    },
    update(p: AssignmentProgress) {
      if (!live) return;
      if (p.method !== method) {
        method = p.method;
        since = Date.now();
      }
      const now = Date.now();
      if (now - last < 100 && p.evaluations < budget) return;
      last = now;
      const rate = p.evaluations / Math.max(1e-3, (now - since) / 1000);
      const left = Math.max(0, budget - p.evaluations) / Math.max(rate, 1e-9);
      process.stderr.write(`\r\x1b[K${method}: ${p.evaluations}/${budget} evaluations | front ${p.frontSize} | hypervolume ${p.hypervolume?.toFixed(4) ?? "-"} | ${rate.toFixed(1)}/s | ${left.toFixed(0)} s left`);
    },
    done() {
      if (live) process.stderr.write("\r\x1b[K");
    },
  };
}

function registerAssign(search: Command): void {
  addOutOption(deviceOption(search.command("assign"))
    .description("search per-layer multiplier assignments of a trained model (NSGA-II, with uniform, greedy and random baselines)")
    .requiredOption("--model <file>", "trained ONNX model")
    .requiredOption("--data <spec>", "dataset with a training split (mnist, fashion-mnist, cifar10:<dir>); validation is carved from it")
    .requiredOption("--mults <list>", 'candidate multipliers, comma-separated: names, files, directories of tables, or "builtin" (every built-in 8x8 design)')
    .option("--layers <names>", "search only these layers (comma-separated); the others stay exact")
    .option("--tiles <T>", "ALWANN's tiles: T multipliers, each layer on one tile")
    .option("--objectives <list>", "accuracy, then energy and/or multiplier-energy", "accuracy,energy")
    .option("--energy <source>", "energy source: model (the accelerator energy model), predictor (a learned predictor, --predictor) or sum (MACs x MAC energy, no data movement)", "model")
    .option("--predictor <file>", "predictor JSON (axnn predict train) for --energy predictor")
    .option("--arch <arch>", "accelerator preset (eyeriss, simba, ...) or YAML", "eyeriss")
    .option("--ert <file>", "ERT_summary.yaml for an architecture file")
    .option("--tune-weights", "ALWANN's weight update per layer and multiplier (no training)")
    .option("--finetune-front <epochs>", "then a few QAT epochs for each NSGA-II front member (before/after in front.json; models in finetuned/)")
    .option("--finetune-samples <n>", "training samples of each --finetune-front run (default the whole training split)")
    .option("--budget <n>", "distinct assignments each search evaluates", "300")
    .option("--population <n>", "NSGA-II population", "24")
    .option("--seed <n>", "search seed", "1")
    .option("--max-drop <points>", "constraint: at most this many points of validation top-1 lost")
    .option("--hv-drop <points>", "hypervolume reference: this drop (points) and the exact energy", "5")
    .option("--val-size <n>", "validation samples from the training split", "1000")
    .option("--calib-size <n>", "calibration samples from the training split (disjoint from validation)", "256")
    .option("--test-limit <n>", "test samples for the final re-measurement (default all)")
    .option("--quant <scheme>", "sym or asym (default from the multipliers' signedness)")
    .option("--normalize <spec>", "input normalisation (default: the model's sidecar, else unit)")
    .option("--no-baselines", "NSGA-II only (no uniform, greedy, random)"), "dir", "output directory (front.json, configs/, archive.json, pareto.svg/png, report.html, journal/)", { required: true })
    .option("--resume", "continue the search journaled in the output directory")
    .option("--json", "print front.json's content and nothing else")
    .action(async (o: AssignOptions) => {
      const budget = parseNumberOption(o.budget, "--budget", { integer: true });
      if (budget < 1) throw new AxnnError(`expected a whole number of evaluations >= 1, got ${o.budget}`, { field: "--budget" });
      if (!["model", "predictor", "sum"].includes(o.energy)) throw new AxnnError(`expected model, predictor or sum, got "${o.energy}"`, { field: "--energy" });
      if (o.quant !== undefined && o.quant !== "sym" && o.quant !== "asym") throw new AxnnError(`expected sym or asym, got "${o.quant}"`, { field: "--quant" });
      const objectives = o.objectives.split(",").map((s) => s.trim()) as AssignmentObjective[];
      for (const ob of objectives) if (!["accuracy", "energy", "multiplier-energy"].includes(ob)) throw new AxnnError(`unknown objective "${ob}"; expected accuracy, energy, multiplier-energy`, { field: "--objectives" });
      const status = statusLine(o.json ?? false, budget);
      const result = await searchAssignment({
        model: o.model, data: o.data, multipliers: o.mults.split(",").map((s) => s.trim()).filter((s) => s !== ""),
        ...(o.layers !== undefined ? { layers: o.layers.split(",").map((s) => s.trim()) } : {}),
        ...(o.tiles !== undefined ? { tiles: parseNumberOption(o.tiles, "--tiles", { integer: true, min: 1 }) } : {}),
        objectives, arch: o.arch, energy: o.energy as AssignmentEnergySource, ...(o.predictor !== undefined ? { predictor: o.predictor } : {}), ...(o.ert !== undefined ? { ert: o.ert } : {}), tuneWeights: o.tuneWeights ?? false,
        ...(o.finetuneFront !== undefined ? {
          finetuneFront: {
            epochs: parseNumberOption(o.finetuneFront, "--finetune-front", { integer: true, min: 1 }),
            ...(o.finetuneSamples !== undefined ? { trainSamples: parseNumberOption(o.finetuneSamples, "--finetune-samples", { integer: true, min: 1 }) } : {}),
          },
        } : {}),
        budget, populationSize: parseNumberOption(o.population, "--population", { integer: true, min: 2 }),
        seed: parseNumberOption(o.seed, "--seed", { integer: true }),
        ...(o.maxDrop !== undefined ? { maxDrop: parseNumberOption(o.maxDrop, "--max-drop", { min: 0 }) } : {}),
        hvMaxDrop: parseNumberOption(o.hvDrop, "--hv-drop", { min: 0 }),
        validationSize: parseNumberOption(o.valSize, "--val-size", { integer: true, min: 1 }),
        calibrationSize: parseNumberOption(o.calibSize, "--calib-size", { integer: true, min: 1 }),
        ...(o.testLimit !== undefined ? { testLimit: parseNumberOption(o.testLimit, "--test-limit", { integer: true, min: 1 }) } : {}),
        ...(o.quant !== undefined ? { quant: o.quant as "sym" | "asym" } : {}),
        ...(o.normalize !== undefined ? { normalize: o.normalize } : {}),
        baselines: o.baselines, outDir: o.out, resume: o.resume ?? false,
        onStatus: (line) => status.note(line), onProgress: (p) => status.update(p),
      });
      status.done();
      const files = await writeAssignmentReport(result, o.out);
      if (o.json) {
        printJson(assignmentSummaryJson(result, files));
        return;
      }
      const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
      process.stdout.write(`exact int8: val top-1 ${pct(result.exact.val_top1)}, test top-1 ${pct(result.exact.test_top1)}, ${result.exact.energy_pj.toExponential(3)} pJ/inference\n\n`);
      process.stdout.write(textTable(["method", "evaluations", "front", "hypervolume"], result.methods.map((m) => [m.method, m.evaluations, m.front.length, m.hypervolume])) + "\n\n");
      process.stdout.write(textTable(["method", "max drop", "saving", "mult. saving", "val drop", "test drop"], result.savings.map((s) => [s.method, s.max_drop, pct(s.saving), pct(s.multiplier_saving), s.val_drop.toFixed(2), s.test_drop === null ? "-" : s.test_drop.toFixed(2)])) + "\n\n");
      if (result.front.some((m) => m.finetune)) {
        process.stdout.write(textTable(["member", "test top-1", "QAT epochs", "eval before", "eval after"], result.front.map((m, i) => [i + 1, m.test_top1 === undefined ? "-" : pct(m.test_top1), m.finetune?.epochs ?? "-", m.finetune ? pct(m.finetune.before_test_top1) : "-", m.finetune ? pct(m.finetune.after_test_top1) : "-"])) + "\n\n");
      }
      process.stdout.write(`front            : ${o.out}/front.json (${result.front.length} members, mult-configs in ${o.out}/configs)\n`);
      process.stdout.write(`report           : ${o.out}/report.html\n`);
    });
}

/** `axnn search ...`: one subcommand per search mode (assign here; `nas` registers on the same group). */
export function registerSearch(program: Command): Command {
  const search = program.commands.find((c) => c.name() === "search") ?? program.command("search").description("multi-objective searches (NSGA-II engine, src/search)");
  registerAssign(search);
  return search;
}
