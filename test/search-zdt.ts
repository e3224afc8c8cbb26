// Test problems for the search engine (ZDT1/ZDT2 on integer genes) and the SIGKILL-resume child.
import { nsga2, type GenomeEvaluation, type Genome, type SearchProblem } from "../src/search/index.js";

/** Levels of x1 (the front's coordinate: fine, so the staircase loses little area) and of the others. */
export const ZDT_LEVELS = [1001, 101];

/** ZDT1 (convex front, f2 = 1 - sqrt(f1)) or ZDT2 (concave, f2 = 1 - f1^2), each x_i = gene / (levels-1). */
export function zdt(kind: 1 | 2, genes: number, evaluate?: (g: Genome) => void, delayMs = 0): SearchProblem {
  const f = (g: Genome): GenomeEvaluation => {
    evaluate?.(g);
    const x = g.map((v, i) => v / ((i === 0 ? ZDT_LEVELS[0]! : ZDT_LEVELS[1]!) - 1));
    const f1 = x[0]!;
    let s = 0;
    for (let i = 1; i < x.length; i++) s += x[i]!;
    const gg = 1 + (9 * s) / (x.length - 1);
    const r = f1 / gg;
    const f2 = gg * (kind === 1 ? 1 - Math.sqrt(r) : 1 - r * r);
    return { objectives: [f1, f2] };
  };
  return {
    cardinalities: Array.from({ length: genes }, (_, i) => (i === 0 ? ZDT_LEVELS[0]! : ZDT_LEVELS[1]!)),
    objectives: 2,
    signature: `zdt${kind}/${genes}`,
    evaluate: async (batch, onResult) => {
      const out: GenomeEvaluation[] = [];
      for (let i = 0; i < batch.length; i++) {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        out.push(f(batch[i]!));
        onResult(i, out[i]!);
      }
      return out;
    },
  };
}

export const RESUME_SETTINGS = { budget: 600, seed: 11, populationSize: 20 };

// As a child process: run a slow search with a journal, to be killed part way.
if (process.argv[2] === "--child") {
  await nsga2(zdt(1, 6, undefined, 3), { ...RESUME_SETTINGS, journal: process.argv[3]!, resume: true });
}
