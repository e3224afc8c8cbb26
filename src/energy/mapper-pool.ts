import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { AxnnError } from "../util/errors.js";
import type { Ert } from "./ert.js";

/**
 * The worker pool of the parallel mapper and the network planner: threads running worker.js,
 * which performs the tasks (searches) the caller posts. It knows nothing of what a task does.
 */

/** Cap on the default thread count: beyond it, worker start-up and memory outweigh the gain for one layer. */
export const MAX_DEFAULT_THREADS = 8;

/** Default worker threads: the cores this process may use, at most MAX_DEFAULT_THREADS. */
export function defaultThreads(): number {
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, availableParallelism()));
}

/** Checks a `threads` option: undefined = the default, else a positive integer. */
export function resolveThreads(threads: number | undefined, field = "threads"): number {
  if (threads === undefined) return defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new AxnnError(`expected a positive integer, got ${threads}`, { field });
  return threads;
}

// The calling thread blocks (Atomics.wait) while the workers search and reads
// their replies with receiveMessageOnPort, so searchMapping and planNetwork stay synchronous.

/** An ERT as structured-clone-safe plain data (Maps become entry lists). */
export interface PlainErt {
  file: string;
  components: [string, Record<string, number>][];
}

export function ertToPlain(ert: Ert): PlainErt {
  return { file: ert.file, components: [...ert.components.entries()] };
}

export function ertFromPlain(p: PlainErt): Ert {
  return { file: p.file, components: new Map(p.components) };
}

/** A worker's reply: a result, or an error as plain data. */
export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { name: string; message: string; stack?: string; axnn: boolean; file?: string; line?: number; field?: string } };

const WORKER_URL = new URL("./worker.js", import.meta.url);

/** Whether the compiled worker script is there (not when running the TypeScript sources directly). */
export function workerAvailable(): boolean {
  return WORKER_URL.protocol === "file:" && existsSync(fileURLToPath(WORKER_URL));
}

function errorFromWorker(e: Extract<WorkerReply, { ok: false }>["error"]): Error {
  if (e.axnn) {
    // The message already carries the file/field prefix: rebuild the AxnnError around it as is.
    const err = new AxnnError(e.message);
    Object.defineProperties(err, { file: { value: e.file }, line: { value: e.line }, field: { value: e.field } });
    return err;
  }
  const err = new Error(`mapper worker thread failed: ${e.name}: ${e.message}`);
  if (e.stack) err.stack = `${err.message}\n--- in the worker ---\n${e.stack}`;
  return err;
}

/**
 * The parent's Node options minus those about its own entry point (`-e`/`-p` code, --input-type):
 * a worker inheriting them hangs instead of running worker.js.
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-e" || a === "--eval" || a === "-p" || a === "--print" || a === "-pe") { i++; continue; }
    if (a.startsWith("--eval=") || a.startsWith("--print=") || a.startsWith("--input-type") || a === "-i" || a === "--interactive") continue;
    out.push(a);
  }
  return out;
}

/** How long a worker may take to load before the pool gives up (loading takes well under a second). */
const WORKER_START_TIMEOUT_MS = 60_000;

function startWorker(workerData: { port: MessagePort; signal: Int32Array; readySlot: number }, port: MessagePort): Worker {
  try {
    return new Worker(WORKER_URL, { workerData, transferList: [port], execArgv: workerExecArgv() });
  } catch (e) {
    // Some process-wide Node options (e.g. --single-threaded-gc) are refused for workers: start without any.
    if ((e as { code?: string }).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw e;
    return new Worker(WORKER_URL, { workerData, transferList: [port], execArgv: [] });
  }
}

interface PoolWorker {
  worker: Worker;
  port: MessagePort;
  /** Task index it is running, or -1. */
  task: number;
}

/**
 * Runs `tasks` on `threads` workers (each takes the next task when it is done) and returns the
 * results in task order. Blocks the calling thread. `onProgress` gets the evaluations done so far
 * over all tasks, about 10 times a second. A task's error is thrown here (an AxnnError stays one),
 * after every worker is stopped.
 */
export function runInWorkers<R>(tasks: readonly unknown[], threads: number, onProgress?: (evaluated: number) => void, onTaskDone?: (index: number, result: R) => void): R[] {
  if (!workerAvailable()) {
    throw new AxnnError(`parallel search needs the compiled worker ${fileURLToPath(WORKER_URL)} (build with tsc and run from dist/), or threads = 1`, { field: "threads" });
  }
  const n = Math.max(1, Math.min(threads, tasks.length));
  // signal[0]: replies posted (workers notify on it); signal[1 + worker]: 1 once that worker runs;
  // signal[1 + n + task]: evaluations done in that task.
  const signal = new Int32Array(new SharedArrayBuffer(4 * (1 + n + tasks.length)));
  const pool: PoolWorker[] = [];
  const results = new Array<R>(tasks.length);
  let next = 0, done = 0;
  const dispatch = (w: PoolWorker) => {
    if (next >= tasks.length) { w.task = -1; return; }
    w.task = next++;
    w.port.postMessage({ id: w.task, progressSlot: 1 + n + w.task, task: tasks[w.task] });
  };
  try {
    for (let i = 0; i < n; i++) {
      const { port1, port2 } = new MessageChannel();
      const worker = startWorker({ port: port2, signal, readySlot: 1 + i }, port2);
      // The pool ends its workers itself; never let one keep the process alive.
      worker.unref();
      pool.push({ worker, port: port1, task: -1 });
    }
    for (const w of pool) dispatch(w);
    let lastProgress = 0;
    const startedAt = Date.now();
    let allStarted = false;
    while (done < tasks.length) {
      const seen = Atomics.load(signal, 0);
      let received = false;
      for (const w of pool) {
        let m;
        while ((m = receiveMessageOnPort(w.port)) !== undefined) {
          received = true;
          const reply = m.message as WorkerReply;
          if (!reply.ok) throw errorFromWorker(reply.error);
          results[reply.id] = reply.result as R;
          done++;
          onTaskDone?.(reply.id, reply.result as R);
          dispatch(w);
        }
      }
      if (received) continue;
      Atomics.wait(signal, 0, seen, 100);
      if (!allStarted) {
        // A worker that never starts would leave this thread waiting forever: give up instead.
        allStarted = pool.every((_, i) => Atomics.load(signal, 1 + i) === 1);
        if (!allStarted && Date.now() - startedAt > WORKER_START_TIMEOUT_MS) {
          throw new Error(`mapper worker threads did not start within ${WORKER_START_TIMEOUT_MS / 1000} s (${fileURLToPath(WORKER_URL)}); run with threads = 1`);
        }
      }
      if (onProgress && Date.now() - lastProgress >= 100) {
        lastProgress = Date.now();
        let sum = 0;
        for (let t = 0; t < tasks.length; t++) sum += Atomics.load(signal, 1 + n + t);
        onProgress(sum);
      }
    }
    return results;
  } finally {
    for (const w of pool) {
      w.port.close();
      void w.worker.terminate();
    }
  }
}
