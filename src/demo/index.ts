import { isAbsolute, join, relative, resolve } from "node:path";
import { ensureOutputDirectory, writeFileAtomic } from "../util/fs.js";
import { progressBar } from "../util/progress.js";
import { characterise, type Characterisation } from "../multipliers/characterise.js";
import { defaultCatalogue, generate } from "../multipliers/generators/index.js";
import { multiplierFigures } from "../report/multiplier-figures.js";
import { chart } from "../report/charts.js";
import { renderHtmlReport, type ReportBlock } from "../report/html.js";
import { multiplierShare, type ComputeScale } from "../energy/approx.js";
import { DEFAULT_NETWORK_EVALUATIONS, evaluatePlan, planNetwork, type NetworkEnergy } from "../energy/network.js";
import { networkEnergyChartSpec } from "../energy/network-report.js";
import { loadDesign } from "../energy/presets.js";
import { zooLayers } from "../energy/zoo-shapes.js";
import type { Multiplier } from "../multipliers/multiplier.js";
import { accuracyChartSpec, demoAccuracy, type AccuracyOptions, type DemoAccuracy } from "./accuracy.js";
import { demoSearch, type DemoSearch } from "./search.js";
import type { Model } from "../nn/graph.js";
import { saveModel, sidecarPath } from "../zoo/sidecar.js";

export type { AccuracyOptions, DemoAccuracy, DemoAccuracyRow } from "./accuracy.js";

/**
 * `axnn demo`: the main job on built-in data. Today it characterises the built-in
 * library of approximate multipliers (error metrics, gate counts, estimated power, the
 * accuracy/power trade-off) and prices a ResNet-20 on the Eyeriss and Simba presets with each
 * Pareto-optimal multiplier, then trains a LeNet-5 on MNIST, evaluates it with a range of
 * multipliers and retrains the ones that lost most.
 */
export interface DemoOptions {
  outDir: string;
  /** No progress output (e.g. with --json). */
  quiet?: boolean;
  /** Size of the MNIST section (training, evaluation and retraining subsets). */
  accuracy?: AccuracyOptions;
  /** Leave out the MNIST section (and the search, which needs its model). */
  skipTraining?: boolean;
  /** Leave out the multiplier-assignment search. */
  skipSearch?: boolean;
}

export interface DemoMultiplierRow extends Characterisation {
  family: string;
  pareto: boolean;
}

/** Whole-network energy of one accelerator with one multiplier in every layer. */
export interface DemoEnergyRow {
  accelerator: string;
  multiplier: string;
  mae_pct: number;
  energy_uj: number;
  saving_pct: number;
  multiplier_uj: number;
  multiplier_share_pct: number;
  cycles: number;
  mac_energy_scale: number;
}

export interface DemoResult {
  outDir: string;
  report: string;
  json: string;
  files: string[];
  /** The trained LeNet-5 as ONNX with its sidecar (<model>.axnn.json); null with skipTraining. */
  model: string | null;
  multipliers: DemoMultiplierRow[];
  energy: DemoEnergyRow[];
  /** The MNIST section; null with skipTraining. */
  accuracy: DemoAccuracy | null;
  /** The multiplier-assignment search (search/front.json's content); null with skipTraining or skipSearch. */
  search: DemoSearch["summary"] | null;
}

/** The demo's trained model in its output directory. */
export const DEMO_MODEL_FILE = "lenet5.onnx";

/** How many designs off the Pareto front (spread over their MAE range) the MNIST section adds. */
const DEMO_POORER_DESIGNS = 3;

/**
 * The designs the MNIST section evaluates: every Pareto-optimal unsigned design, plus `extra`
 * others picked evenly over the MAE range of the rest (from mild to the worst), so that the
 * accuracy chart also shows what a poor design costs.
 */
export function accuracyCandidates<T extends { mae_pct: number; pareto: boolean }>(unsigned: T[], extra: number): T[] {
  const rest = unsigned.filter((r) => !r.pareto).sort((a, b) => a.mae_pct - b.mae_pct);
  const picked = new Set<T>();
  for (let i = 1; i <= Math.min(extra, rest.length); i++) picked.add(rest[Math.round((i * rest.length) / Math.min(extra, rest.length)) - 1]!);
  return [...unsigned.filter((r) => r.pareto), ...picked].sort((a, b) => a.mae_pct - b.mae_pct);
}

/** Mapper budget per distinct layer shape in the demo: small, so that the demo stays fast with a cold cache. */
export const DEMO_MAPPER_EVALUATIONS = 1000;
const DEMO_ACCELERATORS = ["eyeriss", "simba"] as const;

