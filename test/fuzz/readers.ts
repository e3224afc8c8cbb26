// Every parser and reader of a file a user (or the internet) hands axnn, with valid seed inputs to
// mutate: used by test/fuzz.test.ts (a small sample in npm test) and test/fuzz/run.ts (npm run fuzz).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { REPO_ROOT } from "../shared.js";
import { AxnnError } from "../../src/util/errors.js";
import { ModelBuilder } from "../../src/nn/builder.js";
import { makeTensor } from "../../src/nn/tensor.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { importOnnx } from "../../src/onnx/import.js";
import { encodeNpy, parseNpy } from "../../src/nn/npy.js";
import { encodeIdxUint8, parseIdx } from "../../src/data/idx.js";
import { exactMultiplier, toTfapproxBytes } from "../../src/multipliers/multiplier.js";
import { parseTfapprox } from "../../src/multipliers/tfapprox.js";
import { parseCsvTable, parseJsonTable, tableToCsv, tableToJson } from "../../src/multipliers/table-file.js";
import { parseVerilog } from "../../src/multipliers/netlist/verilog-read.js";
import { netlistToTable } from "../../src/multipliers/netlist/simulate.js";
import { parseAssignment } from "../../src/multipliers/assignment.js";
import { formatSidecar, parseSidecar } from "../../src/zoo/sidecar.js";
import { parseYamlText } from "../../src/energy/yaml.js";
import { parseArchitecture } from "../../src/energy/arch.js";
import { parseErtSummary } from "../../src/energy/ert.js";
import { convProblem, parseProblem } from "../../src/energy/problem.js";
import { parseMapTxt } from "../../src/energy/mapping.js";
import { loadDesign } from "../../src/energy/presets.js";
import { searchMapping } from "../../src/energy/mapper.js";
import { formatMapTxt } from "../../src/energy/report.js";
import { dataPath } from "../../src/util/paths.js";

export interface FuzzReader {
  name: string;
  /** The file name the reader is told; every error must name it. */
  file: string;
  /** Valid inputs, the starting points of mutations. */
  seeds: () => Uint8Array[];
  /** Parses the input (and whatever the reader does next with it); returns normally or throws. */
  parse: (bytes: Uint8Array, file: string) => void;
}

const utf8 = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const once = <T>(f: () => T): (() => T) => {
  let v: T | undefined;
  return () => (v ??= f());
};

const smallModel = once(() => {
  const b = new ModelBuilder("fuzz", { seed: 3 });
  const x = b.input("x", [null, 1, 8, 8]);
  const c = b.maxPool(b.relu(b.conv2d(x, { outChannels: 2, kernel: 3, name: "conv" })), { kernel: 2, stride: 2 });
  b.output(b.softmax(b.dense(b.flatten(c), { outFeatures: 3, name: "fc" })));
  return b.build();
});

const PROBLEM_YAML = `problem:
  version: 0.4
  instance: {C: 4, H: 6, Hdilation: 1, Hpad: 0, Hstride: 1, M: 4, N: 1, P: 4, Q: 4, R: 3, S: 3, W: 6, Wdilation: 1, Wpad: 0, Wstride: 1}
  shape:
    coefficients:
    - {default: 1, name: Wstride}
    - {default: 1, name: Hstride}
    - {default: 1, name: Wdilation}
    - {default: 1, name: Hdilation}
    data_spaces:
    - name: Weights
      projection: [[[C]], [[M]], [[R]], [[S]]]
    - name: Inputs
      projection: [[[N]], [[C]], [[R, Wdilation], [P, Wstride]], [[S, Hdilation], [Q, Hstride]]]
    - name: Outputs
      projection: [[[N]], [[M]], [[Q]], [[P]]]
      read_write: true
    dimensions: [C, M, R, S, N, P, Q]
    name: conv2D
`;

const eyeriss = once(() => {
  const { arch, ert } = loadDesign("eyeriss");
  const problem = convProblem({ N: 1, C: 4, M: 4, P: 4, Q: 4, R: 3, S: 3 });
  const r = searchMapping(arch, problem, ert, { objective: "energy", seed: 1, maxEvaluations: 60, threads: 1 });
  return { arch, problem, mapTxt: formatMapTxt(arch, problem, r.mapping, r.evaluation) };
});

