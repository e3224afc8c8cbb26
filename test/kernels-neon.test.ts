// The AArch64 NEON cores cannot run on these x86 machines: the kernel cores and their plain-loop
// check (native/check/cores_check.cc: the direct and plane-transform LUT cores and the exact core
// of every level, against plain loops, for tables of 1 to 4 byte planes) are cross-compiled with
// Debian's g++-aarch64-linux-gnu and run under qemu-user. Skipped where those tools are missing,
// unless AXNN_REQUIRE_CROSS=1 (CI installs them and sets it in .ci/run).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, skipUnless } from "./shared.js";

const COMPILER = "aarch64-linux-gnu-g++", QEMU = "qemu-aarch64", SYSROOT = "/usr/aarch64-linux-gnu";
const found = (cmd: string) => spawnSync(cmd, ["--version"], { encoding: "utf8" }).status === 0;
const skip = skipUnless(found(COMPILER) && found(QEMU), `needs ${COMPILER} and ${QEMU} (Debian: apt-get install g++-aarch64-linux-gnu qemu-user)`, "AXNN_REQUIRE_CROSS");

test("the NEON and scalar cores, cross-compiled for AArch64, equal plain loops under qemu-user", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-neon-"));
  try {
    const exe = join(dir, "cores_check");
    const sources = ["check/cores_check.cc", "cores_scalar.cc", "cores_neon.cc", "lut_planes.cc"].map((f) => join(REPO_ROOT, "native", f));
    // The flags of binding.gyp's arm64 build (-O3, AXNN_ARM_CORES), so the compiler vectorises as the addon's.
    const build = spawnSync(COMPILER, ["-std=c++17", "-O3", "-Wall", "-DAXNN_ARM_CORES", "-o", exe, ...sources], { encoding: "utf8" });
    assert.equal(build.status, 0, `${COMPILER} failed:\n${build.stderr}`);
    const run = spawnSync(QEMU, ["-L", SYSROOT, exe], { encoding: "utf8" });
    console.log(run.stdout.trim());
    assert.equal(run.status, 0, `cores_check under ${QEMU} failed (status ${run.status}):\n${run.stdout}${run.stderr}`);
    // Both levels ran: a build without AXNN_ARM_CORES would check the scalar cores only.
    assert.match(run.stdout, /^scalar: \d+ convolutions, all equal$/m);
    assert.match(run.stdout, /^neon: \d+ convolutions, all equal$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
