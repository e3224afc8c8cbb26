import { finalizeNetlist, NetlistBuilder, type CellInstance, type Gate, type Netlist } from "../netlist/ir.js";

/**
 * Gate-level arithmetic building blocks shared by the multiplier generators.
 *
 * A bit vector (`Bits`) is an array of net ids, least significant bit first. Every block
 * folds constants as it goes (an AND with constant 0 is constant 0, a full adder with a
 * constant input degrades to a half adder or to plain gates), so approximations that tie
 * bits to 0 or 1 yield smaller netlists rather than gates fed by constants; `Circuit.build`
 * then drops every gate (and adder cell) that no output depends on.
 */
export type Bits = number[];

/** One row of a partial-product matrix: `row[col]` is the bit of weight 2^col, or undefined. */
export type Row = Array<number | undefined>;

export class Circuit {
  readonly builder: NetlistBuilder;
  private zeroNet: number | undefined;
  private oneNet: number | undefined;
  private readonly notCache = new Map<number, number>();

  constructor(name: string, widthA: number, widthB: number) {
    this.builder = new NetlistBuilder(name, widthA, widthB);
  }

  get portA(): Bits { return this.builder.portA; }
  get portB(): Bits { return this.builder.portB; }

  get zero(): number { return (this.zeroNet ??= this.builder.const(0)); }
  get one(): number { return (this.oneNet ??= this.builder.const(1)); }

  constant(bit: 0 | 1 | boolean): number { return bit ? this.one : this.zero; }

  /** 0 or 1 if the net is a constant, else undefined. */
  constValue(x: number): 0 | 1 | undefined {
    if (x === this.zeroNet) return 0;
    if (x === this.oneNet) return 1;
    return undefined;
  }

  not(x: number): number {
    const v = this.constValue(x);
    if (v !== undefined) return this.constant(v === 0);
    let y = this.notCache.get(x);
    if (y === undefined) {
      y = this.builder.not(x);
      this.notCache.set(x, y);
      this.notCache.set(y, x);
    }
    return y;
  }

  and(x: number, y: number): number {
    const vx = this.constValue(x), vy = this.constValue(y);
    if (vx === 0 || vy === 0) return this.zero;
    if (vx === 1) return y;
    if (vy === 1 || x === y) return x;
    return this.builder.and(x, y);
  }

  or(x: number, y: number): number {
    const vx = this.constValue(x), vy = this.constValue(y);
    if (vx === 1 || vy === 1) return this.one;
    if (vx === 0) return y;
    if (vy === 0 || x === y) return x;
    return this.builder.or(x, y);
  }

  xor(x: number, y: number): number {
    const vx = this.constValue(x), vy = this.constValue(y);
    if (vx === 0) return y;
    if (vy === 0) return x;
    if (vx === 1) return this.not(y);
    if (vy === 1) return this.not(x);
    if (x === y) return this.zero;
    return this.builder.xor(x, y);
  }

  nand(x: number, y: number): number {
    if (this.constValue(x) !== undefined || this.constValue(y) !== undefined) return this.not(this.and(x, y));
    return this.builder.gate("NAND", [x, y]);
  }

  xnor(x: number, y: number): number {
    if (this.constValue(x) !== undefined || this.constValue(y) !== undefined) return this.not(this.xor(x, y));
    return this.builder.gate("XNOR", [x, y]);
  }

  /** `sel ? ifOne : ifZero`. */
  mux(sel: number, ifZero: number, ifOne: number): number {
    const vs = this.constValue(sel);
    if (vs !== undefined) return vs ? ifOne : ifZero;
    if (ifZero === ifOne) return ifZero;
    const v0 = this.constValue(ifZero), v1 = this.constValue(ifOne);
    if (v0 === 0 && v1 === 1) return sel;
    if (v0 === 1 && v1 === 0) return this.not(sel);
    if (v0 === 0) return this.and(sel, ifOne);
    if (v1 === 0) return this.and(this.not(sel), ifZero);
    if (v0 === 1) return this.or(this.not(sel), ifOne);
    if (v1 === 1) return this.or(sel, ifZero);
    return this.or(this.and(this.not(sel), ifZero), this.and(sel, ifOne));
  }

  halfAdder(x: number, y: number): { sum: number; carry: number } {
    if (this.constValue(x) !== undefined || this.constValue(y) !== undefined) {
      return { sum: this.xor(x, y), carry: this.and(x, y) };
    }
    return this.builder.halfAdder(x, y);
  }

