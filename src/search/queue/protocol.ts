// What crosses the queue, and the checks on both ends. A queue crosses machines, so each side
// treats the other's messages as untrusted: a worker accepts only jobs that validate against the
// genome schema (bounded sizes, plain multiplier names, data inside its work folder, no code), and
// the coordinator accepts only results whose model matches the genome it asked for.
import { createHash } from "node:crypto";
import { isAbsolute, relative, resolve } from "node:path";
import { Redis, type RedisOptions } from "ioredis";
import { z } from "zod";
import { AxnnError } from "../../util/errors.js";
import { checkGenome, checkSpace, NAS_GENOME_LENGTH, type NasSpace } from "../nas/space.js";
import type { CandidateResult, CandidateSettings } from "../nas/candidate.js";

/** The one queue of NAS candidates on a Redis server. */
export const NAS_QUEUE = "axnn-nas";
export const PROTOCOL_VERSION = 1;
/** Largest model (ONNX bytes) a job or result may carry. */
export const MAX_MODEL_BYTES = 64 * 1024 * 1024;
const MAX_SIDECAR_CHARS = 1024 * 1024;

export interface QueueJobData {
  v: typeof PROTOCOL_VERSION;
  space: NasSpace;
  genome: number[];
  settings: CandidateSettings;
  /** The parent's trained model (ONNX, base64) to inherit weights from. */
  parent?: string;
}

export interface QueueJobResult {
  v: typeof PROTOCOL_VERSION;
  result: CandidateResult;
  /** The trained model, ONNX as base64, and its sidecar's text (absent when the candidate stopped early). */
  model?: string;
  sidecar?: string;
}

/** A multiplier name a worker resolves itself: letters, digits, _ . - only, no path, no file extension. */
const MULT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const FILE_LIKE = /\.(v|bin|json|csv|txt|onnx)$/i;

const int = (lo: number, hi: number) => z.number().int().min(lo).max(hi);
const settingsSchema = z.object({
  data: z.string().min(1).max(1024),
  epochs: int(0, 100), qatEpochs: int(0, 100), trainSamples: int(1, 10_000_000), valSamples: int(1, 1_000_000), batchSize: int(1, 4096),
  lr: z.number().finite().positive().max(10), qatLr: z.number().finite().positive().max(10), seed: int(-(2 ** 31), 2 ** 31 - 1),
  normalize: z.string().max(200).optional(), earlyStop: z.number().min(0).max(1).optional(), calibrationSize: int(1, 100_000).optional(),
}).strict();
const jobSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  space: z.object({
    inputShape: z.tuple([int(1, 64), int(4, 1024), int(4, 1024)]),
    classes: int(2, 10_000),
    multipliers: z.array(z.string().regex(MULT_NAME).refine((s) => !FILE_LIKE.test(s), "a multiplier name, not a file")).min(1).max(256),
  }).strict(),
  genome: z.array(z.number().int().min(0).max(1023)).length(NAS_GENOME_LENGTH),
  settings: settingsSchema,
  parent: z.string().max(Math.ceil(MAX_MODEL_BYTES / 3) * 4).optional(),
}).strict();

/**
 * Checks a job as a worker receives it; `workDir` is the only folder whose files a job's data may
 * name (idx: and cifar10: datasets); mnist and fashion-mnist come from their packages. Returns the
 * job, or throws an AxnnError saying why it is refused.
 */
export function validateJob(raw: unknown, workDir: string): QueueJobData {
  const parsed = jobSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AxnnError(`refused job: ${issue.message}`, { field: issue.path.join(".") || "job" });
  }
  const job = parsed.data as QueueJobData;
  checkSpace(job.space);
  checkGenome(job.space, job.genome);
  checkDataInside(job.settings.data, workDir);
  return job;
}

function checkDataInside(data: string, workDir: string): void {
  if (data === "mnist" || data === "fashion-mnist") return;
  const files = data.startsWith("idx:") ? data.slice(4).split(",") : data.startsWith("cifar10:") ? [data.slice(8)] : null;
  if (!files) throw new AxnnError(`refused job: unknown dataset "${data}"`, { field: "settings.data" });
  const root = resolve(workDir);
  for (const f of files) {
    const rel = relative(root, resolve(root, f));
    if (rel.startsWith("..") || isAbsolute(rel)) throw new AxnnError(`refused job: the dataset file "${f}" is outside the worker's work folder ${root}`, { field: "settings.data" });
  }
}

const resultSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  result: z.object({
    val_top1: z.number().min(0).max(1), float_val_top1: z.number().min(0).max(1).nullable(), stopped_early: z.boolean(),
    inherited: int(0, 100_000), epochs_run: int(0, 1000), train_seconds: z.number().finite().min(0),
  }).strict(),
  model: z.string().min(1).max(Math.ceil(MAX_MODEL_BYTES / 3) * 4).optional(),
  sidecar: z.string().min(1).max(MAX_SIDECAR_CHARS).optional(),
}).strict().refine((r) => r.result.stopped_early || (r.model !== undefined && r.sidecar !== undefined), { message: "a trained candidate's result must carry its model and sidecar" });

/** Checks a worker's result (schema and sizes); the model itself is checked against the genome by the coordinator. */
export function validateResult(raw: unknown, jobId: string): QueueJobResult {
  const parsed = resultSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AxnnError(`invalid result from a worker: ${issue.message}`, { field: `job ${jobId}: ${issue.path.join(".")}` });
  }
  return parsed.data as QueueJobResult;
}

/** The job id of a candidate: the search (space and settings) and the genome's hash; equal candidates of one search share it, so none runs twice. */
export function candidateJobId(space: NasSpace, settings: CandidateSettings, genomeKey: string, parent: string | undefined): string {
  const search = createHash("sha256").update(JSON.stringify({ space, settings, parent: parent ? createHash("sha256").update(parent).digest("hex") : null })).digest("hex").slice(0, 16);
  return `${search}-${genomeKey}`;
}

/**
 * A Redis connection from a queue URL: redis://[user:pass@]host:port[/db] or rediss:// (TLS).
 * Anything else is refused. BullMQ needs maxRetriesPerRequest null on blocking connections.
 */
export function redisConnection(url: string, extra: RedisOptions = {}): Redis {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AxnnError(`expected redis://[user:pass@]host:port or rediss://..., got "${redactUrl(url)}"`, { field: "--queue" });
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw new AxnnError(`expected a redis:// or rediss:// URL, got "${u.protocol}"`, { field: "--queue" });
  if (!u.hostname) throw new AxnnError("the queue URL has no host", { field: "--queue" });
  return new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false, ...extra });
}

/** The URL with its password hidden, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}
