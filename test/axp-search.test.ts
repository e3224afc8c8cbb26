import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerAxp } from "../src/cli/axp.js";
import { runCommand } from "./cli-inprocess.js";
import { writeTinyCnn, writeTwoClassIdx } from "./tiny-idx.js";

const dir = mkdtempSync(join(tmpdir(), "axnn-axp-search-"));
const { data } = writeTwoClassIdx(dir, 30, 3);
const model = join(dir, "tiny.onnx");
writeTinyCnn(model, 4);
const axp = (args: string[]) => runCommand(registerAxp, ["axp", ...args]);

interface Point { layers: Record<string, { clusters: number; entries: number; key_bits: number; dont_care: number; miss_multiplier: string | null }>; uniform: boolean; top1: number; energy_pj: number; saving: number }

test("axp search: per-layer NSGA-II; uniform points equal the sweep's, the front is non-dominated, resume replays the journal", async () => {
  const out = join(dir, "search");
  const common = ["--model", model, "--data", data, "--clusters", "2,3", "--entries", "0,4", "--key-bits", "1", "--limit", "10", "--calib-size", "6"];
  const args = ["search", ...common, "--budget", "7", "--population", "4", "-o", out, "--json"];
  const r = JSON.parse(await axp(args));
  assert.equal(r.evaluations, 7);
  assert.equal(r.points.length, 7);
  for (const f of ["front.json", "chart.svg", "chart.png", "journal.jsonl"]) assert.ok(existsSync(join(out, f)), f);
  const points = r.points as Point[];
  // The 4 uniform configurations come first, and each is exactly the sweep's point.
  const sweep = JSON.parse(await axp(["sweep", ...common, "--arch", "none", "--json"]));
  assert.deepEqual(points.slice(0, 4).map((p) => p.uniform), [true, true, true, true]);
  for (const p of points.filter((q) => q.uniform)) {
    const c = Object.values(p.layers)[0]!;
    const s = sweep.points.find((q: { clusters: number; entries: number }) => q.clusters === c.clusters && q.entries === c.entries);
    assert.equal(p.top1, s.top1, JSON.stringify(c));
    assert.equal(p.energy_pj, s.energy_pj, JSON.stringify(c));
    assert.ok(Math.abs(p.saving - s.saving) < 1e-12);
  }
  // Some configuration mixes settings across layers.
  assert.ok(points.some((p) => !p.uniform));
  // The front: no point of the archive dominates a front member.
  const front = (r.front as number[]).map((i) => points[i]!);
  assert.ok(front.length >= 1);
  for (const f of front) {
    for (const p of points) assert.ok(!(p.top1 >= f.top1 && p.energy_pj <= f.energy_pj && (p.top1 > f.top1 || p.energy_pj < f.energy_pj)));
  }
  // Resume: everything from the journal, same result; a journal is not overwritten without --resume.
  const again = JSON.parse(await axp([...args, "--resume"]));
  assert.equal(again.from_journal, 7);
  assert.deepEqual(again.points, r.points);
  await assert.rejects(axp(args), /journal|resume/i);
  await assert.rejects(axp(["search", ...common, "--format", "fp8", "-o", join(dir, "bad")]), /--format: unknown number format "fp8"/);
});
