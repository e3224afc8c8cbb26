import { test } from "node:test";
import assert from "node:assert/strict";
import {
  behaviouralModel,
  defaultCatalogue,
  generate,
  generateByName,
  generateDrum,
  generateIterativeLog,
  generateMitchell,
  generatorKinds,
  generatorName,
  GENERATORS,
  parseGeneratorName,
  truncationCorrection,
} from "../src/multipliers/generators/index.js";
import { exactMultiplier, lutHash, multiplierFromFunction, multiply, type Multiplier } from "../src/multipliers/multiplier.js";
import { AxnnError } from "../src/util/errors.js";
import { readFileSync } from "node:fs";
import { needsSharedData, SHARED_METRICS_CSV } from "./shared.js";

/** Mean |approx - exact| over all operand pairs (uniform), computed directly. */
function meanAbsError(m: Multiplier): number {
  const exact = exactMultiplier(m.signed, m.weightBits).table;
  let sum = 0;
  for (let i = 0; i < exact.length; i++) sum += Math.abs(m.table[i]! - exact[i]!);
  return sum / exact.length;
}

/** Largest |approx - exact| / |exact| over pairs with a non-zero exact product. */
function worstRelativeError(m: Multiplier): number {
  const exact = exactMultiplier(m.signed, m.weightBits).table;
  let worst = 0;
  for (let i = 0; i < exact.length; i++) {
    if (exact[i] !== 0) worst = Math.max(worst, Math.abs(m.table[i]! - exact[i]!) / Math.abs(exact[i]!));
  }
  return worst;
}

function firstMismatch(got: Int32Array, want: Int32Array): string | undefined {
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) return `entry ${i}: netlist ${got[i]}, expected ${want[i]}`;
  return undefined;
}

function values(bits: number, signed: boolean): number[] {
  const lo = signed ? -(2 ** (bits - 1)) : 0, hi = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

const bit = (x: number, i: number): number => Math.floor(x / 2 ** i) % 2;

test("every design's netlist equals its behavioural model bit for bit (8x8, 8xN, signed)", () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ["exact", { n: 8 }], ["exact", { n: 3, signed: true }],
    ["trunc", { k: 5 }], ["trunc", { k: 7, correct: true }], ["trunc", { k: 3, n: 4, correct: true }],
    ["trunc", { k: 6, signed: true }], ["trunc", { k: 9, correct: true, signed: true }], ["trunc", { k: 2, n: 2, signed: true, correct: true }],
    ["optrunc", { ka: 3, kw: 1 }], ["optrunc", { ka: 2, kw: 2, round: true }], ["optrunc", { ka: 1, kw: 3, round: true, n: 5 }],
    ["optrunc", { ka: 3, kw: 2, round: true, signed: true }], ["optrunc", { ka: 0, kw: 2, n: 4, signed: true }],
    ["bam", { hbl: 2, vbl: 6 }], ["bam", { hbl: 0, vbl: 9 }], ["bam", { hbl: 3, vbl: 1, n: 6 }],
    ["drum", { k: 4 }], ["drum", { k: 6 }], ["drum", { k: 3, n: 5 }], ["drum", { k: 4, n: 2 }],
    ["drum", { k: 3, signed: true }], ["drum", { k: 5, n: 7, signed: true }],
    ["mitchell", {}], ["mitchell", { f: 3 }], ["mitchell", { n: 4 }], ["mitchell", { signed: true }], ["mitchell", { f: 5, n: 6, signed: true }],
    ["ilm", { iterations: 0 }], ["ilm", { iterations: 2 }], ["ilm", { iterations: 1, n: 5 }], ["ilm", { iterations: 1, signed: true }],
    ["perf", { j: 0, m: 2 }], ["perf", { j: 3, m: 3 }], ["perf", { j: 1, m: 2, n: 4 }],
  ];
  for (const [kind, params] of cases) {
    const { multiplier, netlist } = generate(kind, params);
    const model = multiplierFromFunction("model", behaviouralModel(kind, params), { signed: multiplier.signed, weightBits: multiplier.weightBits });
    const name = generatorName(kind, params);
    assert.equal(firstMismatch(multiplier.table, model.table), undefined, name);
    assert.equal(netlist.portA.length, 8, name);
    assert.equal(netlist.portB.length, multiplier.weightBits, name);
    assert.equal(netlist.output.length, 8 + multiplier.weightBits, name);
  }
});

