import { AxnnError } from "../../util/errors.js";

/**
 * Gate-level netlist: the one representation that parsed EvoApproxLib Verilog, our
 * generators and our Verilog writer share. Every net is one bit with exactly one driver
 * (an input port bit or a gate); gates are kept in topological order.
 */
export type GateKind = "AND" | "OR" | "XOR" | "NAND" | "NOR" | "XNOR" | "NOT" | "BUF" | "CONST0" | "CONST1";

export const GATE_ARITY: Record<GateKind, number> = {
  AND: 2, OR: 2, XOR: 2, NAND: 2, NOR: 2, XNOR: 2, NOT: 1, BUF: 1, CONST0: 0, CONST1: 0,
};

export interface Gate {
  kind: GateKind;
  inputs: number[];
  output: number;
  /** Index into `Netlist.cells` when the gate is part of a cell instance (half adder, ...). */
  cell?: number;
  /** Source line, for error messages. */
  line?: number;
}

/** A library cell instance (e.g. a half adder); its behaviour is expanded into `gates`. */
export interface CellInstance {
  /** Cell type without PDK prefix: "HA", "FA", "AND2", ... */
  type: string;
  instance: string;
  line?: number;
}

export interface Netlist {
  name: string;
  /** Nets of input port A and B, least significant bit first. */
  portA: number[];
  portB: number[];
  /** Nets of the output port, least significant bit first. */
  output: number[];
  /** Name of the output port ("O" or "Z" in EvoApproxLib). */
  outputName: string;
  /** A readable name for each net id. */
  netNames: string[];
  /** Gates in topological order. */
  gates: Gate[];
  cells: CellInstance[];
}

export interface NetlistParts {
  name: string;
  portA: number[];
  portB: number[];
  output: number[];
  outputName: string;
  netNames: string[];
  gates: Gate[];
  cells: CellInstance[];
  /** File the netlist came from, for error messages. */
  file?: string;
}

/**
 * Checks drivers and loops and sorts gates topologically. Errors name the net, and the
 * source line where known.
 */
export function finalizeNetlist(parts: NetlistParts): Netlist {
  const { netNames, gates, file } = parts;
  const n = netNames.length;
  const driver = new Int32Array(n).fill(-1); // gate index, or -2 for a port bit
  for (const net of [...parts.portA, ...parts.portB]) driver[net] = -2;
  gates.forEach((g, i) => {
    if (g.inputs.length !== GATE_ARITY[g.kind]) {
      throw new AxnnError(`${g.kind} gate driving ${netNames[g.output]} has ${g.inputs.length} inputs, expected ${GATE_ARITY[g.kind]}`, { file, line: g.line });
    }
    const prev = driver[g.output]!;
    if (prev !== -1) {
      const where = prev === -2 ? "it is an input port bit" : `also driven${gates[prev]!.line !== undefined ? ` at line ${gates[prev]!.line}` : ""}`;
      throw new AxnnError(`net ${netNames[g.output]} is driven more than once (${where})`, { file, line: g.line });
    }
    driver[g.output] = i;
  });
  for (const g of gates) {
    for (const x of g.inputs) {
      if (driver[x] === -1) throw new AxnnError(`net ${netNames[x]} is used but never driven`, { file, line: g.line });
    }
  }
  parts.output.forEach((net, bit) => {
    if (driver[net] === -1) throw new AxnnError(`output bit ${parts.outputName}[${bit}] (net ${netNames[net]}) is never driven`, { file });
  });

  // Kahn's algorithm; whatever is left over sits on a combinational loop.
  const fanout: number[][] = Array.from({ length: n }, () => []);
  const pending = new Int32Array(gates.length);
  gates.forEach((g, i) => {
    for (const x of g.inputs) {
      if (driver[x]! >= 0) {
        fanout[x]!.push(i);
        pending[i]!++;
      }
    }
  });
  const order: number[] = [];
  gates.forEach((_, i) => { if (pending[i] === 0) order.push(i); });
  for (let k = 0; k < order.length; k++) {
    const g = gates[order[k]!]!;
    for (const j of fanout[g.output]!) if (--pending[j]! === 0) order.push(j);
  }
  if (order.length !== gates.length) {
    const stuck = gates.find((_, i) => pending[i]! > 0)!;
    throw new AxnnError(`combinational loop through net ${netNames[stuck.output]}`, { file, line: stuck.line });
  }
  return {
    name: parts.name,
    portA: parts.portA,
    portB: parts.portB,
    output: parts.output,
    outputName: parts.outputName,
    netNames,
    gates: order.map((i) => gates[i]!),
    cells: parts.cells,
  };
}

/** Builds netlists gate by gate; used by the generators and the Verilog reader. */
export class NetlistBuilder {
  readonly netNames: string[] = [];
  readonly gates: Gate[] = [];
  readonly cells: CellInstance[] = [];
  readonly portA: number[];
  readonly portB: number[];
  private currentCell: number | undefined;
  private constNets: [number | undefined, number | undefined] = [undefined, undefined];

  constructor(readonly name: string, widthA: number, widthB: number) {
    this.portA = Array.from({ length: widthA }, (_, i) => this.net(`A[${i}]`));
    this.portB = Array.from({ length: widthB }, (_, i) => this.net(`B[${i}]`));
  }

  /** A new, not yet driven net. */
  net(name?: string): number {
    const id = this.netNames.length;
    this.netNames.push(name ?? `n${id}`);
    return id;
  }

  /** Adds a gate driving `output` (a new net if omitted); returns the output net. */
  gate(kind: GateKind, inputs: number[], output = this.net(), line?: number): number {
    this.gates.push({ kind, inputs, output, cell: this.currentCell, line });
    return output;
  }

  and(x: number, y: number): number { return this.gate("AND", [x, y]); }
  or(x: number, y: number): number { return this.gate("OR", [x, y]); }
  xor(x: number, y: number): number { return this.gate("XOR", [x, y]); }
  not(x: number): number { return this.gate("NOT", [x]); }

  const(bit: 0 | 1): number {
    return (this.constNets[bit] ??= this.gate(bit ? "CONST1" : "CONST0", []));
  }

  /** Groups the gates `body` adds into one cell instance of `type`. */
  cell<T>(type: string, body: () => T, instance = `${type.toLowerCase()}${this.cells.length}`): T {
    const outer = this.currentCell;
    this.currentCell = this.cells.length;
    this.cells.push({ type, instance });
    try {
      return body();
    } finally {
      this.currentCell = outer;
    }
  }

  halfAdder(x: number, y: number): { sum: number; carry: number } {
    return this.cell("HA", () => ({ sum: this.xor(x, y), carry: this.and(x, y) }));
  }

  fullAdder(x: number, y: number, z: number): { sum: number; carry: number } {
    return this.cell("FA", () => {
      const p = this.xor(x, y);
      return { sum: this.xor(p, z), carry: this.or(this.and(x, y), this.and(p, z)) };
    });
  }

  build(output: number[], outputName = "O"): Netlist {
    return finalizeNetlist({
      name: this.name,
      portA: this.portA,
      portB: this.portB,
      output,
      outputName,
      netNames: this.netNames,
      gates: this.gates,
      cells: this.cells,
    });
  }
}
