import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Model } from "../nn/graph.js";
import type { ReportBlock } from "../report/html.js";
import { searchAssignment } from "../search/assign-search.js";
import { assignmentSummaryJson, writeAssignmentReport } from "../search/assign-report.js";

/** The demo's search: small enough for well under a minute on a laptop. */
const DEMO_SEARCH = { budget: 40, populationSize: 10, validationSize: 200, calibrationSize: 128, testLimit: 1000, mapperEvaluations: 300 };

/** The demo's search section: report blocks, the files written and the summary of search/front.json. */
export interface DemoSearch { blocks: ReportBlock[]; files: string[]; summary: ReturnType<typeof assignmentSummaryJson> }

/**
 * `axnn demo`'s search section: per-layer multiplier assignment of the demo's trained LeNet-5 over
 * the built-in unsigned designs (NSGA-II against uniform, greedy and random at the same budget),
 * written to outDir/search.
 */
export async function demoSearch(model: Model, outDir: string, log: (line: string) => void): Promise<DemoSearch> {
  const dir = join(outDir, "search");
  // A demo run starts afresh: the journal of an earlier run belongs to another trained model.
  rmSync(join(dir, "journal"), { recursive: true, force: true });
  log(`searching per-layer multiplier assignments of LeNet-5 (NSGA-II and baselines, ${DEMO_SEARCH.budget} evaluations each)`);
  const r = await searchAssignment({ model, data: "mnist", multipliers: ["builtin"], objectives: ["accuracy", "multiplier-energy"], outDir: dir, seed: 1, ...DEMO_SEARCH });
  const files = await writeAssignmentReport(r, dir);
  const pct = (v: number) => (100 * v).toFixed(1);
  const hv = r.methods.map((m) => `${m.method} ${m.hypervolume.toFixed(3)}`).join(", ");
  const at1 = r.savings.filter((s) => s.max_drop === 1).map((s) => `${s.method} ${pct(s.multiplier_saving)} %`).join(", ");
  const blocks: ReportBlock[] = [
    { kind: "heading", text: "Searching a multiplier for each layer" },
    {
      kind: "paragraph",
      text: `"axnn search assign" on the LeNet-5 above: each of its ${r.prepared.layers.length} layers gets one of ${r.prepared.candidates.length} built-in unsigned designs or the exact multiplier. ` +
        `NSGA-II (population ${DEMO_SEARCH.populationSize}) and, at the same budget of ${DEMO_SEARCH.budget} evaluations, random search and greedy-by-sensitivity, plus every uniform assignment; ` +
        `accuracy on ${DEMO_SEARCH.validationSize} validation images carved from the training split, fronts re-measured on ${r.settings.test_size} test images; ` +
        `objective: the multiplications' energy on Eyeriss (the whole accelerator's is in search/front.json). Hypervolumes: ${hv}. ` +
        `Multiplier energy saved within 1 point of validation accuracy: ${at1}. (${r.seconds.toFixed(0)} s; full report in search/report.html.)`,
    },
    { kind: "figure", svg: readFileSync(join(dir, "pareto.svg"), "utf8"), caption: "Accuracy drop vs multiplier energy saved: every evaluated assignment and each method's front." },
  ];
  return { blocks, files, summary: assignmentSummaryJson(r) };
}
