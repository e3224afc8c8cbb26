import { AxnnError } from "../../util/errors.js";
import { writeFileAtomic } from "../../util/fs.js";
import type { Gate, Netlist } from "./ir.js";
import { describeGateCounts, gateCounts } from "./cost.js";

/**
 * Writes a netlist as EvoApproxLib-style structural Verilog: ports A, B and the output,
 * one wire vector N for all internal nets, `assign` statements for loose gates, and one
 * instance per cell (`PDKGENHAX1`, `PDKGENFAX1`, `PDKGENAND2X1`, ...) with the cell
 * modules defined at the bottom of the file, so the file simulates on its own.
 *
 * Cells are recognised by function, not by their internal gates: each cell's output nets
 * are evaluated over all values of its input nets and matched against the cell type's
 * port functions. Cell types outside the table below get a module written from the
 * gates of their first instance.
 */

interface CellSpec {
  module: string;
  inputs: string[];
  outputs: string[];
  /** Output port values for input port values (bit k of `x` = input port k). */
  eval: (x: number) => number[];
  /** The module definition written at the bottom of the file. */
  definition: string;
}

const bit = (x: number, k: number) => (x >> k) & 1;

function simpleCell(type: string, inputs: string[], fn: (v: number[]) => number, expr: string): [string, CellSpec] {
  const module = `PDKGEN${type}X1`;
  return [type, {
    module,
    inputs,
    outputs: ["Y"],
    eval: (x) => [fn(inputs.map((_, k) => bit(x, k))) & 1],
    definition: `module ${module}(${inputs.map((p) => `input ${p}`).join(", ")}, output Y);\n    assign Y = ${expr};\nendmodule\n`,
  }];
}

const CELL_SPECS = new Map<string, CellSpec>([
  ["HA", {
    module: "PDKGENHAX1",
    inputs: ["A", "B"],
    outputs: ["YS", "YC"],
    eval: (x) => [bit(x, 0) ^ bit(x, 1), bit(x, 0) & bit(x, 1)],
    definition: "module PDKGENHAX1( input A, input B, output YS, output YC );\n    assign YS = A ^ B;\n    assign YC = A & B;\nendmodule\n",
  }],
  ["FA", {
    module: "PDKGENFAX1",
    inputs: ["A", "B", "C"],
    outputs: ["YS", "YC"],
    eval: (x) => {
      const s = bit(x, 0) + bit(x, 1) + bit(x, 2);
      return [s & 1, s >> 1];
    },
    definition: "module PDKGENFAX1( input A, input B, input C, output YS, output YC );\n    assign YS = (A ^ B) ^ C;\n    assign YC = (A & B) | (B & C) | (A & C);\nendmodule\n",
  }],
  simpleCell("AND2", ["A", "B"], ([a, b]) => a! & b!, "A & B"),
  simpleCell("OR2", ["A", "B"], ([a, b]) => a! | b!, "A | B"),
  simpleCell("XOR2", ["A", "B"], ([a, b]) => a! ^ b!, "A ^ B"),
  simpleCell("XNOR2", ["A", "B"], ([a, b]) => ~(a! ^ b!), "~(A ^ B)"),
  simpleCell("NAND2", ["A", "B"], ([a, b]) => ~(a! & b!), "~(A & B)"),
  simpleCell("NOR2", ["A", "B"], ([a, b]) => ~(a! | b!), "~(A | B)"),
  simpleCell("NAND3", ["A", "B", "C"], ([a, b, c]) => ~(a! & b! & c!), "~(A & B & C)"),
  simpleCell("NOR3", ["A", "B", "C"], ([a, b, c]) => ~(a! | b! | c!), "~(A | B | C)"),
  simpleCell("AOI21", ["A", "B", "C"], ([a, b, c]) => ~((a! & b!) | c!), "~((A & B) | C)"),
  simpleCell("OAI21", ["A", "B", "C"], ([a, b, c]) => ~((a! | b!) & c!), "~((A | B) & C)"),
  simpleCell("AOI22", ["A", "B", "C", "D"], ([a, b, c, d]) => ~((a! & b!) | (c! & d!)), "~((A & B) | (C & D))"),
  simpleCell("OAI22", ["A", "B", "C", "D"], ([a, b, c, d]) => ~((a! | b!) & (c! | d!)), "~((A | B) & (C | D))"),
  simpleCell("INV", ["A"], ([a]) => ~a!, "~A"),
  simpleCell("BUF", ["A"], ([a]) => a!, "A"),
]);

