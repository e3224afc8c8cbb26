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
 * A test's skip reason when something it needs is absent; with `requireVar`=1 in the
 * environment (CI sets AXNN_REQUIRE_SHARED=1 and AXNN_REQUIRE_NATIVE=1 in .ci/run) the
 * absence fails the test file instead, so a broken build cannot pass as "skipped".
 */
export function skipUnless(available: boolean, reason: string, requireVar: "AXNN_REQUIRE_SHARED" | "AXNN_REQUIRE_NATIVE" | "AXNN_REQUIRE_REDIS" | "AXNN_REQUIRE_CROSS"): string | false {
  if (available) return false;
  if (process.env[requireVar] === "1") throw new Error(`${reason}; ${requireVar}=1 makes this a failure, not a skip`);
  return reason;
}

/**
 * The test option of every test that reads the reference data: skipped, saying why, when a
 * checkout has no ../shared beside it (CI has one; AXNN_SHARED points elsewhere), unless
 * AXNN_REQUIRE_SHARED=1.
 */
export const needsSharedData: { skip: string | false } = {
  skip: skipUnless(existsSync(SHARED_LUT_DIR) && existsSync(SHARED_METRICS_CSV) && existsSync(join(SHARED_DATA, "timeloop-reference")),
    `needs the reference data in ${SHARED_DATA} (../shared beside the repository, or AXNN_SHARED)`, "AXNN_REQUIRE_SHARED"),
};

/** The skip reason of a test of the native kernels: none when some ISA level loaded; a failure under AXNN_REQUIRE_NATIVE=1. */
export function nativeSkip(levelCount: number): string | false {
  return skipUnless(levelCount > 0, "native addon not built (npm run build:native)", "AXNN_REQUIRE_NATIVE");
}
