// `axnn search nas`: architecture and per-layer multiplier search (src/search/nas), embedded on all
// cores or through a Redis queue (src/search/queue).
import type { Command } from "commander";
import { NAS_REFERENCE_NETWORKS, type NasReferenceNetwork } from "../search/nas/space.js";
import { NAS_OBJECTIVES, runNasSearch, type NasObjective, type NasProgress } from "../search/nas/search.js";
import { queueEvaluator } from "../search/queue/coordinator.js";
import { AxnnError } from "../util/errors.js";
import { addOutOption, deviceOption, parseNumberOption, printJson, textTable } from "./common.js";

interface NasCliOptions {
  data: string;
  objectives: string;
  arch: string;
  mults: string;
  budget: string;
  epochs: string;
  qatEpochs: string;
  trainSamples: string;
  valSamples: string;
  testSamples?: string;
  batchSize: string;
  lr: string;
  qatLr: string;
  seed: string;
  out: string;
  resume?: boolean;
  json?: boolean;
  algorithm: string;
  population: string;
  beamWidth: string;
  predictor: string;
  minAccuracy?: string;
  maxParams?: string;
  inherit?: boolean;
  earlyStop?: string;
  jobs?: string;
  energyEvaluations: string;
  queue?: string;
  baselines: string;
  retrainFront?: boolean;
  seeds: string;
}

const fraction = (v: string, name: string): number => {
  const x = parseNumberOption(v, name, { min: 0 });
  if (x > 1) throw new AxnnError(`expected a fraction from 0 to 1, got "${v}"`, { field: name });
  return x;
};

function parseBaselines(v: string, field = "--baselines"): NasReferenceNetwork[] {
  if (v === "none") return [];
  const names = v.split(",").map((s) => s.trim());
  for (const n of names) if (!(NAS_REFERENCE_NETWORKS as readonly string[]).includes(n)) throw new AxnnError(`unknown network "${n}"; expected some of ${NAS_REFERENCE_NETWORKS.join(", ")}, or none`, { field });
  return names as NasReferenceNetwork[];
}

function progressLine(p: NasProgress): string {
  const left = p.secondsLeft === null ? "" : `, ~${(p.secondsLeft / 60).toFixed(1)} min left`;
  return `axnn: ${p.algorithm} step ${p.step}: ${p.evaluations}/${p.budget} candidates, front ${p.frontSize}${p.hypervolume !== undefined ? `, hypervolume ${p.hypervolume.toPrecision(4)}` : ""}, ${(p.elapsedSeconds / 60).toFixed(1)} min${left}\n`;
}

