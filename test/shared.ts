import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (tests run from dist/test/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** ../shared beside the repository, with the reference data. */
export const SHARED_DIR = process.env.AXNN_SHARED ?? resolve(REPO_ROOT, "..", "shared");
export const SHARED_DATA = join(SHARED_DIR, "data");
export const SHARED_LUT_DIR = join(SHARED_DATA, "evoapprox-tfapprox-luts");
export const SHARED_METRICS_CSV = join(SHARED_DATA, "evoapprox-8x8-metrics.csv");

/**
 * The test option of every test that reads the reference data: skipped, saying why, when a
 * checkout has no ../shared beside it (CI has one; AXNN_SHARED points elsewhere).
 */
export const needsSharedData: { skip: string | false } = {
  skip: existsSync(SHARED_LUT_DIR) && existsSync(SHARED_METRICS_CSV) && existsSync(join(SHARED_DATA, "timeloop-reference"))
    ? false : `needs the reference data in ${SHARED_DATA} (../shared beside the repository, or AXNN_SHARED)`,
};
