import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { decodeOperand, exactMultiplier, lutHash, multiplierFromFunction, multiply, tableIndex, type Multiplier } from "../src/multipliers/multiplier.js";
import { readTfapprox } from "../src/multipliers/tfapprox.js";
import { errorHistogram, errorMatrix, errorMetrics, type ErrorMetrics, type OperandDistribution } from "../src/multipliers/metrics.js";
import { AxnnError } from "../src/util/errors.js";
import { needsSharedData, SHARED_LUT_DIR, SHARED_METRICS_CSV } from "./shared.js";

type CsvRow = Record<string, string>;
const csvRows = (): CsvRow[] => parse(readFileSync(SHARED_METRICS_CSV), { columns: true, skip_empty_lines: true }) as CsvRow[];

/**
 * The CSV prints each figure rounded to some number of decimals ("0.00095", "12.30",
 * "2016.0000"). A correct value lies within half a unit of the last printed decimal of
 * it; a few ulps of slack cover exact ties, which binary floating point may land either
 * side of (34405105.875 -> "34405105.88", 101.5625 -> "101.56").
 */
function agreesWithPublished(computed: number, published: string): boolean {
  const decimals = published.includes(".") ? published.length - published.indexOf(".") - 1 : 0;
  const halfUnit = 0.5 * 10 ** -decimals;
  return Math.abs(computed - Number(published)) <= halfUnit + 4 * Number.EPSILON * Math.abs(computed);
}

const ALL_KEYS: (keyof ErrorMetrics)[] = ["mae", "wce", "mae_pct", "wce_pct", "mre_pct", "wcre_pct", "ep_pct", "mse", "bias"];

test("the 36 shared LUTs have the published hash and metrics of their v1.0 rows", needsSharedData, () => {
  const rows = csvRows().filter((r) => r.lib_version === "v1.0");
  const files = readdirSync(SHARED_LUT_DIR).filter((f) => f.endsWith(".bin")).sort();
  assert.equal(files.length, 36);
  const csvColumnOf: [keyof ErrorMetrics, string][] = [
    ["mae_pct", "mae_pct"], ["wce_pct", "wce_pct"], ["mre_pct", "mre_pct"], ["ep_pct", "ep_pct"], ["wcre_pct", "wcre_pct"],
    ["mae", "mae_abs"], ["wce", "wce_abs"], ["mse", "mse_abs"],
  ];
  const disagreements: string[] = [];
  for (const f of files) {
    const m = readTfapprox(join(SHARED_LUT_DIR, f));
    const matching = rows.filter((r) => r.name === m.name);
    assert.equal(matching.length, 1, `one v1.0 row named ${m.name}`);
    const row = matching[0]!;
    assert.equal(lutHash(m), row.lut_sha1_12, `${m.name} hash`);
    assert.equal(String(m.signed), row.signed, `${m.name} signedness`);
    const metrics = errorMetrics(m);
    for (const [key, column] of csvColumnOf) {
      const published = row[column];
      if (published === undefined || published === "") continue;
      if (!agreesWithPublished(metrics[key], published)) disagreements.push(`${m.name} ${column}: published ${published}, computed ${metrics[key]}`);
    }
  }
  assert.deepEqual(disagreements, []);
});

test("the published signed rows normalise MAE and WCE by 2^16 as well", needsSharedData, () => {
  const signedRows = csvRows().filter((r) => r.signed === "true" && r.lib_version === "v1.0");
  assert.ok(signedRows.length >= 10);
  const maeFromRoundedAbs: string[] = [];
  for (const r of signedRows) {
    assert.ok(agreesWithPublished((100 * Number(r.wce_abs)) / 65536, r.wce_pct!), `${r.name} wce`);
    if (agreesWithPublished((100 * Number(r.mae_abs)) / 65536, r.mae_pct!)) continue;
    // EvoApproxLib's C headers print "MAE = 1.2" for an MAE of 1.25, and the MAE% of
    // these rows was computed from that one-decimal MAE (1.2 / 2^16 = 0.0018%).
    const oneDecimalMae = roundHalfEven(Number(r.mae_abs) * 10) / 10;
    assert.ok(agreesWithPublished((100 * oneDecimalMae) / 65536, r.mae_pct!), `${r.name} mae: ${r.mae_abs} vs ${r.mae_pct}%`);
    maeFromRoundedAbs.push(r.name!);
  }
  assert.deepEqual(maeFromRoundedAbs.sort(), ["mul8s_1KVA", "mul8s_1KVB"]);
});

