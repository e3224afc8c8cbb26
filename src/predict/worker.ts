import { parentPort, workerData } from "node:worker_threads";
import { loadDesign } from "../energy/presets.js";
import { labelNetwork, type WorkerInit } from "./dataset.js";
import { multiplierPoolNames } from "./multipliers.js";
import { sampleNetwork } from "./sampling.js";

/** Dataset worker: labels the rows the main thread sends, one at a time. */
const init = workerData as WorkerInit;
const { arch, ert } = loadDesign(init.arch);
const pool = multiplierPoolNames();
parentPort!.on("message", (job: { index: number }) => {
  try {
    const sample = sampleNetwork(init.family, init.seed, job.index, pool);
    parentPort!.postMessage({ row: labelNetwork(init.arch, arch, ert, sample, init.seed, { maxEvaluations: init.maxEvaluations, cacheDir: init.cacheDir }) });
  } catch (e) {
    const err = e as { message?: string; field?: string };
    parentPort!.postMessage({ error: { message: String(err.message ?? e), field: err.field } });
  }
});
