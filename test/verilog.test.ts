import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { exactMultiplier, multiply } from "../src/multipliers/multiplier.js";
import { NetlistBuilder, type Netlist } from "../src/multipliers/netlist/ir.js";
import { netlistToMultiplier, netlistToTable } from "../src/multipliers/netlist/simulate.js";
import { parseVerilog, readVerilogFile } from "../src/multipliers/netlist/verilog-read.js";
import { writeVerilog, writeVerilogFile } from "../src/multipliers/netlist/verilog-write.js";
import { AxnnError } from "../src/util/errors.js";
import { REPO_ROOT } from "./shared.js";

const FIXTURES = join(REPO_ROOT, "test", "fixtures", "netlists");

function cellCounts(nl: Netlist): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of nl.cells) counts[c.type] = (counts[c.type] ?? 0) + 1;
  return counts;
}

/**
 * Exact 8xN array multiplier from AND gates and half/full adder cells. Signed operands are
 * sign-extended to the output width, whose low bits are then the two's complement product.
 */
function arrayMultiplier(widthB: number, signed: boolean): Netlist {
  const b = new NetlistBuilder(`array_${signed ? "s" : "u"}8x${widthB}`, 8, widthB);
  const outBits = 8 + widthB;
  const extend = (bits: number[]) => Array.from({ length: outBits }, (_, i) => (i < bits.length ? bits[i]! : signed ? bits[bits.length - 1]! : b.const(0)));
  const xs = extend(b.portA);
  const ys = extend(b.portB);
  let acc = xs.map((x) => b.and(x, ys[0]!));
  for (let j = 1; j < (signed ? outBits : widthB); j++) {
    const next = acc.slice(0, j);
    let carry: number | undefined;
    for (let i = j; i < outBits; i++) {
      const p = b.and(xs[i - j]!, ys[j]!);
      const r = carry === undefined ? b.halfAdder(acc[i]!, p) : b.fullAdder(acc[i]!, p, carry);
      next.push(r.sum);
      carry = r.carry;
    }
    acc = next;
  }
  return b.build(acc);
}

test("the hand-written fixture (out of order, PDKGEN and bare cells, + of concatenations) is an exact 8x4 multiplier", () => {
  const file = join(FIXTURES, "axnn_mixed_8x4.v");
  const nl = readVerilogFile(file);
  assert.equal(nl.name, "axnn_mixed_8x4");
  assert.equal(nl.portA.length, 8);
  assert.equal(nl.portB.length, 4);
  assert.equal(nl.output.length, 12);
  const m = netlistToMultiplier(nl, false);
  assert.equal(m.weightBits, 4);
  for (let a = 0; a < 256; a++) for (let w = 0; w < 16; w++) assert.equal(multiply(m, a, w), a * w, `${a}*${w}`);
  // The explicit instances h0..h7 of the file, whatever their style, are cells of type HA/FA.
  const explicit = nl.cells.filter((c) => /^[hf]\d$/.test(c.instance)).map((c) => `${c.instance}:${c.type}`);
  assert.deepEqual(explicit, ["h0:HA", "f1:FA", "f2:FA", "f3:FA", "f4:FA", "f5:FA", "f6:FA", "h7:HA"]);
  // The two `+` statements add cells too (ripple-carry adders).
  assert.ok(nl.cells.length > explicit.length);
});

test("an output named Z works; `input [7:0] A, B` and a sum of shifted partial products give the exact 8x8 product", () => {
  const rows = Array.from({ length: 8 }, (_, j) => {
    // Row j is (A & B[j]) << j, zero-padded to 16 bits.
    const parts = [`${8 - j}'b0`, `A & {8{B[${j}]}}`, ...(j > 0 ? [`${j}'b0`] : [])];
    return `{${parts.join(", ")}}`;
  });
  const text = `module rows_8x8(A, B, Z);\n  input [7:0] A, B;\n  output [15:0] Z;\n  assign Z = ${rows.join(" + ")};\nendmodule\n`;
  const nl = parseVerilog(text, { file: "rows.v" });
  assert.equal(nl.outputName, "Z");
  assert.deepEqual(netlistToMultiplier(nl, false).table, exactMultiplier(false, 8).table);
  assert.ok((cellCounts(nl).FA ?? 0) > 0, "`+` is built from full adder cells");
});

