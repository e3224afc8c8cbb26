import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "../src/zoo/sidecar.js";
import { nasSpaceFor, type NasSearchReport } from "../src/search/nas/search.js";
import { evaluateInChildProcess } from "../src/search/nas/candidate-process.js";
import { referenceGenome } from "../src/search/nas/space.js";
import { writeTwoClassIdx } from "./tiny-idx.js";
import { nasArgs } from "./nas-testkit.js";

interface ArchiveRow { key: string; genome: number[]; objectives: number[]; violation: number; info: Record<string, unknown> }

function archiveOf(out: string): ArchiveRow[] {
  return JSON.parse(readFileSync(join(out, "archive.json"), "utf8")) as ArchiveRow[];
}

const comparable = (rows: ArchiveRow[]) => rows.map((r) => ({ key: r.key, genome: r.genome, objectives: r.objectives, violation: r.violation, parent: r.info.parent }));

function journalLines(out: string, name = "journal.jsonl"): number {
  const f = join(out, name);
  return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter((l) => l.trim().length > 0).length - 1 : 0;
}

test("search nas: a search writes its front, and resuming after a SIGKILL of the coordinator gives the uninterrupted run's archive", { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-nas-search-"));
  const env = { ...process.env, AXNN_HOME: join(dir, "home"), AXNN_THREADS: "1" };
  try {
    const { data } = writeTwoClassIdx(dir, 240, 5);
    const full = join(dir, "full");
    const r = spawnSync(process.execPath, nasArgs(data, full, ["--json", "--baselines", "lenet5"]), { env, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const front = JSON.parse(r.stdout) as { members: Record<string, unknown>[]; evaluations: number; objectives: string[]; baselines: Record<string, unknown>[] };
    // LeNet-5 of the space with each multiplier everywhere, trained as candidates are, scored as the front is.
    assert.deepEqual(front.baselines.map((b) => [b.name, b.multiplier]), [["lenet5", "exact"], ["lenet5", "drum_k4_u8x8"], ["lenet5", "trunc_k6c_u8x8"]]);
    for (const b of front.baselines) {
      assert.equal(typeof b.dominated_by_front, "boolean");
      assert.ok(existsSync(join(full, b.model as string)) && (b.energy_pj as number) > 0 && (b.test_top1 as number) >= 0);
    }
    assert.equal(front.evaluations, 6);
    const archive = archiveOf(full);
    assert.equal(archive.length, 6);
    assert.equal(new Set(archive.map((e) => e.key)).size, 6, "every candidate once");
    assert.ok(front.members.length >= 1);
    for (const m of front.members) {
      for (const k of ["model", "val_top1", "test_top1", "energy_pj", "predicted_energy_pj", "params", "mult_config"]) assert.ok(k in m, `front member has ${k}`);
      const { sidecar } = loadModel(join(full, m.model as string));
      assert.deepEqual(sidecar?.multipliers?.layers, m.multipliers);
      assert.ok((m.test_top1 as number) >= 0 && (m.test_top1 as number) <= 1);
      // The sum predictor prices the multiplications only; the energy model adds data movement and adders.
      assert.ok((m.energy_pj as number) > (m.predicted_energy_pj as number));
      assert.equal(m.val_top1, archive.find((e) => e.key === m.key)!.info.val_top1);
    }
    // The LeNet-5 seed has the exact baseline's genome and no parent: its baseline's training is reused, not repeated.
    const lenetSeed = archive.find((e) => e.key === front.baselines[0]!.key)!;
    assert.equal(lenetSeed.info.parent, null);
    assert.deepEqual([lenetSeed.info.val_top1, lenetSeed.info.train_seconds], [front.baselines[0]!.val_top1, front.baselines[0]!.train_seconds]);
    // Weight inheritance: candidates after the first generation start from an earlier one.
    assert.ok(archive.slice(3).some((e) => e.info.parent !== null && (e.info.inherited as number) > 0), "some candidate inherited weights");
    for (const f of ["front.json", "archive.json", "report.html", "pareto.svg", "pareto.png", "generations.svg", "journal.jsonl"]) assert.ok(existsSync(join(full, f)), f);

    // The fair comparison: the finished search resumed with --retrain-front trains each front member
    // that inherited weights again from scratch, exactly as the baselines were trained (checked against
    // a fresh candidate process with the baselines' settings), and judges the baselines against that.
    const retrain = () => spawnSync(process.execPath, nasArgs(data, full, ["--json", "--baselines", "lenet5", "--resume", "--retrain-front"]), { env, encoding: "utf8" });
    const rt = retrain();
    assert.equal(rt.status, 0, rt.stderr);
    const fair = JSON.parse(rt.stdout) as NasSearchReport;
    assert.deepEqual(fair.members.map((m) => [m.key, m.val_top1, m.test_top1]), (front.members as unknown as NasSearchReport["members"]).map((m) => [m.key, m.val_top1, m.test_top1]), "the search's own figures are unchanged");
    assert.ok(fair.members.some((m) => m.parent !== null), "some front member inherited weights (else nothing is retrained)");
    const space = nasSpaceFor(data, ["exact", "drum_k4_u8x8", "trunc_k6c_u8x8"]);
    const settings = { data, epochs: 1, qatEpochs: 1, trainSamples: 64, valSamples: 64, batchSize: 16, lr: 0.05, qatLr: 0.01, seed: 3 };
    for (const m of fair.members) {
      const s = m.from_scratch!;
      assert.ok(s, `${m.key} has from-scratch figures`);
      if (m.parent === null) {
        assert.deepEqual(s, { retrained: false, val_top1: m.val_top1, float_val_top1: m.float_val_top1, test_top1: m.test_top1, train_seconds: m.train_seconds, model: m.model });
        continue;
      }
      assert.equal(s.retrained, true);
      assert.equal(s.model, `front/scratch-${m.key}.onnx`);
      assert.deepEqual(loadModel(join(full, s.model)).sidecar?.multipliers?.layers, m.multipliers);
      const fresh = await evaluateInChildProcess({ space, genome: m.genome, settings }, { threads: 1 });
      assert.equal(fresh.inherited, 0);
      assert.equal(s.val_top1, fresh.val_top1, "trained from scratch with the baselines' settings and seed");
      assert.equal(s.float_val_top1, fresh.float_val_top1);
    }
    for (const b of fair.baselines) {
      const expected = fair.members.some((f) => {
        const s = f.from_scratch!;
        return s.val_top1 >= b.val_top1 && s.test_top1 >= b.test_top1 && f.energy_pj <= b.energy_pj && (s.val_top1 > b.val_top1 || s.test_top1 > b.test_top1 || f.energy_pj < b.energy_pj);
      });
      assert.equal(b.dominated_by_front_from_scratch, expected);
    }
    assert.ok((front.baselines as unknown as NasSearchReport["baselines"]).every((b) => b.dominated_by_front_from_scratch === null), "no fair verdict without from-scratch figures for the whole front");
    assert.match(readFileSync(join(full, "report.html"), "utf8"), /dominated by the front trained from scratch/);
    // Resumed again, the retrained members come from scratch.jsonl: not trained a third time.
    const scratchModel = join(full, "models", `scratch-${fair.members.find((m) => m.parent !== null)!.key}.onnx`);
    const scratchTime = statSync(scratchModel).mtimeMs;
    const rt2 = retrain();
    assert.equal(rt2.status, 0, rt2.stderr);
    assert.deepEqual((JSON.parse(rt2.stdout) as NasSearchReport).members.map((m) => m.from_scratch), fair.members.map((m) => m.from_scratch));
    assert.equal(statSync(scratchModel).mtimeMs, scratchTime);

    // The same search killed (SIGKILL, with its candidate processes) during its baselines, resumed and
    // killed again once two candidates are journaled (its report then says it is running and reloads
    // itself), then resumed to the end: nothing finished is trained again, the result is the uninterrupted run's.
    const killed = join(dir, "killed");
    const killWhen = async (extra: string[], ready: () => boolean) => {
      const child = spawn(process.execPath, nasArgs(data, killed, ["--json", "--baselines", "lenet5", ...extra]), { env, detached: true, stdio: "ignore" });
      const exited = new Promise<void>((res) => child.on("exit", () => res()));
      while (!ready()) await new Promise((res) => setTimeout(res, 100));
      process.kill(-child.pid!, "SIGKILL");
      await exited;
    };
    await killWhen([], () => journalLines(killed, "baselines.jsonl") >= 1);
    const firstBaseline = JSON.parse(readFileSync(join(killed, "baselines.jsonl"), "utf8").split("\n")[1]!) as ArchiveRow;
    const firstModel = join(killed, "models", `baseline-${firstBaseline.key}.onnx`);
    const firstModelTime = statSync(firstModel).mtimeMs;
    const again = spawnSync(process.execPath, nasArgs(data, killed, ["--json", "--baselines", "lenet5"]), { env, encoding: "utf8" });
    assert.equal(again.status, 1, "an existing journal without --resume is refused");
    assert.match(again.stderr, /baselines\.jsonl: a search journal already exists; resume it/);
    await killWhen(["--resume"], () => journalLines(killed) >= 2 && existsSync(join(killed, "report.html")));
    assert.ok(!existsSync(join(killed, "front.json")), "killed before the end");
    assert.equal(statSync(firstModel).mtimeMs, firstModelTime, "a baseline finished before the kill is not trained again");
    const live = readFileSync(join(killed, "report.html"), "utf8");
    assert.match(live, /<meta http-equiv="refresh" content="\d+">/);
    assert.match(live, /Running: \d+\/6 candidates/);
    assert.match(live, /Front after each generation/, "the live report shows the front per generation");
    const resumed = spawnSync(process.execPath, nasArgs(data, killed, ["--json", "--resume", "--baselines", "lenet5"]), { env, encoding: "utf8" });
    assert.equal(resumed.status, 0, resumed.stderr);
    const rf = JSON.parse(resumed.stdout) as { members: { key: string; val_top1: number }[]; from_journal: number; baselines: Record<string, unknown>[] };
    assert.ok(rf.from_journal >= 2);
    assert.deepEqual(comparable(archiveOf(killed)), comparable(archive));
    assert.deepEqual(rf.members.map((m) => [m.key, m.val_top1]), front.members.map((m) => [m.key, m.val_top1]));
    const scored = (b: Record<string, unknown>[]) => b.map((x) => [x.name, x.multiplier, x.val_top1, x.test_top1, x.energy_pj]);
    assert.deepEqual(scored(rf.baselines), scored(front.baselines));
    assert.equal(journalLines(killed, "baselines.jsonl"), 3, "each baseline journaled once");
    const final = readFileSync(join(killed, "report.html"), "utf8");
    assert.doesNotMatch(final, /http-equiv="refresh"/, "the finished report no longer reloads");
    assert.match(final, /Front after each generation/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("search nas: beam search (Model Search style) on three objectives: accuracy, energy, parameters", { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-nas-beam-"));
  const env = { ...process.env, AXNN_HOME: join(dir, "home"), AXNN_THREADS: "1" };
  try {
    const { data } = writeTwoClassIdx(dir, 240, 5);
    const out = join(dir, "beam");
    const r = spawnSync(process.execPath, nasArgs(data, out, ["--json", "--algorithm", "beam", "--beam-width", "2", "--objectives", "accuracy,energy,params"]), { env, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const front = JSON.parse(r.stdout) as { algorithm: string; objectives: string[]; evaluations: number; reference_point: number[]; members: { key: string; params: number; val_top1: number }[] };
    assert.equal(front.algorithm, "beam");
    assert.deepEqual(front.objectives, ["accuracy", "energy", "params"]);
    assert.equal(front.reference_point.length, 3);
    const archive = archiveOf(out);
    assert.equal(archive.length, 6);
    assert.equal(new Set(archive.map((e) => e.key)).size, 6, "every candidate once");
    // The first beam is the hand-designed seeds; every later candidate is grown from an earlier one.
    const space = nasSpaceFor(data, ["exact", "drum_k4_u8x8", "trunc_k6c_u8x8"]);
    assert.deepEqual(archive.slice(0, 2).map((e) => e.genome), [referenceGenome(space, "lenet5"), referenceGenome(space, "resnet8")]);
    for (const e of archive) {
      assert.deepEqual(e.objectives, [1 - (e.info.val_top1 as number), e.info.predicted_energy_pj, e.info.params], "objectives in the order asked for");
    }
    // The front is exactly the archive's non-dominated set in three dimensions.
    const dominates = (a: number[], b: number[]) => a.every((v, i) => v <= b[i]!) && a.some((v, i) => v < b[i]!);
    const expected = archive.filter((a) => !archive.some((b) => dominates(b.objectives, a.objectives))).map((e) => e.key).sort();
    assert.deepEqual(front.members.map((m) => m.key).sort(), expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("search nas: bad options get a one-line error", () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-nas-bad-"));
  try {
    const { data } = writeTwoClassIdx(dir, 40, 1);
    const run = (extra: string[], replace: Record<string, string> = {}) => {
      const args = nasArgs(data, join(dir, "o"), extra).map((a, i, all) => (i > 0 && all[i - 1]! in replace ? replace[all[i - 1]!]! : a));
      return spawnSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, AXNN_HOME: join(dir, "home") } });
    };
    const cases: [string[], Record<string, string>, RegExp][] = [
      [["--objectives", "energy,params"], {}, /--objectives: the objectives must include accuracy/],
      [["--objectives", "accuracy"], {}, /--objectives: expected two or three objectives, got 1/],
      [[], { "--mults": "exact,nosuchmult" }, /nosuchmult/],
      [[], { "--budget": "0" }, /--budget/],
      [["--min-accuracy", "1.5"], {}, /--min-accuracy: expected a fraction from 0 to 1/],
      [["--algorithm", "tabu"], {}, /--algorithm: expected nsga2 or beam/],
    ];
    for (const [extra, replace, re] of cases) {
      const r = run(extra, replace);
      assert.equal(r.status, 1, `${extra.join(" ")} ${JSON.stringify(replace)}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
