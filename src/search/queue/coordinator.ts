// The coordinator's side of the queue: each candidate becomes a BullMQ job (its id: the search and
// the genome hash, so a candidate is queued once however often it is asked for), and its result,
// checked, becomes the model file the search expects. Finished jobs stay in Redis, so a coordinator
// restarted with --resume collects what the workers finished while it was away.
import { existsSync, readFileSync } from "node:fs";
import { Queue } from "bullmq";
import { macsPerLayer } from "../../nn/analysis.js";
import { importOnnx } from "../../onnx/import.js";
import { AxnnError } from "../../util/errors.js";
import { writeFileAtomic } from "../../util/fs.js";
import { parseSidecar, sidecarPath } from "../../zoo/sidecar.js";
import { genomeKey } from "../genome.js";
import type { CandidateResult } from "../nas/candidate.js";
import type { CandidateJob } from "../nas/candidate-process.js";
import { architectureAssignment, architectureLayers } from "../nas/network.js";
import { decodeGenome } from "../nas/space.js";
import { candidateJobId, NAS_QUEUE, PROTOCOL_VERSION, redactUrl, redisConnection, validateResult, type QueueJobData } from "./protocol.js";

export interface QueueEvaluator {
  evaluate: (job: CandidateJob) => Promise<CandidateResult>;
  close: () => Promise<void>;
}

export interface QueueEvaluatorOptions {
  /** How often a waiting candidate's job state is read (ms, default 250). */
  pollMs?: number;
  /** Tries of a job whose worker reported an error (default 2); a killed worker's job is retried by stalled-job recovery. */
  attempts?: number;
}

/** A CandidateEvaluator that sends candidates through the queue at `url`. */
export async function queueEvaluator(url: string, opts: QueueEvaluatorOptions = {}): Promise<QueueEvaluator> {
  const connection = redisConnection(url);
  try {
    await connection.ping();
  } catch (e) {
    connection.disconnect();
    throw new AxnnError(`cannot reach Redis at ${redactUrl(url)}: ${(e as Error).message}`, { field: "--queue" });
  }
  const queue = new Queue(NAS_QUEUE, { connection });
  const poll = opts.pollMs ?? 250;
  const evaluate = async (job: CandidateJob): Promise<CandidateResult> => {
    if (!job.output) throw new Error("queue evaluator: the job has no output path");
    const parent = job.parent ? readFileSync(job.parent).toString("base64") : undefined;
    const key = genomeKey(job.genome);
    const id = candidateJobId(job.space, job.settings, key, parent);
    const data: QueueJobData = { v: PROTOCOL_VERSION, space: job.space, genome: job.genome, settings: job.settings, ...(parent ? { parent } : {}) };
    // An existing job with this id (queued, running or finished before a restart) is kept as it is.
    await queue.add("candidate", data, { jobId: id, attempts: opts.attempts ?? 2, removeOnComplete: false, removeOnFail: false });
    const raw = await waitForJob(queue, id, poll);
    const r = validateResult(raw, id);
    if (r.result.stopped_early) return r.result;
    return acceptResult(job, r.result, Buffer.from(r.model!, "base64"), r.sidecar!, id);
  };
  return {
    evaluate,
    close: async () => {
      await queue.close();
      connection.disconnect();
    },
  };
}

/** What waitForJob reads of a queue (a BullMQ Queue; a test stands in for it). */
export interface JobReader {
  getJobState(id: string): Promise<string>;
  getJob(id: string): Promise<{ returnvalue: unknown; failedReason: string; attemptsMade: number } | undefined>;
}

/**
 * Waits for the job `id` to finish and returns its return value (unchecked), or throws its failure.
 * The state is read first and the job after it: a job's hash read before its state can predate its
 * completion, so a job seen "completed" would carry a null returnvalue (the race behind "invalid
 * result from a worker ... received null" under load). Completion sets the returnvalue and the state
 * in one Redis script and is final, so a job read after its state says "completed" has it.
 */
export async function waitForJob(queue: JobReader, id: string, pollMs: number): Promise<unknown> {
  for (;;) {
    const state = await queue.getJobState(id);
    if (state === "completed" || state === "failed") {
      const j = await queue.getJob(id);
      if (!j) throw new Error(`queue: job ${id} disappeared from ${NAS_QUEUE}`);
      if (state === "completed") return j.returnvalue;
      // Final: a job with tries left goes back to waiting (or delayed), never through "failed"; an
      // unrecoverable one (a refused job, a user error) comes here after its first try.
      throw new AxnnError(`candidate failed on the workers after ${j.attemptsMade} tries: ${j.failedReason}`, { field: `job ${id}` });
    } else if (state === "unknown") {
      throw new Error(`queue: job ${id} disappeared from ${NAS_QUEUE}`);
    }
    await new Promise((res) => setTimeout(res, pollMs));
  }
}

/**
 * Checks a worker's model against the genome it was asked to train (the same approximable layers,
 * weight shapes and multipliers), then writes it and its sidecar where the search expects them.
 */
function acceptResult(job: CandidateJob, result: CandidateResult, onnx: Uint8Array, sidecarText: string, id: string): CandidateResult {
  const arch = decodeGenome(job.space, job.genome);
  const expected = architectureLayers(arch);
  const model = importOnnx(onnx, `job ${id} model`);
  const rows = macsPerLayer(model, [1, ...job.space.inputShape]);
  const same = rows.length === expected.length && rows.every((r, i) => r.name === expected[i]!.layer.name && r.weightShape[0] === expected[i]!.layer.outChannels);
  if (!same) throw new AxnnError(`the worker's model does not match the genome (layers ${rows.map((r) => r.name).join(", ")})`, { field: `job ${id}` });
  const sidecar = parseSidecar(sidecarText, `job ${id} sidecar`, rows.map((r) => r.name));
  const want = architectureAssignment(arch).layers;
  if (JSON.stringify(sidecar.multipliers?.layers ?? {}) !== JSON.stringify(want)) throw new AxnnError("the worker's sidecar names other multipliers than the genome", { field: `job ${id}` });
  if (!sidecar.quantization?.activations) throw new AxnnError("the worker's sidecar has no trained input ranges", { field: `job ${id}` });
  writeFileAtomic(job.output!, onnx);
  writeFileAtomic(sidecarPath(job.output!), sidecarText);
  if (!existsSync(job.output!)) throw new Error(`could not write ${job.output}`);
  return result;
}
