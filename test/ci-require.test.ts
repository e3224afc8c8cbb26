import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./shared.js";

/** Runs one compiled test file in a child `node --test` with the given environment changes. */
function runTestFile(file: string, env: Record<string, string | undefined>): { code: number; out: string } {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.AXNN_REQUIRE_NATIVE;
  delete childEnv.AXNN_REQUIRE_SHARED;
  delete childEnv.NODE_TEST_CONTEXT; // a nested run reports on its own
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k]; else childEnv[k] = v;
  const r = spawnSync(process.execPath, ["--test", join(REPO_ROOT, "dist", "test", file)], { env: childEnv, encoding: "utf8" });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

test("without the native addon the kernel tests skip, and fail under AXNN_REQUIRE_NATIVE=1", () => {
  const skipped = runTestFile("kernels-native.test.js", { AXNN_NO_NATIVE: "1" });
  assert.equal(skipped.code, 0, skipped.out);
  assert.match(skipped.out, /# skipped [1-9]/);
  const required = runTestFile("kernels-native.test.js", { AXNN_NO_NATIVE: "1", AXNN_REQUIRE_NATIVE: "1" });
  assert.notEqual(required.code, 0, required.out);
  assert.match(required.out, /AXNN_REQUIRE_NATIVE=1 makes this a failure/);
});

test("without ../shared the reference-data tests skip, and fail under AXNN_REQUIRE_SHARED=1", () => {
  const missing = join(REPO_ROOT, "no-such-shared-dir");
  const skipped = runTestFile("metrics.test.js", { AXNN_SHARED: missing });
  assert.equal(skipped.code, 0, skipped.out);
  assert.match(skipped.out, /# skipped [1-9]/);
  const required = runTestFile("metrics.test.js", { AXNN_SHARED: missing, AXNN_REQUIRE_SHARED: "1" });
  assert.notEqual(required.code, 0, required.out);
  assert.match(required.out, /AXNN_REQUIRE_SHARED=1 makes this a failure/);
});
