import { test } from "node:test";
import assert from "node:assert/strict";
import { NetlistBuilder, type Netlist } from "../src/multipliers/netlist/ir.js";
import { netlistToTable } from "../src/multipliers/netlist/simulate.js";
import { countToggles, estimateArea, estimatePower, gateCounts, netlistCost } from "../src/multipliers/netlist/cost.js";
import { GSCL45_CELLS, GSCL45_VDD } from "../src/multipliers/netlist/cells45.js";
import { exactMultiplier } from "../src/multipliers/multiplier.js";
import { AxnnError } from "../src/util/errors.js";

/**
 * Unsigned array-style multiplier: partial products a[j]&b[i] of weight i+j >= dropBelow,
 * each column reduced with full/half adders, carries into the next column.
 */
function addMultiplier(b: NetlistBuilder, a: number[], bb: number[], dropBelow = 0): number[] {
  const width = a.length + bb.length;
  const cols: number[][] = Array.from({ length: width }, () => []);
  for (let i = 0; i < bb.length; i++) for (let j = 0; j < a.length; j++) if (i + j >= dropBelow) cols[i + j]!.push(b.and(a[j]!, bb[i]!));
  for (let c = 0; c < width; c++) {
    const col = cols[c]!;
    while (col.length > 1) {
      const r = col.length >= 3 ? b.fullAdder(col.shift()!, col.shift()!, col.shift()!) : b.halfAdder(col.shift()!, col.shift()!);
      col.push(r.sum);
      if (c + 1 < width) cols[c + 1]!.push(r.carry);
    }
  }
  return cols.map((col) => col[0] ?? b.const(0));
}

function arrayMultiplier(bits: number, dropBelow = 0): Netlist {
  const b = new NetlistBuilder(`mul${bits}_drop${dropBelow}`, bits, bits);
  return b.build(addMultiplier(b, b.portA, b.portB, dropBelow));
}

test("the reference array multiplier is exact (so the cost tests price a real multiplier)", () => {
  assert.deepEqual(netlistToTable(arrayMultiplier(8), false).table, exactMultiplier(false, 8).table);
});

test("gate counts of a hand-built netlist: cells, loose gates, wires free, dead logic dropped", () => {
  // 2x2 multiplier: 4 ANDs, 2 half adders; plus an inverted output bit, a wire, a constant
  // output bit and an XOR that reaches no output.
  const b = new NetlistBuilder("m2", 2, 2);
  const [a0, a1] = b.portA as [number, number];
  const [b0, b1] = b.portB as [number, number];
  const p00 = b.and(a0, b0);
  const h1 = b.halfAdder(b.and(a1, b0), b.and(a0, b1));
  const h2 = b.halfAdder(b.and(a1, b1), h1.carry);
  const inverted = b.not(h2.carry);
  const wire = b.gate("BUF", [h2.sum]);
  b.xor(a0, a1); // unused
  const nl = b.build([p00, h1.sum, wire, h2.carry, inverted, b.const(0)]);
  assert.deepEqual(gateCounts(nl), { AND2: 4, HA: 2, NOT: 1, total: 7, dropped: 1 });
  const c = GSCL45_CELLS;
  assert.ok(Math.abs(estimateArea(nl) - (4 * c.AND2!.areaUm2 + 2 * c.HA!.areaUm2 + c.NOT!.areaUm2)) < 1e-9);
});

test("a gate whose output is constant for every input is left out, as synthesis would", () => {
  const b = new NetlistBuilder("k", 2, 2);
  const [a0] = b.portA as [number, number];
  const alwaysZero = b.and(a0, b.not(a0)); // x & ~x
  const nl = b.build([b.or(alwaysZero, b.portB[0]!), b.and(b.portA[1]!, b.portB[1]!)]);
  // The OR of a constant 0 stays (its output varies); the AND and NOT feeding it go.
  assert.deepEqual(gateCounts(nl), { AND2: 1, OR2: 1, total: 2, dropped: 2 });
});

test("toggle counting across word boundaries matches a vector-by-vector count", () => {
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (const samples of [2, 31, 32, 33, 64, 100, 1000]) {
    const v = new Uint32Array(Math.ceil(samples / 32)).map(() => rnd());
    const bit = (k: number) => (v[k >>> 5]! >>> (k & 31)) & 1;
    let expected = 0;
    for (let k = 1; k < samples; k++) if (bit(k) !== bit(k - 1)) expected++;
    assert.equal(countToggles(v, samples), expected, `samples=${samples}`);
  }
});

