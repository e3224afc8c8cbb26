/**
 * Worker thread of the parallel mapper (see runInWorkers in mapper-pool.ts). It is started from the
 * compiled dist/src/energy/worker.js. Tasks arrive on the port in workerData; each reply is posted
 * there, then signal[0] is bumped and notified, since the parent waits on it with Atomics.wait.
 * Only node:worker_threads is imported statically: the mapper is loaded inside the handler, so a
 * failure to load it reaches the parent as an error reply instead of a silent dead thread.
 */
import { workerData, type MessagePort } from "node:worker_threads";

interface WorkerData {
  port: MessagePort;
  signal: Int32Array;
  /** Set to 1 once this script runs (the parent gives up on workers that never start). */
  readySlot: number;
}

const { port, signal, readySlot } = workerData as WorkerData;

function reply(message: unknown): void {
  port.postMessage(message);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

port.on("message", async (msg: { id: number; progressSlot: number; task: { kind: string } }) => {
  const id = msg.id;
  try {
    const [mapper, pool] = await Promise.all([import("./mapper.js"), import("./mapper-pool.js")]);
    const task = msg.task as import("./mapper.js").SearchTask;
    if (task.kind !== "search") throw new Error(`unknown task kind "${task.kind}"`);
    const result = mapper.searchSequential(task.arch, task.problem, pool.ertFromPlain(task.ert), task.opts, task.part, (evaluated) => {
      Atomics.store(signal, msg.progressSlot, evaluated);
    });
    reply({ id, ok: true, result });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const where = err as Error & { file?: string; line?: number; field?: string };
    reply({
      id, ok: false,
      error: { name: err.name, message: err.message, stack: err.stack, axnn: err.name === "AxnnError", file: where.file, line: where.line, field: where.field },
    });
  }
});

Atomics.store(signal, readySlot, 1);
Atomics.add(signal, 0, 1);
Atomics.notify(signal, 0);
