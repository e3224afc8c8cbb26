import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { AxnnError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { progressBar } from "../util/progress.js";
import { paretoFront } from "../demo/index.js";
import { chart } from "../report/charts.js";
import { renderHtmlReport, type ReportBlock } from "../report/html.js";
import { evaluatePlan, layersFromModel, planNetwork, type LayerMultipliers, type NetworkPlan } from "../energy/network.js";
import { loadDesign } from "../energy/presets.js";
import type { ComputeScale } from "../energy/approx.js";
import { checkFormat, FORMAT_INFO, keyLayout, type AxpFormat } from "./formats.js";
import { keySpace } from "./memory.js";
import { AxpSession, prepareAxpContext, type AxpConfig, type AxpDataSetup, type AxpFinetuneRecord, type AxpPointResult, type AxpSessionOptions } from "./evaluate.js";
import { loadPeModel, type PeModel } from "./energy.js";

export interface AxpSweepOptions extends AxpDataSetup {
  clusters: number[];
  entries: number[];
  keyBits: number[];
  dontCare: number[];
  hamming?: number;
  formats: AxpFormat[];
  perChannel?: boolean;
  init?: AxpConfig["init"];
  /** PEs per layer with a memory of `entries` entries each (default 1: one memory per layer). */
  pes?: number;
  /** Zero gating in the PE (and in the FPU-only baseline): MACs with a zero activation cost nothing. Default off. */
  zeroGating?: boolean;
  /**
   * What a miss multiplies with, a grid dimension: null for the format's exact product (the FPU), or a
   * multiplier's name or file (src/axp/miss.ts). Default [null].
   */
  missMultipliers?: (string | null)[];
  /** PE model file (default data/axp-pe.json). */
  peFile?: string;
  /** Accelerator preset or file for accelerator_energy_pj; null: none. */
  arch?: string | null;
  ert?: string;
  /** Mapper budget per distinct layer shape (default 1000). */
  mapperEvaluations?: number;
  /** Output directory: journal.jsonl (resume), results.json, chart.svg/png, report.html. */
  outDir?: string;
  progress?: boolean;
  /** Throw away an existing journal instead of resuming it. */
  restart?: boolean;
  /** Cluster-aware fine-tuning of every clustering before its memories are filled (none by default). */
  finetune?: AxpSessionOptions["finetune"];
}

export interface AxpSweepResult {
  model: string;
  data: string;
  test_samples: number;
  calibration_samples: number;
  arch: string | null;
  pe_model: PeModel;
  baseline: { format: AxpFormat; top1: number; energy_pj: number; active_macs: number; accelerator_energy_pj?: number; accelerator_energy_format_words_pj?: number }[];
  points: AxpPointResult[];
  /** One record per fine-tuned clustering (with finetune): float top-1 before and after. */
  finetune: AxpFinetuneRecord[];
  /** Indices into points of the Pareto front (top-1 up, energy down), by energy. */
  front: number[];
  resumed: number;
  /** Grid combinations left out (more don't-care bits than the key has mantissa bits). */
  skipped: string[];
  files: string[];
}

/** The grid's points; combinations with more don't-care bits than the key has variable bits are left out (and listed). */
function configsOf(o: AxpSweepOptions): { list: AxpConfig[]; skipped: string[] } {
  const list: AxpConfig[] = [];
  const skipped: string[] = [];
  for (const format of o.formats) {
   for (const miss of o.missMultipliers ?? [null]) {
    for (const clusters of o.clusters) {
      for (const keyBits of o.keyBits) {
        for (const entries of o.entries) {
          for (const dontCare of o.dontCare) {
            const layout = keyLayout(format, keyBits);
            if (dontCare + (o.hamming ?? 0) > layout.variableBits) {
              if (entries === o.entries[0] && clusters === o.clusters[0]) skipped.push(`${format} key bits ${keyBits} with ${dontCare} don't-care bits`);
              continue;
            }
            list.push({ clusters, entries, keyBits, dontCare, hamming: o.hamming ?? 0, format, perChannel: o.perChannel, init: o.init, seed: o.seed, zeroGating: o.zeroGating, pes: o.pes, ...(miss === null ? {} : { missMultiplier: miss }) });
          }
        }
      }
    }
   }
  }
  if (list.length === 0) throw new AxnnError(`no valid combination: ${skipped.join("; ")} (the don't-care bits and Hamming distance must fit in the key's mantissa bits)`, { field: "--dont-care" });
  return { list, skipped };
}

function configKey(c: AxpConfig): string {
  return `${c.format}/K${c.clusters}/N${c.entries}/m${c.keyBits}/d${c.dontCare}/h${c.hamming ?? 0}${(c.pes ?? 1) > 1 ? `/P${c.pes}` : ""}${c.missMultiplier !== undefined ? `/M${c.missMultiplier}` : ""}`;
}

/** Checks every value before any work: K >= 1, formats, key bits, don't-care bits, and memories no larger than a layer's key space. */
export function checkSweepOptions(o: AxpSweepOptions): void {
  const ints = (xs: number[], field: string, min: number) => {
    if (xs.length === 0) throw new AxnnError("expected at least one value", { field });
    for (const x of xs) if (!Number.isInteger(x) || x < min) throw new AxnnError(`expected whole numbers >= ${min}, got ${x}`, { field });
  };
  ints(o.clusters, "--clusters", 1);
  ints(o.entries, "--entries", 0);
  ints(o.keyBits, "--key-bits", 0);
  ints(o.dontCare, "--dont-care", 0);
  ints([o.pes ?? 1], "--pes", 1);
  if (o.formats.length === 0) throw new AxnnError("expected at least one format", { field: "--format" });
  if (o.missMultipliers && o.missMultipliers.length === 0) throw new AxnnError("expected at least one multiplier (or fpu)", { field: "--miss-mult" });
  for (const f of o.formats) checkFormat(f);
  for (const f of o.formats) {
    for (const m of o.keyBits) {
      const layout = keyLayout(f, m);
      for (const k of o.clusters) {
        // A layer has at most K bins per group; the smallest key space is that of K bins (per layer).
        const space = keySpace(k, layout);
        for (const n of o.entries) {
          if (n > space) throw new AxnnError(`${n} entries are more than the key space of ${k} bins x 2^${layout.width} ${f} keys of ${m} bits (${space})`, { field: "--entries" });
        }
      }
    }
  }
}

function fingerprint(o: AxpSweepOptions, pe: PeModel): string {
  const model = typeof o.model === "string" ? (() => {
    const st = statSync(o.model);
    return { file: o.model, size: st.size, mtime: st.mtimeMs };
  })() : o.model.name;
  const s = JSON.stringify({ model, data: o.data, limit: o.limit ?? null, calib: o.calibrationSize ?? 256, seed: o.seed ?? 1, normalize: o.normalize ?? null, pe, arch: o.arch ?? null, ert: o.ert ?? null, mapper: o.mapperEvaluations ?? 1000, perChannel: o.perChannel ?? false, init: o.init ?? "kmeans++", hamming: o.hamming ?? 0, ...(o.finetune ? { finetune: o.finetune } : {}), ...(o.zeroGating ? { zeroGating: true } : {}) });
  return createHash("sha256").update(s).digest("hex").slice(0, 16);
}

interface AcceleratorPricing {
  plan: NetworkPlan;
  /**
   * The accelerator's energy per inference with the AxP PE as its compute unit: on the preset as it is
   * (`energy`, its storage words as the preset declares them, 8/16-bit on Eyeriss and Simba) and with
   * every storage level's word widened to the PE format's width (`formatWords`: same mapping and word
   * counts, each level's energy scaled by max(1, format bits / the level's word bits), i.e. linear in bits).
   */
  price(pjPerMacByLayer: Map<string, number>, format: AxpFormat): { energy: number; formatWords: number };
}

function acceleratorPricing(o: AxpSweepOptions, session: AxpSession): AcceleratorPricing | null {
  if (o.arch === null || o.arch === undefined) return null;
  const { arch, ert } = loadDesign(o.arch, o.ert);
  const sample = session.ctx.test.batches[0]!.input.shape.slice(1);
  const layers = layersFromModel(session.ctx.model, { batch: 1, inputShape: [1, ...sample] });
  const plan = planNetwork(arch, ert, layers, { maxEvaluations: o.mapperEvaluations ?? 1000, progress: o.progress });
  return {
    plan,
    price(pjPerMac, format) {
      // The AxP PE replaces the preset's MAC: its compute energy per MAC is scaled to the PE's.
      const scales: LayerMultipliers = (layer) => {
        const target = pjPerMac.get(layer.name);
        if (target === undefined) return undefined;
        const shape = plan.shapes[plan.shapeOf[plan.layers.indexOf(layer)]!]!;
        const scale = target / shape.evaluation.compute.energyPerMacPj;
        const s: ComputeScale = { scale, share: 1, powerRatio: scale, multiplier: "axp-pe", powerSource: "axp pe model" };
        return s;
      };
      const t = evaluatePlan(plan, scales).totals;
      const bits = FORMAT_INFO[format].bits;
      let formatWords = t.computePj;
      for (const level of plan.arch.levels) {
        if (level.dummy) continue;
        formatWords += (t.components[level.name] ?? 0) * Math.max(1, bits / level.datawidth);
      }
      return { energy: t.energyPj, formatWords };
    },
  };
}

/**
 * Sweeps K x entries x key bits x don't-care bits x formats: accuracy, hit rates and energy of each
 * point, the unclustered FPU-only baseline per format, the Pareto front; with outDir, every finished
 * point is appended to a journal so that a killed sweep resumes where it stopped.
 */
export async function axpSweep(o: AxpSweepOptions): Promise<AxpSweepResult> {
  checkSweepOptions(o);
  const pe = loadPeModel(o.peFile);
  const ctx = prepareAxpContext(o);
  const { list: configs, skipped } = configsOf(o);
  const fp = fingerprint(o, pe);
  const done = new Map<string, AxpPointResult>();
  const tuned = new Map<string, AxpFinetuneRecord>();
  const tunedKey = (r: { clusters: number; per_channel: boolean }) => `K${r.clusters}/${r.per_channel}`;
  let journal: string | undefined;
  if (o.outDir) {
    mkdirSync(o.outDir, { recursive: true });
    journal = join(o.outDir, "journal.jsonl");
    if (existsSync(journal) && !o.restart) {
      const lines = readFileSync(journal, "utf8").split("\n").filter((l) => l.trim() !== "");
      const head = lines.length > 0 ? (JSON.parse(lines[0]!) as { fingerprint?: string }) : {};
      if (head.fingerprint !== fp) {
        throw new AxnnError("the journal is from a sweep with other settings (model, data, samples, PE model or accelerator); use another -o directory or --restart", { file: journal });
      }
      for (const l of lines.slice(1)) {
        // A line cut short by a kill is simply redone.
        try {
          const p = JSON.parse(l) as { key: string; point?: AxpPointResult; finetune?: AxpFinetuneRecord };
          if (p.point) done.set(p.key, p.point);
          if (p.finetune) tuned.set(tunedKey(p.finetune), p.finetune);
        } catch {
          /* incomplete last line */
        }
      }
    } else {
      writeFileAtomic(journal, `${JSON.stringify({ fingerprint: fp, started: new Date().toISOString() })}\n`);
    }
  }
  const session = new AxpSession(ctx, pe, {
    finetune: o.finetune,
    onFinetune: (r) => {
      tuned.set(tunedKey(r), r);
      if (journal) appendFileSync(journal, `${JSON.stringify({ key: `finetune/${tunedKey(r)}`, finetune: r })}\n`);
    },
  });
  // Unknown multipliers fail before any work.
  for (const m of o.missMultipliers ?? []) if (m !== null) session.missMultiplier(m);
  const resumed = configs.filter((c) => done.has(configKey(c))).length;
  const accel = acceleratorPricing(o, session);
  const bar = progressBar("axp sweep", configs.length - resumed, { quiet: !o.progress, unit: "points" });
  const points: AxpPointResult[] = [];
  for (const c of configs) {
    const key = configKey(c);
    let p = done.get(key);
    // Without a memory the key and match settings change nothing: one evaluation per (format, K).
    const plain = c.entries === 0 ? points.find((q) => q.entries === 0 && q.format === c.format && q.clusters === c.clusters && q.miss_multiplier === (c.missMultiplier === undefined ? null : session.missMultiplier(c.missMultiplier).multiplier.name)) : undefined;
    if (!p) {
      if (plain) p = { ...plain, key_bits: c.keyBits, dont_care: c.dontCare, hamming: c.hamming ?? 0 };
      else {
        p = session.evaluate(c);
        if (accel) {
          const a = accel.price(new Map(p.layers.map((l) => [l.layer, l.pjPerMac])), c.format);
          p.accelerator_energy_pj = a.energy;
          p.accelerator_energy_format_words_pj = a.formatWords;
        }
      }
      if (journal) appendFileSync(journal, `${JSON.stringify({ key, point: p })}\n`);
      bar.tick();
    }
    points.push(p);
  }
  bar.stop();
  // Baselines: the unclustered model on the FPU-only PE, same MACs as the points.
  const baseline = o.formats.map((format) => {
    const any = points.find((p) => p.format === format)!;
    const b = session.baseline(format, new Map(any.layers.map((l) => [l.layer, l.macs])), { zeroGating: o.zeroGating });
    const a = pe.arithmetic[format];
    const priced = accel?.price(new Map(any.layers.map((l) => [l.layer, a.mul_pj + a.add_pj])), format);
    const acc = priced ? { accelerator_energy_pj: priced.energy, accelerator_energy_format_words_pj: priced.formatWords } : {};
    return { format, ...b, ...acc };
  });
  for (const p of points) {
    const b = baseline.find((x) => x.format === p.format)!;
    p.saving = 1 - p.energy_pj / b.energy_pj;
    // The same saving counted on the multiplications alone (the adds are the same in both PEs).
    const add = pe.arithmetic[p.format].add_pj;
    const adds = p.layers.reduce((a, l) => a + (o.zeroGating ? l.macs - l.zeroMacs : l.macs), 0) * add;
    p.multiply_saving = 1 - (p.energy_pj - adds) / (b.energy_pj - b.active_macs * add);
  }
  const frontSet = paretoFront(points, (p) => p.energy_pj, (p) => -p.top1);
  const front = points.map((p, i) => ({ p, i })).filter(({ p }) => frontSet.has(p)).sort((a, b) => a.p.energy_pj - b.p.energy_pj).map(({ i }) => i);
  const result: AxpSweepResult = {
    model: typeof o.model === "string" ? o.model : o.model.name, data: o.data, test_samples: ctx.test.count, calibration_samples: ctx.calibration.reduce((a, t) => a + t.shape[0]!, 0),
    arch: o.arch ?? null, pe_model: pe, baseline, points, finetune: [...tuned.values()].sort((a, b) => a.clusters - b.clusters), front, resumed, skipped, files: [],
  };
  if (o.outDir) result.files = await writeSweepOutputs(o.outDir, result);
  return result;
}

/** Writes result files into a directory atomically and lists them. */
export function resultFiles(dir: string): { put: (name: string, data: string | Uint8Array) => void; files: string[] } {
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array) => {
    const f = join(dir, name);
    writeFileAtomic(f, data);
    files.push(f);
  };
  return { put, files };
}

