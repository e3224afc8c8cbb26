import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./shared.js";
import { accuracyCandidates, demoNextCommands, paretoFront } from "../src/demo/index.js";
import { Command } from "commander";
import { registerEval, registerSensitivity } from "../src/cli/eval.js";
import { registerFinetune } from "../src/cli/finetune.js";
import { registerEnergy } from "../src/cli/energy.js";
import { registerSearch } from "../src/cli/search.js";
import { runEvaluation } from "../src/eval/evaluate.js";
import { sidecarPath } from "../src/zoo/sidecar.js";

test("paretoFront keeps exactly the non-dominated points", () => {
  const pts = [{ x: 1, y: 5 }, { x: 2, y: 2 }, { x: 3, y: 3 }, { x: 4, y: 1 }, { x: 2, y: 2 }];
  const front = paretoFront(pts, (p) => p.x, (p) => p.y);
  assert.deepEqual([...front].map((p) => `${p.x},${p.y}`).sort(), ["1,5", "2,2", "2,2", "4,1"]);
});

test("accuracyCandidates keeps every Pareto design and spreads the extra ones up to the worst", () => {
  const pts = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ mae_pct: i, pareto: i === 0 || i === 3 }));
  // Non-Pareto MAEs 1, 2, 4, 5, 6, 7: three picks at the 2nd, 4th and 6th of them.
  assert.deepEqual(accuracyCandidates(pts, 3).map((p) => p.mae_pct), [0, 2, 3, 5, 7]);
  assert.deepEqual(accuracyCandidates(pts, 0).map((p) => p.mae_pct), [0, 3]);
  assert.deepEqual(accuracyCandidates(pts, 10).map((p) => p.mae_pct), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test("axnn demo rejects a bad size option before doing any work", () => {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "dist", "src", "cli", "main.js"), "demo", "--out", join(tmpdir(), "axnn-demo-unused"), "--epochs", "0"], { encoding: "utf8" });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--epochs/);
});

