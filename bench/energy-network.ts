import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timeIt, type BenchResult } from "./harness.js";
import { loadDesign } from "../src/energy/presets.js";
import { DEFAULT_NETWORK_EVALUATIONS, networkEnergy } from "../src/energy/network.js";
import { zooLayers } from "../src/energy/zoo-shapes.js";

/**
 * Seconds for a whole ResNet-20 (20 layers, 7 distinct shapes) on each preset: with a cold mapping
 * cache (every shape searched, the CLI's default budget per shape) and a warm one (mappings read
 * back and re-evaluated); then the cold case again with 1 and 2 worker threads.
 */
export function benchEnergyNetwork(): BenchResult[] {
  const out: BenchResult[] = [];
  const layers = zooLayers("resnet20");
  for (const preset of ["eyeriss", "simba"]) {
    const { arch, ert } = loadDesign(preset);
    const cacheDir = mkdtempSync(join(tmpdir(), "axnn-bench-mappings-"));
    try {
      // threads: 1 keeps these rows comparable with earlier runs; the thread rows below measure the pool.
      const opts = { cacheDir, maxEvaluations: DEFAULT_NETWORK_EVALUATIONS, seed: 1, threads: 1 };
      const t0 = performance.now();
      const cold = networkEnergy(arch, ert, layers, opts);
      const coldMs = performance.now() - t0;
      out.push({
        group: "energy network", name: `resnet20 on ${preset}, cold cache (${DEFAULT_NETWORK_EVALUATIONS} evals/shape)`, ms: coldMs, runs: 1,
        figures: { "s/network": coldMs / 1000, "shapes searched": cold.search.searched, "energy uJ": cold.totals.energyPj / 1e6, "mult. share %": 100 * cold.totals.multiplierShare },
      });
      const warm = timeIt(() => networkEnergy(arch, ert, layers, opts), { minRuns: 5, minMs: 300 });
      out.push({ group: "energy network", name: `resnet20 on ${preset}, warm cache`, ...warm, figures: { "s/network": warm.ms / 1000, "cold / warm": coldMs / warm.ms } });
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
    // Cold cache with 1 and 2 worker threads (distinct shapes searched in parallel; same plan either way).
    const coldMs: Record<number, number> = {};
    let sequentialEnergy = NaN;
    for (const threads of [1, 2]) {
      const dir = mkdtempSync(join(tmpdir(), "axnn-bench-mappings-"));
      try {
        const t0 = performance.now();
        const r = networkEnergy(arch, ert, layers, { cacheDir: dir, maxEvaluations: DEFAULT_NETWORK_EVALUATIONS, seed: 1, threads });
        coldMs[threads] = performance.now() - t0;
        if (threads === 1) sequentialEnergy = r.totals.energyPj;
        out.push({
          group: "energy network", name: `resnet20 on ${preset}, cold cache, threads ${threads}`, ms: coldMs[threads]!, runs: 1,
          figures: { "s/network": coldMs[threads]! / 1000, "speed-up vs 1 thread": coldMs[1]! / coldMs[threads]!, "same energy as 1 thread": r.totals.energyPj === sequentialEnergy ? "yes" : "NO" },
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  return out;
}