test("exact designs (array, Baugh-Wooley) give a*w for every width", () => {
  for (const signed of [false, true]) {
    for (const n of [1, 2, 5, 8]) {
      const { multiplier } = generate("exact", { n, signed });
      assert.equal(firstMismatch(multiplier.table, exactMultiplier(signed, n).table), undefined, `exact ${signed ? "s" : "u"}8x${n}`);
    }
  }
  // Approximations that drop nothing are exact too.
  for (const [kind, params] of [["optrunc", { ka: 0, kw: 0, signed: true }], ["bam", { hbl: 0, vbl: 0 }], ["ilm", { iterations: 3, n: 4 }]] as const) {
    const { multiplier } = generate(kind, params);
    assert.equal(firstMismatch(multiplier.table, exactMultiplier(multiplier.signed, multiplier.weightBits).table), undefined, kind);
  }
});

test("truncation designs match a brute-force sum over partial-product bits", () => {
  // Independent formulation: enumerate the partial-product bits a_i*w_j and keep those the
  // design keeps (the models use row shifts and masks instead).
  const pp = (a: number, w: number, n: number, keep: (i: number, j: number) => boolean): number => {
    let s = 0;
    for (let i = 0; i < 8; i++) for (let j = 0; j < n; j++) if (keep(i, j)) s += bit(a, i) * bit(w, j) * 2 ** (i + j);
    return s;
  };
  const check = (kind: string, params: Record<string, unknown>, n: number, ref: (a: number, w: number) => number): void => {
    const { multiplier } = generate(kind, { ...params, n });
    for (const a of values(8, false)) for (const w of values(n, false)) {
      if (multiply(multiplier, a, w) !== ref(a, w)) assert.fail(`${multiplier.name}(${a}, ${w}) = ${multiply(multiplier, a, w)}, expected ${ref(a, w)}`);
    }
  };
  check("bam", { hbl: 2, vbl: 7 }, 8, (a, w) => pp(a, w, 8, (i, j) => j >= 2 && i + j >= 7));
  check("trunc", { k: 4 }, 5, (a, w) => pp(a, w, 5, (i, j) => i + j >= 4));
  check("perf", { j: 1, m: 3 }, 8, (a, w) => pp(a, w, 8, (_i, j) => j < 1 || j > 3));
});

test("signed truncation keeps the exact product's upper columns", () => {
  // With k columns dropped and no correction, the error is minus the value of the dropped
  // Baugh-Wooley bits, which lie below 2^k and so stay within (-k 2^k, 0].
  const k = 5;
  const { multiplier } = generate("trunc", { k, signed: true });
  for (const a of values(8, true)) for (const w of values(8, true)) {
    const e = multiply(multiplier, a, w) - a * w;
    if (e > 0 || e <= -k * 2 ** k) assert.fail(`error ${e} at ${a}*${w}`);
  }
});

test("the truncation correction constant is the mean of what truncation drops", () => {
  for (const [n, signed, k] of [[8, false, 6], [8, false, 8], [4, false, 3], [8, true, 7], [6, true, 4]] as const) {
    const plain = generate("trunc", { n, signed, k }).multiplier;
    const exact = exactMultiplier(signed, n).table;
    let dropped = 0;
    for (let i = 0; i < exact.length; i++) dropped += exact[i]! - plain.table[i]!;
    // Signed too: these k are too small for the truncated product to wrap around, so
    // exact - truncated is the value of the dropped bits.
    assert.equal(truncationCorrection(n, signed, k), Math.round(dropped / exact.length), `${signed ? "s" : "u"}8x${n} k=${k}`);
    const corrected = generate("trunc", { n, signed, k, correct: true }).multiplier;
    assert.ok(meanAbsError(corrected) < meanAbsError(plain), `correction reduces the MAE (8x${n}, k=${k})`);
  }
});

