import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchResult } from "./harness.js";
import { runNasSearch, type NasSearchOptions } from "../src/search/nas/search.js";
import { queueEvaluator } from "../src/search/queue/coordinator.js";
import { runQueueWorker, type RunningWorker } from "../src/search/queue/worker.js";
import { redisConnection } from "../src/search/queue/protocol.js";

/**
 * NAS candidates per hour on MNIST with a small schedule (500 training samples, one float and one
 * QAT epoch, 8 candidates): embedded with one and two candidates at a time (one per core), and
 * through Redis with one and two workers (one candidate at a time each). Ratios against embedded
 * with one at a time, measured in the same run. Skipped without redis-server for the queue rows.
 */
export async function benchNas(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "axnn-bench-nas-"));
  const out: BenchResult[] = [];
  const base = (o: string): NasSearchOptions => ({
    data: "mnist", objectives: ["accuracy", "energy"], arch: "eyeriss", multipliers: ["exact", "drum_k4_u8x8", "trunc_k6c_u8x8"], budget: 8, seed: 1, outDir: join(dir, o),
    populationSize: 4, training: { epochs: 1, qatEpochs: 1, trainSamples: 500, valSamples: 200, batchSize: 64, lr: 0.05, qatLr: 0.01 }, testSamples: 200,
    predictor: "sum", energyEvaluations: 50, baselines: [], quiet: true,
  });
  const run = async (name: string, o: NasSearchOptions, ref?: number): Promise<number> => {
    const t0 = performance.now();
    const r = await runNasSearch(o);
    const ms = performance.now() - t0;
    const perHour = (3600_000 * r.evaluations) / ms;
    out.push({ group: "nas", name, ms, runs: 1, figures: { "candidates/hour": perHour, ...(ref ? { "x embedded 1": perHour / ref } : {}) } });
    return perHour;
  };
  try {
    const ref = await run("embedded, 1 candidate at a time", { ...base("e1"), jobs: 1 });
    await run("embedded, 2 at a time (one per core)", { ...base("e2"), jobs: 2 }, ref);
    if (spawnSync("redis-server", ["--version"]).status !== 0) {
      process.stderr.write("bench nas: no redis-server, queue rows skipped\n");
      return out;
    }
    const port = await new Promise<number>((res) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
    const url = `redis://127.0.0.1:${port}`;
    try {
      for (let i = 0; i < 50; i++) {
        const c = redisConnection(url, { lazyConnect: true, retryStrategy: () => null });
        c.on("error", () => undefined);
        try {
          await c.connect();
          c.disconnect();
          break;
        } catch {
          c.disconnect();
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      for (const workers of [1, 2]) {
        const running: RunningWorker[] = [];
        for (let w = 0; w < workers; w++) running.push(await runQueueWorker(url, { concurrency: 1, workDir: join(dir, `w${workers}-${w}`), log: () => undefined }));
        // The same candidates as the embedded rows: an empty Redis, or they would come back finished.
        const admin = redisConnection(url);
        await admin.flushall();
        admin.disconnect();
        const q = await queueEvaluator(url);
        try {
          await run(`Redis queue, ${workers} worker${workers > 1 ? "s" : ""}`, { ...base(`q${workers}`), jobs: 64, evaluator: q.evaluate }, ref);
        } finally {
          await q.close();
          for (const w of running) await w.close();
        }
      }
    } finally {
      redis.kill("SIGTERM");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
