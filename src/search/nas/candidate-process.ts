// One candidate per child process: training allocates hundreds of megabytes that a long-lived
// process would fragment and keep; a process per candidate returns all of it when it exits, so a
// search's memory stays flat over thousands of candidates. This file is both the parent's launcher
// and, run as a forked child, the child itself.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { kernelDevice } from "../../kernels/index.js";
import { AxnnError, isAxnnError } from "../../util/errors.js";
import { evaluateCandidate, prepareCandidateData, type CandidateResult, type CandidateSettings } from "./candidate.js";
import type { NasSpace } from "./space.js";

/** Everything a child needs to evaluate one candidate (plain JSON). */
export interface CandidateJob {
  space: NasSpace;
  genome: number[];
  settings: CandidateSettings;
  /** ONNX file of the parent to inherit same-shaped layers from. */
  parent?: string;
  /** Where to save the trained model and its sidecar. */
  output?: string;
}

type ChildReply = { ok: true; result: CandidateResult } | { ok: false; message: string; userError: boolean };

const SELF = fileURLToPath(import.meta.url);

/**
 * Evaluates a candidate in a child process of its own. `threads`: the native kernels' threads in
 * the child (AXNN_THREADS; one per candidate when candidates run side by side). Rejects with the
 * child's error, or with how it died.
 */
export function evaluateInChildProcess(job: CandidateJob, opts: { threads?: number } = {}): Promise<CandidateResult> {
  return new Promise((resolve, reject) => {
    // The child runs its kernels on the parent's device (--device auto resolved once, here).
    const env = { ...process.env, AXNN_DEVICE: kernelDevice(), ...(opts.threads !== undefined ? { AXNN_THREADS: String(opts.threads) } : {}) };
    const child = fork(SELF, [], { env, stdio: ["ignore", "ignore", "inherit", "ipc"], serialization: "json" });
    let reply: ChildReply | undefined;
    child.on("message", (m: ChildReply) => {
      reply = m;
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (reply?.ok) return resolve(reply.result);
      if (reply && !reply.ok) return reject(reply.userError ? new AxnnError(reply.message) : new Error(reply.message));
      reject(new Error(`the candidate process ${signal ? `was killed by ${signal}` : `exited with code ${code}`} before it answered`));
    });
    child.send(job);
  });
}

/** In the child: evaluate the one job the parent sends, answer, exit. */
function runChild(): void {
  process.once("message", (job: CandidateJob) => {
    let reply: ChildReply;
    try {
      const data = prepareCandidateData(job.settings);
      reply = { ok: true, result: evaluateCandidate(job.space, job.genome, job.settings, data, { parent: job.parent, output: job.output }) };
    } catch (e) {
      reply = { ok: false, message: isAxnnError(e) ? e.message : e instanceof Error ? e.stack ?? e.message : String(e), userError: isAxnnError(e) };
    }
    process.send!(reply, () => process.exit(0));
  });
}

if (process.send !== undefined && process.argv[1] === SELF) runChild();
