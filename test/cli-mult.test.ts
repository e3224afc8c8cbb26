import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { needsSharedData, REPO_ROOT, SHARED_LUT_DIR } from "./shared.js";

import { exactMultiplier, lutHash } from "../src/multipliers/multiplier.js";
import { readTfapprox } from "../src/multipliers/tfapprox.js";

const CLI = join(REPO_ROOT, "dist", "src", "cli", "main.js");
const tmp = (): string => mkdtempSync(join(tmpdir(), "axnn-cli-"));

function axnn(args: string[], home: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, AXNN_HOME: home }, encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A user mistake: non-zero exit, the message on stderr, and no stack trace. */
function assertUserError(r: { code: number; stderr: string }, re: RegExp): void {
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, re);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace for a user mistake");
}

const METRIC_KEYS = ["mae", "wce", "mae_pct", "wce_pct", "mre_pct", "wcre_pct", "ep_pct", "mse", "bias", "hash"];

test("mult metrics --json prints one object with the contract keys; netlists add gates and power_estimate", needsSharedData, () => {
  const home = tmp();
  const bin = axnn(["mult", "metrics", join(SHARED_LUT_DIR, "mul8u_2P7.bin"), "--json"], home);
  assert.equal(bin.code, 0, bin.stderr);
  const j = JSON.parse(bin.stdout);
  for (const k of METRIC_KEYS) assert.ok(k in j, k);
  assert.equal(j.hash, "67a90e9e22f1");
  assert.equal(j.power_mw, 0.386, "published power attached by hash");
  assert.equal(j.gates, undefined);

  const gen = JSON.parse(axnn(["mult", "metrics", "drum_k4_u8x8", "--json"], home).stdout);
  for (const k of METRIC_KEYS) assert.ok(k in gen, k);
  assert.equal(typeof gen.power_estimate, "number");
  assert.ok(gen.power_estimate > 0);
  assert.ok(gen.gates.total > 50);
});

test("mult lut writes the exact generated design byte-identical to EvoApproxLib's exact table", needsSharedData, () => {
  const home = tmp();
  const out = join(tmp(), "exact.bin");
  const r = axnn(["mult", "lut", "exact_u8x8", "-o", out], home);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readFileSync(out), readFileSync(join(SHARED_LUT_DIR, "mul8u_1JFF.bin")));
});

test("mult lut converts between .bin, .v, .json and .csv without changing the table", () => {
  const home = tmp();
  const dir = tmp();
  assert.equal(axnn(["mult", "generate", "bam", "hbl=2", "vbl=7", "-o", join(dir, "bam.v")], home).code, 0);
  assert.equal(axnn(["mult", "lut", join(dir, "bam.v"), "-o", join(dir, "bam.bin")], home).code, 0);
  assert.equal(axnn(["mult", "lut", join(dir, "bam.bin"), "-o", join(dir, "bam.json")], home).code, 0);
  assert.equal(axnn(["mult", "lut", join(dir, "bam.json"), "-o", join(dir, "bam.csv")], home).code, 0);
  assert.equal(axnn(["mult", "lut", join(dir, "bam.csv"), "-o", join(dir, "bam2.bin")], home).code, 0);
  assert.deepEqual(readFileSync(join(dir, "bam2.bin")), readFileSync(join(dir, "bam.bin")));
  const direct = JSON.parse(axnn(["mult", "metrics", "bam_h2_v7_u8x8", "--json"], home).stdout).hash;
  assert.equal(lutHash(readTfapprox(join(dir, "bam2.bin"))), direct);
});

test("--signed reads an unsigned-named file as two's complement", needsSharedData, () => {
  const home = tmp();
  const dir = tmp();
  const file = join(dir, "table.bin");
  copyFileSync(join(SHARED_LUT_DIR, "mul8u_1JFF.bin"), file);
  const u = JSON.parse(axnn(["mult", "metrics", file, "--json"], home).stdout);
  const s = JSON.parse(axnn(["mult", "metrics", file, "--signed", "--json"], home).stdout);
  assert.equal(u.signed, false);
  assert.equal(u.mae, 0);
  assert.equal(s.signed, true);
  assert.ok(s.mae > 0, "the unsigned exact table is wrong as a signed multiplier");
});

