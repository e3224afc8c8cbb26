// Multiplier-assignment search: candidate evaluations per second (validation accuracy of one
// per-layer assignment on 200 MNIST training images, plus its summed energy, on a compiled plan) on
// LeNet-5 and ResNet-8, against the same candidate on the reference engine and the exact int8 pass
// over the same images, timed alternately in the same run.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeOnnx } from "../src/onnx/index.js";
import { buildZooModel } from "../src/zoo/index.js";
import { measureAccuracy, prepareAssignment, scoreChoice } from "../src/search/index.js";
import { uniformRandom } from "../src/util/random.js";
import type { BenchResult } from "./harness.js";

const VALIDATION = 200;

export async function benchSearch(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "axnn-bench-search-"));
  const results: BenchResult[] = [];
  try {
    for (const name of ["lenet5", "resnet8"] as const) {
      const file = join(dir, `${name}.onnx`);
      writeOnnx(file, buildZooModel(name, { seed: 1, inputShape: [1, 28, 28], classes: 10 }));
      const p = prepareAssignment({ model: file, data: "mnist", multipliers: ["builtin"], validationSize: VALIDATION, calibrationSize: 64, mapperEvaluations: 300 });
      const rand = uniformRandom(7);
      const M = p.candidates.length;
      const randomChoice = () => p.layers.map(() => Math.floor(rand() * (M + 1)));
      const exact = p.layers.map(() => 0);
      const objectives = ["accuracy", "energy"] as const;
      // A candidate on its compiled plan (what the search runs), the same candidate on the reference
      // engine (QuantizedModel.run), and the exact int8 pass, timed alternately.
      const candidate: number[] = [], engine: number[] = [], reference: number[] = [];
      const start = performance.now();
      for (let round = 0; round < 20 && (round < 3 || performance.now() - start < 8000); round++) {
        const choice = randomChoice();
        let t0 = performance.now();
        scoreChoice(p, choice, [...objectives]);
        candidate.push(performance.now() - t0);
        t0 = performance.now();
        measureAccuracy(p, choice, p.validation, "reference");
        engine.push(performance.now() - t0);
        t0 = performance.now();
        scoreChoice(p, exact, [...objectives]);
        reference.push(performance.now() - t0);
      }
      const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
      const ms = median(candidate), ref = median(reference);
      const ratios = candidate.map((c, i) => engine[i]! / c).sort((a, b) => a - b);
      results.push({
        group: "search", name: `${name}: one candidate (${p.layers.length} layers, ${VALIDATION} images)`, ms, runs: candidate.length,
        figures: {
          "evaluations/s": 1000 / ms, "images/s": (VALIDATION * 1000) / ms, "vs exact int8 pass": ms / ref,
          "reference engine / plan": median(ratios), "ratio min": ratios[0]!, "ratio max": ratios[ratios.length - 1]!, "prepare s": p.prepareSeconds,
        },
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