test("coarser settings never decrease the mean absolute error", () => {
  const series: Array<[string, Array<Record<string, unknown>>]> = [
    ["trunc", [1, 3, 5, 7, 9, 11].map((k) => ({ k }))],
    ["trunc", [2, 4, 6, 8, 10].map((k) => ({ k, correct: true }))],
    ["optrunc", [0, 1, 2, 3, 4].map((k) => ({ ka: k, kw: k }))],
    ["bam", [0, 3, 6, 9].map((vbl) => ({ hbl: 1, vbl }))],
    ["bam", [0, 1, 2, 4].map((hbl) => ({ hbl, vbl: 4 }))],
    ["drum", [7, 6, 5, 4, 3].map((k) => ({ k }))],
    ["mitchell", [7, 5, 3, 1].map((f) => ({ f }))],
    ["ilm", [3, 2, 1, 0].map((iterations) => ({ iterations }))],
    ["perf", [1, 2, 3, 4].map((m) => ({ j: 0, m }))],
  ];
  for (const [kind, steps] of series) {
    let previous = -1;
    for (const params of steps) {
      const mae = meanAbsError(generate(kind, params).multiplier);
      assert.ok(mae >= previous, `${generatorName(kind, params)}: MAE ${mae} < ${previous} of the finer setting`);
      previous = mae;
    }
  }
});

test("hand-computed products of the log and DRUM designs", () => {
  // DRUM k=4: 200 = 1100_1000b -> segment 1100 with LSB set = 13, shift 4 -> 208;
  // 27 = 1_1011b -> segment 1101, shift 1 -> 26. 208 * 26 = 5408.
  assert.equal(multiply(generateDrum({ k: 4 }).multiplier, 200, 27), 5408);
  // Operands below 2^k are exact.
  assert.equal(multiply(generateDrum({ k: 4 }).multiplier, 15, 9), 135);
  // Signed: |-100| = 110_0100b -> segment 1100 -> 1101 = 13, shift 3 -> 104; 27 -> 26; negated.
  assert.equal(multiply(generateDrum({ k: 4, signed: true }).multiplier, -100, 27), -(104 * 26));
  // Mitchell: 3 = 2^1 * 1.5, 5 = 2^2 * 1.25 -> 2^3 * (1 + 0.5 + 0.25) = 14.
  assert.equal(multiply(generateMitchell().multiplier, 3, 5), 14);
  // 192 * 192: fractions 0.5 + 0.5 overflow into the exponent: 2^15 * 1.0 = 32768.
  assert.equal(multiply(generateMitchell().multiplier, 192, 192), 32768);
  // Signed wrapping: |-3| * 5 -> -14; |-128| = 2^7 exactly, 127 = 2^6 * (1 + 126/128) with
  // f = 7 -> (128 + 126) * 2^13 / 2^7 = 16256, negated.
  assert.equal(multiply(generateMitchell({ signed: true }).multiplier, -3, 5), -14);
  assert.equal(multiply(generateMitchell({ signed: true }).multiplier, -128, 127), -16256);
  // ILM 7 * 7: 2^4 + 3*2^2 + 3*2^2 = 40; one correction approximates the missing 3*3 by
  // 2^2 + 1*2 + 1*2 = 8.
  assert.equal(multiply(generateIterativeLog({ iterations: 0 }).multiplier, 7, 7), 40);
  assert.equal(multiply(generateIterativeLog({ iterations: 1 }).multiplier, 7, 7), 48);
  assert.equal(multiply(generateIterativeLog({ iterations: 1 }).multiplier, 0, 7), 0);
  assert.equal(multiply(generateIterativeLog({ iterations: 1 }).multiplier, 7, 0), 0);
});

test("published error bounds: Mitchell 1/9, ILM 4^-(i+1)", () => {
  // Mitchell (1962): the largest relative error is 1/9 (both mantissas 0.5).
  const mitchell = worstRelativeError(generateMitchell().multiplier);
  assert.ok(Math.abs(mitchell - 1 / 9) < 1e-12, `Mitchell worst relative error ${mitchell}`);
  // Babic et al. (2011): basic block below 25%, each correction divides the bound by 4.
  for (const iterations of [0, 1, 2]) {
    const worst = worstRelativeError(generateIterativeLog({ iterations }).multiplier);
    const bound = 4 ** -(iterations + 1);
    assert.ok(worst < bound && worst > bound * 0.9, `ILM i=${iterations}: worst relative error ${worst}, bound ${bound}`);
  }
});