function gateExpr(g: Gate, name: (net: number) => string): string {
  const [x, y] = g.inputs.map(name);
  switch (g.kind) {
    case "AND": return `${x} & ${y}`;
    case "OR": return `${x} | ${y}`;
    case "XOR": return `${x} ^ ${y}`;
    case "NAND": return `~(${x} & ${y})`;
    case "NOR": return `~(${x} | ${y})`;
    case "XNOR": return `~(${x} ^ ${y})`;
    case "NOT": return `~${x}`;
    case "BUF": return `${x}`;
    case "CONST0": return "1'b0";
    case "CONST1": return "1'b1";
  }
}

function gateValue(g: Gate, v: (net: number) => number): number {
  const x = g.inputs.length > 0 ? v(g.inputs[0]!) : 0;
  const y = g.inputs.length > 1 ? v(g.inputs[1]!) : 0;
  switch (g.kind) {
    case "AND": return x & y;
    case "OR": return x | y;
    case "XOR": return x ^ y;
    case "NAND": return ~(x & y);
    case "NOR": return ~(x | y);
    case "XNOR": return ~(x ^ y);
    case "NOT": return ~x;
    case "BUF": return x;
    case "CONST0": return 0;
    case "CONST1": return -1;
  }
}

const MAX_CELL_INPUTS = 5; // truth tables fit one 32-bit word

/** A cell instance seen from outside: its gates, input nets and truth tables. */
interface CellView {
  index: number;
  type: string;
  instance: string;
  gates: Gate[];
  inputs: number[];
  /** Truth table (2^inputs bits) of every net the cell's gates drive. */
  tables: Map<number, number>;
}

function viewCell(nl: Netlist, index: number, gates: Gate[]): CellView {
  const cell = nl.cells[index]!;
  const inside = new Set(gates.map((g) => g.output));
  const inputs: number[] = [];
  for (const g of gates) for (const x of g.inputs) if (!inside.has(x) && !inputs.includes(x)) inputs.push(x);
  if (inputs.length > MAX_CELL_INPUTS) {
    throw new AxnnError(`cell ${cell.instance} (${cell.type}) has ${inputs.length} inputs; the writer handles cells of up to ${MAX_CELL_INPUTS}`, { field: nl.name });
  }
  const patterns = 1 << inputs.length;
  const mask = patterns === 32 ? -1 : (1 << patterns) - 1;
  const value = new Map<number, number>();
  inputs.forEach((net, k) => {
    let t = 0;
    for (let p = 0; p < patterns; p++) if (bit(p, k)) t |= 1 << p;
    value.set(net, t);
  });
  const tables = new Map<number, number>();
  for (const g of gates) {
    const t = gateValue(g, (net) => value.get(net)!) & mask;
    value.set(g.output, t);
    tables.set(g.output, t);
  }
  return { index, type: cell.type, instance: cell.instance, gates, inputs, tables };
}

/**
 * Finds how to connect a cell of `spec` so that it computes what `view` computes:
 * which input net goes to each input port (a net may feed several ports) and which
 * port drives each net used outside the cell. Undefined when the cell does not match.
 */