const VERILOG_SMALL = `module m(A, B, O);
  input [7:0] A;
  input [1:0] B;
  output [9:0] O;
  wire [9:0] p0, p1;
  assign p0 = {2'b0, A & {8{B[0]}}};
  assign p1 = {1'b0, A & {8{B[1]}}, 1'b0};
  assign O = p0 + p1;
endmodule
`;

export const READERS: FuzzReader[] = [
  {
    name: "verilog",
    file: "fuzz.v",
    seeds: () => [utf8.encode(VERILOG_SMALL), readFileSync(join(REPO_ROOT, "test", "fixtures", "netlists", "axnn_mixed_8x4.v"))],
    parse: (b, file) => {
      const nl = parseVerilog(text(b), { file });
      netlistToTable(nl, false, file);
    },
  },
  {
    name: "tfapprox-bin",
    file: "fuzz.bin",
    // A 8x2 table (the smallest), and the full 8x8 exact one.
    seeds: () => [toTfapproxBytes(exactMultiplier(false, 2)), toTfapproxBytes(exactMultiplier(false, 8))],
    parse: (b, file) => void parseTfapprox(b, { name: "fuzz", signed: false, file }),
  },
  {
    name: "table-json",
    file: "fuzz.json",
    seeds: () => [utf8.encode(tableToJson(exactMultiplier(false, 2))), utf8.encode(tableToJson(exactMultiplier(true, 2)))],
    parse: (b, file) => void parseJsonTable(text(b), { file }),
  },
  {
    name: "table-csv",
    file: "fuzz.csv",
    seeds: () => [utf8.encode(tableToCsv(exactMultiplier(false, 2))), utf8.encode(tableToCsv(exactMultiplier(true, 2)))],
    parse: (b, file) => void parseCsvTable(text(b), { file }),
  },
  {
    name: "onnx",
    file: "fuzz.onnx",
    seeds: () => [exportOnnx(smallModel())],
    parse: (b, file) => void importOnnx(b, file),
  },
  {
    name: "npy",
    file: "fuzz.npy",
    seeds: () => [encodeNpy(makeTensor([2, 3], [1, 2, 3, 4, 5, 6])), encodeNpy(makeTensor([1], [0.5]))],
    parse: (b, file) => void parseNpy(b, file),
  },
  {
    name: "idx",
    file: "fuzz.idx",
    seeds: () => [encodeIdxUint8([2, 3, 3], new Uint8Array(18).map((_v, i) => i * 13)), encodeIdxUint8([4], Uint8Array.of(1, 2, 3, 4))],
    parse: (b, file) => void parseIdx(b, file),
  },
  {
    name: "sidecar",
    file: "fuzz.axnn.json",
    seeds: () => [utf8.encode(formatSidecar({
      quantization: { scheme: "asym", per_channel: false, activations: { conv: { scale: 0.01, zeroPoint: 3 }, fc: { scale: 0.02, zeroPoint: 0 } } },
      multipliers: { default: "exact", layers: { fc: "drum_k3_u8x8" } },
      input: { normalize: "unit" },
    } as never))],
    parse: (b, file) => void parseSidecar(text(b), file, ["conv", "fc"]),
  },
  {
    name: "mult-config",
    file: "fuzz-layers.json",
    seeds: () => [utf8.encode(JSON.stringify({ default: "exact", layers: { conv: "drum_k3_u8x8", fc: "trunc_k4c_u8x8" } }))],
    parse: (b, file) => void parseAssignment(text(b), file, ["conv", "fc"]),
  },
  {
    name: "timeloop-arch-yaml",
    file: "fuzz-arch.yaml",
    seeds: () => [readFileSync(dataPath("energy", "eyeriss", "arch.yaml")), readFileSync(dataPath("energy", "simba-v03", "arch.yaml"))],
    parse: (b, file) => void parseArchitecture(parseYamlText(text(b), file), file),
  },
  {
    name: "timeloop-ert-yaml",
    file: "fuzz-ERT_summary.yaml",
    seeds: () => [readFileSync(dataPath("energy", "eyeriss", "ERT_summary.yaml"))],
    parse: (b, file) => void parseErtSummary(parseYamlText(text(b), file), file),
  },
  {
    name: "timeloop-problem-yaml",
    file: "fuzz-problem.yaml",
    seeds: () => [utf8.encode(PROBLEM_YAML)],
    parse: (b, file) => void parseProblem(parseYamlText(text(b), file), file),
  },
  {
    name: "timeloop-map-txt",
    file: "fuzz.map.txt",
    seeds: () => [utf8.encode(eyeriss().mapTxt)],
    parse: (b, file) => {
      const { arch, problem } = eyeriss();
      parseMapTxt(text(b), arch, problem, file);
    },
  },
];