  fullAdder(x: number, y: number, z: number): { sum: number; carry: number } {
    // Put constants last so only z (and then y) can be constant below.
    const ins = [x, y, z].sort((p, q) => Number(this.constValue(p) !== undefined) - Number(this.constValue(q) !== undefined));
    const [p, q, r] = ins as [number, number, number];
    const vr = this.constValue(r);
    if (vr === undefined) return this.builder.fullAdder(p, q, r);
    if (vr === 0) return this.halfAdder(p, q);
    const vq = this.constValue(q);
    if (vq === 0) return { sum: this.not(p), carry: p };
    if (vq === 1) return { sum: p, carry: this.one };
    // p + q + 1: sum = XNOR, carry = OR.
    return { sum: this.xnor(p, q), carry: this.or(p, q) };
  }

  /**
   * Finishes the netlist: keeps only gates some output depends on, renumbers nets
   * (ports first) and checks it with finalizeNetlist.
   */
  build(output: Bits, outputName = "O"): Netlist {
    const b = this.builder;
    const driver = new Map<number, number>();
    const cellGates = new Map<number, number[]>();
    b.gates.forEach((g, i) => {
      driver.set(g.output, i);
      if (g.cell !== undefined) cellGates.set(g.cell, [...(cellGates.get(g.cell) ?? []), i]);
    });
    // A cell stays whole when any of its outputs is used (e.g. the last adder's unused
    // carry), so every cell remains a complete half or full adder.
    const live = new Uint8Array(b.gates.length);
    const stack = [...output];
    const markLive = (gi: number): void => {
      if (live[gi]) return;
      live[gi] = 1;
      stack.push(...b.gates[gi]!.inputs);
    };
    while (stack.length > 0) {
      const gi = driver.get(stack.pop()!);
      if (gi === undefined || live[gi]) continue;
      const cell = b.gates[gi]!.cell;
      if (cell === undefined) markLive(gi);
      else cellGates.get(cell)!.forEach(markLive);
    }
    const netMap = new Map<number, number>();
    const netNames: string[] = [];
    const mapNet = (old: number): number => {
      let id = netMap.get(old);
      if (id === undefined) {
        id = netNames.length;
        netMap.set(old, id);
        netNames.push(/^n\d+$/.test(b.netNames[old]!) ? `n${id}` : b.netNames[old]!);
      }
      return id;
    };
    const portA = b.portA.map(mapNet);
    const portB = b.portB.map(mapNet);
    const cellMap = new Map<number, number>();
    const cells: CellInstance[] = [];
    const gates: Gate[] = [];
    b.gates.forEach((g, i) => {
      if (!live[i]) return;
      let cell: number | undefined;
      if (g.cell !== undefined) {
        cell = cellMap.get(g.cell);
        if (cell === undefined) {
          cell = cells.length;
          cellMap.set(g.cell, cell);
          const old = b.cells[g.cell]!;
          cells.push({ type: old.type, instance: `${old.type.toLowerCase()}${cell}` });
        }
      }
      gates.push({ kind: g.kind, inputs: g.inputs.map(mapNet), output: mapNet(g.output), cell });
    });
    return finalizeNetlist({
      name: b.name,
      portA,
      portB,
      output: output.map(mapNet),
      outputName,
      netNames,
      gates,
      cells,
    });
  }
}

/** Bits of a non-negative integer constant, `width` bits. */
export function constantBits(c: Circuit, value: number, width: number): Bits {
  return Array.from({ length: width }, (_, i) => c.constant(Math.floor(value / 2 ** i) % 2 === 1));
}

/** The vector zero-extended (or cut) to `width` bits. */
export function resize(c: Circuit, x: Bits, width: number): Bits {
  return Array.from({ length: width }, (_, i) => x[i] ?? c.zero);
}

/** OR of all bits (a balanced tree); constant 0 for an empty vector. */
export function orReduce(c: Circuit, x: Bits): number {
  if (x.length === 0) return c.zero;
  let level = [...x];
  while (level.length > 1) {
    const next: Bits = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? c.or(level[i]!, level[i + 1]!) : level[i]!);
    level = next;
  }
  return level[0]!;
}

/** Every bit ANDed with `enable`. */
export function gateBits(c: Circuit, x: Bits, enable: number): Bits {
  return x.map((bit) => c.and(bit, enable));
}

/** Ripple-carry adder of two vectors and an optional carry-in; result is `width` bits (mod 2^width). */
export function rippleAdd(c: Circuit, x: Bits, y: Bits, width: number, carryIn?: number): Bits {
  const out: Bits = [];
  let carry = carryIn ?? c.zero;
  for (let i = 0; i < width; i++) {
    const { sum, carry: next } = c.fullAdder(x[i] ?? c.zero, y[i] ?? c.zero, carry);
    out.push(sum);
    carry = next;
  }
  return out;
}

