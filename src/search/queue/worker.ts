// `axnn worker`: takes NAS candidates from the queue and trains each in a child process of its own,
// so this process's event loop stays free to renew the job locks (CPU-bound training in the worker
// itself would stall them, and BullMQ would hand a healthy job to another worker). A worker that is
// killed stops renewing its locks; stalled-job recovery then gives its jobs to the other workers.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { UnrecoverableError, Worker, type Job } from "bullmq";
import { isAxnnError } from "../../util/errors.js";
import { sidecarPath } from "../../zoo/sidecar.js";
import { evaluateInChildProcess } from "../nas/candidate-process.js";
import { NAS_QUEUE, PROTOCOL_VERSION, redactUrl, redisConnection, validateJob, type QueueJobResult } from "./protocol.js";

export interface QueueWorkerOptions {
  /** Candidates trained at once (default: one per core). */
  concurrency?: number;
  /** The folder for a job's files; the only folder a job's dataset may be in (default ./axnn-worker). */
  workDir?: string;
  /** Lock duration in ms: a job whose worker stops renewing its lock this long is stalled and retried elsewhere (default 30000). */
  lockMs?: number;
  /** Native-kernel threads per candidate (default 1 when concurrency > 1). */
  threads?: number;
  /** Log lines (default: to stderr). */
  log?: (line: string) => void;
}

export interface RunningWorker {
  worker: Worker;
  close: () => Promise<void>;
}

/** Starts a worker on the queue at `url`; it runs until closed. */
export async function runQueueWorker(url: string, opts: QueueWorkerOptions = {}): Promise<RunningWorker> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const workDir = resolve(opts.workDir ?? "axnn-worker");
  mkdirSync(workDir, { recursive: true });
  const concurrency = opts.concurrency ?? Math.max(1, availableParallelism());
  const threads = opts.threads ?? (concurrency > 1 ? 1 : undefined);
  const lockMs = opts.lockMs ?? 30_000;
  const connection = redisConnection(url);
  const processor = async (job: Job): Promise<QueueJobResult> => {
    let data;
    try {
      data = validateJob(job.data, workDir);
    } catch (e) {
      log(`axnn worker: job ${job.id}: ${(e as Error).message}`);
      throw new UnrecoverableError((e as Error).message);
    }
    log(`axnn worker: job ${job.id}: started (${data.genome.length} genes)`);
    const scratch = mkdtempSync(join(workDir, "job-"));
    try {
      const output = join(scratch, "model.onnx");
      let parent: string | undefined;
      if (data.parent) {
        parent = join(scratch, "parent.onnx");
        writeFileSync(parent, Buffer.from(data.parent, "base64"));
      }
      const t0 = performance.now();
      const result = await evaluateInChildProcess({ space: data.space, genome: data.genome, settings: data.settings, output, ...(parent ? { parent } : {}) }, { threads }).catch((e: unknown) => {
        // A user error (bad multiplier name, dataset missing here) will fail again anywhere: no retry.
        if (isAxnnError(e)) throw new UnrecoverableError(e.message);
        throw e;
      });
      log(`axnn worker: job ${job.id}: top-1 ${(100 * result.val_top1).toFixed(2)}% in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      if (result.stopped_early) return { v: PROTOCOL_VERSION, result };
      return { v: PROTOCOL_VERSION, result, model: readFileSync(output).toString("base64"), sidecar: readFileSync(sidecarPath(output), "utf8") };
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  };
  const worker = new Worker(NAS_QUEUE, processor, {
    connection, concurrency, lockDuration: lockMs, stalledInterval: Math.max(1000, Math.floor(lockMs / 2)), maxStalledCount: 3,
  });
  worker.on("failed", (job, err) => log(`axnn worker: job ${job?.id} failed: ${err.message}`));
  worker.on("error", (err) => log(`axnn worker: ${err.message}`));
  await worker.waitUntilReady();
  log(`axnn worker: waiting for candidates on ${redactUrl(url)} (queue ${NAS_QUEUE}, ${concurrency} at a time, work folder ${workDir})`);
  return {
    worker,
    close: async () => {
      await worker.close();
      connection.disconnect();
    },
  };
}
