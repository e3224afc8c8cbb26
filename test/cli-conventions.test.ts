// CLI conventions shared by every command: one numeric option parser, one output option, errors
// that start with "axnn:", flags that imply each other where a new user expects it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command } from "commander";
import { parseNumberOption } from "../src/cli/common.js";
import { AxnnError } from "../src/util/errors.js";

test("parseNumberOption: one parser and one wording for every command's numbers", () => {
  assert.equal(parseNumberOption("3", "--n", { integer: true, min: 1 }), 3);
  assert.equal(parseNumberOption("0.25", "--x", { positive: true }), 0.25);
  assert.equal(parseNumberOption("-2", "--seed", { integer: true }), -2);
  assert.equal(parseNumberOption(undefined, "--n", { integer: true }), undefined);
  const fails = (v: string, rules: Parameters<typeof parseNumberOption>[2], message: string) =>
    assert.throws(() => parseNumberOption(v, "--opt", rules), (e: unknown) => e instanceof AxnnError && e.message === `--opt: ${message}`);
  fails("0", { integer: true, positive: true }, 'expected a positive integer, got "0"');
  fails("1.5", { integer: true, positive: true }, 'expected a positive integer, got "1.5"');
  fails("0", { integer: true, min: 1 }, 'expected an integer >= 1, got "0"');
  fails("0", { positive: true }, 'expected a positive number, got "0"');
  fails("x", { integer: true }, 'expected an integer, got "x"');
  fails("", { min: 0 }, 'expected a number >= 0, got ""');
  fails("-1", { min: 0 }, 'expected a number >= 0, got "-1"');
  fails("Infinity", {}, 'expected a number, got "Infinity"');
});

const CLI_DIR = fileURLToPath(new URL("../src/cli/", import.meta.url));

/** The command tree as buildProgram makes it: the register functions main.ts calls, in its order. */
async function allCommands(): Promise<Command[]> {
  const main = readFileSync(join(CLI_DIR, "main.js"), "utf8");
  const modules = new Map<string, string>();
  for (const m of main.matchAll(/import \{([^}]+)\} from "\.\/([\w-]+)\.js"/g)) {
    for (const name of m[1]!.split(",").map((s) => s.trim())) modules.set(name, m[2]!);
  }
  const program = new Command();
  const calls = [...main.matchAll(/\b(register\w+)\(program\)/g)].map((m) => m[1]!);
  assert.ok(calls.length >= 10, "main.js registers its commands with registerX(program)");
  for (const name of calls) {
    const mod = (await import(pathToFileURL(join(CLI_DIR, `${modules.get(name)}.js`)).href)) as Record<string, (p: Command) => void>;
    mod[name]!(program);
  }
  const walk = (c: Command): Command[] => [c, ...c.commands.flatMap(walk)];
  return walk(program).slice(1);
}

test("every command's output option is -o, --out (an old --output stays only as a hidden alias)", async () => {
  const commands = await allCommands();
  const path = (c: Command): string => (c.parent && c.parent.name() ? `${path(c.parent)} ${c.name()}` : c.name());
  const withOut: string[] = [];
  for (const c of commands) {
    for (const o of c.options) {
      if (o.long === "--out") {
        assert.equal(o.short, "-o", `${path(c)}: --out has -o`);
        withOut.push(path(c));
      }
      if (o.long === "--output") assert.ok(o.hidden, `${path(c)}: --output is only a hidden alias of -o, --out`);
      if (o.short === "-o") assert.equal(o.long, "--out", `${path(c)}: -o means --out`);
    }
  }
  // The commands that write files all have it (a command losing it fails here).
  for (const name of ["infer", "train", "finetune", "sensitivity", "mult lut", "mult show", "mult generate", "energy layer", "energy net", "demo", "search assign", "search nas"]) {
    assert.ok(withOut.includes(name), `${name} has -o, --out`);
  }
});

test("usage errors start with 'axnn: error:' like every other error, exit code 1", () => {
  const cli = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
  for (const [args, message] of [
    [["no-such-command"], "axnn: error: unknown command 'no-such-command'"],
    [["infer", "--model", "m.onnx"], "axnn: error: required option '--input <file>' not specified"],
    [["mult", "lut", "exact_u8x8", "--frob"], "axnn: error: unknown option '--frob'"],
    [["train", "--arch", "lenet5", "--data", "mnist", "--epochs", "1"], "axnn: error: required option '-o, --out <file>' not specified"],
    [["infer", "--model", "a", "--input", "b", "-o", "c", "--output", "d"], "axnn: error: --out: give -o/--out once (--output is its old name)"],
  ] as const) {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
    assert.equal(r.status, 1, args.join(" "));
    assert.equal(r.stderr.split("\n")[0], message);
  }
});

test("a user mistake found after parsing leaves no half-made output: search nas with a mistyped --arch creates no -o folder", () => {
  const cli = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "axnn-cli-"));
  try {
    const out = join(dir, "nas");
    const r = spawnSync(process.execPath, [cli, "search", "nas", "--data", "mnist", "--mults", "drum_k4_u8x8", "--arch", "eyeris", "--budget", "2", "-o", out], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), "axnn: error: eyeris: --arch: neither a preset (eyeriss, simba, eyeriss-v03, simba-v03) nor an existing file");
    assert.equal(existsSync(out), false, "no output folder");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
