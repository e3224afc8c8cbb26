import { timeIt, type BenchResult } from "./harness.js";
import { generate } from "../src/multipliers/generators/index.js";
import { netlistToTable } from "../src/multipliers/netlist/simulate.js";
import { parseVerilog } from "../src/multipliers/netlist/verilog-read.js";
import { writeVerilog } from "../src/multipliers/netlist/verilog-write.js";
import { errorMetrics } from "../src/multipliers/metrics.js";
import { estimatePower, gateCounts } from "../src/multipliers/netlist/cost.js";
import { multiplierFigures } from "../src/report/multiplier-figures.js";

/** Netlist-to-LUT, metrics, power estimate and figure times of the multiplier library. */
export function benchMultipliers(): BenchResult[] {
  const out: BenchResult[] = [];
  for (const [kind, params] of [["exact", {}], ["drum", { k: 4 }], ["ilm", { iterations: 1 }]] as const) {
    const g = generate(kind, params);
    const nl = g.netlist;
    const text = writeVerilog(nl);
    const gates = nl.gates.length;
    const eval_ = timeIt(() => netlistToTable(nl, false));
    out.push({
      group: "netlist -> LUT", name: `${g.multiplier.name} simulate (65,536 pairs)`, ...eval_,
      figures: { gates, "M gate-evals/s": (gates * 65536) / (eval_.ms * 1e3) },
    });
    const parseEval = timeIt(() => netlistToTable(parseVerilog(text), false));
    out.push({
      group: "netlist -> LUT", name: `${g.multiplier.name} parse .v + simulate`, ...parseEval,
      figures: { gates, "Verilog kB": text.length / 1024 },
    });
  }
  const m = generate("drum", { k: 4 }).multiplier;
  const uniform = timeIt(() => errorMetrics(m));
  out.push({ group: "metrics", name: "errorMetrics 8x8, uniform", ...uniform, figures: { "M pairs/s": 65536 / (uniform.ms * 1e3) } });
  const joint = new Float64Array(65536).map((_, i) => 1 + (i % 7));
  const dist = timeIt(() => errorMetrics(m, { joint }));
  out.push({ group: "metrics", name: "errorMetrics 8x8, joint histogram", ...dist, figures: { "M pairs/s": 65536 / (dist.ms * 1e3) } });
  const nl = generate("drum", { k: 4 }).netlist;
  const power = timeIt(() => estimatePower(nl, { samples: 10_000 }), { minRuns: 3 });
  out.push({ group: "cost", name: "estimatePower drum_k4, 10,000 pairs", ...power, figures: { gates: gateCounts(nl).total! } });
  const figs = timeIt(() => multiplierFigures(m), { minRuns: 3, minMs: 500 });
  out.push({ group: "figures", name: "heat map + histogram, SVG and PNG", ...figs, figures: {} });
  return out;
}