/** Rounds to an integer, ties to even (as printf does for exactly representable ties). */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  return x - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(x);
}

/** Bit i of a two's complement value. */
const bit = (v: number, i: number): number => (v >> i) & 1;

/**
 * Signed Baugh-Wooley arrays that leave out the partial products a_i*w_j with i + j < k
 * (EvoApproxLib's mul8s_1KVA for k = 2 without a1*w1, mul8s_1KVB for k = 3): the error
 * is minus the dropped terms, so by hand for 1KVA (a0w0 + 2a0w1 + 2a1w0, each term's
 * operand bits uniform): MAE = 1/4 + 2/4 + 2/4 = 1.25, WCE = 5, EP = 1 - 8/16 = 50%,
 * MSE = 1/4 + 1 + 1 + 3 * 1/2 = 3.75, bias = -MAE.
 */
test("hand-built signed truncated arrays reproduce mul8s_1KVA/1KVB: hash and metrics", needsSharedData, () => {
  const kva = multiplierFromFunction("kva", (a, w) => a * w - (bit(a, 0) & bit(w, 0)) - 2 * (bit(a, 0) & bit(w, 1)) - 2 * (bit(a, 1) & bit(w, 0)), { signed: true });
  const e = errorMetrics(kva);
  assert.deepEqual([e.mae, e.wce, e.ep_pct, e.mse, e.bias, e.wcre_pct], [1.25, 5, 50, 3.75, -1.25, 500]);
  assert.equal(e.mae_pct, (100 * 1.25) / 65536);
  const rows = csvRows().filter((r) => r.lib_version === "v1.0");
  const kvaRow = rows.find((r) => r.name === "mul8s_1KVA")!;
  assert.equal(lutHash(kva), kvaRow.lut_sha1_12);
  for (const [key, column] of [["wce_pct", "wce_pct"], ["mre_pct", "mre_pct"], ["ep_pct", "ep_pct"], ["wcre_pct", "wcre_pct"], ["mae", "mae_abs"], ["mse", "mse_abs"]] as const) {
    assert.ok(agreesWithPublished(e[key], kvaRow[column]!), `1KVA ${column}`);
  }
  const kvb = multiplierFromFunction("kvb", (a, w) => {
    let dropped = 0;
    for (let i = 0; i < 3; i++) for (let j = 0; i + j < 3; j++) dropped += (bit(a, i) & bit(w, j)) << (i + j);
    return a * w - dropped;
  }, { signed: true });
  const kvbRow = rows.find((r) => r.name === "mul8s_1KVB")!;
  assert.equal(lutHash(kvb), kvbRow.lut_sha1_12);
  const f = errorMetrics(kvb);
  // Dropped terms: 1*(1/4) + 2*(2/4) + 4*(3/4) = 4.25 on average, at most 1 + 2*2 + 4*3 = 17.
  assert.equal(f.mae, 4.25);
  assert.equal(f.wce, 17);
  for (const [key, column] of [["wce_pct", "wce_pct"], ["mre_pct", "mre_pct"], ["ep_pct", "ep_pct"], ["wcre_pct", "wcre_pct"], ["mse", "mse_abs"]] as const) {
    assert.ok(agreesWithPublished(f[key], kvbRow[column]!), `1KVB ${column}`);
  }
});

test("metrics have exactly the keys of the CLI contract", () => {
  assert.deepEqual(Object.keys(errorMetrics(exactMultiplier(false, 8))).sort(), [...ALL_KEYS].sort());
});

