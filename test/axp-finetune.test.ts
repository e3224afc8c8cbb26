import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDataset, subsetIndices } from "../src/data/datasets.js";
import { isApproximable } from "../src/nn/graph.js";
import { loadOnnx } from "../src/onnx/import.js";
import { evaluate } from "../src/train/loop.js";
import { clusterModel, type LayerClusters } from "../src/axp/cluster.js";
import { finetuneClusters, tieGradients } from "../src/axp/finetune.js";
import { registerAxp } from "../src/cli/axp.js";
import { runCommand } from "./cli-inprocess.js";
import { writeTinyCnn, writeTwoClassIdx } from "./tiny-idx.js";

const dir = mkdtempSync(join(tmpdir(), "axnn-axp-ft-"));
process.env.AXNN_HOME = join(dir, "home");
const { data } = writeTwoClassIdx(dir, 48, 5);
const modelFile = join(dir, "tiny.onnx");
writeTinyCnn(modelFile, 4);
const axp = (args: string[]) => runCommand(registerAxp, ["axp", ...args]);

test("centroid gradients: every weight of a bin gets the bin's summed (or mean) gradient", () => {
  const clusters = { centroids: Float32Array.from([0, 1, 2]), binOf: Uint16Array.from([0, 2, 0, 1, 2, 0]) } as LayerClusters;
  const g = Float32Array.from([1, 2, 3, 4, 5, 6]);
  tieGradients(g, clusters, "sum");
  assert.deepEqual([...g], [10, 7, 10, 4, 7, 10]);
  const h = Float32Array.from([1, 2, 3, 4, 5, 6]);
  tieGradients(h, clusters, "mean");
  assert.deepEqual([...h], [10 / 3, 3.5, 10 / 3, 4, 3.5, 10 / 3].map(Math.fround));
});

test("cluster-aware fine-tuning keeps every weight's bin, moves the centroids, and lowers the training loss", () => {
  const train = loadDataset(data, "train");
  const all = subsetIndices(train.shape[0], train.shape[0], 1);
  const cl = clusterModel(loadOnnx(modelFile), { clusters: 3, seed: 2 });
  const before = evaluate(cl.model, train, all, 16);
  for (const rule of ["mean", "sum"] as const) {
    const r = finetuneClusters(cl, train, { epochs: 3, lr: rule === "mean" ? 0.2 : 0.02, centroidGradient: rule, batchSize: 8, quiet: true });
    const after = evaluate(r.clustered.model, train, all, 16);
    assert.ok(after.loss < before.loss - 0.05, `${rule}: loss ${before.loss} -> ${after.loss}`);
    assert.equal(r.history.length, 3);
    let moved = 0;
    for (const n of r.clustered.model.nodes.filter(isApproximable)) {
      const old = cl.layers.get(n.name)!, now = r.clustered.layers.get(n.name)!;
      assert.deepEqual(now.binOf, old.binOf, `${rule} ${n.name}: the bins are kept`);
      assert.equal(now.centroids.length, old.centroids.length);
      // Every weight is exactly its bin's (new) centroid: at most K distinct values, the assignment unchanged.
      for (let i = 0; i < n.weight.data.length; i++) assert.ok(Object.is(n.weight.data[i], now.centroids[now.binOf[i]!]), `${rule} ${n.name}[${i}]`);
      assert.ok(new Set(n.weight.data).size <= 3);
      for (let b = 0; b < now.centroids.length; b++) if (now.centroids[b] !== old.centroids[b]) moved++;
    }
    assert.ok(moved > 0, `${rule}: some centroid moved`);
  }
  // The input clustering is not changed.
  const fresh = clusterModel(loadOnnx(modelFile), { clusters: 3, seed: 2 });
  for (const [name, l] of cl.layers) assert.deepEqual(l.centroids, fresh.layers.get(name)!.centroids);
});

test("axp cluster --finetune: top-1 before and after, the tuned model written, clear errors", async () => {
  const out = join(dir, "tuned.onnx");
  const r = JSON.parse(await axp(["cluster", "--model", modelFile, "--clusters", "3", "--finetune", "3", "--finetune-lr", "0.2", "--data", data, "-o", out, "--json"]));
  assert.equal(r.finetune.epochs, 3);
  assert.equal(r.finetune.test_samples, 48);
  assert.ok(r.finetune.after_top1 >= r.finetune.before_top1, JSON.stringify(r.finetune));
  assert.ok(r.finetune.train_loss.length === 3 && r.finetune.train_loss[2] < r.finetune.train_loss[0]);
  for (const n of loadOnnx(out).nodes.filter(isApproximable)) assert.ok(new Set(n.weight.data).size <= 3, n.name);
  await assert.rejects(axp(["cluster", "--model", modelFile, "--clusters", "3", "--finetune", "1", "-o", out]), /--data: --finetune needs --data/);
  await assert.rejects(axp(["cluster", "--model", modelFile, "--clusters", "3", "--limit", "5", "-o", out]), /--limit: only applies with --finetune/);
  await assert.rejects(axp(["cluster", "--model", modelFile, "--clusters", "3", "--finetune", "1", "--data", data, "--centroid-gradient", "max", "-o", out]), /--centroid-gradient: unknown centroid gradient "max"/);
});

test("axp sweep --finetune: one record per K, kept in the journal on resume", async () => {
  const out = join(dir, "sweep");
  const args = ["sweep", "--model", modelFile, "--data", data, "--clusters", "2,3", "--entries", "0,4", "--key-bits", "1", "--arch", "none", "--limit", "20", "--calib-size", "8", "--finetune", "1", "-o", out, "--json"];
  const r = JSON.parse(await axp(args));
  assert.deepEqual(r.finetune.map((f: { clusters: number }) => f.clusters), [2, 3]);
  // The memory-less points are the fine-tuned clustered model: their top-1 is the record's "after" (same test images).
  for (const f of r.finetune) assert.equal(r.points.find((p: { clusters: number; entries: number }) => p.clusters === f.clusters && p.entries === 0).top1, f.after_top1);
  const again = JSON.parse(await axp(args));
  assert.equal(again.resumed, 4);
  assert.deepEqual(again.finetune, r.finetune);
});
