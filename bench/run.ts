// `npm run bench`: every benchmark of axnn, printed as a table and written as JSON
// (bench-results.json in the current directory; `--json` prints the JSON instead).
import { cpus } from "node:os";
import { writeFileAtomic } from "../src/util/fs.js";
import { formatTable, type BenchResult } from "./harness.js";
import { benchMultipliers } from "./multipliers.js";
import { benchEnergy } from "./energy.js";
import { benchKernels } from "./kernels.js";
import { benchInference } from "./inference.js";
import { benchNetwork } from "./network.js";
import { benchTrain } from "./train.js";
import { benchBackward } from "./backward.js";
import { benchEnergyNetwork } from "./energy-network.js";
import { benchPredict } from "./predict.js";
import { benchAxp } from "./axp.js";
import { benchSearch } from "./search.js";
import { benchGpu } from "./gpu.js";
import { benchNas } from "./nas.js";

const suites: [string, () => BenchResult[] | Promise<BenchResult[]>][] = [
  ["multipliers", benchMultipliers],
  ["kernels", benchKernels],
  ["inference", benchInference],
  ["network", benchNetwork],
  ["train", benchTrain],
  ["backward", benchBackward],
  ["energy", benchEnergy],
  ["energy-network", benchEnergyNetwork],
  ["predict", benchPredict],
  ["axp", benchAxp],
  ["search", benchSearch],
  ["gpu", benchGpu],
  ["nas", benchNas],
];

const json = process.argv.includes("--json");
const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const results: BenchResult[] = [];
for (const [name, run] of suites) {
  if (only && !only.split(",").includes(name)) continue;
  if (!json) process.stderr.write(`running ${name} benchmarks...\n`);
  results.push(...(await run()));
}
const report = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  results,
};
writeFileAtomic("bench-results.json", JSON.stringify(report, null, 2) + "\n");
if (json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
else process.stdout.write(`${report.cpu}, ${report.cores} cores, Node ${report.node}\n\n${formatTable(results)}\n\n(JSON: bench-results.json)\n`);