test("exact multipliers have all-zero metrics, signed and unsigned, 8x8 and 8x4", () => {
  for (const signed of [false, true]) {
    for (const n of [8, 4]) {
      const m = exactMultiplier(signed, n);
      const uniform = errorMetrics(m);
      const skewed = errorMetrics(m, { activation: Array.from({ length: 256 }, (_, i) => i % 7), weight: Array.from({ length: 1 << n }, (_, i) => i + 1) });
      for (const k of ALL_KEYS) {
        assert.equal(uniform[k], 0, `${m.name} ${k}`);
        assert.equal(skewed[k], 0, `${m.name} ${k} (distribution)`);
      }
      assert.ok(errorMatrix(m).every((e) => e === 0));
    }
  }
});

test("a constant error of +1 gives MAE% = 100/2^(8+N), signed or not", () => {
  for (const signed of [false, true]) {
    for (const n of [8, 4]) {
      const m = multiplierFromFunction("plus1", (a, w) => a * w + 1, { signed, weightBits: n });
      const e = errorMetrics(m);
      assert.equal(e.mae, 1);
      assert.equal(e.wce, 1);
      assert.equal(e.bias, 1);
      assert.equal(e.mse, 1);
      assert.equal(e.ep_pct, 100);
      assert.equal(e.mae_pct, 100 / 2 ** (8 + n));
      assert.equal(e.wce_pct, 100 / 2 ** (8 + n));
      // Largest relative error 1/|exact| is at |exact| = 1.
      assert.equal(e.wcre_pct, 100);
    }
  }
});

/** A signed 8x4 multiplier with an irregular, asymmetric error (drops low bits, biased). */
const ragged: Multiplier = multiplierFromFunction("ragged_s8x4", (a, w) => ((a * w) & ~3) + (a > 100 && w < 0 ? 9 : 0), { signed: true, weightBits: 4 });

/** Obviously-correct weighted metrics: loops over operand values, probability per pair. */
function referenceMetrics(m: Multiplier, prob: (act: number, weight: number) => number): ErrorMetrics {
  const n = m.weightBits;
  const acts = m.signed ? range(-128, 127) : range(0, 255);
  const ws = m.signed ? range(-(1 << (n - 1)), (1 << (n - 1)) - 1) : range(0, (1 << n) - 1);
  let total = 0, abs = 0, sq = 0, signedSum = 0, errMass = 0, rel = 0, nonzeroMass = 0, wce = 0, wcre = 0;
  for (const a of acts) {
    for (const w of ws) {
      const p = prob(a, w);
      if (p === 0) continue;
      const e = multiply(m, a, w) - a * w;
      total += p;
      abs += p * Math.abs(e);
      sq += p * e * e;
      signedSum += p * e;
      if (e !== 0) errMass += p;
      wce = Math.max(wce, Math.abs(e));
      if (a * w !== 0) {
        nonzeroMass += p;
        rel += (p * Math.abs(e)) / Math.abs(a * w);
        wcre = Math.max(wcre, Math.abs(e) / Math.abs(a * w));
      }
    }
  }
  const outRange = 2 ** (8 + n);
  return {
    mae: abs / total, wce, mae_pct: (100 * abs) / total / outRange, wce_pct: (100 * wce) / outRange,
    mre_pct: (100 * rel) / nonzeroMass, wcre_pct: 100 * wcre, ep_pct: (100 * errMass) / total, mse: sq / total, bias: signedSum / total,
  };
}

