import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { timeIt, type BenchResult } from "./harness.js";
import { loadDesign } from "../src/energy/presets.js";
import { loadProblem } from "../src/energy/problem.js";
import { loadMapping } from "../src/energy/mapping.js";
import { evaluate } from "../src/energy/model.js";
import { searchMapping } from "../src/energy/mapper.js";

const REF = resolve(fileURLToPath(import.meta.url), "..", "..", "..", "..", "shared", "data", "timeloop-reference");
const LAYERS = [
  { dir: "v4_eyeriss_like_default", problem: "default_problem.yaml", preset: "eyeriss" },
  { dir: "v4_simba_like_default", problem: "default_problem.yaml", preset: "simba" },
  { dir: "v4_ispass06_eyeriss_vgg02_layer5", problem: "VGG02_layer5.yaml", preset: "eyeriss" },
];

/** Mapping evaluation time and mapper search time/quality against the Timeloop references' own mappings. */
export function benchEnergy(): BenchResult[] {
  if (!existsSync(REF)) {
    process.stderr.write(`energy benchmarks skipped: ${REF} not found\n`);
    return [];
  }
  const out: BenchResult[] = [];
  for (const layer of LAYERS) {
    const { arch, ert } = loadDesign(layer.preset);
    const problem = loadProblem(join(REF, layer.dir, layer.problem));
    const mapping = loadMapping(join(REF, layer.dir, "timeloop-mapper.map.txt"), arch, problem);
    const reference = evaluate(arch, problem, mapping, ert);
    const ev = timeIt(() => evaluate(arch, problem, mapping, ert));
    out.push({ group: "energy model", name: `evaluate ${layer.dir} (reference mapping)`, ...ev, figures: { "us/eval": ev.ms * 1000 } });
    const t0 = performance.now();
    const found = searchMapping(arch, problem, ert, { objective: "energy", seed: 1, maxEvaluations: 3000, threads: 1 });
    const ms = performance.now() - t0;
    out.push({
      group: "mapper", name: `search ${layer.dir} (energy, 3000 evals)`, ms, runs: 1,
      figures: { "s/layer": ms / 1000, "energy / reference": found.evaluation.energyPj / reference.energyPj },
    });
    // The same budget split over 2 worker threads (a different, equally seeded search), and a fixed
    // wall-clock budget, where the workers' extra evaluations are the gain.
    const t1 = performance.now();
    const two = searchMapping(arch, problem, ert, { objective: "energy", seed: 1, maxEvaluations: 3000, threads: 2 });
    const ms2 = performance.now() - t1;
    out.push({
      group: "mapper", name: `search ${layer.dir} (energy, 3000 evals, 2 threads)`, ms: ms2, runs: 1,
      figures: { "s/layer": ms2 / 1000, "speed-up vs 1 thread": ms / ms2, "energy / reference": two.evaluation.energyPj / reference.energyPj },
    });
    for (const threads of [1, 2]) {
      const r = searchMapping(arch, problem, ert, { objective: "energy", seed: 1, timeLimitMs: 2000, threads });
      out.push({
        group: "mapper", name: `search ${layer.dir} (energy, 2 s, ${threads} thread${threads > 1 ? "s" : ""})`, ms: r.elapsedMs, runs: 1,
        figures: { "evals/s": r.evaluated / (r.elapsedMs / 1000), "energy / reference": r.evaluation.energyPj / reference.energyPj },
      });
    }
  }
  return out;
}