test("axnn demo writes the report, charts and JSON, and its energy and accuracy rows are consistent", () => {
  const home = mkdtempSync(join(tmpdir(), "axnn-demo-home-"));
  const out = join(mkdtempSync(join(tmpdir(), "axnn-demo-")), "demo");
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "dist", "src", "cli", "main.js"), "demo", "--out", out, "--json",
    // A small MNIST section: the test checks structure and sanity, not the accuracy of a full run.
    "--train-samples", "2000", "--epochs", "1", "--eval-samples", "400", "--retrain", "2", "--retrain-samples", "500"], {
    env: { ...process.env, AXNN_HOME: home }, encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  for (const f of ["report.html", "demo.json", "tradeoff.svg", "tradeoff.png", "energy-resnet20.svg", "accuracy-vs-power.svg", "accuracy-vs-mae.png"]) assert.ok(existsSync(join(out, f)), f);
  const html = readFileSync(join(out, "report.html"), "utf8");
  assert.match(html, /<svg/);
  assert.doesNotMatch(html, /<script|src="http/);
  assert.match(html, /Accuracy on MNIST/);
  // Pareto flags: no flagged design is dominated by another unsigned one.
  const unsigned = j.multipliers.filter((m: { signed: boolean }) => !m.signed);
  for (const p of unsigned.filter((m: { pareto: boolean }) => m.pareto)) {
    assert.ok(!unsigned.some((q: { mae_pct: number; power_estimate: number }) => q.mae_pct < p.mae_pct && q.power_estimate < p.power_estimate), p.name);
  }
  // Energy: the exact multiplier is the baseline of each accelerator; a design with less power saves energy.
  for (const acc of ["eyeriss", "simba"]) {
    const rows = j.energy.filter((e: { accelerator: string }) => e.accelerator === acc);
    assert.ok(rows.length >= 2, acc);
    const exact = rows.find((e: { multiplier: string }) => e.multiplier === "exact_u8x8");
    assert.equal(exact.saving_pct, 0);
    for (const e of rows) {
      const m = unsigned.find((x: { name: string }) => x.name === e.multiplier);
      const exactPower = unsigned.find((x: { name: string }) => x.name === "exact_u8x8").power_estimate;
      assert.equal(Math.sign(Math.round(e.saving_pct * 1e6)), Math.sign(Math.round((exactPower - m.power_estimate) * 1e6)), e.multiplier);
    }
  }

  // Accuracy: float, int8 and every Pareto-optimal design plus three others, once each.
  const a = j.accuracy;
  assert.equal(a.eval_samples, 400);
  assert.equal(a.train_samples, 2000);
  const names = a.rows.map((r: { arithmetic: string }) => r.arithmetic);
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(names.slice(0, 2), ["float32", "exact int8"]);
  const pareto = unsigned.filter((m: { pareto: boolean }) => m.pareto).map((m: { name: string }) => m.name);
  for (const n of pareto) assert.ok(names.includes(n), n);
  assert.equal(names.length, 2 + pareto.length + 3);
  const int8 = a.rows[1];
  for (const r of a.rows) {
    // Each accuracy is a count of correct images out of 400.
    assert.ok(r.top1 >= 0 && r.top1 <= 1 && Math.abs(r.top1 * 400 - Math.round(r.top1 * 400)) < 1e-9, r.arithmetic);
    assert.ok(Math.abs(r.loss_vs_int8 - (int8.top1 - r.top1)) < 1e-12, r.arithmetic);
  }
  // The exact multiplier's table is the exact product, so it must give int8's accuracy.
  assert.equal(a.rows.find((r: { arithmetic: string }) => r.arithmetic === "exact_u8x8").top1, int8.top1);
  // Even a 2,000-image epoch learns far more than chance (10 %).
  assert.ok(a.rows[0].top1 > 0.5 && int8.top1 > 0.5, `float ${a.rows[0].top1}, int8 ${int8.top1}`);
  // The retrained designs are the two that lost most against int8.
  const designs = a.rows.filter((r: { kind: string }) => r.kind === "multiplier");
  const lossOrder = designs.filter((r: { loss_vs_int8: number }) => r.loss_vs_int8 > 0).sort((x: { loss_vs_int8: number }, y: { loss_vs_int8: number }) => y.loss_vs_int8 - x.loss_vs_int8);
  const retrained = designs.filter((r: { retrained_top1: number | null }) => r.retrained_top1 !== null);
  assert.deepEqual(retrained.map((r: { arithmetic: string }) => r.arithmetic).sort(), lossOrder.slice(0, 2).map((r: { arithmetic: string }) => r.arithmetic).sort());
  for (const r of retrained) {
    // Retraining with the multiplier in the loop must gain something (each accuracy counts images out of 400).
    assert.ok(r.retrained_top1 > r.top1, `${r.arithmetic}: retrained ${r.retrained_top1}, before ${r.top1}`);
    assert.ok(Math.abs(r.retrained_top1 * 400 - Math.round(r.retrained_top1 * 400)) < 1e-9 && r.retrained_int8_top1 > 0.1, r.arithmetic);
  }
  const onDisk = JSON.parse(readFileSync(join(out, "demo.json"), "utf8"));
  assert.deepEqual(onDisk.accuracy.rows, a.rows);

  // The search section: every method at the demo's budget; NSGA-II's first population holds every
  // uniform assignment (the built-in designs plus exact fit in the budget), so its front is at least
  // as good; each front member's mult-config is written.
  const s = j.search;
  assert.deepEqual(onDisk.search.methods, s.methods);
  assert.deepEqual(s.methods.map((m: { method: string }) => m.method), ["uniform", "greedy", "random", "nsga2"]);
  const hv = (name: string) => s.methods.find((m: { method: string }) => m.method === name);
  assert.equal(hv("uniform").evaluations, s.settings.candidates.length + 1);
  assert.ok(hv("uniform").evaluations <= s.settings.budget);
  assert.equal(hv("random").evaluations, s.settings.budget);
  assert.ok(hv("nsga2").hypervolume >= hv("uniform").hypervolume, `nsga2 ${hv("nsga2").hypervolume} < uniform ${hv("uniform").hypervolume}`);
  assert.ok(s.members.length >= 1);
  for (const m of s.members) assert.ok(existsSync(join(out, "search", m.mult_config)), m.mult_config);
  assert.match(html, /Searching a multiplier for each layer/);

  // The trained model is kept with its sidecar; axnn eval's defaults on it reproduce the demo's figures.
  assert.equal(j.model, join(out, "lenet5.onnx"));
  assert.ok(existsSync(sidecarPath(j.model)));
  const again = runEvaluation({ model: j.model, data: "mnist", limit: 400, mult: "exact_u8x8" });
  assert.equal(again.quant.scheme, "asym");
  assert.equal(again.float_top1, a.rows[0].top1);
  assert.equal(again.int8_top1, int8.top1);
});

test("the demo's next commands are valid axnn commands on the saved model, paths relative to the working directory", () => {
  const cmds = demoNextCommands("/work/x/axnn-demo/lenet5.onnx", "drum_k3_u8x8", "/work/x");
  assert.deepEqual(cmds.map((c) => c.split(" ").slice(0, 3).join(" ")), [
    "axnn eval --model", "axnn sensitivity --model", "axnn finetune --model", "axnn energy net", "axnn search assign",
  ]);
  for (const c of cmds) assert.match(c, / --model axnn-demo\/lenet5\.onnx /);
  assert.match(cmds[2]!, / -o axnn-demo\/lenet5-drum_k3_u8x8\.onnx$/);
  // Outside the working directory the path stays absolute, quoted when it must be.
  assert.match(demoNextCommands("/tmp/my demo/lenet5.onnx", "drum_k3_u8x8", "/work")[0]!, /--model '\/tmp\/my demo\/lenet5\.onnx' /);
  // Every flag exists on its command (the commands are parsed against the real CLI's options).
  const program = new Command();
  for (const register of [registerEval, registerSensitivity, registerFinetune, registerEnergy, registerSearch]) register(program);
  for (const c of cmds) {
    const words = c.split(" ").slice(1);
    let cmd: Command = program;
    while (words.length > 0 && !words[0]!.startsWith("-")) {
      const name = words.shift();
      cmd = cmd.commands.find((s) => s.name() === name)!;
    }
    assert.ok(cmd !== program, c);
    for (const w of words.filter((x) => x.startsWith("-"))) assert.ok(cmd.options.some((o) => o.long === w || o.short === w), `${c}: ${w}`);
    for (const o of cmd.options.filter((x) => x.mandatory)) assert.ok(words.includes(o.long!) || (o.short !== undefined && words.includes(o.short)), `${c}: needs ${o.long}`);
  }
});