function range(lo: number, hi: number): number[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

function assertClose(actual: ErrorMetrics, expected: ErrorMetrics, what: string): void {
  for (const k of ALL_KEYS) {
    const tol = 1e-9 * Math.max(1, Math.abs(expected[k]));
    assert.ok(Math.abs(actual[k] - expected[k]) <= tol, `${what} ${k}: ${actual[k]} vs ${expected[k]}`);
  }
}

test("uniform metrics of a signed 8x4 table match a per-value reference", () => {
  assertClose(errorMetrics(ragged), referenceMetrics(ragged, () => 1), "uniform");
});

test("independent and joint histograms weight pairs like a per-value reference", () => {
  // Histograms are indexed by raw codes: value v of a signed operand is at code v & mask.
  const actCounts = Array.from({ length: 256 }, (_, code) => (code * 37) % 11);
  const wCounts = Array.from({ length: 16 }, (_, code) => (code % 3) + (code === 5 ? 20 : 0));
  const ind = errorMetrics(ragged, { activation: actCounts, weight: wCounts });
  assertClose(ind, referenceMetrics(ragged, (a, w) => actCounts[a & 255]! * wCounts[w & 15]!), "independent");

  const joint = new Uint32Array(256 * 16);
  for (let i = 0; i < joint.length; i++) joint[i] = (i * 7919) % 13 === 0 ? 0 : (i * 31) % 17;
  assertClose(errorMetrics(ragged, { joint }), referenceMetrics(ragged, (a, w) => joint[tableIndex(a & 255, w & 15, 4)]!), "joint");
});

test("a distribution concentrated on one pair gives exactly that pair's error", () => {
  const pairs: [number, number][] = [[120, -3], [-128, -8], [101, -1], [0, 7]];
  for (const [a, w] of pairs) {
    const e = multiply(ragged, a, w) - a * w;
    const exact = a * w;
    const onlyAct = new Array<number>(256).fill(0);
    onlyAct[a & 255] = 5;
    const onlyW = new Array<number>(16).fill(0);
    onlyW[w & 15] = 2;
    const joint = new Float64Array(256 * 16);
    joint[tableIndex(a & 255, w & 15, 4)] = 0.25;
    for (const dist of [{ activation: onlyAct, weight: onlyW }, { joint }] as OperandDistribution[]) {
      const got = errorMetrics(ragged, dist);
      assert.equal(got.mae, Math.abs(e));
      assert.equal(got.wce, Math.abs(e));
      assert.equal(got.bias, e);
      assert.equal(got.mse, e * e);
      assert.equal(got.ep_pct, e === 0 ? 0 : 100);
      assert.equal(got.mae_pct, (100 * Math.abs(e)) / 4096);
      assert.equal(got.mre_pct, exact === 0 ? 0 : (100 * Math.abs(e)) / Math.abs(exact));
      assert.equal(got.wcre_pct, got.mre_pct);
    }
  }
  // The chosen pairs exercise both error-free and erroneous cells.
  assert.ok(pairs.some(([a, w]) => multiply(ragged, a, w) !== a * w));
});

test("a uniform joint histogram gives the uniform metrics", needsSharedData, () => {
  const m = readTfapprox(join(SHARED_LUT_DIR, "mul8u_JV3.bin"));
  const uniform = errorMetrics(m);
  assert.deepEqual(errorMetrics(m, { joint: new Float64Array(65536).fill(1) }), uniform);
  assert.deepEqual(errorMetrics(m, { activation: new Array(256).fill(1), weight: new Array(256).fill(1) }), uniform);
  // Scaling all counts changes nothing beyond rounding.
  assertClose(errorMetrics(m, { joint: new Float64Array(65536).fill(3.5) }), uniform, "scaled joint");
});

test("bad histogram shapes and entries throw AxnnError naming the histogram and the expected length", () => {
  const m8 = exactMultiplier(false, 8);
  const m4 = exactMultiplier(true, 4);
  const expectError = (fn: () => unknown, ...parts: string[]) =>
    assert.throws(fn, (e: unknown) => e instanceof AxnnError && parts.every((p) => e.message.includes(p)), parts.join(" / "));
  expectError(() => errorMetrics(m8, { activation: new Array(255).fill(1), weight: new Array(256).fill(1) }), "activation", "256", "255");
  expectError(() => errorMetrics(m4, { activation: new Array(256).fill(1), weight: new Array(256).fill(1) }), "weight", "16", "256");
  expectError(() => errorMetrics(m4, { joint: new Array(65536).fill(1) }), "joint", "4096", "65536");
  expectError(() => errorMetrics(m8, { activation: new Array(256).fill(1), weight: [...new Array(255).fill(1), -1] }), "weight", "entry 255");
  expectError(() => errorMetrics(m8, { activation: new Array(256).fill(Number.NaN), weight: new Array(256).fill(1) }), "activation", "entry 0");
  expectError(() => errorMetrics(m8, { joint: new Float64Array(65536) }), "joint", "zeros");
  expectError(() => errorMetrics(m8, { activation: new Array(256).fill(1) } as unknown as OperandDistribution), "weight");
});

test("errorMatrix is approx - exact in table order; errorHistogram counts every pair once", needsSharedData, () => {
  const m = readTfapprox(join(SHARED_LUT_DIR, "mul8u_JQQ.bin"));
  const err = errorMatrix(m);
  for (const [a, w] of [[0, 0], [255, 255], [17, 200], [200, 17]] as const) {
    assert.equal(err[tableIndex(a, w, 8)], multiply(m, a, w) - a * w);
  }
  const h = errorHistogram(m);
  assert.ok(h.counts.length <= 101);
  // JQQ errors span about 18,000 values: 200 would need 90+ bins below and above 0, so 200 or more.
  assert.ok([200, 500].includes(h.binWidth), `bin width ${h.binWidth}`);
  assert.ok(h.start <= h.min && h.start + h.counts.length * h.binWidth > h.max);
  // The bin holding 0 is centred on it.
  assert.equal((0 - h.start) % h.binWidth, Math.floor(h.binWidth / 2));
  let sum = 0;
  for (const c of h.counts) sum += c;
  assert.equal(sum, 65536);
  assert.equal(h.total, 65536);
  assert.equal(h.min, Math.min(...err));
  assert.equal(h.max, Math.max(...err));
  // Pairs without error all land in the bin holding 0 (share 100 - EP%), plus any others binned with it.
  const zeroBin = Math.floor((0 - h.start) / h.binWidth);
  const errorFree = err.filter((e) => e === 0).length;
  assert.ok(h.counts[zeroBin]! >= errorFree);
  assert.equal(errorFree, 65536 * (1 - errorMetrics(m).ep_pct / 100));

  // Narrow ranges get one bin per error value.
  const small = errorHistogram(ragged);
  assert.equal(small.binWidth, 1);
  assert.equal(small.counts.length, small.max - small.min + 1);
  const e = errorMatrix(ragged);
  for (let k = 0; k < small.counts.length; k++) assert.equal(small.counts[k], e.filter((x) => x === small.start + k).length);
  assert.throws(() => errorHistogram(m, 0), AxnnError);
  // A distribution restricts the histogram to pairs of non-zero probability.
  const onlyZeroWeight = new Array<number>(256).fill(0);
  onlyZeroWeight[0] = 1;
  const atZero = errorHistogram(m, 101, { activation: new Array(256).fill(1), weight: onlyZeroWeight });
  assert.equal(atZero.total, 256);
  assert.deepEqual([atZero.min, atZero.max], [err[0], err[0]]);
});

test("signed errors use two's complement codes: code 255 is -1", () => {
  const m = exactMultiplier(true, 8);
  assert.equal(m.table[tableIndex(255, 2, 8)], decodeOperand(255, 8, true) * 2);
  // A table that is exact for unsigned codes is wrong for signed ones whenever a code is negative.
  const unsignedTable = exactMultiplier(false, 8).table;
  const misread = { ...m, name: "misread", table: unsignedTable };
  const metrics = errorMetrics(misread);
  // Exactly the pairs with a negative activation or weight (but non-zero other operand) err.
  let expectedErr = 0;
  for (let a = -128; a < 128; a++) for (let w = -128; w < 128; w++) if ((a & 255) * (w & 255) !== a * w) expectedErr++;
  assert.equal(metrics.ep_pct, (100 * expectedErr) / 65536);
});
