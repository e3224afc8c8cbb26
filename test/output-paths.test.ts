import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./shared.js";
import { AxnnError } from "../src/util/errors.js";
import { checkOutputFile, ensureOutputDirectory, writeFileAtomic } from "../src/util/fs.js";

const CLI = join(REPO_ROOT, "dist", "src", "cli", "main.js");
const tmp = (): string => mkdtempSync(join(tmpdir(), "axnn-out-"));

function axnn(args: string[], home: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, AXNN_HOME: home }, encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("writeFileAtomic refuses a directory as the target and a file as a parent, naming the path, leaving nothing behind", () => {
  const dir = tmp();
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "plain"), "x");
  assert.throws(() => writeFileAtomic(join(dir, "sub"), "data"), (e: unknown) => e instanceof AxnnError && /sub: is a directory, but a file is needed/.test(e.message));
  assert.throws(() => writeFileAtomic(join(dir, "plain", "out.json"), "data"), (e: unknown) => e instanceof AxnnError && e.message.includes(`${join(dir, "plain")} is a file, but a directory is needed`));
  assert.throws(() => ensureOutputDirectory(join(dir, "plain", "deeper")), AxnnError);
  assert.throws(() => checkOutputFile(join(dir, "sub")), AxnnError);
  assert.throws(() => checkOutputFile(join(dir, "plain", "x.onnx")), AxnnError);
  checkOutputFile(join(dir, "new", "x.onnx"));
  assert.deepEqual(readdirSync(dir).sort(), ["plain", "sub"], "no temporary file left");
  assert.deepEqual(readdirSync(join(dir, "sub")), []);
  assert.equal(readFileSync(join(dir, "plain"), "utf8"), "x");
  writeFileAtomic(join(dir, "a", "b.txt"), "ok");
  assert.equal(readFileSync(join(dir, "a", "b.txt"), "utf8"), "ok");
});

test("CLI: -o naming a directory where a file is expected, or a file where a directory is, is one line on stderr and exit 1", () => {
  const home = tmp();
  const dir = tmp();
  mkdirSync(join(dir, "taken"));
  writeFileSync(join(dir, "file"), "x");
  for (const args of [
    ["mult", "lut", "exact_u8x8", "-o", join(dir, "taken")],
    ["mult", "lut", "exact_u8x8", "-o", join(dir, "file", "t.bin")],
    ["train", "--arch", "lenet5", "--data", "mnist", "--epochs", "1", "-o", join(dir, "taken")],
  ]) {
    const r = axnn(args, home);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^axnn: error: .*(is a directory, but a file is needed|is a file, but a directory is needed)/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