test("power of one AND gate on a given stream, by hand", () => {
  const b = new NetlistBuilder("and", 1, 1);
  const nl = b.build([b.and(b.portA[0]!, b.portB[0]!)]);
  // a: 0 1 1 0, b: 1 1 0 0 -> y: 0 1 0 0. Over 3 transitions: y 2, a 2, b 1.
  const p = estimatePower(nl, { stimulus: { a: [0, 1, 1, 0], b: [1, 1, 0, 0] }, frequencyMHz: 1000 });
  const and2 = GSCL45_CELLS.AND2!;
  const internalFj = (2 / 3) * and2.outputEnergyFj.Y!;
  const inputNetsFj = 0.5 * and2.inputCapFf * GSCL45_VDD ** 2 * (2 / 3 + 1 / 3); // output drives only the port
  const expectedMw = (internalFj + inputNetsFj) * 1000 * 1e-6; // fJ per cycle at 1 GHz
  assert.ok(Math.abs(p.dynamicMw - expectedMw) < 1e-12, `${p.dynamicMw} vs ${expectedMw}`);
  assert.ok(Math.abs(p.togglesPerCycle - (2 / 3 + 2 / 3 + 1 / 3)) < 1e-12);
  assert.ok(Math.abs(p.leakageMw - and2.leakageNw * 1e-6) < 1e-15);
  assert.equal(p.totalMw, p.dynamicMw + p.leakageMw);
});

test("a netlist whose gates see only constants has no dynamic power", () => {
  const b = new NetlistBuilder("const", 8, 8);
  const one = b.const(1);
  const zero = b.const(0);
  const nl = b.build([b.and(one, zero), b.xor(one, zero), b.not(zero), one]);
  const p = estimatePower(nl, { samples: 500 });
  assert.equal(p.dynamicMw, 0);
  assert.equal(p.togglesPerCycle, 0);
});

test("a stream of one repeated operand pair causes no toggles", () => {
  const nl = arrayMultiplier(8);
  const n = 300;
  const p = estimatePower(nl, { stimulus: { activations: new Array(n).fill(-77), weights: new Array(n).fill(93) } });
  assert.equal(p.togglesPerCycle, 0);
  assert.equal(p.dynamicMw, 0);
  assert.ok(p.leakageMw > 0);
  assert.equal(p.samples, n);
});

test("operand streams go to the ports the orientation rule names (8x8: activation on B; 8xN: on A)", () => {
  // NOT(A[0]) and AND(B[0], B[1]): activations alternating 0/3 with a constant weight make
  // only the gate on the activation's port switch.
  const probe = (weightBits: number) => {
    const b = new NetlistBuilder(`probe8x${weightBits}`, 8, weightBits);
    const nl = b.build([b.not(b.portA[0]!), b.and(b.portB[0]!, b.portB[1]!)]);
    return estimatePower(nl, { stimulus: { activations: [0, 3, 0, 3, 0], weights: [0, 0, 0, 0, 0] } }).perType;
  };
  const p8 = probe(8);
  assert.equal(p8.AND2!.togglesPerCycle, 1);
  assert.equal(p8.NOT!.togglesPerCycle, 0);
  const p4 = probe(4);
  assert.equal(p4.AND2!.togglesPerCycle, 0);
  assert.equal(p4.NOT!.togglesPerCycle, 1);
});

test("two copies of a circuit cost twice as much", () => {
  // Same inputs: every toggle and every load doubles, so power doubles exactly.
  const shared = new NetlistBuilder("twice", 4, 4);
  const shOut = [...addMultiplier(shared, shared.portA, shared.portB), ...addMultiplier(shared, shared.portA, shared.portB)];
  const one = estimatePower(arrayMultiplier(4), { samples: 4000, seed: 7 });
  const two = estimatePower(shared.build(shOut), { samples: 4000, seed: 7 });
  assert.ok(Math.abs(two.dynamicMw / one.dynamicMw - 2) < 1e-9, `${two.dynamicMw} / ${one.dynamicMw}`);
  assert.ok(Math.abs(two.leakageMw / one.leakageMw - 2) < 1e-9);

  // Independent inputs: a different random stream per copy, so only about twice.
  const indep = new NetlistBuilder("pair", 8, 8);
  const out = [
    ...addMultiplier(indep, indep.portA.slice(0, 4), indep.portB.slice(0, 4)),
    ...addMultiplier(indep, indep.portA.slice(4), indep.portB.slice(4)),
  ];
  const pair = estimatePower(indep.build(out), { samples: 4000, seed: 7 });
  const ratio = pair.dynamicMw / one.dynamicMw;
  assert.ok(ratio > 1.9 && ratio < 2.1, `ratio ${ratio}`);
});

test("an exact 8x8 array multiplier costs more than a heavily truncated one", () => {
  const exact = netlistCost(arrayMultiplier(8));
  const truncated = netlistCost(arrayMultiplier(8, 10));
  assert.ok(exact.power_estimate.total_mW > 3 * truncated.power_estimate.total_mW, JSON.stringify([exact.power_estimate, truncated.power_estimate]));
  assert.ok(exact.area_estimate_um2 > 3 * truncated.area_estimate_um2);
  assert.ok(exact.gates.total! > 3 * truncated.gates.total!);
  // The exact one has one AND per partial product.
  assert.equal(exact.gates.AND2, 64);
});

