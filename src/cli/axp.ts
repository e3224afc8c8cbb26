import type { Command } from "commander";
import { AxnnError } from "../util/errors.js";
import { loadOnnx } from "../onnx/import.js";
import { writeOnnx } from "../onnx/export.js";
import { clusterModel } from "../axp/cluster.js";
import { KMEANS_INITS, type KmeansInit } from "../axp/kmeans.js";
import { checkFormat } from "../axp/formats.js";
import { axpSweep } from "../axp/sweep.js";
import { parseNumberOption, printJson, textTable } from "./common.js";

function intList(v: string, flag: string, min: number): number[] {
  const parts = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (parts.length === 0) throw new AxnnError(`expected a comma-separated list of whole numbers, got "${v}"`, { field: flag });
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < min) throw new AxnnError(`expected whole numbers >= ${min}, got "${p}"`, { field: flag });
    return n;
  });
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

/** `axnn axp ...`: weight clustering and associative-matching (AxP) sweeps. */
export function registerAxp(program: Command): void {
  const axp = program.command("axp").description("associative matching (AxP): clustered weights, a memory of precomputed products, partial bit-match");

  axp
    .command("cluster")
    .description("cluster every conv and dense layer's weights to K bins (1-D k-means) and write the clustered model as ONNX")
    .requiredOption("--model <file>", "ONNX model")
    .requiredOption("--clusters <K>", "bins per layer (per output channel with --per-channel)")
    .option("--per-channel", "cluster each output channel separately")
    .option("--init <kind>", `k-means initialisation: ${KMEANS_INITS.join(", ")}`, "kmeans++")
    .option("--seed <n>", "seed of the k-means++ initialisation", "1")
    .option("--no-fold-batchnorm", "keep BatchNorm layers instead of folding them into the weights first")
    .requiredOption("-o, --out <file>", "output ONNX file")
    .option("--json", "print the result as JSON")
    .action((o: { model: string; clusters: string; perChannel?: boolean; init: string; seed: string; foldBatchnorm: boolean; out: string; json?: boolean }) => {
      const clusters = parseNumberOption(o.clusters, "--clusters", { integer: true, min: 1 });
      const r = clusterModel(loadOnnx(o.model), { clusters, perChannel: o.perChannel, init: initOf(o.init), seed: parseNumberOption(o.seed, "--seed", { integer: true }), foldBatchNorm: o.foldBatchnorm });
      writeOnnx(o.out, r.model);
      const layers = [...r.layers.values()].map((l) => ({ layer: l.name, groups: l.groups, bins: l.centroids.length, objective: l.objective, iterations: l.objectiveHistory.map((h) => h.length - 1) }));
      if (o.json) printJson({ output: o.out, options: r.options, layers });
      else {
        process.stdout.write(`${textTable(["layer", "groups", "bins", "k-means objective"], layers.map((l) => [l.layer, l.groups, l.bins, l.objective]))}\n`);
        process.stdout.write(`wrote ${o.out}\n`);
      }
    });

  axp
    .command("sweep")
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
    .option("--json", "print the result as JSON (no progress)")
    .action(async (o: SweepCliOptions) => {
      const formats = o.format.split(",").map((f) => checkFormat(f.trim()));
      const r = await axpSweep({
        model: o.model, data: o.data,
        clusters: intList(o.clusters, "--clusters", 1), entries: intList(o.entries, "--entries", 0), keyBits: intList(o.keyBits, "--key-bits", 0),
        dontCare: intList(o.dontCare, "--dont-care", 0), hamming: parseNumberOption(o.hamming, "--hamming", { integer: true, min: 0 }), formats,
        perChannel: o.perChannel, init: initOf(o.init),
        limit: o.limit === undefined ? undefined : parseNumberOption(o.limit, "--limit", { integer: true, min: 1 }),
        calibrationSize: parseNumberOption(o.calibSize, "--calib-size", { integer: true, min: 1 }), seed: parseNumberOption(o.seed, "--seed", { integer: true }),
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
      process.stdout.write(`${textTable(["format", "K", "N", "m", "d", "top-1", "hit rate", "non-zero", "energy uJ", "saving", "front"],
        r.points.map((p, i) => [p.format, p.clusters, p.entries, p.key_bits, p.dont_care, pct(p.top1), pct(p.hit_rate), pct(p.hit_rate_nonzero), (p.energy_pj / 1e6).toFixed(4), pct(p.saving), r.front.includes(i) ? "*" : ""]))}\n`);
      for (const k of r.skipped) process.stdout.write(`left out: ${k} (more don't-care bits than mantissa bits)\n`);
      if (r.resumed > 0) process.stdout.write(`${r.resumed} points taken from the journal\n`);
      for (const f of r.files) process.stdout.write(`wrote ${f}\n`);
    });
}