/** One mutation of a byte string (fast-check shrinks these towards no change). */
type Mutation =
  | { k: "flip"; at: number; value: number }
  | { k: "insert"; at: number; bytes: Uint8Array }
  | { k: "delete"; at: number; length: number }
  | { k: "truncate"; at: number }
  | { k: "duplicate"; at: number; length: number; to: number }
  | { k: "number"; at: number; text: string };

/** Numbers that break parsers: huge, negative, zero, non-integers, overflowing, NaN. */
const NASTY_NUMBERS = ["0", "-1", "1e12", "1000000000000", "4294967296", "2147483648", "-2147483649", "99999999999999999999", "1.5", "NaN", "Infinity", "-0", "1e308", "255", "256", "65536", "100000000"];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ k: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ k: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ k: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ k: fc.constant("duplicate" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }), to: fc.nat() }),
  fc.record({ k: fc.constant("number" as const), at: fc.nat(), text: fc.constantFrom(...NASTY_NUMBERS) }),
);

function applyMutation(b: Uint8Array, m: Mutation): Uint8Array {
  const at = b.length === 0 ? 0 : m.at % (b.length + 1);
  const cat = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  switch (m.k) {
    case "flip": {
      if (b.length === 0) return b;
      const out = b.slice();
      out[at % b.length] = m.value;
      return out;
    }
    case "insert": return cat(b.subarray(0, at), m.bytes, b.subarray(at));
    case "delete": return cat(b.subarray(0, at), b.subarray(at + m.length));
    case "truncate": return b.slice(0, at);
    case "duplicate": {
      const chunk = b.slice(at, at + m.length);
      const to = b.length === 0 ? 0 : m.to % (b.length + 1);
      return cat(b.subarray(0, to), chunk, b.subarray(to));
    }
    case "number": {
      // Replace the run of digits at or after `at` (text formats: sizes, indices, values) by a nasty number.
      let i = at;
      while (i < b.length && !(b[i]! >= 0x30 && b[i]! <= 0x39)) i++;
      if (i >= b.length) return b;
      let j = i;
      while (j < b.length && ((b[j]! >= 0x30 && b[j]! <= 0x39) || b[j] === 0x2e)) j++;
      return cat(b.subarray(0, i), utf8.encode(m.text), b.subarray(j));
    }
  }
}

/** Inputs for a reader: pure random bytes (a sixth), else a seed with 1 to 4 mutations. */
export function inputsFor(reader: FuzzReader): fc.Arbitrary<Uint8Array> {
  const seeds = reader.seeds();
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) },
    {
      weight: 5,
      arbitrary: fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([seed, ms]) => ms.reduce(applyMutation, seed)),
    },
  );
}

/**
 * The property: the reader returns, or throws an AxnnError whose message names the file. Anything
 * else (a TypeError, a RangeError from a huge allocation, an error without the file) fails.
 */
export function readerProperty(reader: FuzzReader): fc.IPropertyWithHooks<[Uint8Array]> {
  return fc.property(inputsFor(reader), (bytes) => {
    try {
      reader.parse(bytes, reader.file);
    } catch (e) {
      if (!(e instanceof AxnnError)) throw new Error(`${reader.name}: not an AxnnError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      if (!e.message.includes(reader.file)) throw new Error(`${reader.name}: the error does not name the file: ${e.message}`);
    }
  });
}