function matchCell(spec: CellSpec, view: CellView, usedOutside: number[]): { inputs: number[]; outputs: (number | undefined)[] } | undefined {
  const k = view.inputs.length;
  const patterns = 1 << k;
  const arity = spec.inputs.length;
  if (k > arity) return undefined;
  const attempt = (choice: number[]) => {
    // Every input net must reach some port.
    if (new Set(choice).size !== k) return undefined;
    // Port function tables under this choice of input net per port.
    const portTables = spec.outputs.map(() => 0);
    for (let p = 0; p < patterns; p++) {
      let x = 0;
      for (let q = 0; q < arity; q++) x |= bit(p, choice[q]!) << q;
      spec.eval(x).forEach((v, o) => { portTables[o]! |= (v & 1) << p; });
    }
    const outputs: (number | undefined)[] = spec.outputs.map(() => undefined);
    for (const net of usedOutside) {
      const o = portTables.indexOf(view.tables.get(net)!);
      if (o < 0 || (outputs[o] !== undefined && outputs[o] !== net)) return undefined;
      outputs[o] = net;
    }
    return { inputs: choice.map((c) => view.inputs[c]!), outputs };
  };
  // Keep the pin order the cell was read with when it fits (pins differ in load, which
  // power estimates see); otherwise try every assignment of input nets to pins.
  const identity = attempt(spec.inputs.map((_, q) => q));
  if (identity) return identity;
  const choice = new Array<number>(arity).fill(0);
  for (;;) {
    const found = attempt(choice);
    if (found) return found;
    let q = 0;
    while (q < arity && ++choice[q]! === k) choice[q++] = 0;
    if (q === arity || k === 0) return undefined;
  }
}

/** A spec for a cell type we have no table entry for, from the gates of one instance. */
function specFromInstance(view: CellView, portNets: number[]): CellSpec {
  const module = `PDKGEN${view.type.replace(/[^A-Za-z0-9_]/g, "_")}X1`;
  const inputs = view.inputs.map((_, k) => `I${k}`);
  const outputs = portNets.map((_, k) => `Y${k}`);
  const local = new Map<number, string>();
  view.inputs.forEach((net, k) => local.set(net, inputs[k]!));
  const wires: string[] = [];
  const lines: string[] = [];
  view.gates.forEach((g, k) => {
    const w = `t${k}`;
    wires.push(w);
    lines.push(`    assign ${w} = ${gateExpr(g, (net) => local.get(net)!)};`);
    local.set(g.output, w);
  });
  portNets.forEach((net, k) => lines.push(`    assign ${outputs[k]} = ${local.get(net)};`));
  const tables = portNets.map((net) => view.tables.get(net)!);
  return {
    module,
    inputs,
    outputs,
    eval: (x) => tables.map((t) => bit(t, x)),
    definition: `module ${module}(${[...inputs.map((p) => `input ${p}`), ...outputs.map((p) => `output ${p}`)].join(", ")});\n${wires.length ? `    wire ${wires.join(", ")};\n` : ""}${lines.join("\n")}\nendmodule\n`,
  };
}

function verilogIdentifier(name: string): string {
  let id = name.replace(/[^A-Za-z0-9_$]/g, "_");
  if (!/^[A-Za-z_]/.test(id)) id = `m_${id}`;
  return id;
}

