import type { Command } from "commander";
import { basename } from "node:path";
import { sidecarPath } from "../zoo/sidecar.js";
import { demoNextCommands, runDemo } from "../demo/index.js";
import { parseNumberOption, printJson } from "./common.js";

interface DemoCliOptions {
  out: string;
  json?: boolean;
  skipTraining?: boolean;
  skipSearch?: boolean;
  epochs: string;
  trainSamples?: string;
  evalSamples?: string;
  retrain: string;
  retrainSamples: string;
}

const positive = (v: string | undefined, flag: string) => (parseNumberOption(v, flag, { min: 1, integer: true }));

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("the main job on built-in data: characterise the multiplier library, price ResNet-20 on Eyeriss and Simba with each design, train a LeNet-5 on MNIST, evaluate and retrain it with a range of designs; write an HTML report with charts and JSON")
    .option("-o, --out <dir>", "output directory", "axnn-demo")
    .option("--json", "print the results as JSON instead of a summary (and no progress)")
    .option("--skip-training", "leave out the MNIST training, evaluation and retraining")
    .option("--skip-search", "leave out the per-layer multiplier-assignment search on the trained LeNet-5")
    .option("--epochs <n>", "training epochs of the LeNet-5", "3")
    .option("--train-samples <n>", "train on a seeded subset of the MNIST training split (default: all 60,000)")
    .option("--eval-samples <n>", "evaluate on a seeded subset of the test split (default: all 10,000)")
    .option("--retrain <n>", "how many of the designs that lost most to retrain (0: none)", "3")
    .option("--retrain-samples <n>", "training images of each retraining (one epoch of QAT)", "10000")
    .action(async (opts: DemoCliOptions) => {
      const res = await runDemo({
        outDir: opts.out, quiet: opts.json, skipTraining: opts.skipTraining === true, skipSearch: opts.skipSearch === true,
        accuracy: {
          epochs: positive(opts.epochs, "--epochs"),
          trainSamples: positive(opts.trainSamples, "--train-samples"),
          evalSamples: positive(opts.evalSamples, "--eval-samples"),
          retrain: parseNumberOption(opts.retrain, "--retrain", { min: 0, integer: true }),
          retrainSamples: positive(opts.retrainSamples, "--retrain-samples"),
        },
      });
      if (opts.json) return printJson({ report: res.report, json: res.json, model: res.model, multipliers: res.multipliers, energy: res.energy, accuracy: res.accuracy, search: res.search });
      const front = res.multipliers.filter((r) => r.pareto).map((r) => r.name);
      process.stdout.write(`characterised ${res.multipliers.length} designs; Pareto-optimal (MAE vs power): ${front.join(", ")}\n`);
      for (const acc of new Set(res.energy.map((e) => e.accelerator))) {
        const rows = res.energy.filter((e) => e.accelerator === acc);
        const best = rows.reduce((a, b) => (b.saving_pct > a.saving_pct ? b : a));
        process.stdout.write(`ResNet-20 on ${acc}: ${rows[0]!.energy_uj.toFixed(1)} uJ with ${rows[0]!.multiplier}; best saving ${best.saving_pct.toFixed(1)}% with ${best.multiplier}\n`);
      }
      if (res.accuracy) {
        const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
        const a = res.accuracy;
        const byKind = (k: string) => a.rows.find((r) => r.kind === k)!;
        process.stdout.write(`LeNet-5 on ${a.eval_samples} MNIST test images: float ${pct(byKind("float").top1)}, int8 ${pct(byKind("int8").top1)}\n`);
        for (const r of a.rows.filter((x) => x.kind === "multiplier")) {
          process.stdout.write(`  ${r.arithmetic}: ${pct(r.top1)}${r.retrained_top1 === null ? "" : ` -> ${pct(r.retrained_top1)} after retraining`}\n`);
        }
      }
      if (res.search) {
        const s = res.search;
        const hv = s.methods.map((m) => `${m.method} ${m.hypervolume.toFixed(2)}`).join(", ");
        const at1 = s.savings.filter((x) => x.max_drop === 1).map((x) => `${x.method} ${(100 * x.multiplier_saving).toFixed(1)}%`).join(", ");
        process.stdout.write(`per-layer multiplier search (LeNet-5, ${s.settings.budget} evaluations per method): hypervolume ${hv}; multiplier energy saved within 1 point: ${at1}\n`);
      }
      process.stdout.write(`report: ${res.report}\nJSON:   ${res.json}\n`);
      if (res.model && res.accuracy) {
        // The design that lost most against int8 is the one worth a closer look.
        const designs = res.accuracy.rows.filter((r) => r.kind === "multiplier").sort((a, b) => b.loss_vs_int8 - a.loss_vs_int8);
        process.stdout.write(`model:  ${res.model} (settings in its sidecar ${basename(sidecarPath(res.model))}); continue from it:\n`);
        for (const c of demoNextCommands(res.model, designs[0]?.arithmetic ?? "exact_u8x8")) process.stdout.write(`  ${c}\n`);
      }
    });
}
