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
 * through Redis with one and two workers (one candidate at a time each). The four run alternately,
 * `AXNN_BENCH_NAS_ROUNDS` rounds (default 3), so that a shared machine's load falls on all of them;
 * each row gives the median and the range over rounds, and its ratio against embedded with one at a
 * time in the same round. Queue rows skipped without redis-server.
 */
export async function benchNas(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "axnn-bench-nas-"));
  const rounds = Math.max(1, Number(process.env.AXNN_BENCH_NAS_ROUNDS ?? 3));
  const base = (o: string): NasSearchOptions => ({
    data: "mnist", objectives: ["accuracy", "energy"], arch: "eyeriss", multipliers: ["exact", "drum_k4_u8x8", "trunc_k6c_u8x8"], budget: 8, seed: 1, outDir: join(dir, o),
    populationSize: 4, training: { epochs: 1, qatEpochs: 1, trainSamples: 500, valSamples: 200, batchSize: 64, lr: 0.05, qatLr: 0.01 }, testSamples: 200,
    predictor: "sum", energyEvaluations: 50, baselines: [], quiet: true,
  });
  const rows = ["embedded, 1 candidate at a time", "embedded, 2 at a time (one per core)", "Redis queue, 1 worker", "Redis queue, 2 workers"];
  const samples = new Map<string, { ms: number; perHour: number; ratio: number }[]>(rows.map((r) => [r, []]));
  const timed = async (o: NasSearchOptions): Promise<{ ms: number; perHour: number }> => {
    const t0 = performance.now();
    const r = await runNasSearch(o);
    const ms = performance.now() - t0;
    return { ms, perHour: (3600_000 * r.evaluations) / ms };
  };
  const hasRedis = spawnSync("redis-server", ["--version"]).status === 0;
  if (!hasRedis) process.stderr.write("bench nas: no redis-server, queue rows skipped\n");
  let redis: ReturnType<typeof spawn> | undefined;
  try {
    let url = "";
    if (hasRedis) {
      const port = await new Promise<number>((res) => {
        const s = createServer();
        s.listen(0, "127.0.0.1", () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => res(p));
        });
      });
      redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
      url = `redis://127.0.0.1:${port}`;
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
    }
    for (let round = 0; round < rounds; round++) {
      const ref = await timed({ ...base(`e1-${round}`), jobs: 1 });
      samples.get(rows[0]!)!.push({ ...ref, ratio: 1 });
      const e2 = await timed({ ...base(`e2-${round}`), jobs: 2 });
      samples.get(rows[1]!)!.push({ ...e2, ratio: e2.perHour / ref.perHour });
      if (!hasRedis) continue;
      for (const workers of [1, 2]) {
        const running: RunningWorker[] = [];
        for (let w = 0; w < workers; w++) running.push(await runQueueWorker(url, { concurrency: 1, workDir: join(dir, `w${workers}-${w}`), log: () => undefined }));
        // The same candidates as the embedded rows: an empty Redis, or they would come back finished.
        const admin = redisConnection(url);
        await admin.flushall();
        admin.disconnect();
        const q = await queueEvaluator(url);
        try {
          const r = await timed({ ...base(`q${workers}-${round}`), jobs: 64, evaluator: q.evaluate });
          samples.get(rows[1 + workers]!)!.push({ ...r, ratio: r.perHour / ref.perHour });
        } finally {
          await q.close();
          for (const w of running) await w.close();
        }
      }
    }
  } finally {
    redis?.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const range = (v: number[]) => `${Math.min(...v).toFixed(0)}-${Math.max(...v).toFixed(0)}`;
  return rows.filter((r) => samples.get(r)!.length > 0).map((name) => {
    const s = samples.get(name)!;
    return {
      group: "nas", name, ms: median(s.map((x) => x.ms)), runs: s.length,
      figures: {
        "candidates/hour": median(s.map((x) => x.perHour)), "range": range(s.map((x) => x.perHour)),
        "x embedded 1": median(s.map((x) => x.ratio)), "x range": `${Math.min(...s.map((x) => x.ratio)).toFixed(2)}-${Math.max(...s.map((x) => x.ratio)).toFixed(2)}`,
      },
    };
  });
}
