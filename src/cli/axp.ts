import type { Command } from "commander";
import { AxnnError } from "../util/errors.js";
import { loadOnnx } from "../onnx/import.js";
import { writeOnnx } from "../onnx/export.js";
import { clusterModel } from "../axp/cluster.js";
import { KMEANS_INITS, type KmeansInit } from "../axp/kmeans.js";
import { checkFormat } from "../axp/formats.js";
import { axpSweep } from "../axp/sweep.js";
import { axpSearch } from "../axp/search.js";
import { CENTROID_GRADIENTS, DEFAULT_CLUSTER_FINETUNE_LR, type CentroidGradient, type ClusterFinetuneOptions } from "../axp/finetune.js";
import { AxpSession, prepareAxpContext } from "../axp/evaluate.js";
import { loadPeModel } from "../axp/energy.js";
import { saveModel } from "../zoo/sidecar.js";
import { deviceOption, parseNumberOption, printJson, textTable } from "./common.js";

function intList(v: string, flag: string, min: number): number[] {
  const parts = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (parts.length === 0) throw new AxnnError(`expected a comma-separated list of whole numbers, got "${v}"`, { field: flag });
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < min) throw new AxnnError(`expected whole numbers >= ${min}, got "${p}"`, { field: flag });
    return n;
  });
}

interface FinetuneCliOptions {
  finetune?: string;
  finetuneLr?: string;
  centroidGradient: string;
  trainSamples?: string;
}

/** The fine-tuning settings of --finetune E (undefined without it). */
function finetuneOf(o: FinetuneCliOptions, seed: number): ClusterFinetuneOptions | undefined {
  if (o.finetune === undefined) return undefined;
  if (!(CENTROID_GRADIENTS as readonly string[]).includes(o.centroidGradient)) throw new AxnnError(`unknown centroid gradient "${o.centroidGradient}"; expected ${CENTROID_GRADIENTS.join(", ")}`, { field: "--centroid-gradient" });
  return {
    epochs: parseNumberOption(o.finetune, "--finetune", { integer: true, min: 1 }),
    lr: o.finetuneLr === undefined ? undefined : parseNumberOption(o.finetuneLr, "--finetune-lr", { positive: true }),
    centroidGradient: o.centroidGradient as CentroidGradient,
    trainSamples: o.trainSamples === undefined ? undefined : parseNumberOption(o.trainSamples, "--train-samples", { integer: true, min: 1 }),
    seed, quiet: true,
  };
}

function finetuneFlags(c: Command): Command {
  return c
    .option("--finetune <epochs>", "cluster-aware fine-tuning (centroid gradients, bins kept) for this many epochs on the training split")
    .option("--finetune-lr <lr>", `SGD rate of the fine-tuning (cosine schedule; default ${DEFAULT_CLUSTER_FINETUNE_LR})`)
    .option("--centroid-gradient <rule>", `a centroid's gradient: mean or sum (Deep Compression's) of its weights' gradients`, "mean")
    .option("--train-samples <n>", "fine-tune on a seeded subset of the training split");
}

/** --miss-mult: "fpu" is the format's exact product (null), anything else a multiplier name or file. */
function missMultipliersOf(v: string): (string | null)[] {
  const parts = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (parts.length === 0) throw new AxnnError(`expected fpu or multiplier names, got "${v}"`, { field: "--miss-mult" });
  return parts.map((p) => (p === "fpu" ? null : p));
}

function initOf(v: string): KmeansInit {
  if (!(KMEANS_INITS as readonly string[]).includes(v)) throw new AxnnError(`unknown initialisation "${v}"; expected ${KMEANS_INITS.join(", ")}`, { field: "--init" });
  return v as KmeansInit;
}

interface SweepCliOptions {
  model: string;
  data: string;
  clusters: string;
  entries: string;
  keyBits: string;
  dontCare: string;
  hamming: string;
  format: string;
  perChannel?: boolean;
  init: string;
  zeroGating?: boolean;
  missMult: string;
  pes: string;
  limit?: string;
  calibSize: string;
  seed: string;
  normalize?: string;
  pe?: string;
  arch: string;
  ert?: string;
  evaluations: string;
  out?: string;
  restart?: boolean;
  json?: boolean;
}

interface ClusterCliOptions extends FinetuneCliOptions {
  model: string;
  clusters: string;
  perChannel?: boolean;
  init: string;
  seed: string;
  foldBatchnorm: boolean;
  out: string;
  json?: boolean;
  data?: string;
  limit?: string;
  normalize?: string;
}