test("import, then look up by name in metrics and list", needsSharedData, () => {
  const home = tmp();
  const r = axnn(["mult", "import", join(SHARED_LUT_DIR, "mul8u_2P7.bin"), "--name", "my2p7", "--power-mw", "0.3"], home);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(axnn(["mult", "metrics", "my2p7", "--json"], home).stdout);
  assert.equal(m.hash, "67a90e9e22f1");
  assert.equal(m.power_mw, 0.3);
  const list = JSON.parse(axnn(["mult", "list", "--json", "--origin", "library"], home).stdout);
  assert.deepEqual(list.map((x: { name: string }) => x.name), ["my2p7"]);
  // The EvoApproxLib catalogue row of the same table now shows as available.
  const evo = JSON.parse(axnn(["mult", "list", "--json", "--origin", "evoapprox"], home).stdout);
  assert.equal(evo.find((x: { hash: string }) => x.hash === "67a90e9e22f1").available, true);
  assert.equal(JSON.parse(axnn(["mult", "metrics", "mul8u_2P7", "--json"], home).stdout).hash, "67a90e9e22f1");
});

test("import-evoapprox imports each table once, with header figures, and reports a bad file without stopping", () => {
  const home = tmp();
  const dir = tmp();
  mkdirSync(join(dir, "multiplers", "8x8_unsigned"), { recursive: true });
  const gen = (kind: string, params: string[], file: string, header: string) => {
    const v = join(tmp(), "g.v");
    assert.equal(axnn(["mult", "generate", kind, ...params, "-o", v], home).code, 0);
    writeFileSync(join(dir, "multiplers", "8x8_unsigned", file), header + readFileSync(v, "utf8"));
  };
  gen("drum", ["k=4"], "mul8u_AAA.v", "// MAE% = 1.41 %\n// PDK45_PWR = 0.123 mW\n// PDK45_AREA = 250.0 um2\n");
  gen("drum", ["k=4"], "mul8u_AAA_pdk45.v", "");
  gen("trunc", ["k=6"], "mul8u_BBB.v", "// PDK45_PWR = 0.2 mW\n");
  writeFileSync(join(dir, "multiplers", "8x8_unsigned", "mul8u_CCC.v"), "module mul8u_CCC(A, B, O); input [7:0] A; input [7:0] B; output [15:0] O; assign O = A @ B; endmodule\n");
  const r = axnn(["mult", "import-evoapprox", dir, "--json"], home);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.files, 4);
  assert.deepEqual(res.imported.map((x: { name: string }) => x.name).sort(), ["mul8u_AAA", "mul8u_BBB"]);
  assert.equal(res.duplicates, 1);
  assert.equal(res.failed.length, 1);
  assert.match(res.failed[0].file + res.failed[0].error, /mul8u_CCC\.v/);
  const aaa = JSON.parse(axnn(["mult", "metrics", "mul8u_AAA", "--json"], home).stdout);
  assert.equal(aaa.power_mw, 0.123);
  assert.equal(aaa.area_um2, 250);
  assert.ok(aaa.gates.total > 0, "the netlist is kept so it can be costed");
});

