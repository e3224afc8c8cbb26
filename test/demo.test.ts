import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./shared.js";
import { paretoFront } from "../src/demo/index.js";

test("paretoFront keeps exactly the non-dominated points", () => {
  const pts = [{ x: 1, y: 5 }, { x: 2, y: 2 }, { x: 3, y: 3 }, { x: 4, y: 1 }, { x: 2, y: 2 }];
  const front = paretoFront(pts, (p) => p.x, (p) => p.y);
  assert.deepEqual([...front].map((p) => `${p.x},${p.y}`).sort(), ["1,5", "2,2", "2,2", "4,1"]);
});

test("axnn demo writes the report, charts and JSON, and its energy rows are consistent", () => {
  const home = mkdtempSync(join(tmpdir(), "axnn-demo-home-"));
  const out = join(mkdtempSync(join(tmpdir(), "axnn-demo-")), "demo");
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "dist", "src", "cli", "main.js"), "demo", "--out", out, "--json"], {
    env: { ...process.env, AXNN_HOME: home }, encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  for (const f of ["report.html", "demo.json", "tradeoff.svg", "tradeoff.png", "energy-resnet20.svg"]) assert.ok(existsSync(join(out, f)), f);
  const html = readFileSync(join(out, "report.html"), "utf8");
  assert.match(html, /<svg/);
  assert.doesNotMatch(html, /<script|src="http/);
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
});
