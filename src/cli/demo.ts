import type { Command } from "commander";
import { runDemo } from "../demo/index.js";
import { printJson } from "./common.js";

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("the main job on built-in data: characterise the multiplier library, price ResNet-20 on Eyeriss and Simba with each design, write an HTML report with charts and JSON")
    .option("--out <dir>", "output directory", "axnn-demo")
    .option("--json", "print the results as JSON instead of a summary")
    .action(async (opts: { out: string; json?: boolean }) => {
      const res = await runDemo({ outDir: opts.out, quiet: opts.json });
      if (opts.json) return printJson({ report: res.report, json: res.json, multipliers: res.multipliers, energy: res.energy });
      const front = res.multipliers.filter((r) => r.pareto).map((r) => r.name);
      process.stdout.write(`characterised ${res.multipliers.length} designs; Pareto-optimal (MAE vs power): ${front.join(", ")}\n`);
      for (const acc of new Set(res.energy.map((e) => e.accelerator))) {
        const rows = res.energy.filter((e) => e.accelerator === acc);
        const best = rows.reduce((a, b) => (b.saving_pct > a.saving_pct ? b : a));
        process.stdout.write(`ResNet-20 on ${acc}: ${rows[0]!.energy_uj.toFixed(1)} uJ with ${rows[0]!.multiplier}; best saving ${best.saving_pct.toFixed(1)}% with ${best.multiplier}\n`);
      }
      process.stdout.write(`report: ${res.report}\nJSON:   ${res.json}\n`);
    });
}