async function writeSweepOutputs(dir: string, r: AxpSweepResult): Promise<string[]> {
  const { put, files } = resultFiles(dir);
  const frontSet = new Set(r.front);
  const values = r.points.map((p, i) => ({
    energy: p.energy_pj / 1e6, top1: 100 * p.top1, clusters: `K=${p.clusters}`, entries: p.entries, front: frontSet.has(i),
    label: `K${p.clusters} N${p.entries} m${p.key_bits} d${p.dont_care} ${p.format}${p.miss_multiplier ? ` misses: ${p.miss_multiplier}` : ""}`, hit: (100 * p.hit_rate).toFixed(1),
  }));
  const base = r.baseline.map((b) => ({ energy: b.energy_pj / 1e6, top1: 100 * b.top1, label: `baseline ${b.format}` }));
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: `AxP sweep: ${r.model.split("/").pop()} on ${r.data}`, subtitle: `${r.test_samples} test images; PE compute energy per inference; front joined; baseline = unclustered model on the FPU-only PE` },
    width: 640, height: 400,
    layer: [
      { data: { values: values.filter((v) => v.front) }, mark: { type: "line", color: "#999", strokeDash: [4, 3] }, encoding: { x: { field: "energy", type: "quantitative" }, y: { field: "top1", type: "quantitative" }, order: { field: "energy" } } },
      {
        data: { values }, mark: { type: "point", filled: true, size: 60 },
        encoding: {
          x: { field: "energy", type: "quantitative", title: "PE compute energy per inference (uJ)" },
          y: { field: "top1", type: "quantitative", title: "top-1 (%)", scale: { zero: false } },
          color: { field: "clusters", type: "nominal", title: "bins" },
          shape: { field: "front", type: "nominal", title: "on the front" },
          tooltip: [{ field: "label" }, { field: "hit" }],
        },
      },
      { data: { values: base }, mark: { type: "point", shape: "diamond", size: 120, color: "black", filled: true }, encoding: { x: { field: "energy", type: "quantitative" }, y: { field: "top1", type: "quantitative" } } },
      { data: { values: base }, mark: { type: "text", dx: -8, dy: -10, align: "right", fontSize: 10 }, encoding: { x: { field: "energy", type: "quantitative" }, y: { field: "top1", type: "quantitative" }, text: { field: "label" } } },
    ],
  };
  const c = await chart(spec as never);
  put("chart.svg", c.svg);
  put("chart.png", c.png);
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const row = (p: AxpPointResult): (string | number)[] => [p.format, p.miss_multiplier ?? "FPU", p.clusters, p.entries, p.key_bits, p.dont_care, pct(p.top1), pct(p.hit_rate), pct(p.hit_rate_nonzero), pct(p.zero_fraction), pct(p.hit_rate_drift), (p.energy_pj / 1e6).toFixed(4), pct(p.saving), pct(p.multiply_saving ?? 0), p.accelerator_energy_pj !== undefined ? (p.accelerator_energy_pj / 1e6).toFixed(4) : "-", p.accelerator_energy_format_words_pj !== undefined ? (p.accelerator_energy_format_words_pj / 1e6).toFixed(4) : "-"];
  const cols = ["format", "misses", "K", "N", "key bits", "don't care", "top-1", "hit rate", "hit rate (non-zero)", "zero MACs", "drift", "PE energy (uJ)", "saving", "saving on multiplies", "accelerator (uJ)", "accelerator, format-wide words (uJ)"];
  const blocks: ReportBlock[] = [
    { kind: "paragraph", text: `Model ${r.model}, data ${r.data}: ${r.test_samples} test images, ${r.calibration_samples} calibration images (training split). Accelerator: ${r.arch ?? "none"}. Memories: ${(r.points[0]?.pes ?? 1) > 1 ? `one per PE, ${r.points[0]!.pes} PEs per layer (N entries each)` : "one per layer"}. Zero gating: ${r.points[0]?.zero_gating ? "on (MACs with a zero activation skipped, in the baseline too)" : "off"}.` },
    { kind: "table", caption: "Baseline: the unclustered model on the FPU-only PE", columns: ["format", "top-1", "PE energy (uJ)", "accelerator (uJ)", "accelerator, format-wide words (uJ)"], rows: r.baseline.map((b) => [b.format, pct(b.top1), (b.energy_pj / 1e6).toFixed(4), b.accelerator_energy_pj !== undefined ? (b.accelerator_energy_pj / 1e6).toFixed(4) : "-", b.accelerator_energy_format_words_pj !== undefined ? (b.accelerator_energy_format_words_pj / 1e6).toFixed(4) : "-"]) },
    ...(r.finetune.length > 0 ? [{
      kind: "table" as const, caption: "Cluster-aware fine-tuning (float top-1 of the clustered model, no memory)",
      columns: ["K", "per channel", "epochs", "training images", "lr", "centroid gradient", "unclustered", "clustered", "fine-tuned"],
      rows: r.finetune.map((f) => [f.clusters, f.per_channel ? "yes" : "no", f.epochs, f.train_samples, f.lr, f.centroid_gradient, pct(f.float_top1), pct(f.before_top1), pct(f.after_top1)]),
    }] : []),
    { kind: "figure", svg: c.svg, caption: "Accuracy against PE compute energy" },
    { kind: "table", caption: "Pareto front", columns: cols, rows: r.front.map((i) => row(r.points[i]!)) },
    { kind: "table", caption: "All points", columns: cols, rows: r.points.map(row) },
    { kind: "code", text: JSON.stringify(r.pe_model, null, 2) },
  ];
  put("report.html", renderHtmlReport("AxP sweep", blocks));
  put("results.json", `${JSON.stringify({ ...r, files: undefined }, null, 2)}\n`);
  return files;
}
