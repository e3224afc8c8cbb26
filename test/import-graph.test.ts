// The library's layering: no import circle anywhere in src (type-only and dynamic imports
// included), and nothing outside src/cli imports from src/cli (the CLI is one client of the library).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { REPO_ROOT } from "./shared.js";

const SRC = join(REPO_ROOT, "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

/** Relative imports of every file under src, as repository-relative .ts paths (static, type-only and dynamic). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const targets = info.importedFiles.map((f) => f.fileName).filter((f) => f.startsWith("."))
      .map((f) => relative(REPO_ROOT, resolve(dirname(file), f)).replace(/\.js$/, ".ts"));
    graph.set(relative(REPO_ROOT, file), targets);
  }
  return graph;
}

/** One cycle of the graph as a path a -> b -> ... -> a, or undefined (depth-first search). */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (v: string): string[] | undefined => {
    state.set(v, "open");
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (state.get(w) === "open") return [...stack.slice(stack.indexOf(w)), w];
      if (state.get(w) === undefined) {
        const c = visit(w);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(v, "done");
    return undefined;
  };
  for (const v of [...graph.keys()].sort()) {
    if (state.get(v) === undefined) {
      const c = visit(v);
      if (c) return c;
    }
  }
  return undefined;
}

test("findCycle finds a planted circle and none in a tree", () => {
  assert.deepEqual(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]])), ["a", "b", "c", "a"]);
  assert.equal(findCycle(new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]])), undefined);
});

test("src has no import circle (type-only and dynamic imports included)", () => {
  const graph = importGraph();
  assert.ok(graph.size > 50, `read ${graph.size} files`);
  assert.ok(graph.get("src/train/tape.ts")!.includes("src/train/qat.ts"), "the graph holds relative imports");
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, `import circle: ${cycle?.join(" -> ")}`);
});

test("nothing outside src/cli imports from src/cli", () => {
  const offenders = [...importGraph()].filter(([file]) => !file.startsWith("src/cli/"))
    .flatMap(([file, targets]) => targets.filter((t) => t.startsWith("src/cli/")).map((t) => `${file} -> ${t}`));
  assert.deepEqual(offenders, []);
});