test("DRUM is nearly unbiased while truncation is not", () => {
  const meanSigned = (m: Multiplier): number => {
    const exact = exactMultiplier(false, 8).table;
    let s = 0;
    for (let i = 0; i < exact.length; i++) s += m.table[i]! - exact[i]!;
    return s / exact.length;
  };
  const drum = generateDrum({ k: 5 }).multiplier;
  assert.ok(Math.abs(meanSigned(drum)) < 0.25 * meanAbsError(drum));
  const trunc = generate("trunc", { k: 8 }).multiplier;
  assert.ok(Math.abs(meanSigned(trunc)) > 0.99 * meanAbsError(trunc));
});

test("the weight drives the partial-product rows on 8x8 and 8xN alike", () => {
  // Perforating row 0 drops the partial product of weight bit 0, whichever port holds the weight.
  for (const n of [8, 4]) {
    const m = generate("perf", { n, j: 0, m: 1 }).multiplier;
    assert.equal(multiply(m, 5, 1), 0);
    assert.equal(multiply(m, 1, 5), 4);
  }
});

test("netlists keep no dead logic outside adder cells, and cells stay whole", () => {
  for (const kind of generatorKinds()) {
    const { netlist } = generate(kind);
    const used = new Set(netlist.output);
    for (const g of netlist.gates) for (const x of g.inputs) used.add(x);
    const gatesPerCell = new Map<number, number>();
    for (const g of netlist.gates) {
      if (g.cell !== undefined) gatesPerCell.set(g.cell, (gatesPerCell.get(g.cell) ?? 0) + 1);
      else assert.ok(used.has(g.output), `${kind}: gate driving ${netlist.netNames[g.output]} feeds nothing`);
    }
    // The builder's half adder is 2 gates, its full adder 5.
    netlist.cells.forEach((cell, i) => assert.equal(gatesPerCell.get(i), cell.type === "HA" ? 2 : 5, `${kind}: ${cell.instance}`));
  }
});

test("multiplier meta names the generator, its parameters and a reference", () => {
  const { multiplier } = generate("bam", { hbl: 1, vbl: 5, n: 6 });
  assert.equal(multiplier.name, "bam_h1_v5_u8x6");
  assert.equal(multiplier.meta.source, "generator");
  assert.deepEqual(multiplier.meta.generator, { kind: "bam", params: { n: 6, signed: false, hbl: 1, vbl: 5 } });
  assert.match(multiplier.meta.reference ?? "", /Mahdiani/);
  assert.ok((multiplier.meta.description ?? "").length > 0);
  for (const g of Object.values(GENERATORS)) assert.ok(g.reference.length > 20 && g.description.length > 20, g.kind);
});

test("registry entries list their parameters with ranges and defaults, and build", () => {
  const drum = GENERATORS.drum!;
  assert.deepEqual(drum.params.map((p) => p.name), ["n", "signed", "k"]);
  assert.deepEqual(drum.params[2]!.bounds!(8, false), [3, 7]);
  assert.equal(drum.params[2]!.default(8), 4);
  assert.equal(drum.supportsSigned, true);
  assert.deepEqual(GENERATORS.bam!.params.map((p) => p.name), ["n", "hbl", "vbl"]);
  assert.equal(drum.build({ k: 5, n: 6 }).multiplier.name, "drum_k5_u8x6");
  assert.equal(drum.name({ signed: true }), "drum_k4_s8x8");
  for (const g of Object.values(GENERATORS)) {
    // Every default is within its own range, for every weight width.
    for (let n = 1; n <= 8; n++) assert.doesNotThrow(() => g.name({ n }), `${g.kind} defaults at n=${n}`);
  }
  assert.throws(() => generate("constructor"), AxnnError);
});

test("canonical names round-trip through parseGeneratorName", () => {
  assert.deepEqual(parseGeneratorName("drum_k4_u8x8"), { kind: "drum", params: { n: 8, signed: false, k: 4 } });
  assert.deepEqual(parseGeneratorName("trunc_k6c_s8x4"), { kind: "trunc", params: { n: 4, signed: true, k: 6, correct: true } });
  assert.deepEqual(parseGeneratorName("bam_h4_v6_u8x8"), { kind: "bam", params: { n: 8, signed: false, hbl: 4, vbl: 6 } });
  assert.deepEqual(parseGeneratorName("mitchell_u8x8")?.params, { n: 8, signed: false, f: 7 });
  assert.equal(parseGeneratorName("mul8u_1JFF"), undefined);
  assert.equal(parseGeneratorName("foo_k4_u8x8"), undefined);
  for (const { kind, params } of defaultCatalogue()) {
    const name = generatorName(kind, params);
    assert.deepEqual(parseGeneratorName(name), { kind, params }, name);
  }
  assert.equal(generateByName("optrunc_a2w1r_u8x4").multiplier.name, "optrunc_a2w1r_u8x4");
});