test("the estimate is deterministic for a seed and close across seeds", () => {
  const nl = arrayMultiplier(8);
  const a = estimatePower(nl, { seed: 5, samples: 3000 });
  const b = estimatePower(nl, { seed: 5, samples: 3000 });
  const c = estimatePower(nl, { seed: 6, samples: 3000 });
  assert.deepEqual(a, b);
  assert.notEqual(a.dynamicMw, c.dynamicMw);
  assert.ok(Math.abs(a.dynamicMw / c.dynamicMw - 1) < 0.05);
});

test("power scales with the clock and per-type figures add up to the total", () => {
  const nl = arrayMultiplier(8);
  const p1 = estimatePower(nl, { frequencyMHz: 100 });
  const p2 = estimatePower(nl, { frequencyMHz: 200 });
  assert.ok(Math.abs(p2.dynamicMw / p1.dynamicMw - 2) < 1e-9);
  assert.equal(p2.leakageMw, p1.leakageMw);
  const sum = Object.values(p1.perType).reduce((s, t) => s + t.dynamicMw, 0);
  assert.ok(Math.abs(sum - p1.dynamicMw) < 1e-12);
  assert.deepEqual(Object.keys(p1.perType), ["AND2", "FA", "HA", "inputs"]);
});

test("loose XOR/AND/OR groups forming adders are priced like the adder cells", () => {
  // The same 4x4 multiplier twice: once with half/full adder cells, once with loose gates in
  // the usual CGP shape (p = a^b, s = p^c, co = (a&b) | (p&c)).
  const cells = arrayMultiplier(4);
  const b = new NetlistBuilder("loose", 4, 4);
  b.halfAdder = (x: number, y: number) => ({ sum: b.xor(x, y), carry: b.and(x, y) });
  b.fullAdder = (x: number, y: number, z: number) => {
    const p = b.xor(x, y);
    return { sum: b.xor(p, z), carry: b.or(b.and(x, y), b.and(p, z)) };
  };
  const loose = b.build(addMultiplier(b, b.portA, b.portB));
  const cellCounts = gateCounts(cells);
  assert.deepEqual(gateCounts(loose, { mapAdders: true }), cellCounts);
  assert.equal(gateCounts(loose).XOR2, 2 * cellCounts.FA! + cellCounts.HA!);
  const opts = { samples: 2000, seed: 3 };
  const pc = estimatePower(cells, opts);
  const pl = estimatePower(loose, opts);
  assert.ok(Math.abs(pl.totalMw - pc.totalMw) < 1e-12, `${pl.totalMw} vs ${pc.totalMw}`);
  assert.ok(Math.abs(estimateArea(loose) - estimateArea(cells)) < 1e-9);
  // Unmapped, the loose gates cost more: two XOR2 per full adder outweigh one FA cell.
  assert.ok(estimatePower(loose, { ...opts, mapAdders: false }).totalMw > pc.totalMw);
});

test("the unit-delay model counts glitches the zero-delay model cannot see", () => {
  // y = a ^ ~~b with a = b: settled y is always 0, but when a and b rise together the XOR
  // sees the new a one step before the twice-inverted b, so y pulses: 2 transitions per change.
  const b = new NetlistBuilder("glitch", 1, 1);
  const nl = b.build([b.xor(b.portA[0]!, b.not(b.not(b.portB[0]!)))]);
  const stimulus = { a: [0, 1, 0, 1], b: [0, 1, 0, 1] };
  const zero = estimatePower(nl, { stimulus });
  const unit = estimatePower(nl, { stimulus, delay: "unit" });
  assert.equal(zero.perType.XOR2!.togglesPerCycle, 0);
  assert.equal(unit.perType.XOR2!.togglesPerCycle, 2);
  // The inverters toggle once per change either way.
  assert.equal(zero.perType.NOT!.togglesPerCycle, 2);
  assert.equal(unit.perType.NOT!.togglesPerCycle, 2);
  // Without glitches both models agree exactly.
  const m = arrayMultiplier(4);
  const still = { a: [3, 3, 3], b: [5, 5, 5] };
  assert.equal(estimatePower(m, { stimulus: still, delay: "unit" }).dynamicMw, 0);
});

test("bad options and streams are rejected with the field named", () => {
  const nl = arrayMultiplier(8);
  const isAxnn = (part: string) => (e: unknown) => e instanceof AxnnError && e.message.includes(part);
  assert.throws(() => estimatePower(nl, { samples: 1 }), isAxnn("samples"));
  assert.throws(() => estimatePower(nl, { frequencyMHz: 0 }), isAxnn("frequencyMHz"));
  assert.throws(() => estimatePower(nl, { delay: "rc" as "unit" }), isAxnn("delay"));
  assert.throws(() => estimatePower(nl, { stimulus: { activations: [1, 2, 3], weights: [1, 2] } }), isAxnn("3 entries"));
  assert.throws(() => estimatePower(nl, { stimulus: { activations: [1, 300], weights: [1, 2] } }), isAxnn("stimulus.activations: entry 1 is 300"));
});