/** Points not dominated in (MAE%, power): no other point is at least as good in both and better in one. */
export function paretoFront<T>(points: T[], x: (p: T) => number, y: (p: T) => number): Set<T> {
  const front = new Set<T>();
  for (const p of points) {
    const dominated = points.some((q) => q !== p && x(q) <= x(p) && y(q) <= y(p) && (x(q) < x(p) || y(q) < y(p)));
    if (!dominated) front.add(p);
  }
  return front;
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const outDir = resolve(opts.outDir);
  ensureOutputDirectory(outDir);
  const log = (line: string) => {
    if (!opts.quiet) process.stderr.write(`axnn demo: ${line}\n`);
  };
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array): string => {
    const path = join(outDir, name);
    writeFileAtomic(path, data);
    files.push(path);
    return path;
  };

  const catalogue = defaultCatalogue().filter((c) => c.params.n === 8);
  log(`characterising ${catalogue.length} multiplier designs`);
  const bar = progressBar("characterising multipliers", catalogue.length, { quiet: opts.quiet, unit: "designs" });
  const rows: DemoMultiplierRow[] = [];
  const multiplierOf = new Map<string, Multiplier>();
  for (const { kind, params } of catalogue) {
    const g = generate(kind, params);
    multiplierOf.set(g.multiplier.name, g.multiplier);
    rows.push({ ...characterise({ multiplier: g.multiplier, netlist: g.netlist, origin: "generated" }), family: kind, pareto: false });
    bar.tick();
  }
  bar.stop();

  const unsigned = rows.filter((r) => !r.signed);
  const front = paretoFront(unsigned, (r) => r.mae_pct, (r) => r.power_estimate!);
  for (const r of unsigned) r.pareto = front.has(r);
  const exact = unsigned.find((r) => r.family === "exact")!;

  const points = unsigned.map((r) => ({
    name: r.name, family: r.family, mae_pct: Math.max(r.mae_pct, 1e-4), power: r.power_estimate!, pareto: r.pareto,
    saving: 100 * (1 - r.power_estimate! / exact.power_estimate!),
  }));
  const tradeoff = await chart({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Error vs estimated power of the built-in unsigned 8x8 designs", subtitle: "Pareto-optimal designs joined; exact design plotted at MAE 0.0001 % (log axis)" },
    width: 620,
    height: 380,
    data: { values: points },
    layer: [
      {
        transform: [{ filter: "datum.pareto" }],
        mark: { type: "line", color: "#999", strokeDash: [4, 3] },
        encoding: { x: { field: "mae_pct", type: "quantitative" }, y: { field: "power", type: "quantitative" }, order: { field: "mae_pct" } },
      },
      {
        mark: { type: "point", filled: true, size: 70 },
        encoding: {
          x: { field: "mae_pct", type: "quantitative", scale: { type: "log" }, title: "MAE (% of 2^16)" },
          y: { field: "power", type: "quantitative", title: "estimated power (mW at 1 GHz)" },
          color: { field: "family", type: "nominal", title: "design" },
          shape: { field: "pareto", type: "nominal", title: "Pareto-optimal" },
          tooltip: [{ field: "name" }, { field: "mae_pct" }, { field: "power" }],
        },
      },
      {
        transform: [{ filter: "datum.pareto" }],
        mark: { type: "text", dx: 6, dy: -6, align: "left", fontSize: 9 },
        encoding: { x: { field: "mae_pct", type: "quantitative" }, y: { field: "power", type: "quantitative" }, text: { field: "name" } },
      },
    ],
  });
  put("tradeoff.svg", tradeoff.svg);
  put("tradeoff.png", tradeoff.png);

  const byMae = [...unsigned].filter((r) => r.family !== "exact").sort((a, b) => a.mae_pct - b.mae_pct);
  const good = byMae[0]!;
  const poor = byMae[byMae.length - 1]!;
  const figs = [good, poor].map((r) => {
    const g = catalogue.find((c) => generate(c.kind, c.params).multiplier.name === r.name)!;
    return { row: r, fig: multiplierFigures(generate(g.kind, g.params).multiplier) };
  });
  for (const { row, fig } of figs) {
    put(`${row.name}-heatmap.svg`, fig.heatmapSvg);
    put(`${row.name}-heatmap.png`, fig.heatmapPng);
  }

  // Energy: one mapping search per distinct ResNet-20 layer shape and accelerator, reused for every
  // multiplier (a multiplier scales only the MAC energy, which does not depend on the mapping).
  log("pricing ResNet-20 on the Eyeriss and Simba presets");
  const layers = zooLayers("resnet20");
  const candidates = unsigned.filter((r) => r.pareto);
  const energyRows: DemoEnergyRow[] = [];
  const exactRuns = new Map<string, NetworkEnergy>();
  let mappingSeconds = 0, shapesSearched = 0, shapesCached = 0;
  for (const preset of DEMO_ACCELERATORS) {
    const { arch, ert } = loadDesign(preset);
    const plan = planNetwork(arch, ert, layers, { maxEvaluations: DEMO_MAPPER_EVALUATIONS, seed: 1, progress: !opts.quiet });
    mappingSeconds += plan.elapsedMs / 1000;
    shapesSearched += plan.shapes.filter((x) => !x.fromCache).length;
    shapesCached += plan.shapes.filter((x) => x.fromCache).length;
    const share = multiplierShare(arch.compute);
    const baseline = evaluatePlan(plan);
    baseline.arch = preset;
    exactRuns.set(preset, baseline);
    for (const r of candidates) {
      // The demo's own power estimates (netlist cost model), relative to the exact design's.
      const powerRatio = r.power_estimate! / exact.power_estimate!;
      const scale: ComputeScale = { scale: 1 - share + share * powerRatio, share, powerRatio, multiplier: r.name, powerSource: "netlist estimate" };
      const res = r === exact ? baseline : evaluatePlan(plan, () => scale);
      energyRows.push({
        accelerator: preset, multiplier: r.name, mae_pct: r.mae_pct, energy_uj: res.totals.energyPj / 1e6,
        saving_pct: 100 * (1 - res.totals.energyPj / baseline.totals.energyPj), multiplier_uj: res.totals.multiplierPj / 1e6,
        multiplier_share_pct: 100 * res.totals.multiplierShare, cycles: res.totals.cycles, mac_energy_scale: scale.scale,
      });
    }
  }
  const energyChart = await chart({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "ResNet-20 (CIFAR) inference energy with each Pareto-optimal multiplier", subtitle: "split into the multipliers' part and the rest of the accelerator; independent scales per accelerator" },
    data: {
      values: energyRows.flatMap((e, i) => [
        { accelerator: e.accelerator, multiplier: e.multiplier, index: i, part: "multipliers", order: 1, energy_uj: e.multiplier_uj },
        { accelerator: e.accelerator, multiplier: e.multiplier, index: i, part: "rest of the accelerator", order: 0, energy_uj: e.energy_uj - e.multiplier_uj },
      ]),
    },
    facet: { column: { field: "accelerator", type: "nominal", title: null } },
    spec: {
      width: 300,
      height: 300,
      mark: { type: "bar" },
      encoding: {
        x: { field: "multiplier", type: "nominal", sort: { field: "index" }, title: "multiplier", axis: { labelAngle: -45 } },
        y: { field: "energy_uj", type: "quantitative", stack: "zero", title: "energy per inference (uJ)" },
        color: { field: "part", type: "nominal", title: "energy", sort: ["rest of the accelerator", "multipliers"], legend: { labelLimit: 260 } },
        order: { field: "order" },
        tooltip: [{ field: "multiplier" }, { field: "part" }, { field: "energy_uj", format: ".3f" }],
      },
    },
    resolve: { scale: { y: "independent" } },
  } as Parameters<typeof chart>[0]);
  put("energy-resnet20.svg", energyChart.svg);
  put("energy-resnet20.png", energyChart.png);
  const layerCharts = new Map<string, string>();
  for (const [preset, res] of exactRuns) {
    const fig = await chart(networkEnergyChartSpec(res, `ResNet-20 on ${preset}, exact multiplier: energy per layer by component`));
    put(`energy-resnet20-${preset}-layers.svg`, fig.svg);
    put(`energy-resnet20-${preset}-layers.png`, fig.png);
    layerCharts.set(preset, fig.svg);
  }

  let accuracy: DemoAccuracy | null = null;
  let trainedModel: Model | undefined;
  let search: DemoSearch | undefined;
  const accuracyBlocks: ReportBlock[] = [];
  if (!opts.skipTraining) {
    const picked = accuracyCandidates(unsigned, DEMO_POORER_DESIGNS);
    accuracy = demoAccuracy(
      picked.map((r) => ({ name: r.name, multiplier: multiplierOf.get(r.name)!, mae_pct: r.mae_pct, power: r.power_estimate!, pareto: r.pareto })),
      opts.accuracy ?? {}, log, (m) => (trainedModel = m),
    );
    const figures: string[] = [];
    for (const metric of ["power", "mae"] as const) {
      const fig = await chart(accuracyChartSpec(accuracy, metric));
      put(`accuracy-vs-${metric}.svg`, fig.svg);
      put(`accuracy-vs-${metric}.png`, fig.png);
      figures.push(fig.svg);
    }
    const a = accuracy;
    const int8 = a.rows.find((r) => r.kind === "int8")!;
    const float = a.rows.find((r) => r.kind === "float")!;
    const retrained = a.rows.filter((r) => r.retrained_top1 !== null);
    const pct = (v: number | null) => (v === null ? "" : (100 * v).toFixed(2));
    accuracyBlocks.push(
      { kind: "heading", text: "Accuracy on MNIST" },
      {
        kind: "paragraph",
        text: `A LeNet-5 (zoo, seed ${opts.accuracy?.seed ?? 1}) was trained on ${a.train_samples} MNIST training images for ${a.epochs} epoch(s) ` +
          `(SGD 0.05, cosine schedule; ${a.train_seconds.toFixed(1)} s) and evaluated on ${a.eval_samples} test images as "axnn eval --quant asym" does ` +
          `(uint8 activations and weights with zero points, 256 calibration images): float ${pct(float.top1)} %, exact int8 ${pct(int8.top1)} %. ` +
          `Each multiplier below replaced the exact one in every conv and dense layer: the Pareto-optimal unsigned designs and ${DEMO_POORER_DESIGNS} others spread over the MAE range ` +
          `(${a.eval_seconds.toFixed(1)} s for all). ` +
          (retrained.length
            ? `The ${retrained.length} that lost most against int8 (${retrained.map((r) => r.arithmetic).join(", ")}) were retrained with the multiplier in the loop ` +
              `("axnn finetune": ${a.retrain_epochs} epoch of quantization-aware training on ${a.retrain_samples} images, SGD ${a.retrain_lr}, tracked input ranges with momentum ${a.retrain_range_momentum}; ${a.retrain_seconds.toFixed(1)} s).`
            : "No design lost accuracy against int8, so none was retrained."),
      },
      { kind: "figure", svg: figures[0]!, caption: "Accuracy against the design's estimated power; retrained designs appear twice." },
      { kind: "figure", svg: figures[1]!, caption: "Accuracy against the design's mean absolute error." },
      {
        kind: "table",
        columns: ["arithmetic", "MAE %", "est. power mW", "Pareto", "top-1 %", "loss vs int8 (points)", "retrained top-1 %", "retrained model, int8 top-1 %"],
        rows: a.rows.map((r) => [
          r.arithmetic, r.mae_pct ?? "", r.power_estimate ?? "", r.pareto ? "yes" : "", pct(r.top1), (100 * r.loss_vs_int8).toFixed(2), pct(r.retrained_top1), pct(r.retrained_int8_top1),
        ]),
      },
    );
  }

  // The trained LeNet-5 and the settings it was evaluated with, so that `axnn eval`, `sensitivity`,
  // `finetune`, `energy net` and `search assign` continue from it and reproduce the demo's figures.
  let modelFile: string | null = null;
  if (trainedModel) {
    modelFile = join(outDir, DEMO_MODEL_FILE);
    saveModel(modelFile, trainedModel, {
      input: { normalize: "unit" },
      quantization: { scheme: "asym", perChannel: false },
      zoo: { name: "lenet5", options: { seed: opts.accuracy?.seed ?? 1 } },
    });
    files.push(modelFile, sidecarPath(modelFile));
  }

  if (trainedModel && !opts.skipSearch) {
    search = await demoSearch(trainedModel, outDir, log);
    files.push(...search.files);
  }

  const columns = ["design", "signed", "MAE %", "WCE %", "EP %", "bias", "cells", "est. power mW", "saving vs exact %", "Pareto"];
  const table = rows.map((r) => [
    r.name, r.signed ? "yes" : "no", r.mae_pct, r.wce_pct, r.ep_pct, r.bias, r.gates?.total ?? 0, r.power_estimate!,
    r.signed ? "" : 100 * (1 - r.power_estimate! / exact.power_estimate!), r.pareto ? "yes" : "",
  ]);
  const blocks: ReportBlock[] = [
    {
      kind: "paragraph",
      text: `${rows.length} classic approximate multiplier designs were generated as gate-level netlists, evaluated on all 65,536 operand pairs, ` +
        `and costed from switching activity (10,000 random operand pairs, 45 nm cell figures). ${front.size} unsigned designs are Pareto-optimal in error vs power.`,
    },
    { kind: "heading", text: "Error vs power" },
    { kind: "figure", svg: tradeoff.svg, caption: "Each point is one design; power is the netlist estimate, not a synthesis result." },
    { kind: "heading", text: "All designs" },
    { kind: "table", columns, rows: table },
    { kind: "heading", text: `Error maps: ${good.name} (smallest MAE) and ${poor.name} (largest MAE)` },
    ...figs.map(({ fig, row }) => ({ kind: "figure" as const, svg: fig.heatmapSvg, caption: row.name })),
    { kind: "heading", text: "Accelerator energy of a ResNet-20" },
    {
      kind: "paragraph",
      text: `A CIFAR-10 ResNet-20 (${layers.length} conv and dense layers, shapes only) on the Eyeriss-like and Simba-like presets, ` +
        `with the exact multiplier and each Pareto-optimal unsigned design in every layer. A multiplier scales the multiplier's share of the ` +
        `MAC energy (${DEMO_ACCELERATORS.map((p) => `${(100 * exactRuns.get(p)!.totals.multiplierPj / exactRuns.get(p)!.totals.computePj).toFixed(1)}% on ${p}`).join(", ")}) by its estimated power relative to the exact design. ` +
        `Mappings were searched once per distinct layer shape and accelerator with a small budget for the demo ` +
        `(${DEMO_MAPPER_EVALUATIONS} mappings evaluated per shape, seed 1, where "axnn energy net" evaluates ${DEFAULT_NETWORK_EVALUATIONS}; this run searched ${shapesSearched} shapes and read ${shapesCached} from the mapping cache in ${mappingSeconds.toFixed(1)} s) and reused for every multiplier. ` +
        `The multipliers take ${DEMO_ACCELERATORS.map((p) => `${(100 * exactRuns.get(p)!.totals.multiplierShare).toFixed(1)}% (${p})`).join(" and ")} of the energy with the exact design, which bounds what any multiplier can save.`,
    },
    { kind: "figure", svg: energyChart.svg, caption: "Energy per inference with each multiplier in every layer." },
    {
      kind: "table",
      columns: ["accelerator", "multiplier", "MAE %", "energy uJ", "saving vs exact %", "multipliers uJ", "multiplier share %", "MAC energy factor", "cycles"],
      rows: energyRows.map((e) => [e.accelerator, e.multiplier, e.mae_pct, e.energy_uj, e.saving_pct, e.multiplier_uj, e.multiplier_share_pct, e.mac_energy_scale, e.cycles]),
    },
    ...[...layerCharts].map(([preset, svg]) => ({ kind: "figure" as const, svg, caption: `Energy of each layer on ${preset} (exact multiplier), by component.` })),
    ...accuracyBlocks,
    ...(search?.blocks ?? []),
  ];
  const report = put("report.html", renderHtmlReport("axnn demo: approximate multipliers", blocks));
  const json = put("demo.json", JSON.stringify({ multipliers: rows, energy: { network: "resnet20", mapper_evaluations_per_shape: DEMO_MAPPER_EVALUATIONS, rows: energyRows }, accuracy, search: search?.summary ?? null }, null, 2) + "\n");
  return { outDir, report, json, files, model: modelFile, multipliers: rows, energy: energyRows, accuracy, search: search?.summary ?? null };
}

/**
 * The commands that continue from the demo's saved model, with `design` (a multiplier name) where
 * one is needed. Paths are relative to `cwd` when the output lies below it.
 */
export function demoNextCommands(modelFile: string, design: string, cwd = process.cwd()): string[] {
  const rel = relative(cwd, modelFile);
  const shown = rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : modelFile;
  const q = (p: string) => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`);
  const m = q(shown);
  return [
    `axnn eval --model ${m} --data mnist --mult ${design}`,
    `axnn sensitivity --model ${m} --data mnist --mult ${design} --chart ${q(join(shown, "..", "sensitivity.svg"))}`,
    `axnn finetune --model ${m} --data mnist --mult ${design} --epochs 1 -o ${q(join(shown, "..", `lenet5-${design}.onnx`))}`,
    `axnn energy net --model ${m} --arch eyeriss --mult ${design}`,
    `axnn search assign --model ${m} --data mnist --mults builtin -o ${q(join(shown, "..", "search-assign"))}`,
  ];
}
