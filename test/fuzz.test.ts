// A small sample of the fuzzing (npm run fuzz runs 10^5 inputs per reader), and the hostile inputs
// that claim huge sizes: each refused with a clear error before any large allocation.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { READERS, readerProperty } from "./fuzz/readers.js";
import { AxnnError } from "../src/util/errors.js";
import { parseNpy } from "../src/nn/npy.js";
import { parseIdx } from "../src/data/idx.js";
import { gzipSync } from "node:zlib";
import { importOnnx } from "../src/onnx/import.js";
import { encodeModel, nodeProto, valueInfo } from "../src/onnx/proto.js";
import { parseVerilog } from "../src/multipliers/netlist/verilog-read.js";
import { netlistToTable } from "../src/multipliers/netlist/simulate.js";
import { parseYamlText } from "../src/energy/yaml.js";

const SAMPLE_RUNS = 150;

for (const reader of READERS) {
  test(`fuzz ${reader.name}: ${SAMPLE_RUNS} random and mutated inputs end normally or in an AxnnError naming the file`, () => {
    // A fixed seed per reader: a failure replays; npm run fuzz explores with fresh seeds.
    fc.assert(readerProperty(reader), { numRuns: SAMPLE_RUNS, seed: 13 });
  });
}

const refused = (pattern: RegExp) => (e: unknown) => e instanceof AxnnError && pattern.test(e.message);

test("an ONNX initializer claiming 10^12 elements is refused before allocation; a held tensor past the limit names the knob", () => {
  const onnx = encodeModel({
    opset: 13,
    nodes: [nodeProto("MatMul", ["x", "w"], ["y"], "mm")],
    initializers: [{ name: "w", dims: [1_000_000, 1_000_000], dataType: 1, rawData: new Uint8Array(16) }],
    inputs: [valueInfo("x", [1, 1_000_000])],
    outputs: [valueInfo("y", [1, 1_000_000])],
  });
  assert.throws(() => importOnnx(onnx, "huge.onnx"), refused(/huge\.onnx: initializer "w": raw data has 16 bytes, dims \[1000000,1000000\] of float need 4000000000000/));
  // A tensor the file does hold, past a lowered limit: refused naming the knob.
  const held = encodeModel({
    opset: 13,
    nodes: [nodeProto("MatMul", ["x", "w"], ["y"], "mm")],
    initializers: [{ name: "w", dims: [4, 4], dataType: 1, rawData: new Uint8Array(64) }],
    inputs: [valueInfo("x", [1, 4])],
    outputs: [valueInfo("y", [1, 4])],
  });
  process.env.AXNN_MAX_TENSOR_ELEMENTS = "8";
  try {
    assert.throws(() => importOnnx(held, "held.onnx"), refused(/held\.onnx.*16 elements in one tensor, over the limit of 8 \(raise it with AXNN_MAX_TENSOR_ELEMENTS=N/));
  } finally {
    delete process.env.AXNN_MAX_TENSOR_ELEMENTS;
  }
  importOnnx(held, "held.onnx");
});

test("a .npy header promising more than the file holds, or more than the limit, is refused", () => {
  const npy = (shape: string) => {
    const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape}), }`.padEnd(118) + "\n";
    const out = new Uint8Array(10 + header.length + 8);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 255, header.length >> 8]);
    out.set(new TextEncoder().encode(header), 10);
    return out;
  };
  assert.throws(() => parseNpy(npy("3,"), "short.npy"), refused(/short\.npy: truncated data/));
  assert.throws(() => parseNpy(npy("100000, 100000, 100"), "big.npy"), refused(/big\.npy.*1,000,000,000,000 elements.*AXNN_MAX_TENSOR_ELEMENTS/));
});

test("an IDX header claiming 2^32 x 2^32 elements, and a gzip bomb past the limit, are refused", () => {
  const header = Uint8Array.of(0, 0, 0x08, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
  assert.throws(() => parseIdx(header, "big.idx"), refused(/big\.idx.*AXNN_MAX_TENSOR_ELEMENTS/));
  const bomb = gzipSync(new Uint8Array(4 << 20));
  process.env.AXNN_MAX_INFLATED_BYTES = String(1 << 20);
  try {
    assert.throws(() => parseIdx(bomb, "bomb.idx.gz"), refused(/bomb\.idx\.gz.*inflates past.*AXNN_MAX_INFLATED_BYTES/));
  } finally {
    delete process.env.AXNN_MAX_INFLATED_BYTES;
  }
});

test("a netlist that would grow to 10^8 gates is refused as it grows, under a limit the user can raise", () => {
  const v = `module m(A, B, O);\n  input [7:0] A;\n  input [7:0] B;\n  output [15:0] O;\n  wire [15:0] t;\n  assign t = {100000000{A[0]}};\n  assign O = t;\nendmodule\n`;
  assert.throws(() => netlistToTable(parseVerilog(v, { file: "huge.v" }), false), refused(/huge\.v:6.*100,000,000 gates in one netlist.*AXNN_MAX_NETLIST_GATES/));
  // Many wide wires: the declared bits add up.
  const wide = `module m(A, B, O);\n  input [7:0] A;\n  input [7:0] B;\n  output [15:0] O;\n${Array.from({ length: 200 }, (_v, i) => `  wire [1000000:0] w${i};\n`).join("")}  assign O = {A, B};\nendmodule\n`;
  assert.throws(() => netlistToTable(parseVerilog(wide, { file: "wide.v" }), false), refused(/wide\.v.*AXNN_MAX_NETLIST_GATES/));
  // Raised, the small replication passes the size check (and fails only on what it means).
  process.env.AXNN_MAX_NETLIST_GATES = "10";
  try {
    assert.throws(() => netlistToTable(parseVerilog(`module m(A, B, O);\n  input [7:0] A;\n  input [7:0] B;\n  output [15:0] O;\n  assign O = A + B;\nendmodule\n`, { file: "small.v" }), false),
      refused(/small\.v.*over the limit of 10 /));
  } finally {
    delete process.env.AXNN_MAX_NETLIST_GATES;
  }
});

test("a YAML alias bomb is refused with an AxnnError naming the file", () => {
  const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 9; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(", ")}]`);
  assert.throws(() => parseYamlText(lines.join("\n") + "\n", "bomb.yaml"), refused(/bomb\.yaml.*alias.*AXNN_MAX_YAML_ALIASES/));
});
