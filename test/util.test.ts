import { test } from "node:test";
import assert from "node:assert/strict";
import { halfToFloat } from "../src/util/float16.js";
import { mulberry32, uniformRandom } from "../src/util/random.js";

test("float16 bit patterns decode to their IEEE 754 values", () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x3555), 1365 / 4096);
  assert.equal(halfToFloat(0x0001), 2 ** -24); // smallest subnormal
  assert.equal(halfToFloat(0x7bff), 65504); // largest finite
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.equal(halfToFloat(0xfc00), -Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
});

test("the seeded PRNG repeats for a seed and its uniform numbers lie in [0, 1)", () => {
  const a = mulberry32(42), b = mulberry32(42);
  for (let i = 0; i < 100; i++) assert.equal(a(), b());
  const u = uniformRandom(7);
  for (let i = 0; i < 1000; i++) {
    const v = u();
    assert.ok(v >= 0 && v < 1);
  }
});