test("show writes metrics, SVG and PNG figures and a self-contained HTML report", () => {
  const home = tmp();
  const out = join(tmp(), "show");
  const r = axnn(["mult", "show", "mitchell_f7_u8x8", "-o", out], home);
  assert.equal(r.code, 0, r.stderr);
  const files = readdirSync(out).sort();
  for (const f of ["error-heatmap.png", "error-heatmap.svg", "error-histogram.png", "error-histogram.svg", "metrics.json", "report.html", "mitchell_f7_u8x8.v"]) {
    assert.ok(files.includes(f), f);
  }
  const html = readFileSync(join(out, "report.html"), "utf8");
  assert.match(html, /<svg/);
  assert.doesNotMatch(html, /<script|src="http/);
});

test("bad input: unknown name, truncated LUT, malformed netlist, bad options give a clear message and no output", () => {
  const home = tmp();
  const dir = tmp();
  assertUserError(axnn(["mult", "metrics", "drum_k4_u8x9"], home), /unknown multiplier|not a valid|drum/);
  assertUserError(axnn(["mult", "metrics", "mul8u_2P8"], home), /unknown multiplier "mul8u_2P8".*did you mean.*mul8u_2P7/);
  assertUserError(axnn(["mult", "metrics", "mul8u_2P7"], home), /not installed/);
  const short = join(dir, "short.bin");
  writeFileSync(short, new Uint8Array(131000));
  const out = join(dir, "out.bin");
  assertUserError(axnn(["mult", "lut", short, "-o", out], home), /short\.bin.*131000 bytes/);
  assert.equal(existsSync(out), false, "nothing written");
  const bad = join(dir, "mul8u_bad.v");
  writeFileSync(bad, "module mul8u_bad(A, B, O);\ninput [7:0] A;\ninput [7:0] B;\noutput [15:0] O;\nassign O[0] = A[0] & B[0];\nassign O[0] = A[1];\nendmodule\n");
  assertUserError(axnn(["mult", "lut", bad, "-o", out], home), /mul8u_bad\.v:\d+.*O\[0\].*more than once|driven/);
  assert.equal(existsSync(out), false, "nothing written");
  assertUserError(axnn(["mult", "lut", "exact_u8x8", "-o", join(dir, "x.txt"), "--format", "xml"], home), /unknown format "xml"/);
  assertUserError(axnn(["mult", "metrics", "exact_u8x8", "--samples", "abc"], home), /--samples/);
  assertUserError(axnn(["mult", "import", short, "--name", "x"], home), /131000/);
  assertUserError(axnn(["mult", "generate", "drum", "k=99"], home), /drum\.k/);
  assert.equal(existsSync(join(home, "multipliers", "x.json")), false);
});

test("the exact multiplier through the CLI equals the library's exact table", () => {
  const home = tmp();
  const out = join(tmp(), "s.bin");
  assert.equal(axnn(["mult", "lut", "exact_s8x8", "-o", out], home).code, 0);
  assert.deepEqual(readTfapprox(out, { signed: true }).table, exactMultiplier(true, 8).table);
});

test("mult list shows the generated designs' power as mult metrics estimates it", () => {
  const home = tmp();
  const rows = JSON.parse(axnn(["mult", "list", "--origin", "generated", "--json"], home).stdout) as { name: string; power_mw?: number; power_source?: string }[];
  assert.ok(rows.length > 10);
  for (const r of rows) assert.ok(typeof r.power_mw === "number" && r.power_mw > 0, `${r.name}: power ${r.power_mw}`);
  for (const name of ["drum_k4_u8x8", "exact_s8x8"]) {
    const m = JSON.parse(axnn(["mult", "metrics", name, "--json"], home).stdout);
    const row = rows.find((r) => r.name === name)!;
    assert.equal(row.power_mw, m.power_estimate, name);
    assert.match(row.power_source!, /^estimate/);
  }
  // Cheaper designs are estimated cheaper: DRUM k=4 below the exact multiplier.
  assert.ok(rows.find((r) => r.name === "drum_k4_u8x8")!.power_mw! < rows.find((r) => r.name === "exact_u8x8")!.power_mw!);
  const table = axnn(["mult", "list", "--origin", "generated"], home).stdout;
  assert.match(table, /power mW\s+power from/);
  assert.match(table.split("\n").find((l) => l.startsWith("drum_k4_u8x8 "))!, / estimate(\s|$)/);
});

test("mult generate's summary and the Verilog header give the same cell count as mult metrics", () => {
  const home = tmp();
  const v = join(tmp(), "drum.v");
  const r = axnn(["mult", "generate", "drum", "k=4", "-o", v], home);
  assert.equal(r.code, 0, r.stderr);
  const gates = JSON.parse(axnn(["mult", "metrics", v, "--json"], home).stdout).gates as Record<string, number>;
  const summary = /(\d+) library cells \(([^)]*)\)/.exec(r.stdout);
  const header = /^\/\/ Written by axnn from netlist drum_k4_u8x8: (\d+) library cells \(([^)]*)\)\.$/m.exec(readFileSync(v, "utf8"));
  assert.ok(summary && header, `${r.stdout}\n${readFileSync(v, "utf8").slice(0, 300)}`);
  assert.equal(Number(summary[1]), gates.total);
  assert.equal(Number(header[1]), gates.total);
  assert.equal(summary[2], header[2]);
  // The parts add up to the total, type by type as mult metrics counts them.
  const parts = [...summary[2]!.matchAll(/([A-Z0-9]+) (\d+)/g)].map((m) => [m[1]!, Number(m[2])] as const);
  assert.equal(parts.reduce((s, [, n]) => s + n, 0), gates.total);
  for (const [k, n] of parts) assert.equal(gates[k], n, k);
  if (gates.dropped) assert.match(summary[2]!, new RegExp(`; ${gates.dropped} unused or constant gates? removed`));
});

test("mult generate --help lists every design with its parameters and ranges", () => {
  const r = axnn(["mult", "generate", "--help"], tmp());
  assert.equal(r.code, 0, r.stderr);
  for (const [kind, params] of [["drum", ["k"]], ["bam", ["hbl", "vbl"]], ["trunc", ["k", "correct"]], ["optrunc", ["ka", "kw", "round"]], ["mitchell", ["f"]], ["ilm", ["iterations"]], ["perf", ["j", "m"]], ["exact", ["n", "signed"]]] as const) {
    const block = r.stdout.split(/\n  (?=\S)/).find((b) => b.startsWith(`${kind}:`));
    assert.ok(block, `${kind} listed`);
    for (const p of params) assert.match(block, new RegExp(`\\n    ${p}\\s+(int|bool) \\S+, default \\S+`), `${kind} ${p}`);
  }
  assert.match(r.stdout, /drum: [^\n]*\n(.*\n)*?    k\s+int 3\.\.7, default 4: segment width/);
});
