import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { createMultiplier, exactMultiplier, tableSize, type Multiplier } from "../src/multipliers/multiplier.js";
import { generate } from "../src/multipliers/generators/index.js";
import { readTfapprox } from "../src/multipliers/tfapprox.js";
import { SEPARABLE_FACTOR_LIMIT, separableFactors } from "../src/multipliers/separable.js";
import { needsSharedData, SHARED_LUT_DIR } from "./shared.js";

/** Every entry of the table is f(a) * g(w), and both factors are inside the int16 limit. */
function assertReproduces(m: Multiplier): void {
  const f = separableFactors(m);
  assert.ok(f, `${m.name} should factor`);
  assert.equal(f.activation.length, 256);
  assert.equal(f.weight.length, 1 << m.weightBits);
  for (const x of [...f.activation, ...f.weight]) assert.ok(Math.abs(x) <= SEPARABLE_FACTOR_LIMIT);
  for (let a = 0; a < 256; a++) {
    for (let w = 0; w < 1 << m.weightBits; w++) {
      const want = m.table[(a << m.weightBits) | w]!;
      if (f.activation[a]! * f.weight[w]! !== want) assert.fail(`${m.name}: f(${a}) * g(${w}) = ${f.activation[a]! * f.weight[w]!}, table ${want}`);
    }
  }
}

const copy = (m: Multiplier, name: string, edit: (t: Int32Array) => void): Multiplier => {
  const table = Int32Array.from(m.table);
  edit(table);
  return createMultiplier({ name, signed: m.signed, weightBits: m.weightBits, table });
};

test("exact multipliers factor into the operand values (signed and unsigned, 8x8 and 8x4)", () => {
  for (const signed of [false, true]) {
    for (const n of [8, 4, 1]) {
      const m = exactMultiplier(signed, n);
      assertReproduces(m);
      const f = separableFactors(m)!;
      // The factors are the decoded operands themselves: u is primitive and positive at code 1.
      assert.equal(f.activation[1], 1);
      assert.equal(f.activation[255], signed ? -1 : 255);
      assert.equal(f.weight[(1 << n) - 1], signed ? -1 : (1 << n) - 1);
    }
  }
});

test("DRUM k=3..7, signed and unsigned, 8x8 and 8x4, factor exactly", () => {
  for (const signed of [false, true]) {
    for (let k = 3; k <= 7; k++) assertReproduces(generate("drum", { k, signed }).multiplier);
    assertReproduces(generate("drum", { k: 3, n: 4, signed }).multiplier);
  }
  // DRUM k4: 200 = 0b11001000 -> segment 1100|1 = 13 << 4 = 208.
  const f = separableFactors(generate("drum", { k: 4 }).multiplier)!;
  assert.equal(f.activation[200], 208);
  assert.equal(f.weight[200], 208);
});

test("operand truncation factors exactly (with and without rounding, signed, 8x4)", () => {
  for (const [params, name] of [
    [{ ka: 2, kw: 2 }, "a2w2"], [{ ka: 3, kw: 1, round: true }, "a3w1r"], [{ ka: 1, kw: 3, signed: true }, "s"], [{ ka: 2, kw: 1, n: 4 }, "8x4"],
  ] as const) {
    const m = generate("optrunc", params).multiplier;
    assertReproduces(m);
    assert.ok(name);
  }
});

test("partial-product perforation factors: a * (w with bits j..j+m-1 cleared)", () => {
  for (const params of [{ j: 1, m: 2 }, { j: 0, m: 3 }, { j: 1, m: 1, n: 4 }]) {
    const m = generate("perf", params).multiplier;
    assertReproduces(m);
    assert.equal(separableFactors(m)!.activation[7], 7);
  }
});

test("non-separable designs give null: broken-array, product truncation, Mitchell, iterative log", () => {
  for (const [kind, params] of [
    ["bam", { hbl: 2, vbl: 7 }], ["bam", { hbl: 0, vbl: 5 }], ["trunc", { k: 6, correct: true }], ["trunc", { k: 8 }], ["mitchell", {}], ["ilm", {}],
  ] as const) {
    const m = generate(kind, params).multiplier;
    assert.equal(separableFactors(m), null, `${m.name} should not factor`);
  }
});

test("EvoApproxLib tables: the exact mul8u_1JFF factors, an approximate one does not", needsSharedData, () => {
  const files = readdirSync(SHARED_LUT_DIR).filter((f) => f.endsWith(".bin"));
  const exact = files.find((f) => f.startsWith("mul8u_1JFF"));
  if (exact) assertReproduces(readTfapprox(join(SHARED_LUT_DIR, exact)));
  const approx = readTfapprox(join(SHARED_LUT_DIR, files.find((f) => f.startsWith("mul8u_125K"))!));
  assert.equal(separableFactors(approx), null);
});

test("one perturbed entry of a separable table gives null; so do factors beyond int16", () => {
  const drum = generate("drum", { k: 4 }).multiplier;
  for (const at of [0, 1, 256 * 200 + 17, tableSize(8) - 1]) {
    assert.equal(separableFactors(copy(drum, `drum_off_${at}`, (t) => { t[at] = t[at]! + 1; })), null, `entry ${at}`);
  }
  // 1000 * a * w factors, but its weight factor 1000 * 255 passes 32767: refused.
  const wide = createMultiplier({ name: "wide", signed: false, weightBits: 4, table: Int32Array.from({ length: tableSize(4) }, (_, i) => 1000 * (i >> 4) * (i & 15)) });
  assert.ok(separableFactors(wide), "1000 * a * w with a 4-bit weight fits (f <= 255, g <= 15000)");
  const tooWide = createMultiplier({ name: "too-wide", signed: false, weightBits: 8, table: Int32Array.from({ length: tableSize(8) }, (_, i) => 200 * (i >> 8) * (i & 255)) });
  assert.equal(separableFactors(tooWide), null);
});

test("property: random f, g tables factor and reproduce; a perturbed entry does not", () => {
  const factorArb = (n: number) => fc.array(fc.integer({ min: -181, max: 181 }), { minLength: n, maxLength: n });
  fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), factorArb(256), fc.array(fc.integer({ min: -181, max: 181 }), { minLength: 256, maxLength: 256 }), fc.nat(), fc.integer({ min: 1, max: 5 }),
    (n, f, g0, at, delta) => {
      const g = g0.slice(0, 1 << n);
      const table = Int32Array.from({ length: tableSize(n) }, (_, i) => f[i >> n]! * g[i & ((1 << n) - 1)]! + 0);
      const m = createMultiplier({ name: "random", signed: false, weightBits: n, table });
      assertReproduces(m);
      const i = at % table.length;
      const a = i >> n, w = i & ((1 << n) - 1);
      // A perturbation cannot keep rank 1 when f and g have nonzeros elsewhere
      // (the 2x2 minor of rows a, a' and columns w, w' becomes delta * f(a') * g(w') != 0).
      if (f.some((x, j) => j !== a && x !== 0) && g.some((x, j) => j !== w && x !== 0)) {
        const broken = Int32Array.from(table);
        broken[i] = broken[i]! + delta;
        assert.equal(separableFactors(createMultiplier({ name: "broken", signed: false, weightBits: n, table: broken })), null);
      }
    }), { numRuns: 60 });
});