test("operators: ~& ~| ~^ reductions, ^~, ?:, '-' and sized constants evaluate as Verilog defines them", () => {
  // Each output bit is a hand-derived function of the operands; the table is checked against it.
  const text = `
    module ops(A, B, O);
      input [7:0] A; input [7:0] B; output [15:0] O;
      wire [3:0] d;
      assign O[0] = ~&A[1:0];          // nand of A[1:0]
      assign O[1] = ~|B[1:0];          // nor of B[1:0]
      assign O[2] = ^A;                // parity of A
      assign O[3] = ~^B;               // inverted parity of B
      assign O[4] = A[2] ^~ B[2];      // xnor
      assign O[5] = B[7] ? A[7] : A[6];
      assign O[9:6] = d;
      assign d = A[3:0] - B[3:0];      // modulo 16
      assign O[15:10] = 6'h2A | 6'd1;  // 101010 | 000001 = 101011
    endmodule`;
  const m = netlistToMultiplier(parseVerilog(text), false);
  const bit = (x: number, k: number) => (x >> k) & 1;
  const parity = (x: number) => x.toString(2).split("").filter((c) => c === "1").length & 1;
  for (let a = 0; a < 256; a += 3) {
    for (let b = 0; b < 256; b += 5) {
      const expected =
        (1 - (bit(a, 0) & bit(a, 1))) |
        ((1 - (bit(b, 0) | bit(b, 1))) << 1) |
        (parity(a) << 2) |
        ((1 - parity(b)) << 3) |
        ((1 - (bit(a, 2) ^ bit(b, 2))) << 4) |
        ((bit(b, 7) ? bit(a, 7) : bit(a, 6)) << 5) |
        ((((a & 15) - (b & 15)) & 15) << 6) |
        (0b101011 << 10);
      // 8x8 table: activation = port B, weight = port A.
      assert.equal(m.table[(b << 8) | a], expected, `A=${a} B=${b}`);
    }
  }
});

test("ANSI port lists and descending-index ranges ([0:7]) are read as Verilog defines them", () => {
  // w is declared [0:7], so w[0] is its MSB: w = A puts A[7] in w[0] and A[0] in w[7].
  const nl = parseVerilog(`module m(output [15:0] O, input wire [7:0] A, input [7:0] B);
    wire [0:7] w;
    assign w = A;
    assign O = {w[7], w[0:6], B};
  endmodule`);
  const table = netlistToTable(nl, false).table;
  for (let a = 0; a < 256; a += 7) {
    for (let b = 0; b < 256; b += 11) {
      const rotatedRight = (a >> 1) | ((a & 1) << 7); // {A[0], A[7:1]}
      assert.equal(table[(b << 8) | a], (rotatedRight << 8) | b, `A=${a} B=${b}`);
    }
  }
});