/** `axnn axp ...`: weight clustering and associative-matching (AxP) sweeps. */
export function registerAxp(program: Command): void {
  const axp = program.command("axp").description("associative matching (AxP): clustered weights, a memory of precomputed products, partial bit-match");

  finetuneFlags(deviceOption(axp.command("cluster"))
    .description("cluster every conv and dense layer's weights to K bins (1-D k-means) and write the clustered model as ONNX; optionally fine-tune the centroids")
    .requiredOption("--model <file>", "ONNX model")
    .requiredOption("--clusters <K>", "bins per layer (per output channel with --per-channel)")
    .option("--per-channel", "cluster each output channel separately")
    .option("--init <kind>", `k-means initialisation: ${KMEANS_INITS.join(", ")}`, "kmeans++")
    .option("--seed <n>", "seed of the k-means++ initialisation (and of the fine-tuning's subsets)", "1")
    .option("--no-fold-batchnorm", "keep BatchNorm layers instead of folding them into the weights first")
    .option("--data <spec>", "with --finetune: training data, and the test split for top-1 before and after")
    .option("--limit <n>", "with --finetune: test images for the top-1 (a seeded subset; default all)")
    .option("--normalize <spec>", "input normalisation (default: the sidecar's, else unit)"))
    .requiredOption("-o, --out <file>", "output ONNX file")
    .option("--json", "print the result as JSON")
    .action((o: ClusterCliOptions) => {
      const clusters = parseNumberOption(o.clusters, "--clusters", { integer: true, min: 1 });
      const seed = parseNumberOption(o.seed, "--seed", { integer: true });
      const init = initOf(o.init);
      const finetune = finetuneOf(o, seed);
      if (!finetune) {
        for (const [flag, v] of [["--data", o.data], ["--limit", o.limit], ["--finetune-lr", o.finetuneLr], ["--train-samples", o.trainSamples]] as const) {
          if (v !== undefined) throw new AxnnError("only applies with --finetune", { field: flag });
        }
      }
      if (finetune && o.data === undefined) throw new AxnnError("--finetune needs --data (the training split to fine-tune on)", { field: "--data" });
      if (finetune && !o.foldBatchnorm) throw new AxnnError("--finetune trains the folded weights the hardware multiplies; drop --no-fold-batchnorm", { field: "--no-fold-batchnorm" });
      let r;
      let tuning: Record<string, unknown> | undefined;
      if (finetune) {
        const ctx = prepareAxpContext({ model: o.model, data: o.data!, limit: o.limit === undefined ? undefined : parseNumberOption(o.limit, "--limit", { integer: true, min: 1 }), seed, normalize: o.normalize, calibrationSize: 1 });
        const session = new AxpSession(ctx, loadPeModel(), { finetune, onFinetune: (rec) => (tuning = { ...rec, test_samples: ctx.test.count }) });
        r = session.clustering({ clusters, entries: 0, keyBits: 0, dontCare: 0, format: "fp32", perChannel: o.perChannel, init, seed });
        saveModel(o.out, r.model, { input: { normalize: ctx.normalize } });
      } else {
        r = clusterModel(loadOnnx(o.model), { clusters, perChannel: o.perChannel, init, seed, foldBatchNorm: o.foldBatchnorm });
        writeOnnx(o.out, r.model);
      }
      const layers = [...r.layers.values()].map((l) => ({ layer: l.name, groups: l.groups, bins: l.centroids.length, objective: l.objective, iterations: l.objectiveHistory.map((h) => h.length - 1) }));
      if (o.json) printJson({ output: o.out, options: r.options, layers, ...(tuning ? { finetune: tuning } : {}) });
      else {
        process.stdout.write(`${textTable(["layer", "groups", "bins", "k-means objective"], layers.map((l) => [l.layer, l.groups, l.bins, l.objective]))}\n`);
        if (tuning) {
          const pct = (v: unknown) => `${(100 * (v as number)).toFixed(2)}%`;
          process.stdout.write(`float top-1 on ${String(tuning.test_samples)} test images: unclustered ${pct(tuning.float_top1)}, clustered ${pct(tuning.before_top1)}, fine-tuned ${pct(tuning.after_top1)} (${String(tuning.epochs)} epoch(s), lr ${String(tuning.lr)}, ${String(tuning.centroid_gradient)} centroid gradients)\n`);
          if ((tuning.after_top1 as number) < (tuning.before_top1 as number)) process.stdout.write("warning: the fine-tuned model is worse than the clustered one; try a lower --finetune-lr\n");
        }
        process.stdout.write(`wrote ${o.out}\n`);
      }
    });

  finetuneFlags(deviceOption(axp.command("sweep"))
    .description("accuracy, hit rates and energy of AxP over bins x entries x key bits x don't-care bits x formats; Pareto front, chart, report")
    .requiredOption("--model <file>", "ONNX model (its sidecar's normalisation is used)")
    .requiredOption("--data <spec>", "mnist, fashion-mnist, cifar10:<dir> or idx:<images>,<labels>")
    .option("--clusters <list>", "bins per layer, e.g. 4,8,16", "16")
    .option("--entries <list>", "memory entries per layer, e.g. 0,16,64,256", "0,64")
    .option("--key-bits <list>", "mantissa bits of the activation key (int8: code bits)", "3")
    .option("--dont-care <list>", "low key bits ignored by the search", "0")
    .option("--hamming <h>", "also match keys differing in at most h compared mantissa bits", "0")
    .option("--format <list>", "PE number formats: fp32, fp16, bf16, int8", "fp32")
    .option("--per-channel", "cluster each output channel separately")
    .option("--init <kind>", `k-means initialisation: ${KMEANS_INITS.join(", ")}`, "kmeans++")
    .option("--pes <P>", "one memory of N entries per PE, a layer's output channels spread over P PEs (default 1: one memory per layer)", "1")
    .option("--zero-gating", "skip MACs with a zero activation (no search, multiply or add), in the FPU-only baseline too")
    .option("--miss-mult <list>", "what a miss multiplies with: fpu (the format's exact product) or a multiplier name or file (8-bit quantized operands, as axnn eval --mult), e.g. fpu,trunc_k4c_u8x8", "fpu")
    .option("--limit <n>", "test images (a seeded subset; default all)")
    .option("--calib-size <n>", "calibration images from the training split", "256")
    .option("--seed <n>", "seed of the subsets and of k-means++", "1")
    .option("--normalize <spec>", "input normalisation (default: the sidecar's, else unit)")
    .option("--pe <file>", "PE energy model JSON (default data/axp-pe.json)")
    .option("--arch <name|file|none>", "accelerator for accelerator_energy_pj: eyeriss, simba, a file, or none", "eyeriss")
    .option("--ert <file>", "ERT for an architecture file")
    .option("--evaluations <n>", "mapper budget per distinct layer shape", "1000")
    .option("-o, --out <dir>", "write journal.jsonl (resume), results.json, chart.svg/png, report.html")
    .option("--restart", "discard the journal in --out instead of resuming it")
    .option("--json", "print the result as JSON (no progress)"))
    .action(async (o: SweepCliOptions & FinetuneCliOptions) => {
      const seed = parseNumberOption(o.seed, "--seed", { integer: true });
      const formats = o.format.split(",").map((f) => checkFormat(f.trim()));
      const r = await axpSweep({
        model: o.model, data: o.data,
        clusters: intList(o.clusters, "--clusters", 1), entries: intList(o.entries, "--entries", 0), keyBits: intList(o.keyBits, "--key-bits", 0),
        dontCare: intList(o.dontCare, "--dont-care", 0), hamming: parseNumberOption(o.hamming, "--hamming", { integer: true, min: 0 }), formats,
        perChannel: o.perChannel, init: initOf(o.init), zeroGating: o.zeroGating, pes: parseNumberOption(o.pes, "--pes", { integer: true, min: 1 }),
        missMultipliers: missMultipliersOf(o.missMult),
        limit: o.limit === undefined ? undefined : parseNumberOption(o.limit, "--limit", { integer: true, min: 1 }),
        calibrationSize: parseNumberOption(o.calibSize, "--calib-size", { integer: true, min: 1 }), seed, finetune: finetuneOf(o, seed),
        normalize: o.normalize, peFile: o.pe, arch: o.arch === "none" ? null : o.arch, ert: o.ert,
        mapperEvaluations: parseNumberOption(o.evaluations, "--evaluations", { integer: true, min: 1 }),
        outDir: o.out, restart: o.restart, progress: !o.json,
      });
      if (o.json) {
        printJson(r);
        return;
      }
      const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
      for (const b of r.baseline) process.stdout.write(`baseline ${b.format}: top-1 ${pct(b.top1)}, PE energy ${(b.energy_pj / 1e6).toFixed(4)} uJ/inference${b.accelerator_energy_pj !== undefined ? `, accelerator ${(b.accelerator_energy_pj / 1e6).toFixed(4)} uJ` : ""}\n`);
      process.stdout.write(`${textTable(["format", "misses", "K", "N", "m", "d", "top-1", "hit rate", "non-zero", "energy uJ", "saving", "front"],
        r.points.map((p, i) => [p.format, p.miss_multiplier ?? "FPU", p.clusters, p.entries, p.key_bits, p.dont_care, pct(p.top1), pct(p.hit_rate), pct(p.hit_rate_nonzero), (p.energy_pj / 1e6).toFixed(4), pct(p.saving), r.front.includes(i) ? "*" : ""]))}\n`);
      for (const f of r.finetune) process.stdout.write(`fine-tuned K=${f.clusters}: float top-1 ${pct(f.before_top1)} -> ${pct(f.after_top1)} (unclustered ${pct(f.float_top1)})\n`);
      for (const k of r.skipped) process.stdout.write(`left out: ${k} (more don't-care bits than mantissa bits)\n`);
      if (r.resumed > 0) process.stdout.write(`${r.resumed} points taken from the journal\n`);
      for (const f of r.files) process.stdout.write(`wrote ${f}\n`);
    });
  deviceOption(axp.command("search"))
    .description("per-layer AxP configuration by NSGA-II (src/search): each layer picks its K, N, key bits, don't-care bits and miss multiplier; objectives top-1 and PE energy; front.json and a chart")
    .requiredOption("--model <file>", "ONNX model (its sidecar's normalisation is used)")
    .requiredOption("--data <spec>", "mnist, fashion-mnist, cifar10:<dir> or idx:<images>,<labels>")
    .requiredOption("-o, --out <dir>", "write journal.jsonl (resume), front.json, chart.svg/png")
    .option("--clusters <list>", "bins a layer may have", "8,16")
    .option("--entries <list>", "memory entries a layer may have", "0,16,32,64")
    .option("--key-bits <list>", "mantissa bits of the activation key a layer may use", "0,1")
    .option("--dont-care <list>", "don't-care bits a layer may use", "0")
    .option("--miss-mult <list>", "what a layer's misses may multiply with: fpu and/or multiplier names or files", "fpu")
    .option("--format <f>", "PE number format: fp32, fp16, bf16, int8", "fp32")
    .option("--zero-gating", "skip MACs with a zero activation, in the FPU-only baseline too")
    .option("--budget <n>", "configurations to evaluate", "60")
    .option("--population <n>", "NSGA-II population", "24")
    .option("--limit <n>", "test images (a seeded subset; default all)")
    .option("--calib-size <n>", "calibration images from the training split", "256")
    .option("--seed <n>", "seed of the search, the subsets and k-means++", "1")
    .option("--normalize <spec>", "input normalisation (default: the sidecar's, else unit)")
    .option("--pe <file>", "PE energy model JSON (default data/axp-pe.json)")
    .option("--resume", "continue the journal in --out (with the same settings; a larger --budget continues the search)")
    .option("--json", "print the result as JSON (no progress)")
    .action(async (o: { model: string; data: string; out: string; clusters: string; entries: string; keyBits: string; dontCare: string; missMult: string; format: string; zeroGating?: boolean; budget: string; population: string; limit?: string; calibSize: string; seed: string; normalize?: string; pe?: string; resume?: boolean; json?: boolean }) => {
      const r = await axpSearch({
        model: o.model, data: o.data, outDir: o.out,
        clusters: intList(o.clusters, "--clusters", 1), entries: intList(o.entries, "--entries", 0), keyBits: intList(o.keyBits, "--key-bits", 0), dontCare: intList(o.dontCare, "--dont-care", 0),
        missMultipliers: missMultipliersOf(o.missMult), format: checkFormat(o.format), zeroGating: o.zeroGating,
        budget: parseNumberOption(o.budget, "--budget", { integer: true, min: 1 }), populationSize: parseNumberOption(o.population, "--population", { integer: true, min: 2 }),
        limit: o.limit === undefined ? undefined : parseNumberOption(o.limit, "--limit", { integer: true, min: 1 }),
        calibrationSize: parseNumberOption(o.calibSize, "--calib-size", { integer: true, min: 1 }), seed: parseNumberOption(o.seed, "--seed", { integer: true }),
        normalize: o.normalize, peFile: o.pe, resume: o.resume, progress: !o.json,
      });
      if (o.json) {
        printJson(r);
        return;
      }
      const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
      process.stdout.write(`baseline ${r.format}: top-1 ${pct(r.baseline.top1)}, PE energy ${(r.baseline.energy_pj / 1e6).toFixed(4)} uJ/inference; ${r.evaluations} configurations (${r.from_journal} from the journal)\n`);
      process.stdout.write(`${textTable(["top-1", "energy uJ", "saving", "hit rate", "uniform", "layers (K/N/m/d/misses)"],
        r.front.map((i) => r.points[i]!).map((p) => [pct(p.top1), (p.energy_pj / 1e6).toFixed(4), pct(p.saving), pct(p.hit_rate), p.uniform ? "yes" : "", Object.values(p.layers).map((c) => `${c.clusters}/${c.entries}/${c.key_bits}/${c.dont_care}/${c.miss_multiplier ?? "fpu"}`).join(" ")]))}\n`);
      for (const f of r.files) process.stdout.write(`wrote ${f}\n`);
    });
}
