import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exactMultiplier, lutHash, multiply, signedFromName, tableIndex } from "../src/multipliers/multiplier.js";
import { parseTfapprox, readTfapprox, writeTfapprox } from "../src/multipliers/tfapprox.js";
import { NetlistBuilder } from "../src/multipliers/netlist/ir.js";
import { netlistToMultiplier } from "../src/multipliers/netlist/simulate.js";
import { AxnnError } from "../src/util/errors.js";
import { needsSharedData, SHARED_LUT_DIR } from "./shared.js";

test("exact tables hold a*w for signed and unsigned 8xN", () => {
  for (const signed of [false, true]) {
    for (const n of [1, 4, 8]) {
      const m = exactMultiplier(signed, n);
      assert.equal(m.table.length, 256 << n);
      const lo = signed ? -(1 << (n - 1)) : 0;
      const hi = signed ? (1 << (n - 1)) - 1 : (1 << n) - 1;
      for (const a of signed ? [-128, -1, 0, 5, 127] : [0, 1, 200, 255]) {
        for (const w of [lo, hi, 0]) assert.equal(multiply(m, a, w), a * w + 0);
      }
    }
  }
});

test("the exact unsigned table has EvoApproxLib's hash of mul8u_1JFF", () => {
  assert.equal(lutHash(exactMultiplier(false, 8)), "b1fa9d7fef31");
});

test("TFApprox layout: entry [i*256+j] is port B = i (activation) times port A = j (weight)", () => {
  const m = exactMultiplier(false, 8);
  assert.equal(tableIndex(3, 5, 8), 3 * 256 + 5);
  assert.equal(m.table[3 * 256 + 5], 15);
});

test("shared exact LUT file reads as the exact multiplier and round-trips byte for byte", needsSharedData, () => {
  const file = join(SHARED_LUT_DIR, "mul8u_1JFF.bin");
  const m = readTfapprox(file);
  assert.equal(m.signed, false);
  assert.deepEqual(m.table, exactMultiplier(false, 8).table);
  const out = join(mkdtempSync(join(tmpdir(), "axnn-")), "x.bin");
  writeTfapprox(m, out);
  assert.deepEqual(readFileSync(out), readFileSync(file));
});

test("signed tables round-trip through the int16 TFApprox format", () => {
  const m = exactMultiplier(true, 8);
  const out = join(mkdtempSync(join(tmpdir(), "axnn-")), "mul8s_exact.bin");
  writeTfapprox(m, out);
  const back = readTfapprox(out);
  assert.equal(back.signed, true);
  assert.deepEqual(back.table, m.table);
});

test("a truncated LUT file is rejected with its size and the file name", () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-"));
  const file = join(dir, "short.bin");
  writeFileSync(file, new Uint8Array(131071));
  assert.throws(() => readTfapprox(file), (e: unknown) => e instanceof AxnnError && e.message.includes("short.bin") && e.message.includes("131071"));
  assert.throws(() => parseTfapprox(new Uint8Array(1000), { name: "x", signed: false, weightBits: 8 }), AxnnError);
});

test("signedness follows the name", () => {
  assert.equal(signedFromName("mul8s_1KR3"), true);
  assert.equal(signedFromName("/x/y/mul8s_1KR3.bin"), true);
  assert.equal(signedFromName("mul8u_1JFF"), false);
  assert.equal(signedFromName("mul8x4u_0S7.v"), false);
});

test("a gate-level array multiplier built with the builder evaluates to the exact table", () => {
  for (const n of [8, 3]) {
    const b = new NetlistBuilder(`arr8x${n}`, 8, n);
    // Ripple-carry array: rows of partial products added one by one.
    let acc: number[] = b.portA.map((a) => b.and(a, b.portB[0]!));
    const out: number[] = [acc.shift()!];
    for (let r = 1; r < n; r++) {
      const pp = b.portA.map((a) => b.and(a, b.portB[r]!));
      let carry = b.const(0);
      const next: number[] = [];
      for (let i = 0; i < 8; i++) {
        const x = acc[i] ?? b.const(0);
        const s = b.fullAdder(x, pp[i]!, carry);
        next.push(s.sum);
        carry = s.carry;
      }
      next.push(carry);
      out.push(next.shift()!);
      acc = next;
    }
    out.push(...acc);
    const m = netlistToMultiplier(b.build(out), false);
    assert.deepEqual(m.table, exactMultiplier(false, n).table, `8x${n}`);
  }
});
