import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "../src/zoo/sidecar.js";
import { writeTwoClassIdx } from "./tiny-idx.js";
import { nasArgs } from "./nas-testkit.js";

interface ArchiveRow { key: string; genome: number[]; objectives: number[]; violation: number; info: Record<string, unknown> }

function archiveOf(out: string): ArchiveRow[] {
  return JSON.parse(readFileSync(join(out, "archive.json"), "utf8")) as ArchiveRow[];
}

const comparable = (rows: ArchiveRow[]) => rows.map((r) => ({ key: r.key, genome: r.genome, objectives: r.objectives, violation: r.violation, parent: r.info.parent }));

function journalLines(out: string): number {
  const f = join(out, "journal.jsonl");
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
    // Weight inheritance: candidates after the first generation start from an earlier one.
    assert.ok(archive.slice(3).some((e) => e.info.parent !== null && (e.info.inherited as number) > 0), "some candidate inherited weights");
    for (const f of ["front.json", "archive.json", "report.html", "pareto.svg", "pareto.png", "generations.svg", "journal.jsonl"]) assert.ok(existsSync(join(full, f)), f);

    // The same search killed (SIGKILL, with its candidate processes) once two candidates are journaled, then resumed.
    const killed = join(dir, "killed");
    const child = spawn(process.execPath, nasArgs(data, killed, ["--json"]), { env, detached: true, stdio: "ignore" });
    const exited = new Promise<void>((res) => child.on("exit", () => res()));
    while (journalLines(killed) < 2) await new Promise((res) => setTimeout(res, 100));
    process.kill(-child.pid!, "SIGKILL");
    await exited;
    assert.ok(!existsSync(join(killed, "front.json")), "killed before the end");
    const again = spawnSync(process.execPath, nasArgs(data, killed, ["--json"]), { env, encoding: "utf8" });
    assert.equal(again.status, 1, "an existing journal without --resume is refused");
    assert.match(again.stderr, /journal already exists; resume it/);
    const resumed = spawnSync(process.execPath, nasArgs(data, killed, ["--json", "--resume"]), { env, encoding: "utf8" });
    assert.equal(resumed.status, 0, resumed.stderr);
    const rf = JSON.parse(resumed.stdout) as { members: { key: string; val_top1: number }[]; from_journal: number };
    assert.ok(rf.from_journal >= 2);
    assert.deepEqual(comparable(archiveOf(killed)), comparable(archive));
    assert.deepEqual(rf.members.map((m) => [m.key, m.val_top1]), front.members.map((m) => [m.key, m.val_top1]));
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
