import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (tests run from dist/test/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** ../shared beside the repository, with the reference data. */
export const SHARED_DIR = process.env.AXNN_SHARED ?? resolve(REPO_ROOT, "..", "shared");
export const SHARED_DATA = join(SHARED_DIR, "data");
export const SHARED_LUT_DIR = join(SHARED_DATA, "evoapprox-tfapprox-luts");
export const SHARED_METRICS_CSV = join(SHARED_DATA, "evoapprox-8x8-metrics.csv");
