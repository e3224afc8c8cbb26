import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerAxp } from "../src/cli/axp.js";
import { loadOnnx } from "../src/onnx/import.js";
import { isApproximable } from "../src/nn/graph.js";
import { runCommand } from "./cli-inprocess.js";
import { writeTinyCnn, writeTwoClassIdx } from "./tiny-idx.js";

const dir = mkdtempSync(join(tmpdir(), "axnn-axp-"));
// The accelerator's mapping cache goes to a temporary home, not the user's.
process.env.AXNN_HOME = join(dir, "home");
const { data } = writeTwoClassIdx(dir, 40, 3);
const model = join(dir, "tiny.onnx");
writeTinyCnn(model, 4);
const axp = (args: string[]) => runCommand(registerAxp, ["axp", ...args]);

test("axp cluster writes an ONNX model with at most K distinct weights per layer", async () => {
  const out = join(dir, "clustered.onnx");
  const r = JSON.parse(await axp(["cluster", "--model", model, "--clusters", "3", "-o", out, "--json"]));
  assert.equal(r.layers.length, 2);
  const m = loadOnnx(out);
  for (const n of m.nodes.filter(isApproximable)) assert.ok(new Set(n.weight.data).size <= 3, n.name);
  await assert.rejects(axp(["cluster", "--model", model, "--clusters", "0", "-o", out]), /--clusters: expected an integer >= 1, got "0"/);
});

test("axp sweep: the JSON shape, invariants of the points, files, and resuming from the journal", async () => {
  const out = join(dir, "sweep");
  const args = ["sweep", "--model", model, "--data", data, "--clusters", "2,4", "--entries", "0,4,16", "--key-bits", "2", "--dont-care", "0,1",
    "--format", "fp32", "--limit", "20", "--calib-size", "10", "--arch", "eyeriss", "--evaluations", "30", "-o", out, "--json"];
  const r = JSON.parse(await axp(args));
  assert.equal(r.points.length, 12);
  assert.deepEqual(r.skipped, []);
  assert.equal(r.baseline.length, 1);
  assert.ok(r.baseline[0].top1 > 0.5 && r.baseline[0].energy_pj > 0 && r.baseline[0].accelerator_energy_pj > r.baseline[0].energy_pj);
  for (const p of r.points) {
    for (const k of ["clusters", "entries", "key_bits", "dont_care", "format", "top1", "hit_rate", "energy_pj", "saving", "accelerator_energy_pj"]) assert.ok(k in p, k);
    if (p.entries === 0) {
      // No memory: the clustered model on the FPU-only PE.
      assert.equal(p.hit_rate, 0);
      assert.equal(p.energy_pj, r.baseline[0].energy_pj);
      assert.equal(p.saving, 0);
      assert.ok(Math.abs(p.accelerator_energy_pj - r.baseline[0].accelerator_energy_pj) < 1e-6 * p.accelerator_energy_pj);
    } else {
      assert.ok(p.hit_rate > 0 && p.hit_rate <= 1);
      // The PE model: energy = MACs x add + misses x multiply + searches + reads.
      assert.ok(Math.abs(p.saving - (1 - p.energy_pj / r.baseline[0].energy_pj)) < 1e-12);
    }
  }
  // FP32-wide storage words: more data-movement energy, the same extra amount for every point (the PE changes only the compute).
  const b0 = r.baseline[0];
  const extra = b0.accelerator_energy_format_words_pj - b0.accelerator_energy_pj;
  assert.ok(extra > 0.5 * b0.accelerator_energy_pj, `${extra} vs ${b0.accelerator_energy_pj}`);
  for (const p of r.points) assert.ok(Math.abs(p.accelerator_energy_format_words_pj - p.accelerator_energy_pj - extra) < 1e-6 * extra);
  // Points of the same K without memory have the same accuracy whatever the key bits: the clustered model's.
  const k4 = r.points.filter((p: { clusters: number; entries: number }) => p.clusters === 4 && p.entries === 0);
  assert.equal(new Set(k4.map((p: { top1: number }) => p.top1)).size, 1);
  for (const f of ["chart.svg", "chart.png", "report.html", "results.json", "journal.jsonl"]) assert.ok(existsSync(join(out, f)), f);
  assert.ok(r.front.length >= 1);
  // Resume: every point comes from the journal, with the same figures.
  const again = JSON.parse(await axp(args));
  assert.equal(again.resumed, 12);
  assert.deepEqual(again.points, r.points);
  // A journal cut short by a kill: the lost points are redone, the rest kept.
  const lines = readFileSync(join(out, "journal.jsonl"), "utf8").split("\n").filter((l) => l !== "");
  writeFileSync(join(out, "journal.jsonl"), `${lines.slice(0, 5).join("\n")}\n${lines[5]!.slice(0, 30)}`);
  const third = JSON.parse(await axp(args));
  assert.equal(third.resumed, 4);
  assert.deepEqual(third.points, r.points);
  // Other settings with the same directory are refused.
  const otherLimit = args.map((a, i) => (args[i - 1] === "--limit" ? "10" : a));
  await assert.rejects(axp(otherLimit), /journal is from a sweep with other settings/);
});

test("axp sweep: clear errors for K < 1, a memory larger than the key space, an unknown format", async () => {
  const base = ["sweep", "--model", model, "--data", data, "--arch", "none", "--limit", "4"];
  await assert.rejects(axp([...base, "--clusters", "0"]), /--clusters: expected whole numbers >= 1, got "0"/);
  await assert.rejects(axp([...base, "--clusters", "2", "--format", "int8", "--key-bits", "2", "--entries", "9"]), /--entries: 9 entries are more than the key space of 2 bins x 2\^2 int8 keys of 2 bits \(8\)/);
  await assert.rejects(axp([...base, "--pes", "0"]), /--pes: expected an integer >= 1, got "0"/);
  await assert.rejects(axp([...base, "--format", "fp8"]), /--format: unknown number format "fp8"; expected fp32, fp16, bf16, int8/);
  await assert.rejects(axp([...base, "--key-bits", "2", "--dont-care", "3"]), /--dont-care: no valid combination: fp32 key bits 2 with 3 don't-care bits/);
});

test("axp sweep --zero-gating: the gated baseline costs less, memory-less points cost their gated FPU energy", async () => {
  const base = ["sweep", "--model", model, "--data", data, "--clusters", "3", "--entries", "0,4", "--key-bits", "1", "--arch", "none", "--limit", "12", "--calib-size", "6", "--json"];
  const off = JSON.parse(await axp(base));
  const on = JSON.parse(await axp([...base, "--zero-gating"]));
  const pes = JSON.parse(await axp([...base, "--pes", "2"]));
  for (const p of pes.points) {
    assert.equal(p.pes, 2);
    const q = off.points.find((x: { entries: number }) => x.entries === p.entries);
    if (p.entries === 0) assert.equal(p.energy_pj, q.energy_pj);
  }
  assert.ok(on.baseline[0].energy_pj < off.baseline[0].energy_pj, `${on.baseline[0].energy_pj} vs ${off.baseline[0].energy_pj}`);
  for (const p of on.points) {
    assert.equal(p.zero_gating, true);
    assert.ok(p.zero_fraction > 0);
    const q = off.points.find((x: { entries: number }) => x.entries === p.entries);
    assert.equal(p.top1, q.top1);
    assert.equal(p.hit_rate, q.hit_rate);
    assert.ok(p.energy_pj < q.energy_pj);
    if (p.entries === 0) assert.equal(p.energy_pj, p.fpu_energy_pj);
  }
});
