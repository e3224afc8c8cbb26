// The README's API examples run as written: each ```ts block of "## The library API" is a module run
// in order in one directory (they build on each other's files), and every `// → value` comment must
// be what its console.log line prints.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_ROOT } from "./shared.js";

/** The ```ts blocks of the README's API section, in order. */
export function readmeApiExamples(readme: string): string[] {
  const start = readme.indexOf("\n## The library API");
  assert.ok(start >= 0, "README has a '## The library API' section");
  const next = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** What each console.log line of an example says it prints (`// → value`), in order. */
export function expectedOutput(example: string): string[] {
  return example.split("\n").filter((l) => /^\s*console\.log\(/.test(l)).map((l) => {
    const m = /\/\/ → (.*)$/.exec(l);
    assert.ok(m, `every console.log line of a README example says what it prints: ${l.trim()}`);
    return m[1]!.trim();
  });
}

test("the README's API examples (multipliers, train, eval, finetune, energy, predict) run and print what they say", () => {
  const examples = readmeApiExamples(readFileSync(join(REPO_ROOT, "README.md"), "utf8"));
  const imports = examples.map((e) => /from "axnn"/.test(e));
  assert.ok(examples.length >= 6 && imports.every(Boolean), "one example per area, each importing from axnn");
  for (const word of ["runEvaluation", "trainModel", "runFinetune", "runNetworkEnergy", "predictNetwork", "errorMetrics"]) {
    assert.ok(examples.some((e) => e.includes(word)), `an example uses ${word}`);
  }
  const dir = mkdtempSync(join(tmpdir(), "axnn-readme-"));
  mkdirSync(join(dir, "home"));
  const axnn = pathToFileURL(join(REPO_ROOT, "dist", "src", "index.js")).href;
  try {
    examples.forEach((example, i) => {
      const file = join(dir, `example-${i + 1}.mjs`);
      writeFileSync(file, example.replaceAll('from "axnn"', `from ${JSON.stringify(axnn)}`));
      const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: "utf8", env: { ...process.env, AXNN_HOME: join(dir, "home") } });
      assert.equal(r.status, 0, `README example ${i + 1} failed:\n${r.stderr}`);
      assert.deepEqual(r.stdout.trimEnd().split("\n"), expectedOutput(example), `README example ${i + 1}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
