import type { Command } from "commander";
import { AxnnError } from "../util/errors.js";
import { parseNumberOption, printJson, textTable } from "./common.js";
import { loadDesign } from "../energy/presets.js";
import { assignmentScales } from "../energy/network.js";
import { networkAssignment, networkLayersFor } from "../energy/network-energy.js";
import { ZOO_NAMES } from "../energy/zoo-shapes.js";
import { DEFAULT_DATASET_EVALUATIONS, generateDataset, readDataset } from "../predict/dataset.js";
import { evaluatePredictors, evaluationTable, perBaseTable, writeEvaluationReport } from "../predict/evaluate.js";
import { describeDomain, EnergyPredictors, predictNetwork, savePredictors, trainPredictors } from "../predict/predictors.js";
import { FAMILIES, type Family } from "../predict/sampling.js";
import { layerShapeKey } from "../predict/features.js";

/** `axnn predict ...`: fast energy predictors trained on the energy model (src/predict). */
export function registerPredict(program: Command): void {
  const predict = program.command("predict").description("fast energy predictors (sum of multiplication energies, learned model) trained and evaluated against the energy model");

  predict
    .command("dataset")
    .description("sample networks and label them with the energy model (one mapping search per distinct shape, cached); resumable: rows already in the output are kept")
    .requiredOption("--arch <arch>", "accelerator preset: eyeriss or simba")
    .requiredOption("--family <family>", "fixed (ResNet-8/14/20, MobileNetV2 with random per-layer multipliers) or variable (sampled architectures)")
    .requiredOption("--n <n>", "networks")
    .option("--seed <s>", "sampling seed", "1")
    .option("--evaluations <n>", "mapper budget per distinct shape", String(DEFAULT_DATASET_EVALUATIONS))
    .option("--jobs <n>", "worker threads, one network each (default: the available cores, at most 8)")
    .option("--cache-dir <dir>", "mapping cache (default: $AXNN_HOME/cache/mappings)")
    .requiredOption("-o, --out <file>", "output CSV")
    .action(async (opts: { arch: string; family: string; n: string; seed: string; evaluations: string; jobs?: string; cacheDir?: string; out: string }) => {
      if (!FAMILIES.includes(opts.family as Family)) throw new AxnnError(`expected ${FAMILIES.join(" or ")}, got "${opts.family}"`, { field: "--family" });
      const rows = await generateDataset({
        arch: opts.arch, family: opts.family as Family, n: parseNumberOption(opts.n, "--n", { integer: true, positive: true }), seed: parseNumberOption(opts.seed, "--seed", { integer: true }), out: opts.out,
        maxEvaluations: parseNumberOption(opts.evaluations, "--evaluations", { integer: true, positive: true }), jobs: parseNumberOption(opts.jobs, "--jobs", { integer: true, positive: true }),
        cacheDir: opts.cacheDir, progress: true,
        // Without a terminal (logs, CI) the bar is silent: a line every tenth of the work instead.
        onRow: process.stderr.isTTY ? undefined : (_row, done, total) => {
          if (done === total || done % Math.max(1, Math.round(total / 10)) === 0) process.stderr.write(`${opts.arch} ${opts.family}: ${done}/${total} networks labelled\n`);
        },
      });
      const searchS = rows.reduce((a, r) => a + r.searchMs, 0) / 1000;
      process.stderr.write(`${opts.out}: ${rows.length} networks (${opts.arch}, ${opts.family}); mapper time of their shapes ${searchS.toFixed(1)} s in all\n`);
    });

  predict
    .command("train")
    .description("fit both predictors (per accelerator found in the data) and save them to one JSON file")
    .requiredOption("--data <files...>", "dataset CSV file(s)")
    .option("--trees <n>", "trees of the random forest", "50")
    .option("--seed <s>", "random forest seed", "1")
    .option("--exclude-shapes-of <files...>", "keep every layer shape of these datasets out of the learned model (to measure generalisation to unseen shapes)")
    .requiredOption("-o, --out <file>", "predictor JSON")
    .action((opts: { data: string[]; trees: string; seed: string; excludeShapesOf?: string[]; out: string }) => {
      const rows = opts.data.flatMap((f) => readDataset(f));
      let excludeShapes: Map<string, Set<string>> | undefined;
      if (opts.excludeShapesOf !== undefined) {
        excludeShapes = new Map();
        for (const r of opts.excludeShapesOf.flatMap((f) => readDataset(f))) {
          const set = excludeShapes.get(r.arch) ?? new Set<string>();
          for (const l of r.layers) set.add(layerShapeKey(l.layer));
          excludeShapes.set(r.arch, set);
        }
      }
      const p = trainPredictors(rows, { trees: parseNumberOption(opts.trees, "--trees", { integer: true, positive: true }), seed: parseNumberOption(opts.seed, "--seed", { integer: true }), excludeShapes });
      savePredictors(opts.out, p);
      const summary = Object.entries(p.archs).map(([a, x]) => `${a}: ${x.learned.trainingShapes} layer shapes, sum fits ${Object.keys(x.sumFits).join(", ")}`);
      process.stderr.write(`${opts.out}: trained on ${rows.length} networks (${summary.join("; ")})\n`);
    });

  predict
    .command("eval")
    .description("fidelity (Pearson, Spearman, Kendall tau, R^2, MAPE) and speed-up of both predictors on held-out data")
    .requiredOption("--predictor <file>", "predictor JSON (axnn predict train)")
    .requiredOption("--data <files...>", "held-out dataset CSV file(s)")
    .option("--json", "print one JSON object: {sum: {...}, learned: {...}, sum_raw, groups: [...]}")
    .option("-o, --out <dir>", "also write eval.json, table.md, scatter plots (SVG, PNG) and report.html")
    .action(async (opts: { predictor: string; data: string[]; json?: boolean; out?: string }) => {
      const p = EnergyPredictors.load(opts.predictor);
      const rows = opts.data.flatMap((f) => readDataset(f));
      if (rows.length < 2) throw new AxnnError(`needs at least 2 networks, got ${rows.length}`, { field: "--data" });
      const r = evaluatePredictors(p, rows);
      if (opts.out !== undefined) await writeEvaluationReport(r, opts.out);
      if (opts.json) {
        const { points: _points, ...rest } = r;
        printJson(rest);
        return;
      }
      process.stdout.write(`${evaluationTable(r)}\n\n`);
      const base = perBaseTable(r);
      if (base.split("\n").length > 2) process.stdout.write(`Fixed family, within each architecture:\n\n${base}\n`);
    });

  predict
    .command("energy")
    .description("predicted energy of a network on an accelerator (both predictors; microseconds, no mapping search)")
    .option("--model <file>", "an ONNX model")
    .option("--zoo <name>", `a model-zoo network: ${ZOO_NAMES.join(", ")}`)
    .option("--input-shape <dims>", "ONNX input shape with batch 1, e.g. 1,3,32,32 (default: the declared one)")
    .requiredOption("--predictor <file>", "predictor JSON")
    .option("--arch <arch>", "accelerator (default: the only one in the predictor file)")
    .option("--mult <name>", "one multiplier for every layer")
    .option("--mult-config <file>", "per-layer multipliers ({default, layers: {name: multiplier}}); default for --model: its <model>.axnn.json, as axnn energy net")
    .option("--fallback", "when the network lies outside the predictors' training domain, also run the energy model (a mapping search: seconds) and report its energy")
    .option("--json", "print JSON")
    .action(async (opts: { model?: string; zoo?: string; inputShape?: string; predictor: string; arch?: string; mult?: string; multConfig?: string; fallback?: boolean; json?: boolean }) => {
      if ((opts.model === undefined) === (opts.zoo === undefined)) throw new AxnnError("give exactly one of --model FILE.onnx and --zoo NAME", { field: "--model" });
      const p = EnergyPredictors.load(opts.predictor);
      const archs = p.archs();
      const arch = opts.arch ?? (archs.length === 1 ? archs[0]! : undefined);
      if (arch === undefined) throw new AxnnError(`the predictor file covers ${archs.join(", ")}; choose one with --arch`, { field: "--arch" });
      // Layers and multipliers as `axnn energy net` reads them (a model's sidecar supplies its multipliers).
      const { layers } = await networkLayersFor({
        zoo: opts.zoo, model: opts.model,
        inputShape: opts.inputShape?.split(/[,x]/).map((d) => parseNumberOption(d.trim(), "--input-shape", { integer: true, positive: true })),
      });
      const { assignment, sidecarFile } = networkAssignment(opts, layers.map((l) => l.name), opts.model);
      if (sidecarFile && !opts.json) process.stdout.write(`multipliers from ${sidecarFile}\n`);
      const { arch: design } = loadDesign(arch);
      const scales = assignmentScales(assignment, layers, design.compute);
      const input = layers.map((layer) => ({ layer, powerRatio: scales.get(layer.name)?.powerRatio ?? 1 }));
      const family = opts.zoo !== undefined ? "fixed" : undefined;
      const prediction = predictNetwork(p, arch, input, { family, base: opts.zoo, fallback: opts.fallback === true, multipliers: scales });
      const sum = prediction.sumPj, learned = prediction.learnedPj;
      // Outside the training domain a prediction is an extrapolation: say so, and how far.
      for (const line of describeDomain(prediction.domain)) process.stderr.write(`axnn: warning: ${line}\n`);
      if (!prediction.domain.inside && !opts.fallback) process.stderr.write("axnn: warning: the predictions above are extrapolations; --fallback also runs the energy model\n");
      // Times after the first (JIT) call: the median of a few repeats, as a search calling it often sees it.
      const medianUs = (fn: () => unknown) => {
        const t: number[] = [];
        for (let i = 0; i < 21; i++) {
          const t0 = performance.now();
          fn();
          t.push((performance.now() - t0) * 1000);
        }
        return t.sort((a, b) => a - b)[10]!;
      };
      const result = {
        model: opts.model ?? opts.zoo, arch, layers: layers.length,
        sum: { energy_pj: sum, at_compute_floor: prediction.sumAtFloor, time_us: medianUs(() => p.sum(arch, input, family, opts.zoo)) },
        learned: { energy_pj: learned, time_us: medianUs(() => p.learned(arch, input)) },
        sum_raw_pj: prediction.sumRawPj,
        compute_pj: prediction.computePj,
        domain: { known: prediction.domain.known, inside: prediction.domain.inside, outside: prediction.domain.outside },
        ...(prediction.fallback ? { energy_model: { energy_pj: prediction.fallback.energyPj, cycles: prediction.fallback.cycles } } : {}),
      };
      if (opts.json) {
        printJson(result);
        return;
      }
      const rows: (string | number)[][] = [["sum", sum / 1e6, result.sum.time_us], ["learned", learned / 1e6, result.learned.time_us]];
      if (prediction.fallback) rows.push(["energy model", prediction.fallback.energyPj / 1e6, "-"]);
      process.stdout.write(textTable(["predictor", "energy (uJ)", "time (us)"], rows) + "\n");
    });
}
