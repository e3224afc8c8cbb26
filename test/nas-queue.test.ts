import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { redisConnection, validateJob, NAS_QUEUE, redactUrl } from "../src/search/queue/protocol.js";
import { waitForJob, type JobReader } from "../src/search/queue/coordinator.js";
import { geneCardinalities, NAS_GENOME_LENGTH } from "../src/search/nas/space.js";
import { CLI, nasArgs } from "./nas-testkit.js";
import { skipUnless } from "./shared.js";
import { writeTwoClassIdx } from "./tiny-idx.js";

const hasRedis = spawnSync("redis-server", ["--version"]).status === 0;
const needsRedis = { skip: skipUnless(hasRedis, "redis-server is not installed (Debian: apt-get install redis-server)", "AXNN_REQUIRE_REDIS") };

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** A password-protected redis-server of the test's own on a free loopback port, no persistence. */
async function startRedis(dir: string, password: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--requirepass", password, "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
  const url = `redis://:${password}@127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const c = redisConnection(url, { lazyConnect: true, retryStrategy: () => null });
    c.on("error", () => undefined);
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      break;
    } catch {
      c.disconnect();
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { url, stop: () => new Promise((res) => { proc.once("exit", () => res()); proc.kill("SIGTERM"); }) };
}

function startWorker(url: string, workDir: string, env: NodeJS.ProcessEnv): { proc: ChildProcess; log: () => string } {
  let log = "";
  const proc = spawn(process.execPath, [CLI, "worker", "--queue", url, "--concurrency", "1", "--work-dir", workDir, "--lock-seconds", "4"], { env, detached: true, stdio: ["ignore", "ignore", "pipe"] });
  proc.stderr!.on("data", (b: Buffer) => { log += b.toString(); });
  return { proc, log: () => log };
}

interface ArchiveRow { key: string; genome: number[]; objectives: number[]; violation: number; info: Record<string, unknown> }
const comparable = (rows: ArchiveRow[]) => rows.map((r) => ({ key: r.key, genome: r.genome, objectives: r.objectives, violation: r.violation, parent: r.info.parent }));
const archiveOf = (out: string) => JSON.parse(readFileSync(join(out, "archive.json"), "utf8")) as ArchiveRow[];

test("queue: two workers, one killed mid-job, every candidate once, the embedded run's archive; bad jobs refused", { ...needsRedis, timeout: 900_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-nas-queue-"));
  const work = join(dir, "work");
  mkdirSync(work);
  const env = { ...process.env, AXNN_HOME: join(dir, "home"), AXNN_THREADS: "1" };
  const redis = await startRedis(dir, "s3cret-pass");
  const workers: ChildProcess[] = [];
  try {
    const { data } = writeTwoClassIdx(work, 240, 5);
    // The embedded run: the reference archive.
    const embedded = join(dir, "embedded");
    const e = spawnSync(process.execPath, nasArgs(data, embedded, ["--json"]), { env, encoding: "utf8" });
    assert.equal(e.status, 0, e.stderr);

    const w1 = startWorker(redis.url, work, env), w2 = startWorker(redis.url, work, env);
    workers.push(w1.proc, w2.proc);
    const out = join(dir, "queued");
    const coordinator = spawn(process.execPath, nasArgs(data, out, ["--json", "--queue", redis.url]), { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    coordinator.stdout!.on("data", (b: Buffer) => { stdout += b.toString(); });
    coordinator.stderr!.on("data", (b: Buffer) => { stderr += b.toString(); });
    const done = new Promise<number>((res) => coordinator.on("exit", (code) => res(code ?? -1)));
    // Kill worker 1 (and its candidate process) as soon as it has started a candidate.
    while (!/started/.test(w1.log())) await new Promise((r) => setTimeout(r, 50));
    process.kill(-w1.proc.pid!, "SIGKILL");
    assert.equal(await done, 0, stderr);
    const report = JSON.parse(stdout) as { evaluations: number };
    assert.equal(report.evaluations, 6);
    const archive = archiveOf(out);
    assert.equal(new Set(archive.map((r) => r.key)).size, archive.length, "every candidate exactly once");
    assert.deepEqual(comparable(archive), comparable(archiveOf(embedded)), "same seed, same archive embedded and distributed");
    assert.ok(!stderr.includes("s3cret-pass") && !w2.log().includes("s3cret-pass"), "the password is never logged");

    // The coordinator killed mid-search (the workers keep going) and restarted with --resume: it
    // collects what was journaled and what the workers finished meanwhile; nothing is lost or redone.
    const out2 = join(dir, "queued-resumed");
    const c2 = spawn(process.execPath, nasArgs(data, out2, ["--json", "--queue", redis.url, "--seed", "4"]), { env, stdio: "ignore" });
    const c2done = new Promise<void>((res) => c2.on("exit", () => res()));
    const journaled = () => (existsSync(join(out2, "journal.jsonl")) ? readFileSync(join(out2, "journal.jsonl"), "utf8").split("\n").filter((l) => l.trim()).length - 1 : 0);
    while (journaled() < 1) await new Promise((r) => setTimeout(r, 100));
    c2.kill("SIGKILL");
    await c2done;
    const resumed = spawnSync(process.execPath, nasArgs(data, out2, ["--json", "--queue", redis.url, "--seed", "4", "--resume"]), { env, encoding: "utf8" });
    assert.equal(resumed.status, 0, resumed.stderr);
    const rr = JSON.parse(resumed.stdout) as { evaluations: number; from_journal: number };
    assert.equal(rr.evaluations, 6);
    assert.ok(rr.from_journal >= 1);
    const archive2 = archiveOf(out2);
    assert.equal(new Set(archive2.map((r) => r.key)).size, 6);

    const conn = redisConnection(redis.url);
    const queue = new Queue(NAS_QUEUE, { connection: conn });
    try {
      const jobs = await queue.getJobs(["completed"]);
      assert.equal(jobs.length, 12, "one job per candidate of each search (the genome hash is the job id)");
      assert.ok(jobs.some((j) => j.stalledCounter >= 1 || j.attemptsStarted >= 2), "the killed worker's job was recovered and run again");
      // A job that names a file outside the work folder, and one with a bad genome, are refused with a logged reason.
      const good = jobs[0]!.data as Record<string, unknown>;
      const bad1 = await queue.add("candidate", { ...good, settings: { ...(good.settings as object), data: "idx:/etc/passwd,/etc/passwd" } }, { jobId: "bad-path" });
      const bad2 = await queue.add("candidate", { ...good, genome: [1, 2, 3] }, { jobId: "bad-genome" });
      for (let i = 0; i < 200 && !((await bad1.getState()) === "failed" && (await bad2.getState()) === "failed"); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match((await queue.getJob("bad-path"))!.failedReason, /refused job: the dataset file "\/etc\/passwd" is outside the worker's work folder/);
      assert.match((await queue.getJob("bad-genome"))!.failedReason, /refused job/);
      assert.match(w2.log(), /job bad-path: .*refused job/);
    } finally {
      await queue.close();
      conn.disconnect();
    }
  } finally {
    for (const w of workers) {
      try {
        process.kill(-w.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("queue: job validation and URL handling", () => {
  const work = mkdtempSync(join(tmpdir(), "axnn-nas-validate-"));
  try {
    const space = { inputShape: [1, 6, 6], classes: 2, multipliers: ["exact", "drum_k4_u8x8"] };
    const genome = geneCardinalities(space as never).map(() => 0);
    const settings = { data: "mnist", epochs: 1, qatEpochs: 1, trainSamples: 10, valSamples: 10, batchSize: 8, lr: 0.1, qatLr: 0.01, seed: 1 };
    const job = { v: 1, space, genome, settings };
    assert.deepEqual(validateJob(job, work).genome, genome);
    const refused: [unknown, RegExp][] = [
      [{ ...job, space: { ...space, multipliers: ["exact", "../../lib.v"] } }, /space\.multipliers\.1/],
      [{ ...job, space: { ...space, multipliers: ["exact", "evil.bin"] } }, /a multiplier name, not a file/],
      [{ ...job, genome: genome.slice(1) }, /genome/],
      [{ ...job, genome: genome.map((_, i) => (i === 1 ? 99 : 0)) }, /gene stem\.width must be an integer from 0 to 7/],
      [{ ...job, settings: { ...settings, data: "cifar10:/home/someone" } }, /outside the worker's work folder/],
      [{ ...job, settings: { ...settings, epochs: 1e6 } }, /settings\.epochs/],
      [{ ...job, code: "process.exit()" }, /Unrecognized key/],
    ];
    for (const [bad, re] of refused) assert.throws(() => validateJob(bad, work), re);
    assert.equal(NAS_GENOME_LENGTH, genome.length);
    assert.equal(redactUrl("rediss://user:pw@host:6380/0"), "rediss://user:***@host:6380/0");
    assert.throws(() => redisConnection("http://host:6379"), /--queue: expected a redis:\/\/ or rediss:\/\/ URL/);
    assert.ok(!existsSync(join(work, "job-")));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("queue: a job that completes while the coordinator looks at it is read with its result (the 'received null' race)", async () => {
  // A stand-in for Redis where the job completes between two reads: every read after the
  // `completeAfter`-th sees it completed. Reading the job hash before its state (as the coordinator
  // once did) gave state "completed" with the snapshot's null returnvalue under load.
  const value = { v: 1, result: "ok" };
  const stub = (completeAfter: number, final: "completed" | "failed" = "completed"): JobReader & { reads: number } => {
    const q = {
      reads: 0,
      done() { return q.reads++ >= completeAfter; },
      getJobState: async () => (q.done() ? final : "active"),
      getJob: async () => (q.done() ? { returnvalue: final === "completed" ? value : null, failedReason: "refused job: bad genome", attemptsMade: 1 } : { returnvalue: null, failedReason: "", attemptsMade: 0 }),
    };
    return q;
  };
  for (let k = 0; k < 6; k++) assert.deepEqual(await waitForJob(stub(k), "job-1", 1), value, `completion after read ${k}`);
  // A final failure (an unrecoverable job fails after its first try) is reported, not waited on forever.
  await assert.rejects(waitForJob(stub(2, "failed"), "job-2", 1), /job job-2: candidate failed on the workers after 1 tries: refused job: bad genome/);
  await assert.rejects(waitForJob({ getJobState: async () => "unknown", getJob: async () => undefined }, "job-3", 1), /job job-3 disappeared/);
});