/** Final (vector-merging) ripple adder over columns holding at most two bits each. */
function mergeColumns(c: Circuit, columns: Bits[], width: number): Bits {
  const out: Bits = [];
  let carry: number | undefined;
  for (let col = 0; col < width; col++) {
    const ins = [...(columns[col] ?? []), ...(carry === undefined ? [] : [carry])];
    if (ins.length > 3) throw new Error(`internal: column ${col} holds ${ins.length} bits at the final adder`);
    carry = undefined;
    if (ins.length === 0) out.push(c.zero);
    else if (ins.length === 1) out.push(ins[0]!);
    else {
      const r = ins.length === 3 ? c.fullAdder(ins[0]!, ins[1]!, ins[2]!) : c.halfAdder(ins[0]!, ins[1]!);
      out.push(r.sum);
      carry = r.carry;
    }
  }
  return out;
}

/** Drops constant-0 bits, which contribute nothing to a sum. */
function liveBits(c: Circuit, bits: Array<number | undefined>): Bits {
  return bits.filter((x): x is number => x !== undefined && c.constValue(x) !== 0);
}

/**
 * Carry-save array: the rows are added one after another, each step a row of half/full
 * adders that keeps a sum bit in its column and sends the carry one column up (the
 * classic array multiplier's structure), then a ripple-carry adder merges the last sum
 * and carry vectors. Result is `width` bits (mod 2^width).
 */
export function carrySaveArray(c: Circuit, rows: Row[], width: number): Bits {
  let state: Bits[] = Array.from({ length: width }, () => []);
  for (const row of rows) {
    const next: Bits[] = Array.from({ length: width }, () => []);
    for (let col = 0; col < width; col++) {
      const ins = [...state[col]!, ...liveBits(c, [row[col]])];
      if (ins.length === 1) next[col]!.push(ins[0]!);
      else if (ins.length >= 2) {
        const r = ins.length === 3 ? c.fullAdder(ins[0]!, ins[1]!, ins[2]!) : c.halfAdder(ins[0]!, ins[1]!);
        next[col]!.push(r.sum);
        if (col + 1 < width) next[col + 1]!.push(r.carry);
      }
    }
    state = next;
  }
  return mergeColumns(c, state, width);
}

/**
 * Wallace-style column compression: each stage replaces groups of three bits of a column
 * with a full adder until every column holds at most two bits, then a ripple-carry adder.
 * Result is `width` bits (mod 2^width).
 */
export function columnCompress(c: Circuit, columns: Bits[], width: number): Bits {
  let cols: Bits[] = Array.from({ length: width }, (_, i) => liveBits(c, columns[i] ?? []));
  while (cols.some((col) => col.length > 2)) {
    const next: Bits[] = Array.from({ length: width }, () => []);
    cols.forEach((col, i) => {
      if (col.length <= 2) {
        next[i]!.push(...col);
        return;
      }
      let j = 0;
      for (; j + 3 <= col.length; j += 3) {
        const r = c.fullAdder(col[j]!, col[j + 1]!, col[j + 2]!);
        next[i]!.push(r.sum);
        if (i + 1 < width) next[i + 1]!.push(r.carry);
      }
      next[i]!.push(...col.slice(j));
    });
    cols = next.map((col) => liveBits(c, col));
  }
  return mergeColumns(c, cols, width);
}

/** Sum of several unsigned vectors, by column compression; `width` bits (mod 2^width). */
export function multiOperandAdd(c: Circuit, operands: Bits[], width: number): Bits {
  const columns: Bits[] = Array.from({ length: width }, () => []);
  for (const x of operands) x.forEach((bit, i) => { if (i < width) columns[i]!.push(bit); });
  return columnCompress(c, columns, width);
}

/** A row holding the binary digits of a non-negative constant. */
export function constantRow(c: Circuit, value: number, width: number): Row {
  return constantBits(c, value, width).map((bit) => (c.constValue(bit) === 1 ? bit : undefined));
}

/** Which partial-product bits x_i * y_j (weight 2^(i+j)) a design keeps. */
export type KeepPartialProduct = (i: number, j: number) => boolean;

/**
 * Unsigned partial-product rows: row j holds x_i AND y_j in column i + j, for the pairs
 * `keep` accepts (all by default).
 */
