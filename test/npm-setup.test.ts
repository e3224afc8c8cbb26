// `npm ci` skips onnxruntime-node's CUDA download through package.json's allowScripts (npm 11's
// install-script policy) instead of a project .npmrc key npm does not know, which made every
// npm and npx command in the project print "Unknown project config".
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./shared.js";

/** npm in the repository, without the npm_config_* variables of an enclosing `npm test`. */
function npm(args: string[]): { code: number; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  const r = spawnSync("npm", args, { cwd: REPO_ROOT, env, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

const npmMajor = Number(/^(\d+)/.exec(npm(["--version"]).stdout)?.[1] ?? 0);

test("npm in the project prints no warning about unknown config keys", () => {
  const r = npm(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Unknown (project|user|env|global) config/);
  if (existsSync(join(REPO_ROOT, ".npmrc"))) {
    // Whatever a project .npmrc holds, npm must know it.
    assert.doesNotMatch(readFileSync(join(REPO_ROOT, ".npmrc"), "utf8"), /onnxruntime-node-install/);
  }
});

test("onnxruntime-node's install script is denied, every other dependency's is reviewed", { skip: npmMajor < 11 ? "npm < 11 has no allowScripts" : false }, () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { allowScripts?: Record<string, boolean> };
  assert.equal(pkg.allowScripts?.["onnxruntime-node"], false);
  const r = npm(["install-scripts", "ls", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { allowScripts: [] }, "no dependency has install scripts that allowScripts does not cover");
});