/** Registers `nas` under the `search` command group (created here when no other file made it yet). */
export function registerSearchNas(program: Command): void {
  const search = program.commands.find((c) => c.name() === "search") ?? program.command("search").description("multi-objective searches (NSGA-II engine, src/search)");
  addOutOption(deviceOption(search.command("nas"))
    .description("search CNN architectures and each layer's approximate multiplier together (EvoApproxNAS-style): accuracy (QAT) vs energy and/or size")
    .requiredOption("--data <spec>", "mnist, fashion-mnist or cifar10:<dir>")
    .requiredOption("--mults <names>", "candidate multipliers, comma-separated (exact, generator names, library names)")
    .option("--objectives <list>", `two or three of ${NAS_OBJECTIVES.join(", ")}, accuracy among them`, "accuracy,energy")
    .option("--arch <preset>", "accelerator of the energy objective: eyeriss or simba", "eyeriss")
    .option("--budget <n>", "candidates to train", "100")
    .option("--epochs <n>", "float epochs per candidate", "1")
    .option("--qat-epochs <n>", "QAT epochs per candidate, multipliers in the loop", "1")
    .option("--train-samples <n>", "training samples per epoch (a seeded subset outside the validation split)", "2000")
    .option("--val-samples <n>", "validation samples carved from the training split", "1000")
    .option("--test-samples <n>", "test samples for the final front (default: all)")
    .option("--batch-size <n>", "batch size", "64")
    .option("--lr <rate>", "SGD learning rate of the float epochs (cosine)", "0.05")
    .option("--qat-lr <rate>", "learning rate of the QAT epochs", "0.01")
    .option("--seed <n>", "seed of the search, the splits and the weights", "1")
    .option("--algorithm <name>", "nsga2 or beam (Model Search style)", "nsga2")
    .option("--population <n>", "NSGA-II population", "20")
    .option("--beam-width <n>", "beam search: networks kept and grown per step", "4")
    .option("--predictor <file|auto|sum>", "energy during the search: auto (a learned predictor trained first on this space's architectures, labelled by the energy model), a predictor file from `axnn predict train`, or sum (the multiplications' energy only)", "auto")
    .option("--min-accuracy <top1>", "constraint: validation top-1 at least this (0..1)")
    .option("--max-params <n>", "constraint: at most this many parameters")
    .option("--inherit", "start each candidate from the trained weights of the earlier candidate sharing most layers")
    .option("--early-stop <top1>", "stop a candidate whose first epoch's training top-1 is below this (0..1)")
    .option("--jobs <n>", "candidates trained side by side (default: one per core)")
    .option("--energy-evaluations <n>", "mapper evaluations per layer shape for the front's energy-model figures", "1000")
    .option("--baselines <list>", "hand-designed networks to train with the same schedule, each with every multiplier uniform: some of lenet5, resnet8, resnet20, mobilenetv2, or none", "lenet5,resnet8")
    .option("--queue <url>", "evaluate through a BullMQ queue on Redis (redis://[user:pass@]host:port or rediss://...); start workers with `axnn worker --queue <url>`"), "dir", "output directory (journal, models, archive.json, front.json, charts, report.html)", { required: true })
    .option("--seeds <list>", "hand-designed networks (exact multipliers) in the first population or beam: some of lenet5, resnet8, resnet20, mobilenetv2, or none", "lenet5,resnet8")
    .option("--retrain-front", "after the search, train each front member that inherited weights again from scratch with the baselines' schedule, for a fair comparison (also on a finished search with --resume)")
    .option("--resume", "continue the search in the output directory after a stop or kill")
    .option("--json", "print front.json's content instead of the table; no progress lines")
    .action(async (o: NasCliOptions) => {
      if (o.algorithm !== "nsga2" && o.algorithm !== "beam") throw new AxnnError(`expected nsga2 or beam, got "${o.algorithm}"`, { field: "--algorithm" });
      const objectives = o.objectives.split(",").map((s) => s.trim()) as NasObjective[];
      const multipliers = o.mults.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
      const int = (v: string, name: string, min = 1) => parseNumberOption(v, name, { min, integer: true });
      const queue = o.queue !== undefined ? await queueEvaluator(o.queue) : undefined;
      try {
        const report = await runNasSearch({
          data: o.data, objectives, arch: o.arch, multipliers, budget: int(o.budget, "--budget"), seed: int(o.seed, "--seed", 0), outDir: o.out, resume: o.resume === true,
          algorithm: o.algorithm, populationSize: int(o.population, "--population", 2), beamWidth: int(o.beamWidth, "--beam-width"),
          training: {
            epochs: int(o.epochs, "--epochs", 0), qatEpochs: int(o.qatEpochs, "--qat-epochs", 0), trainSamples: int(o.trainSamples, "--train-samples"),
            valSamples: int(o.valSamples, "--val-samples"), batchSize: int(o.batchSize, "--batch-size"), lr: parseNumberOption(o.lr, "--lr", { min: 0 }),
            qatLr: parseNumberOption(o.qatLr, "--qat-lr", { min: 0 }), ...(o.earlyStop !== undefined ? { earlyStop: fraction(o.earlyStop, "--early-stop") } : {}),
          },
          testSamples: o.testSamples === undefined ? undefined : int(o.testSamples, "--test-samples"),
          predictor: o.predictor,
          minAccuracy: o.minAccuracy === undefined ? undefined : fraction(o.minAccuracy, "--min-accuracy"),
          maxParams: o.maxParams === undefined ? undefined : int(o.maxParams, "--max-params"),
          inherit: o.inherit === true,
          jobs: o.jobs === undefined ? (queue ? 64 : undefined) : int(o.jobs, "--jobs"),
          energyEvaluations: int(o.energyEvaluations, "--energy-evaluations"),
          evaluator: queue?.evaluate,
          baselines: parseBaselines(o.baselines),
          retrainFront: o.retrainFront === true,
          initial: parseBaselines(o.seeds, "--seeds"),
          quiet: o.json === true,
          onProgress: o.json ? undefined : (p) => process.stderr.write(progressLine(p)),
        });
        if (o.json) return printJson(report);
        const pct = (v: number) => (100 * v).toFixed(2);
        process.stdout.write(textTable(["architecture", "val top-1", "test top-1", "from scratch val/test", "energy uJ", "predicted uJ", "params", "model"], report.members.map((m) => [
          m.architecture, pct(m.val_top1), pct(m.test_top1), m.from_scratch ? `${pct(m.from_scratch.val_top1)}/${pct(m.from_scratch.test_top1)}` : "-", (m.energy_pj / 1e6).toFixed(3), (m.predicted_energy_pj / 1e6).toFixed(3), m.params, m.model,
        ])) + "\n");
        if (report.baselines.length > 0) {
          const verdict = (d: boolean | null) => (d === null ? "-" : d ? "yes" : "no");
          process.stdout.write(textTable(["baseline", "multiplier", "val top-1", "test top-1", "energy uJ", "predicted uJ", "dominated", "dominated (from scratch)"], report.baselines.map((b) => [
            b.name, b.multiplier, pct(b.val_top1), pct(b.test_top1), (b.energy_pj / 1e6).toFixed(3), (b.predicted_energy_pj / 1e6).toFixed(3), verdict(b.dominated_by_front), verdict(b.dominated_by_front_from_scratch),
          ])) + "\n");
        }
        process.stdout.write(`${report.evaluations} candidates (${report.from_journal} from the journal), hypervolume ${report.hypervolume.toPrecision(4)}; written ${o.out}/front.json, report.html\n`);
      } finally {
        await queue?.close();
      }
    });
}