export function unsignedPartialProducts(c: Circuit, x: Bits, y: Bits, width: number, keep: KeepPartialProduct = () => true): Row[] {
  return y.map((yj, j) => {
    const row: Row = new Array(width).fill(undefined);
    x.forEach((xi, i) => { if (i + j < width && keep(i, j)) row[i + j] = c.and(xi, yj); });
    return row;
  });
}

/**
 * Modified Baugh-Wooley partial products of two's complement x (m bits) and y (n bits):
 * the bits that pair exactly one sign bit with a non-sign bit are inverted (NAND), and
 * the constant 2^(m-1) + 2^(n-1) + 2^(m+n-1) is added (mod 2^(m+n)). The constant is
 * returned separately and is not subject to `keep`.
 */
export function baughWooleyPartialProducts(c: Circuit, x: Bits, y: Bits, keep: KeepPartialProduct = () => true): { rows: Row[]; constant: number } {
  const m = x.length, n = y.length, width = m + n;
  const rows = y.map((yj, j) => {
    const row: Row = new Array(width).fill(undefined);
    x.forEach((xi, i) => {
      if (!keep(i, j)) return;
      row[i + j] = (i === m - 1) !== (j === n - 1) ? c.nand(xi, yj) : c.and(xi, yj);
    });
    return row;
  });
  return { rows, constant: baughWooleyConstant(m, n) };
}

/** The Baugh-Wooley correction constant for m x n bits, reduced mod 2^(m+n). */
export function baughWooleyConstant(m: number, n: number): number {
  return (2 ** (m - 1) + 2 ** (n - 1) + 2 ** (m + n - 1)) % 2 ** (m + n);
}

/** Unsigned x * y by a carry-save array multiplier; `width` result bits (default |x|+|y|). */
export function arrayMultiply(c: Circuit, x: Bits, y: Bits, width = x.length + y.length): Bits {
  return carrySaveArray(c, unsignedPartialProducts(c, x, y, width), width);
}

/** Two's complement x * y by a Baugh-Wooley carry-save array; |x|+|y| result bits. */
export function baughWooleyMultiply(c: Circuit, x: Bits, y: Bits): Bits {
  const width = x.length + y.length;
  const { rows, constant } = baughWooleyPartialProducts(c, x, y);
  return carrySaveArray(c, [...rows, constantRow(c, constant, width)], width);
}

/** `negate ? -x : x` in two's complement, `width` bits: (x XOR negate) + negate. */
export function conditionalNegate(c: Circuit, x: Bits, negate: number, width: number): Bits {
  const out: Bits = [];
  let carry = negate;
  for (let i = 0; i < width; i++) {
    const { sum, carry: next } = c.halfAdder(c.xor(x[i] ?? c.zero, negate), carry);
    out.push(sum);
    carry = next;
  }
  return out;
}

/** One-hot vector marking the most significant 1 of x (all zero when x is 0). */
export function leadingOneDetect(c: Circuit, x: Bits): Bits {
  const out: Bits = new Array(x.length);
  let seen = c.zero; // OR of the bits above the current one
  for (let i = x.length - 1; i >= 0; i--) {
    out[i] = c.and(x[i]!, c.not(seen));
    seen = c.or(seen, x[i]!);
  }
  return out;
}

/**
 * Priority encoder: binary index of the most significant 1 of x (ceil(log2 |x|) bits,
 * 0 when x is 0), its one-hot form, and whether x is non-zero.
 */
export function priorityEncode(c: Circuit, x: Bits): { index: Bits; oneHot: Bits; any: number } {
  const oneHot = leadingOneDetect(c, x);
  const indexBits = x.length <= 1 ? 0 : Math.ceil(Math.log2(x.length));
  const index = Array.from({ length: indexBits }, (_, b) => orReduce(c, oneHot.filter((_, i) => (i >> b) & 1)));
  return { index, oneHot, any: orReduce(c, x) };
}

/** Logarithmic barrel shifter: x << amount (amount given in binary), `width` result bits. */
export function shiftLeft(c: Circuit, x: Bits, amount: Bits, width: number): Bits {
  let v = resize(c, x, width);
  amount.forEach((s, b) => {
    const d = 2 ** b;
    v = v.map((bit, i) => c.mux(s, bit, i >= d ? v[i - d]! : c.zero));
  });
  return v;
}

/** Logarithmic barrel shifter: x >> amount (logical), `width` result bits. */
export function shiftRight(c: Circuit, x: Bits, amount: Bits, width: number): Bits {
  let v = [...x];
  amount.forEach((s, b) => {
    const d = 2 ** b;
    v = v.map((bit, i) => c.mux(s, bit, v[i + d] ?? c.zero));
  });
  return resize(c, v, width);
}