/** EvoApproxLib-style Verilog for a netlist; parseVerilog reads it back to the same table and cells. */
export function writeVerilog(nl: Netlist, opts: { moduleName?: string } = {}): string {
  const moduleName = verilogIdentifier(opts.moduleName ?? nl.name);
  const outName = nl.outputName || "O";
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(outName) || outName === "A" || outName === "B") {
    throw new AxnnError(`output port name ${JSON.stringify(outName)} cannot be written as a Verilog port beside A and B`, { field: nl.name });
  }
  const wireVec = outName === "N" ? "W" : "N";

  const names = new Map<number, string>();
  nl.portA.forEach((net, k) => names.set(net, `A[${k}]`));
  nl.portB.forEach((net, k) => names.set(net, `B[${k}]`));
  let wires = 0;
  const fresh = () => `${wireVec}[${wires++}]`;
  const name = (net: number) => {
    let s = names.get(net);
    if (s === undefined) names.set(net, (s = fresh()));
    return s;
  };

  const cellGates = new Map<number, Gate[]>();
  for (const g of nl.gates) {
    if (g.cell === undefined) continue;
    let list = cellGates.get(g.cell);
    if (!list) cellGates.set(g.cell, (list = []));
    list.push(g);
  }
  // Nets read outside their own cell (by another gate or the output port).
  const readBy = new Map<number, Set<number | "out">>();
  for (const g of nl.gates) {
    for (const x of g.inputs) {
      let s = readBy.get(x);
      if (!s) readBy.set(x, (s = new Set()));
      s.add(g.cell ?? -1);
    }
  }
  for (const x of nl.output) {
    let s = readBy.get(x);
    if (!s) readBy.set(x, (s = new Set()));
    s.add("out");
  }

  const body: string[] = [];
  const specs = new Map<string, CellSpec>();
  const done = new Set<number>();
  for (const g of nl.gates) {
    if (g.cell === undefined) {
      body.push(`  assign ${name(g.output)} = ${gateExpr(g, name)};`);
      continue;
    }
    if (done.has(g.cell)) continue;
    done.add(g.cell);
    const view = viewCell(nl, g.cell, cellGates.get(g.cell)!);
    const usedOutside = view.gates.map((h) => h.output).filter((net) => [...(readBy.get(net) ?? [])].some((r) => r !== g.cell));
    let spec = specs.get(view.type) ?? CELL_SPECS.get(view.type);
    if (!spec) {
      // Ports of a new type: what this instance exports plus its dangling outputs, so that
      // a later instance using an output this one leaves unused still matches.
      const readInside = new Set(view.gates.flatMap((h) => h.inputs));
      spec = specFromInstance(view, view.gates.map((h) => h.output).filter((net) => usedOutside.includes(net) || !readInside.has(net)));
    }
    const m = matchCell(spec, view, usedOutside);
    if (!m) {
      throw new AxnnError(`cell ${view.instance} of type ${view.type} does not compute what a ${spec.module} cell does (ports ${[...spec.inputs, ...spec.outputs].join(", ")}); cannot write it as one`, { field: nl.name });
    }
    specs.set(view.type, spec);
    const conns = [
      ...spec.inputs.map((p, q) => `.${p}(${name(m.inputs[q]!)})`),
      ...spec.outputs.map((p, o) => `.${p}(${m.outputs[o] !== undefined ? name(m.outputs[o]!) : fresh()})`),
    ];
    body.push(`  ${spec.module} ${verilogIdentifier(view.instance)}_${view.index}(${conns.join(", ")});`);
  }
  const outAssigns = nl.output.map((net, k) => `  assign ${outName}[${k}] = ${name(net)};`);

  const lines = [
    // What a synthesis tool keeps (as priced by `mult metrics`), then what this file spells out.
    `// Written by axnn from netlist ${nl.name}: ${describeGateCounts(gateCounts(nl))}.`,
    `// As written: ${nl.gates.filter((g) => g.cell === undefined).length} loose gates and ${nl.cells.length} adder cell instances (${nl.gates.length - nl.gates.filter((g) => g.cell === undefined).length} gates inside them).`,
    `module ${moduleName}(A, B, ${outName});`,
    `  input [${nl.portA.length - 1}:0] A;`,
    `  input [${nl.portB.length - 1}:0] B;`,
    `  output [${nl.output.length - 1}:0] ${outName};`,
    ...(wires > 0 ? [`  wire [${wires - 1}:0] ${wireVec};`] : []),
    "",
    ...body,
    "",
    ...outAssigns,
    "",
    "endmodule",
    "",
  ];
  for (const spec of specs.values()) lines.push("/* mod */", spec.definition.trimEnd());
  return lines.join("\n") + "\n";
}

export function writeVerilogFile(nl: Netlist, path: string, opts: { moduleName?: string } = {}): void {
  writeFileAtomic(path, writeVerilog(nl, opts));
}