test("builder -> writer -> reader gives the same table and cell counts (8x8 and 8x4, signed and unsigned)", () => {
  for (const [widthB, signed] of [[8, false], [8, true], [4, false], [4, true]] as const) {
    const nl = arrayMultiplier(widthB, signed);
    const exact = exactMultiplier(signed, widthB).table;
    assert.deepEqual(netlistToTable(nl, signed).table, exact, `builder 8x${widthB} ${signed}`);
    const text = writeVerilog(nl);
    assert.match(text, /PDKGENFAX1 /);
    assert.match(text, /^module PDKGENFAX1\(/m);
    const back = parseVerilog(text, { file: `${nl.name}.v` });
    assert.equal(back.name, nl.name);
    assert.deepEqual(netlistToTable(back, signed).table, exact, `round trip 8x${widthB} ${signed}`);
    assert.deepEqual(cellCounts(back), cellCounts(nl));
  }
});

test("the writer handles every gate kind, library cells by function, and cell types it has no table entry for", () => {
  const b = new NetlistBuilder("kinds", 8, 8);
  const [a0, a1, a2, a3, a4, a5, a6, a7] = b.portA as [number, number, number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4, b5, b6, b7] = b.portB as [number, number, number, number, number, number, number, number];
  const maj = (x: number, y: number, z: number) => b.cell("MAJ3", () => b.or(b.and(x, y), b.and(b.or(x, y), z)));
  const csa = (x: number, y: number, z: number) => b.cell("CSA3", () => {
    const p = b.xor(x, y);
    return { s: b.xor(p, z), c: b.or(b.and(x, y), b.and(p, z)) };
  });
  const out = [
    b.gate("NAND", [a0, b0]),
    b.gate("NOR", [a1, b1]),
    b.gate("XNOR", [a2, b2]),
    b.gate("BUF", [a3]),
    b.const(1),
    b.const(0),
    b.not(a4),
    b.cell("AND2", () => b.and(a5, b5)),
    b.cell("INV", () => b.not(b6)),
    maj(a6, b7, a7),
    maj(b3, a6, b4), // another instance, inputs in another role
    b.cell("OR2", () => b.or(b.portA[0]!, b7)),
    b.cell("XOR2", () => b.xor(a7, b1)),
    // A half adder whose carry only feeds a loose gate, and whose inputs are one net twice.
    b.xor(b.halfAdder(a1, b2).carry, a2),
    b.halfAdder(a3, a3).sum,
    a0, // an output bit straight from an input port
    // A type the writer learns from an instance whose carry dangles; the next uses both outputs.
    csa(a1, a2, b3).s,
    ((r) => b.xor(r.s, r.c))(csa(b1, a5, b2)),
  ];
  const nl = b.build(out);
  const text = writeVerilog(nl, { moduleName: "kinds_written" });
  assert.match(text, /^module kinds_written\(A, B, O\);/m);
  assert.match(text, /^module PDKGENMAJ3X1\(/m);
  assert.match(text, /^module PDKGENCSA3X1\(input I0, input I1, input I2, output Y0, output Y1\);/m);
  const back = parseVerilog(text);
  assert.deepEqual(netlistToTable(back, false).table, netlistToTable(nl, false).table);
  assert.deepEqual(cellCounts(back), cellCounts(nl));
});

test("writeVerilogFile writes a file that readVerilogFile reads back; an output named Z survives", () => {
  const b = new NetlistBuilder("zout", 8, 2);
  const out = Array.from({ length: 10 }, (_, i) => (i < 8 ? b.and(b.portA[i]!, b.portB[i & 1]!) : b.const(0)));
  const nl = b.build(out, "Z");
  const file = join(mkdtempSync(join(tmpdir(), "axnn-verilog-")), "zout.v");
  writeVerilogFile(nl, file);
  assert.match(readFileSync(file, "utf8"), /output \[9:0\] Z;/);
  const back = readVerilogFile(file);
  assert.equal(back.outputName, "Z");
  assert.deepEqual(netlistToTable(back, false).table, netlistToTable(nl, false).table);
});

test("a ~700-gate netlist written, parsed and evaluated gives the exact signed product table (its speed: npm run bench)", () => {
  const nl = arrayMultiplier(8, true);
  assert.ok(nl.gates.length >= 500, `${nl.gates.length} gates`);
  const table = netlistToTable(parseVerilog(writeVerilog(nl)), true).table;
  for (let a = -128; a < 128; a += 7) for (let w = -128; w < 128; w += 5) assert.equal(table[((a & 255) << 8) | (w & 255)], a * w, `${a} x ${w}`);
});

// ---------------------------------------------------------------- bad input

const HEADER = "module m(A, B, O);\n  input [7:0] A;\n  input [7:0] B;\n  output [15:0] O;\n  wire [3:0] w;\n  wire x, y;\n";
// Lines 1-6 are the header above; statements start at line 7.

function rejects(text: string, line: number, problem: RegExp): void {
  assert.throws(() => parseVerilog(text, { file: "bad.v" }), (e: unknown) => {
    assert.ok(e instanceof AxnnError, `not an AxnnError: ${String(e)}`);
    assert.equal(e.file, "bad.v");
    assert.equal(e.line, line, e.message);
    assert.ok(e.message.startsWith(`bad.v:${line}: `), e.message);
    assert.match(e.message, problem);
    return true;
  });
}

test("the valid base of the bad-input cases parses", () => {
  const nl = parseVerilog(`${HEADER}  assign O = {8'b0, A & B};\nendmodule\n`);
  assert.equal(netlistToTable(nl, false).table[(3 << 8) | 5], 3 & 5);
});

test("syntax errors say what was expected, where", () => {
  rejects(`${HEADER}  assign O = (A & B;\nendmodule\n`, 7, /expected '\)'/);
  rejects(`${HEADER}  assign O = {8'b0, A & B}\nendmodule\n`, 8, /expected ';'.*found 'endmodule'/);
  rejects(`${HEADER}  assign O = {8'b0, A & B};\n`, 8, /no 'endmodule'/);
  rejects(`${HEADER}  assign O = 16'bx;\nendmodule\n`, 7, /x and z/);
  rejects(`${HEADER}  always @(*) O = A;\nendmodule\n`, 7, /'always' is not supported/);
});

test("unknown cells and operators are named", () => {
  rejects(`${HEADER}  FOOX1 u1(.A(A[0]), .Y(x));\n  assign O = {8'b0, A & B};\nendmodule\n`, 7, /unknown cell FOOX1/);
  rejects(`${HEADER}  assign O = A * B;\nendmodule\n`, 7, /operator '\*' is not supported/);
  rejects(`${HEADER}  HAX1 u1(.A(A[0]), .B(B[0]), .Q(x));\n  assign O = {8'b0, A & B};\nendmodule\n`, 7, /HAX1 has no port Q/);
});

test("undriven and multiply-driven output bits are reported", () => {
  rejects(`${HEADER}  assign O[14:0] = {7'b0, A & B};\nendmodule\n`, 4, /output bit O\[15\].*never driven/);
  rejects(`${HEADER}  assign O = {12'b0, w};\nendmodule\n`, 7, /O\[0\] is connected to w\[0\], which is never driven/);
  rejects(`${HEADER}  assign O = {8'b0, A & B};\n  assign O[3] = A[0];\nendmodule\n`, 8, /O\[3\] is driven more than once \(also at line 7\)/);
  rejects(`${HEADER}  assign O = {8'b0, A & B};\n  HAX1 u(.A(A[0]), .B(B[0]), .YS(O[2]), .YC(x));\nendmodule\n`, 8, /O\[2\] is driven more than once/);
  rejects(`${HEADER}  assign O = {8'b0, A & B};\n  assign A[1] = B[0];\nendmodule\n`, 8, /input port A cannot be assigned/);
  rejects(`${HEADER}  assign O = {12'b0, w & A[3:0]};\nendmodule\n`, 7, /net w\[0\] is used but never driven/);
});

test("combinational loops are reported with a line", () => {
  // Through gates: finalizeNetlist finds it; the line of a gate on the loop is carried.
  assert.throws(() => parseVerilog(`${HEADER}  assign x = y & A[0];\n  assign y = x | B[0];\n  assign O = {14'b0, x, y};\nendmodule\n`, { file: "bad.v" }),
    (e: unknown) => e instanceof AxnnError && /combinational loop/.test(e.message) && (e.line === 7 || e.line === 8) && e.message.startsWith(`bad.v:${e.line}: `));
  // Through plain assignments.
  assert.throws(() => parseVerilog(`${HEADER}  assign x = y;\n  assign y = x;\n  assign O = {14'b0, x, y};\nendmodule\n`, { file: "bad.v" }),
    (e: unknown) => e instanceof AxnnError && /combinational loop/.test(e.message) && (e.line === 7 || e.line === 8));
});

test("wrong port widths say what is needed", () => {
  const body = "  assign O = 0;\nendmodule\n";
  rejects(`module m(A, B, O);\n  input [6:0] A;\n  input [7:0] B;\n  output [15:0] O;\n${body}`, 2, /A of m is 7 bits wide; an 8xN multiplier needs A to be 8 bits/);
  rejects(`module m(A, B, O);\n  input [7:0] A;\n  input [8:0] B;\n  output [16:0] O;\n${body}`, 3, /B of m is 9 bits wide; expected 1 to 8/);
  rejects(`module m(A, B, O);\n  input [7:0] A;\n  input [7:0] B;\n  output [11:0] O;\n${body}`, 4, /output O of m is 12 bits wide; an 8x8 multiplier needs 16 to 32/);
  rejects(`module m(X, Y, O);\n  input [7:0] X;\n  input [7:0] Y;\n  output [15:0] O;\n${body}`, 1, /no multiplier module.*m\(X, Y, O\)/);
});

test("undeclared nets and out-of-range selects are reported", () => {
  rejects(`${HEADER}  assign O = {8'b0, A & C};\nendmodule\n`, 7, /undeclared net C/);
  rejects(`${HEADER}  assign O = {12'b0, w[4:1]};\nendmodule\n`, 7, /w\[4\] is out of range: w is declared \[3:0\]/);
  rejects(`${HEADER}\n\n  assign O[16] = A[0];\nendmodule\n`, 9, /O\[16\] is out of range/);
});

test("readVerilogFile names a missing file", () => {
  assert.throws(() => readVerilogFile("/nonexistent/x.v"), (e: unknown) => e instanceof AxnnError && e.message.includes("/nonexistent/x.v") && e.message.includes("ENOENT"));
});