test("the default catalogue spans every design, 15 to 30 distinct variants", () => {
  const cat = defaultCatalogue();
  assert.ok(cat.length >= 15 && cat.length <= 30, `${cat.length} entries`);
  assert.deepEqual(new Set(cat.map((e) => e.kind)), new Set(generatorKinds()));
  const names = cat.map((e) => generatorName(e.kind, e.params));
  assert.equal(new Set(names).size, names.length);
});

test("bad parameters are AxnnErrors naming the parameter and its range", () => {
  const rejects = (f: () => unknown, ...parts: string[]): void => {
    assert.throws(f, (e: unknown) => e instanceof AxnnError && parts.every((p) => e.message.includes(p)), parts.join(" "));
  };
  rejects(() => generate("trunc", { k: 0 }), "trunc.k", "1 to 14");
  rejects(() => generate("trunc", { k: 11, n: 4 }), "trunc.k", "1 to 10");
  rejects(() => generate("drum", { k: 2 }), "drum.k", "3 to 7");
  rejects(() => generate("drum", { k: 4.5 }), "drum.k");
  rejects(() => generate("bam", { hbl: 8 }), "bam.hbl", "0 to 7");
  rejects(() => generate("bam", { signed: true }), "bam.signed");
  rejects(() => generate("perf", { j: 2, m: 3, n: 4 }), "perf.m", "1 to 2");
  rejects(() => generate("optrunc", { kw: 4, n: 4 }), "optrunc.kw", "0 to 3");
  rejects(() => generate("mitchell", { n: 9 }), "mitchell.n", "1 to 8");
  rejects(() => generate("ilm", { iterations: 4 }), "ilm.iterations", "0 to 3");
  rejects(() => generate("trunc", { correct: "yes" }), "trunc.correct");
  rejects(() => generate("drum", { kk: 4 }), "drum.kk", "unknown");
  rejects(() => generate("booth"), "booth");
  rejects(() => parseGeneratorName("drum_k9_u8x8"), "drum.k", "3 to 7");
  rejects(() => parseGeneratorName("drum_x4_u8x8"), "drum_k4_u8x8");
  rejects(() => generateByName("mul8u_1JFF"), "mul8u_1JFF");
});

test("signed truncated and operand-truncated tables equal published EvoApproxLib circuits", needsSharedData, () => {
  // EvoApproxLib names are not stable across versions, so circuits are found by LUT hash;
  // their published MAE% (rounded) must then agree with ours too.
  const lines = readFileSync(SHARED_METRICS_CSV, "utf8").trim().split("\n");
  const header = lines[0]!.split(",");
  const hashCol = header.indexOf("lut_sha1_12"), maeCol = header.indexOf("mae_pct");
  const byHash = new Map(lines.slice(1).map((l) => l.split(",")).map((r) => [r[hashCol]!, r]));
  const cases: Array<[string, Record<string, unknown>]> = [
    ["exact", {}], ["exact", { signed: true }],
    ["trunc", { k: 3, signed: true }], ["trunc", { k: 4, signed: true }],
    ["optrunc", { ka: 1, kw: 0, signed: true }], ["optrunc", { ka: 2, kw: 2, signed: true }], ["optrunc", { ka: 3, kw: 3, signed: true }],
  ];
  for (const [kind, params] of cases) {
    const m = generate(kind, params).multiplier;
    const row = byHash.get(lutHash(m));
    assert.ok(row, `${m.name}: hash ${lutHash(m)} not among EvoApproxLib's`);
    const published = Number(row[maeCol]);
    const ours = (100 * meanAbsError(m)) / 2 ** 16;
    assert.ok(Math.abs(ours - published) <= 0.05 * published + 0.001, `${m.name}: MAE% ${ours} vs published ${published} (${row[0]})`);
  }
});
