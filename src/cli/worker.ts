// `axnn worker`: evaluates `axnn search nas` candidates from a Redis queue (src/search/queue).
import type { Command } from "commander";
import { runQueueWorker } from "../search/queue/worker.js";
import { deviceOption, parseNumberOption } from "./common.js";

export function registerWorker(program: Command): void {
  deviceOption(program.command("worker"))
    .description("train `axnn search nas` candidates taken from a BullMQ queue on Redis, until stopped (Ctrl-C / SIGTERM)")
    .requiredOption("--queue <url>", "redis://[user:pass@]host:port or rediss://... (TLS)")
    .option("--concurrency <n>", "candidates trained at once (default: one per core)")
    .option("--work-dir <dir>", "folder for job files; the only place a job's dataset files may be", "axnn-worker")
    .option("--lock-seconds <s>", "a job whose worker stops renewing its lock this long goes to another worker", "30")
    .action(async (o: { queue: string; concurrency?: string; workDir: string; lockSeconds: string }) => {
      const w = await runQueueWorker(o.queue, {
        concurrency: o.concurrency === undefined ? undefined : parseNumberOption(o.concurrency, "--concurrency", { min: 1, integer: true }),
        workDir: o.workDir,
        lockMs: 1000 * parseNumberOption(o.lockSeconds, "--lock-seconds", { min: 1 }),
      });
      await new Promise<void>((res) => {
        const stop = () => res();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await w.close();
    });
}
