import { readFileSync } from "node:fs";
import { AxnnError } from "../../util/errors.js";
import { checkLimit, limitOf } from "../../util/limits.js";
import { ACTIVATION_BITS } from "../multiplier.js";
import { finalizeNetlist, type CellInstance, type Gate, type GateKind, type Netlist } from "./ir.js";

/**
 * Reader for the structural Verilog subset EvoApproxLib netlists use: modules with
 * input/output/wire declarations, continuous assigns over bitwise operators, bit and
 * part selects, constants, concatenation/replication, `+`/`-`, and cell instances
 * (half/full adders and 45 nm standard cells). Cells are inlined as gates grouped into
 * `Netlist.cells`, so cost models can count them.
 *
 * Elaboration works on one-bit nets. An assign does not create a buffer: it records
 * that the left-hand bit is an alias of the right-hand net; aliases are resolved once
 * the whole module is read, which is what lets statements come in any order.
 */

// ---------------------------------------------------------------- tokens

type TokKind = "id" | "num" | "sym" | "eof";
interface Tok {
  kind: TokKind;
  text: string;
  line: number;
  /** Constant value bits, LSB first (numbers only). */
  bits?: number[];
  /** Whether the literal had an explicit size (`8'hFF`) or is a plain/unsized 32-bit value. */
  sized?: boolean;
}

// Multi-character symbols first. Some are only recognised to be named in an error.
const SYMBOLS = ["~&", "~|", "~^", "^~", "<<", ">>", "==", "!=", "&&", "||", "<=", ">=", "(", ")", "[", "]", "{", "}", ",", ";", ":", ".", "=", "&", "|", "^", "~", "+", "-", "?", "#", "*", "/", "%", "<", ">", "!", "@", "$"];

function isIdStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}
function isIdPart(c: number): boolean {
  return isIdStart(c) || (c >= 48 && c <= 57) || c === 36;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function tokenize(src: string, file: string | undefined): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  const n = src.length;
  const fail = (msg: string): never => {
    throw new AxnnError(msg, { file, line });
  };
  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === 10) { line++; i++; continue; }
    if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11) { i++; continue; }
    if (c === 47 && src.charCodeAt(i + 1) === 47) { // line comment
      while (i < n && src.charCodeAt(i) !== 10) i++;
      continue;
    }
    if (c === 47 && src.charCodeAt(i + 1) === 42) { // block comment
      const start = line;
      const end = src.indexOf("*/", i + 2);
      if (end < 0) throw new AxnnError("unterminated /* comment", { file, line: start });
      for (let k = i; k < end; k++) if (src.charCodeAt(k) === 10) line++;
      i = end + 2;
      continue;
    }
    if (c === 96) { // compiler directive (`timescale, `celldefine): irrelevant to the logic
      while (i < n && src.charCodeAt(i) !== 10) i++;
      continue;
    }
    if (isIdStart(c)) {
      const s = i;
      while (i < n && isIdPart(src.charCodeAt(i))) i++;
      toks.push({ kind: "id", text: src.slice(s, i), line });
      continue;
    }
    if (c === 92) { // escaped identifier: \name up to white space
      const s = ++i;
      while (i < n && !/\s/.test(src[i]!)) i++;
      toks.push({ kind: "id", text: src.slice(s, i), line });
      continue;
    }
    if (isDigit(c) || c === 39) {
      const s = i;
      let size: number | undefined;
      if (c !== 39) {
        while (i < n && (isDigit(src.charCodeAt(i)) || src[i] === "_")) i++;
        const digits = src.slice(s, i).replace(/_/g, "");
        let j = i;
        while (j < n && (src[j] === " " || src[j] === "\t")) j++;
        if (src[j] !== "'") {
          toks.push({ kind: "num", text: digits, line, bits: toBits(BigInt(digits), 32), sized: false });
          continue;
        }
        size = Number(digits);
        if (size < 1 || size > 4096) fail(`constant size ${size} is out of range (1 to 4096)`);
        i = j;
      }
      i++; // the quote
      if (src[i] === "s" || src[i] === "S") i++;
      const base = (src[i] ?? "").toLowerCase();
      const radix = base === "b" ? 2 : base === "o" ? 8 : base === "d" ? 10 : base === "h" ? 16 : 0;
      if (!radix) fail(`expected a base letter b, o, d or h after ' in constant ${src.slice(s, i + 1)}`);
      i++;
      while (i < n && (src[i] === " " || src[i] === "\t")) i++;
      const vs = i;
      while (i < n && /[0-9a-fA-F_xXzZ?]/.test(src[i]!)) i++;
      const digits = src.slice(vs, i).replace(/_/g, "");
      const text = src.slice(s, i);
      if (!digits) fail(`constant ${text} has no digits`);
      if (/[xXzZ?]/.test(digits)) fail(`constant ${text}: x and z bits are not supported (the netlist must be two-valued)`);
      const valid = radix === 2 ? /^[01]+$/ : radix === 8 ? /^[0-7]+$/ : radix === 10 ? /^[0-9]+$/ : /^[0-9a-fA-F]+$/;
      if (!valid.test(digits)) fail(`constant ${text} has digits that are not valid in base ${radix}`);
      const prefix = radix === 2 ? "0b" : radix === 8 ? "0o" : radix === 16 ? "0x" : "";
      const value = BigInt(prefix + digits);
      toks.push({ kind: "num", text, line, bits: toBits(value, size ?? 32), sized: size !== undefined });
      continue;
    }
    let sym: string | undefined;
    for (const cand of SYMBOLS) {
      if (src.startsWith(cand, i)) { sym = cand; break; }
    }
    if (!sym) fail(`unexpected character ${JSON.stringify(src[i])}`);
    toks.push({ kind: "sym", text: sym!, line });
    i += sym!.length;
  }
  toks.push({ kind: "eof", text: "end of file", line });
  return toks;
}

function toBits(value: bigint, width: number): number[] {
  const bits: number[] = new Array(width);
  for (let k = 0; k < width; k++) bits[k] = Number((value >> BigInt(k)) & 1n);
  return bits;
}

// ---------------------------------------------------------------- syntax tree

type Expr =
  | { k: "ref"; name: string; line: number }
  | { k: "bit"; name: string; index: number; line: number }
  | { k: "part"; name: string; msb: number; lsb: number; line: number }
  | { k: "const"; bits: number[]; sized: boolean; line: number }
  | { k: "concat"; parts: Expr[]; line: number }
  | { k: "repl"; count: number; parts: Expr[]; line: number }
  | { k: "unary"; op: string; x: Expr; line: number }
  | { k: "binary"; op: string; x: Expr; y: Expr; line: number }
  | { k: "ternary"; cond: Expr; x: Expr; y: Expr; line: number };

type Direction = "input" | "output" | "wire";

interface Decl {
  name: string;
  dir: Direction;
  msb: number;
  lsb: number;
  line: number;
}

interface Connection {
  port?: string;
  expr: Expr | null;
  line: number;
}

interface Instance {
  type: string;
  name: string;
  line: number;
  conns: Connection[];
}

interface ModuleAst {
  name: string;
  line: number;
  /** Port names in header order. */
  ports: string[];
  decls: Map<string, Decl>;
  assigns: { lhs: Expr; rhs: Expr; line: number }[];
  instances: Instance[];
}

class Parser {
  private pos = 0;
  constructor(private readonly toks: Tok[], private readonly file: string | undefined) {}

  private get tok(): Tok {
    return this.toks[this.pos]!;
  }
  private fail(msg: string, line = this.tok.line): never {
    throw new AxnnError(msg, { file: this.file, line });
  }
  private describe(t: Tok): string {
    return t.kind === "eof" ? "end of file" : `'${t.text}'`;
  }
  private isSym(s: string): boolean {
    return this.tok.kind === "sym" && this.tok.text === s;
  }
  private isKw(s: string): boolean {
    return this.tok.kind === "id" && this.tok.text === s;
  }
  private accept(s: string): boolean {
    if ((this.tok.kind === "sym" || this.tok.kind === "id") && this.tok.text === s) {
      this.pos++;
      return true;
    }
    return false;
  }
  private expect(s: string, context: string): Tok {
    const t = this.tok;
    if ((t.kind === "sym" || t.kind === "id") && t.text === s) {
      this.pos++;
      return t;
    }
    return this.fail(`expected '${s}' ${context}, found ${this.describe(t)}`);
  }
  private ident(context: string): Tok {
    const t = this.tok;
    if (t.kind !== "id" || KEYWORDS.has(t.text)) this.fail(`expected ${context}, found ${this.describe(t)}`);
    this.pos++;
    return t;
  }
  private intConst(context: string): number {
    const t = this.tok;
    if (t.kind !== "num") this.fail(`expected a constant integer ${context}, found ${this.describe(t)}`);
    this.pos++;
    let v = 0;
    for (let k = Math.min(t.bits!.length, 31) - 1; k >= 0; k--) v = v * 2 + t.bits![k]!;
    return v;
  }

  parseFile(): ModuleAst[] {
    const mods: ModuleAst[] = [];
    while (this.tok.kind !== "eof") {
      if (!this.isKw("module")) this.fail(`expected 'module', found ${this.describe(this.tok)}`);
      mods.push(this.parseModule());
    }
    return mods;
  }

  private parseModule(): ModuleAst {
    const line = this.expect("module", "").line;
    const name = this.ident("a module name").text;
    const mod: ModuleAst = { name, line, ports: [], decls: new Map(), assigns: [], instances: [] };
    if (this.isSym("#")) this.fail(`module ${name}: parameters (#(...)) are not supported`);
    if (this.accept("(")) {
      if (!this.isSym(")")) {
        if (this.isKw("input") || this.isKw("output") || this.isKw("inout")) this.parseAnsiPorts(mod);
        else {
          do mod.ports.push(this.ident("a port name").text);
          while (this.accept(","));
        }
      }
      this.expect(")", `to close the port list of module ${name}`);
    }
    this.expect(";", `after the port list of module ${name}`);
    while (!this.isKw("endmodule")) {
      if (this.tok.kind === "eof") this.fail(`module ${name} (line ${line}) has no 'endmodule'`);
      this.parseItem(mod);
    }
    this.pos++;
    for (const p of mod.ports) {
      const d = mod.decls.get(p);
      if (!d || d.dir === "wire") this.fail(`port ${p} of module ${name} is never declared input or output`, line);
    }
    return mod;
  }

  private parseAnsiPorts(mod: ModuleAst): void {
    let dir: Direction | undefined;
    let range: [number, number] = [0, 0];
    do {
      if (this.isKw("input") || this.isKw("output") || this.isKw("inout")) {
        const t = this.tok;
        if (t.text === "inout") this.fail("inout ports are not supported");
        this.pos++;
        dir = t.text as Direction;
        this.accept("wire");
        if (this.isKw("signed")) this.fail(`signed ports are not supported (all nets are unsigned bit vectors)`);
        range = this.isSym("[") ? this.parseRange() : [0, 0];
      }
      const nameTok = this.ident("a port name");
      mod.ports.push(nameTok.text);
      this.declare(mod, { name: nameTok.text, dir: dir!, msb: range[0], lsb: range[1], line: nameTok.line });
    } while (this.accept(","));
  }

  private parseRange(): [number, number] {
    this.expect("[", "");
    const msb = this.intConst("for the range's first bound");
    this.expect(":", "in a range [msb:lsb]");
    const lsb = this.intConst("for the range's second bound");
    this.expect("]", "to close a range");
    return [msb, lsb];
  }

  private declare(mod: ModuleAst, d: Decl): void {
    const prev = mod.decls.get(d.name);
    if (prev) {
      // `output [15:0] O; wire [15:0] O;` is legal: a net declaration of a port.
      const portThenWire = prev.dir !== "wire" && d.dir === "wire";
      if (!portThenWire) this.fail(`${d.name} is declared twice (first at line ${prev.line})`, d.line);
      if (prev.msb !== d.msb || prev.lsb !== d.lsb) this.fail(`${d.name} is redeclared with range [${d.msb}:${d.lsb}], but line ${prev.line} declared [${prev.msb}:${prev.lsb}]`, d.line);
      return;
    }
    mod.decls.set(d.name, d);
  }

  private parseItem(mod: ModuleAst): void {
    const t = this.tok;
    if (t.kind !== "id") this.fail(`expected a declaration, 'assign' or a cell instance, found ${this.describe(t)}`);
    if (t.text === "input" || t.text === "output" || t.text === "wire" || t.text === "inout") {
      if (t.text === "inout") this.fail("inout ports are not supported");
      this.pos++;
      const dir = t.text as Direction;
      if (dir !== "wire") this.accept("wire");
      // Signed nets would change how `+` extends operands; EvoApproxLib never declares any.
      if (this.isKw("signed")) this.fail(`signed ${dir} declarations are not supported (all nets are unsigned bit vectors)`);
      const range: [number, number] = this.isSym("[") ? this.parseRange() : [0, 0];
      do {
        const nameTok = this.ident(`${dir === "wire" ? "a" : "an"} ${dir} name`);
        if (dir !== "wire" && !mod.ports.includes(nameTok.text)) this.fail(`${dir} ${nameTok.text} is not in the port list of module ${mod.name}`, nameTok.line);
        if (this.isSym("=")) this.fail("net declaration assignments (wire x = ...) are not supported; use a separate assign");
        this.declare(mod, { name: nameTok.text, dir, msb: range[0], lsb: range[1], line: nameTok.line });
      } while (this.accept(","));
      this.expect(";", `after the ${dir} declaration`);
      return;
    }
    if (t.text === "assign") {
      this.pos++;
      do {
        const line = this.tok.line;
        const lhs = this.parsePrimary();
        this.expect("=", "after the left-hand side of assign");
        const rhs = this.parseExpr();
        mod.assigns.push({ lhs, rhs, line });
      } while (this.accept(","));
      this.expect(";", "at the end of the assign statement");
      return;
    }
    if (KEYWORDS.has(t.text)) this.fail(`'${t.text}' is not supported in a netlist (only input/output/wire declarations, assign and cell instances)`);
    // Cell or module instance: TYPE name (connections) {, name (connections)};
    this.pos++;
    if (this.isSym("#")) this.fail(`instance of ${t.text}: parameters (#(...)) are not supported`);
    do {
      const nameTok = this.ident(`an instance name after cell type ${t.text}`);
      this.expect("(", `after instance name ${nameTok.text}`);
      const conns: Connection[] = [];
      if (!this.isSym(")")) {
        do {
          const line = this.tok.line;
          if (this.accept(".")) {
            const port = this.ident("a port name after '.'").text;
            this.expect("(", `after .${port}`);
            const expr = this.isSym(")") ? null : this.parseExpr();
            this.expect(")", `to close .${port}(...)`);
            conns.push({ port, expr, line });
          } else {
            conns.push({ expr: this.parseExpr(), line });
          }
        } while (this.accept(","));
      }
      this.expect(")", `to close the connections of instance ${nameTok.text}`);
      mod.instances.push({ type: t.text, name: nameTok.text, line: t.line, conns });
    } while (this.accept(","));
    this.expect(";", `after instance of ${t.text}`);
  }

  // Precedence, lowest first: ?:  |  ^ ~^  &  + -  unary.
  private parseExpr(): Expr {
    const cond = this.parseBinary(0);
    if (this.isSym("?")) {
      const line = this.tok.line;
      this.pos++;
      const x = this.parseExpr();
      this.expect(":", "in a ?: expression");
      const y = this.parseExpr();
      return { k: "ternary", cond, x, y, line };
    }
    return cond;
  }

  private parseBinary(level: number): Expr {
    if (level === BINARY_LEVELS.length) return this.parseUnary();
    let x = this.parseBinary(level + 1);
    for (;;) {
      const t = this.tok;
      if (t.kind === "sym" && BINARY_LEVELS[level]!.includes(t.text)) {
        this.pos++;
        const y = this.parseBinary(level + 1);
        x = { k: "binary", op: t.text, x, y, line: t.line };
      } else if (t.kind === "sym" && UNSUPPORTED_BINARY.has(t.text) && level === 0) {
        this.fail(`operator '${t.text}' is not supported (supported: & | ^ ~^ ~ + - ?: and reductions & | ^ ~& ~| ~^)`);
      } else {
        return x;
      }
    }
  }

  private parseUnary(): Expr {
    const t = this.tok;
    if (t.kind === "sym" && ["~", "&", "|", "^", "~&", "~|", "~^", "^~"].includes(t.text)) {
      this.pos++;
      return { k: "unary", op: t.text, x: this.parseUnary(), line: t.line };
    }
    if (t.kind === "sym" && (t.text === "!" || t.text === "-")) this.fail(`unary operator '${t.text}' is not supported`);
    return this.parsePrimary();
  }

  private parsePrimary(): Expr {
    const t = this.tok;
    const line = t.line;
    if (t.kind === "num") {
      this.pos++;
      return { k: "const", bits: t.bits!, sized: t.sized!, line };
    }
    if (this.accept("(")) {
      const e = this.parseExpr();
      this.expect(")", "to close a parenthesis");
      return e;
    }
    if (this.accept("{")) {
      const first = this.parseExpr();
      if (this.isSym("{")) {
        // Replication {n{...}}: the count must be a constant.
        if (first.k !== "const") this.fail("the count of a replication {n{...}} must be a constant");
        let count = 0;
        for (let k = Math.min(first.bits.length, 31) - 1; k >= 0; k--) count = count * 2 + first.bits[k]!;
        if (count < 1) this.fail(`replication count must be at least 1, got ${count}`);
        this.pos++;
        const parts: Expr[] = [];
        do parts.push(this.parseExpr());
        while (this.accept(","));
        this.expect("}", "to close the replicated concatenation");
        this.expect("}", "to close the replication");
        return { k: "repl", count, parts, line };
      }
      const parts: Expr[] = [first];
      while (this.accept(",")) parts.push(this.parseExpr());
      this.expect("}", "to close the concatenation");
      return { k: "concat", parts, line };
    }
    if (t.kind === "id" && !KEYWORDS.has(t.text)) {
      this.pos++;
      if (this.accept("[")) {
        const a = this.intConst("as bit index");
        if (this.accept(":")) {
          const b = this.intConst("as the part select's second bound");
          this.expect("]", "to close the part select");
          return { k: "part", name: t.text, msb: a, lsb: b, line };
        }
        if (this.isSym("+") || this.isSym("-")) this.fail("indexed part selects [i+:w] are not supported");
        this.expect("]", "to close the bit select");
        return { k: "bit", name: t.text, index: a, line };
      }
      return { k: "ref", name: t.text, line };
    }
    return this.fail(`expected an expression (a net, a constant, '(' or '{'), found ${this.describe(t)}`);
  }
}

const KEYWORDS = new Set(["module", "endmodule", "input", "output", "inout", "wire", "assign", "reg", "always", "initial", "begin", "end", "parameter", "localparam", "function", "task", "generate", "endgenerate", "genvar", "supply0", "supply1", "tri", "wand", "wor", "integer", "specify", "endspecify"]);
const BINARY_LEVELS = [["|"], ["^", "~^", "^~"], ["&"], ["+", "-"]];
const UNSUPPORTED_BINARY = new Set(["*", "/", "%", "<", ">", "<<", ">>", "==", "!=", "&&", "||", "<=", ">=", "!", "@", "$"]);

// ---------------------------------------------------------------- cell library

/**
 * Standard cells that EvoApproxLib `_pdk45.v` files instantiate without defining them
 * (45 nm FreePDK/OSU naming: ports A, B, C, D in, Y out; adders YS sum and YC carry).
 * Written in our own subset so that they go through the same inlining as cells a file
 * defines. A cell a file defines itself is taken from the file.
 */
const BUILTIN_CELLS_SOURCE = `
module HAX1(input A, input B, output YS, output YC); assign YS = A ^ B; assign YC = A & B; endmodule
module FAX1(input A, input B, input C, output YS, output YC);
  wire P; assign P = A ^ B; assign YS = P ^ C; assign YC = (A & B) | (P & C);
endmodule
module AND2X1(input A, input B, output Y); assign Y = A & B; endmodule
module AND2X2(input A, input B, output Y); assign Y = A & B; endmodule
module OR2X1(input A, input B, output Y); assign Y = A | B; endmodule
module OR2X2(input A, input B, output Y); assign Y = A | B; endmodule
module XOR2X1(input A, input B, output Y); assign Y = A ^ B; endmodule
module XNOR2X1(input A, input B, output Y); assign Y = ~(A ^ B); endmodule
module NAND2X1(input A, input B, output Y); assign Y = ~(A & B); endmodule
module NOR2X1(input A, input B, output Y); assign Y = ~(A | B); endmodule
module NAND3X1(input A, input B, input C, output Y); assign Y = ~(A & B & C); endmodule
module NOR3X1(input A, input B, input C, output Y); assign Y = ~(A | B | C); endmodule
module AOI21X1(input A, input B, input C, output Y); assign Y = ~((A & B) | C); endmodule
module OAI21X1(input A, input B, input C, output Y); assign Y = ~((A | B) & C); endmodule
module AOI22X1(input A, input B, input C, input D, output Y); assign Y = ~((A & B) | (C & D)); endmodule
module OAI22X1(input A, input B, input C, input D, output Y); assign Y = ~((A | B) & (C | D)); endmodule
module INVX1(input A, output Y); assign Y = ~A; endmodule
module INVX2(input A, output Y); assign Y = ~A; endmodule
module INVX4(input A, output Y); assign Y = ~A; endmodule
module INVX8(input A, output Y); assign Y = ~A; endmodule
module BUFX2(input A, output Y); assign Y = A; endmodule
module BUFX4(input A, output Y); assign Y = A; endmodule
`;

let builtinCells: Map<string, ModuleAst> | undefined;
function builtinCell(type: string): ModuleAst | undefined {
  if (!builtinCells) {
    builtinCells = new Map(new Parser(tokenize(BUILTIN_CELLS_SOURCE, "<builtin cells>"), "<builtin cells>").parseFile().map((m) => [m.name, m]));
  }
  return builtinCells.get(type) ?? builtinCells.get(type.replace(/^PDKGEN/, ""));
}

/** Cell type as cost models see it: `PDKGENHAX1` -> "HA", `AND2X1` -> "AND2", `INVX4` -> "INV". */
export function cellTypeOf(moduleName: string): string {
  return moduleName.replace(/^PDKGEN/, "").replace(/X\d+$/, "") || moduleName;
}

// ---------------------------------------------------------------- elaboration

interface Signal {
  decl: Decl;
  width: number;
  /** Net id per bit, LSB (the declaration's right bound) first; -1 until first used. */
  nets: Int32Array;
}

interface Scope {
  mod: ModuleAst;
  signals: Map<string, Signal>;
  /** Instance path prefix for net names ("" at the top). */
  prefix: string;
  depth: number;
}

/** Net origin: a bit of a top-level input port, a declared signal bit, or a gate output. */
const enum NetKind { Port, Signal, Gate }

class Elaborator {
  readonly names: string[] = [];
  readonly kind: NetKind[] = [];
  readonly depth: number[] = [];
  /** For a signal bit: the net it is assigned from (-1: not assigned yet). */
  readonly alias: number[] = [];
  readonly aliasLine: number[] = [];
  readonly gates: Gate[] = [];
  readonly cells: CellInstance[] = [];
  private currentCell: number | undefined;
  private const0: number | undefined;
  private const1: number | undefined;

  /** Gates plus nets allowed (AXNN_MAX_NETLIST_GATES): checked as they are made, before a hostile width or replication allocates. */
  private readonly netLimit = limitOf("netlistGates");
  private declaredBits = 0;

  constructor(private readonly modules: Map<string, ModuleAst>, private readonly file: string | undefined) {}

  private checkSize(count: number, claim: string, line?: number): void {
    if (count > this.netLimit) checkLimit("netlistGates", count, claim, { file: this.file, line });
  }

  fail(msg: string, line?: number): never {
    throw new AxnnError(msg, { file: this.file, line });
  }

  newNet(name: string, kind: NetKind, depth: number): number {
    const id = this.names.length;
    if (id >= this.netLimit) this.checkSize(id + 1, "the netlist grows past its size limit");
    this.names.push(name);
    this.kind.push(kind);
    this.depth.push(depth);
    this.alias.push(-1);
    this.aliasLine.push(0);
    return id;
  }

  gate(kind: GateKind, inputs: number[], line: number): number {
    const out = this.newNet(`_g${this.gates.length}`, NetKind.Gate, 99);
    this.gates.push({ kind, inputs, output: out, cell: this.currentCell, line });
    return out;
  }

  /** The shared constant nets; they belong to no cell even when a cell first asks for one. */
  constNet(bit: number, line: number): number {
    const existing = bit ? this.const1 : this.const0;
    if (existing !== undefined) return existing;
    const saved = this.currentCell;
    this.currentCell = undefined;
    const net = this.gate(bit ? "CONST1" : "CONST0", [], line);
    this.currentCell = saved;
    if (bit) this.const1 = net;
    else this.const0 = net;
    return net;
  }

  isConst0(net: number): boolean {
    return net === this.const0;
  }

  makeScope(mod: ModuleAst, prefix: string, depth: number): Scope {
    const signals = new Map<string, Signal>();
    for (const d of mod.decls.values()) {
      const width = Math.abs(d.msb - d.lsb) + 1;
      if (width > 1 << 20) this.fail(`${d.name} is ${width} bits wide; at most ${1 << 20} bits are supported`, d.line);
      this.declaredBits += width;
      this.checkSize(this.declaredBits, `the declarations up to ${d.name} claim ${this.declaredBits} bits`, d.line);
      signals.set(d.name, { decl: d, width, nets: new Int32Array(width).fill(-1) });
    }
    return { mod, signals, prefix, depth };
  }

  signal(scope: Scope, name: string, line: number): Signal {
    const s = scope.signals.get(name);
    if (!s) this.fail(`undeclared net ${name}${scope.prefix ? ` in module ${scope.mod.name}` : ""} (declare it with wire, input or output)`, line);
    return s;
  }

  /** Net of bit number `offset` (0 = LSB) of a signal, created on first use. */
  bitNet(scope: Scope, sig: Signal, offset: number): number {
    let id = sig.nets[offset]!;
    if (id < 0) {
      const d = sig.decl;
      const index = d.msb >= d.lsb ? d.lsb + offset : d.lsb - offset;
      const name = sig.width === 1 && d.msb === 0 && d.lsb === 0 ? `${scope.prefix}${d.name}` : `${scope.prefix}${d.name}[${index}]`;
      id = this.newNet(name, NetKind.Signal, scope.depth);
      sig.nets[offset] = id;
    }
    return id;
  }

  private offsetOf(sig: Signal, index: number, line: number): number {
    const d = sig.decl;
    const lo = Math.min(d.msb, d.lsb), hi = Math.max(d.msb, d.lsb);
    if (index < lo || index > hi) this.fail(`bit select ${d.name}[${index}] is out of range: ${d.name} is declared [${d.msb}:${d.lsb}]`, line);
    return d.msb >= d.lsb ? index - d.lsb : d.lsb - index;
  }

  /** Nets (LSB first) that a reference, bit select or part select names. */
  selectNets(scope: Scope, e: Expr & { k: "ref" | "bit" | "part" }): number[] {
    const sig = this.signal(scope, e.name, e.line);
    if (e.k === "ref") return Array.from({ length: sig.width }, (_, k) => this.bitNet(scope, sig, k));
    if (e.k === "bit") return [this.bitNet(scope, sig, this.offsetOf(sig, e.index, e.line))];
    const a = this.offsetOf(sig, e.msb, e.line);
    const b = this.offsetOf(sig, e.lsb, e.line);
    if (a < b) this.fail(`part select ${e.name}[${e.msb}:${e.lsb}] runs against the declared direction [${sig.decl.msb}:${sig.decl.lsb}]`, e.line);
    const nets: number[] = [];
    for (let k = b; k <= a; k++) nets.push(this.bitNet(scope, sig, k));
    return nets;
  }

  /** Self-determined width of an expression (Verilog rules). */
  widthOf(scope: Scope, e: Expr): number {
    switch (e.k) {
      case "ref": return this.signal(scope, e.name, e.line).width;
      case "bit": return 1;
      case "part": return Math.abs(e.msb - e.lsb) + 1;
      case "const": return e.bits.length;
      case "concat": return e.parts.reduce((s, p) => s + this.widthOf(scope, p), 0);
      case "repl": {
        const w = e.count * e.parts.reduce((s, p) => s + this.widthOf(scope, p), 0);
        this.checkSize(w, `a replication {${e.count}{...}} is ${w} bits wide`, e.line);
        return w;
      }
      case "unary": return e.op === "~" ? this.widthOf(scope, e.x) : 1;
      case "binary": return Math.max(this.widthOf(scope, e.x), this.widthOf(scope, e.y));
      case "ternary": return Math.max(this.widthOf(scope, e.x), this.widthOf(scope, e.y));
    }
  }

  private extend(nets: number[], width: number, line: number): number[] {
    if (nets.length >= width) return nets.slice(0, width);
    const out = nets.slice();
    while (out.length < width) out.push(this.constNet(0, line));
    return out;
  }

  /** Evaluates `e` in a context of `width` bits (operands zero-extended, as all are unsigned). */
  evaluate(scope: Scope, e: Expr, width: number): number[] {
    switch (e.k) {
      case "ref": case "bit": case "part":
        return this.extend(this.selectNets(scope, e), width, e.line);
      case "const":
        return this.extend(e.bits.map((b) => this.constNet(b, e.line)), width, e.line);
      case "concat": case "repl": {
        const nets: number[] = [];
        // Concatenation lists the most significant part first.
        for (let p = e.parts.length - 1; p >= 0; p--) {
          const part = e.parts[p]!;
          if (part.k === "const" && !part.sized) this.fail("unsized constants are not allowed in a concatenation (write e.g. 1'b0)", part.line);
          nets.push(...this.evaluate(scope, part, this.widthOf(scope, part)));
        }
        const all = e.k === "repl" ? Array.from({ length: e.count }, () => nets).flat() : nets;
        return this.extend(all, width, e.line);
      }
      case "unary": {
        // ~(a & b) is one NAND gate, as written by the writer and by synthesis tools, not AND + NOT.
        const inner = e.x;
        if (e.op === "~" && inner.k === "binary" && (inner.op === "&" || inner.op === "|" || inner.op === "^")) {
          const w = Math.max(width, this.widthOf(scope, inner));
          const xs = this.evaluate(scope, inner.x, w);
          const ys = this.evaluate(scope, inner.y, w);
          const kind: GateKind = inner.op === "&" ? "NAND" : inner.op === "|" ? "NOR" : "XNOR";
          return xs.map((x, k) => this.gate(kind, [x, ys[k]!], e.line)).slice(0, width);
        }
        if (e.op === "~") return this.evaluate(scope, e.x, width).map((x) => this.gate("NOT", [x], e.line));
        const xs = this.evaluate(scope, e.x, this.widthOf(scope, e.x));
        const base = e.op === "~&" ? "&" : e.op === "~|" ? "|" : e.op === "~^" || e.op === "^~" ? "^" : e.op;
        const kind: GateKind = base === "&" ? "AND" : base === "|" ? "OR" : "XOR";
        let r = xs[0]!;
        for (let k = 1; k < xs.length; k++) r = this.gate(kind, [r, xs[k]!], e.line);
        if (base !== e.op) r = this.gate("NOT", [r], e.line);
        return this.extend([r], width, e.line);
      }
      case "binary": {
        const w = Math.max(width, this.widthOf(scope, e));
        const xs = this.evaluate(scope, e.x, w);
        const ys = this.evaluate(scope, e.y, w);
        let out: number[];
        if (e.op === "+" || e.op === "-") out = this.adder(xs, e.op === "-" ? ys.map((y) => this.gate("NOT", [y], e.line)) : ys, e.op === "-", e.line);
        else {
          const kind: GateKind = e.op === "&" ? "AND" : e.op === "|" ? "OR" : e.op === "^" ? "XOR" : "XNOR";
          out = xs.map((x, k) => this.gate(kind, [x, ys[k]!], e.line));
        }
        return out.slice(0, width);
      }
      case "ternary": {
        const w = Math.max(width, this.widthOf(scope, e));
        const conds = this.evaluate(scope, e.cond, this.widthOf(scope, e.cond));
        let s = conds[0]!;
        for (let k = 1; k < conds.length; k++) s = this.gate("OR", [s, conds[k]!], e.line);
        const ns = this.gate("NOT", [s], e.line);
        const xs = this.evaluate(scope, e.x, w);
        const ys = this.evaluate(scope, e.y, w);
        return xs.map((x, k) => this.gate("OR", [this.gate("AND", [s, x], e.line), this.gate("AND", [ns, ys[k]!], e.line)], e.line)).slice(0, width);
      }
    }
  }

  /**
   * Ripple-carry adder of half/full adder cells (what a synthesis tool would map `+` to).
   * Bits known to be constant 0 are left out rather than fed to a cell, so that the
   * zero-extension of narrow operands adds no cells.
   */
  private adder(xs: number[], ys: number[], carryIn: boolean, line: number): number[] {
    let carry = carryIn ? this.constNet(1, line) : this.constNet(0, line);
    const out: number[] = [];
    for (let k = 0; k < xs.length; k++) {
      const live = [xs[k]!, ys[k]!, carry].filter((x) => !this.isConst0(x));
      const last = k === xs.length - 1;
      if (live.length === 0) { out.push(this.constNet(0, line)); continue; }
      if (live.length === 1) { out.push(live[0]!); carry = this.constNet(0, line); continue; }
      const cellName = live.length === 2 ? "HAX1" : "FAX1";
      const r = this.instantiate(builtinCell(cellName)!, live.map((x) => [x]), `add${line}_${k}`, line, cellTypeOf(cellName));
      out.push(r.get("YS")![0]!);
      carry = last ? carry : r.get("YC")![0]!;
    }
    return out;
  }

  /** Drives each bit of an lvalue from the corresponding net. */
  drive(scope: Scope, lhs: Expr, rhs: number[], line: number): void {
    const targets = this.lvalueNets(scope, lhs);
    targets.forEach((t, k) => {
      if (this.kind[t] === NetKind.Port) this.fail(`${this.names[t]} is an input port bit and cannot be assigned`, line);
      if (this.alias[t] !== -1) this.fail(`net ${this.names[t]} is driven more than once (also at line ${this.aliasLine[t]})`, line);
      this.alias[t] = rhs[k]!;
      this.aliasLine[t] = line;
    });
  }

  lvalueNets(scope: Scope, e: Expr): number[] {
    if (e.k === "ref" || e.k === "bit" || e.k === "part") {
      const sig = this.signal(scope, e.name, e.line);
      if (sig.decl.dir === "input" && scope.depth === 0) this.fail(`input port ${e.name} cannot be assigned`, e.line);
      return this.selectNets(scope, e);
    }
    if (e.k === "concat") {
      const nets: number[] = [];
      for (let p = e.parts.length - 1; p >= 0; p--) nets.push(...this.lvalueNets(scope, e.parts[p]!));
      return nets;
    }
    return this.fail("the left-hand side of an assignment must be a net, a bit or part select, or a concatenation of those", e.line);
  }

  /** Elaborates every statement of a module body in `scope`. */
  body(scope: Scope, stack: string[]): void {
    for (const a of scope.mod.assigns) {
      const lw = this.lvalueNets(scope, a.lhs).length;
      const w = Math.max(lw, this.widthOf(scope, a.rhs));
      const firstNew = this.names.length;
      let nets = this.evaluate(scope, a.rhs, w).slice(0, lw);
      // Inside a cell, a plain connection (`assign Y = A;` of BUFX2) is a real buffer,
      // not a wire: give it a gate so that the cell is there for cost and for the writer.
      if (this.currentCell !== undefined) nets = nets.map((x) => (x < firstNew || this.kind[x] !== NetKind.Gate ? this.gate("BUF", [x], a.line) : x));
      this.drive(scope, a.lhs, nets, a.line);
    }
    for (const inst of scope.mod.instances) this.instanceStatement(scope, inst, stack);
  }

  private instanceStatement(scope: Scope, inst: Instance, stack: string[]): void {
    const def = this.modules.get(inst.type) ?? builtinCell(inst.type);
    if (!def) this.fail(`unknown cell ${inst.type} (instance ${inst.name}); known without a definition in the file: ${[...builtinCellNames()].join(", ")}`, inst.line);
    if (stack.includes(def.name)) this.fail(`module ${def.name} instantiates itself (through ${stack.join(" -> ")})`, inst.line);
    const named = inst.conns.some((c) => c.port !== undefined);
    if (named && inst.conns.some((c) => c.port === undefined)) this.fail(`instance ${inst.name} mixes named and positional connections`, inst.line);
    if (!named && inst.conns.length > def.ports.length) this.fail(`instance ${inst.name} of ${inst.type} has ${inst.conns.length} connections, but the cell has ${def.ports.length} ports (${def.ports.join(", ")})`, inst.line);
    const byPort = new Map<string, Connection>();
    inst.conns.forEach((c, k) => {
      const port = c.port ?? def.ports[k]!;
      if (!def.ports.includes(port)) this.fail(`cell ${inst.type} has no port ${port} (ports: ${def.ports.join(", ")})`, c.line);
      if (byPort.has(port)) this.fail(`port ${port} of instance ${inst.name} is connected twice`, c.line);
      byPort.set(port, c);
    });
    const inputs: number[][] = [];
    for (const port of def.ports) {
      const d = def.decls.get(port)!;
      if (d.dir !== "input") continue;
      const c = byPort.get(port);
      const pw = Math.abs(d.msb - d.lsb) + 1;
      if (!c || !c.expr) this.fail(`input port ${port} of instance ${inst.name} (${inst.type}) is not connected`, c?.line ?? inst.line);
      inputs.push(this.evaluate(scope, c.expr, Math.max(pw, this.widthOf(scope, c.expr))).slice(0, pw));
    }
    const outs = this.instantiate(def, inputs, inst.name, inst.line, cellTypeOf(def.name), [...stack, def.name], scope);
    for (const [port, nets] of outs) {
      const c = byPort.get(port);
      if (!c || !c.expr) continue; // an unconnected output is allowed (e.g. an unused carry)
      const targets = this.lvalueNets(scope, c.expr);
      if (targets.length !== nets.length) this.fail(`output port ${port} of instance ${inst.name} is ${nets.length} bits wide but is connected to ${targets.length} bits`, c.line);
      this.drive(scope, c.expr, nets, c.line);
    }
  }

  /**
   * Inlines module `def` with its input ports (in port order) bound to `inputs`; returns
   * the output ports' nets. At the top level the instance becomes one cell; instances
   * inside a cell belong to that outer cell.
   */
  instantiate(def: ModuleAst, inputs: number[][], instName: string, line: number, cellType: string, stack: string[] = [def.name], outer?: Scope): Map<string, number[]> {
    const savedCell = this.currentCell;
    if (savedCell === undefined) {
      this.currentCell = this.cells.length;
      this.cells.push({ type: cellType, instance: instName, line });
    }
    try {
      const scope = this.makeScope(def, `${outer?.prefix ?? ""}${instName}.`, (outer?.depth ?? 0) + 1);
      let k = 0;
      for (const port of def.ports) {
        const sig = scope.signals.get(port)!;
        if (sig.decl.dir !== "input") continue;
        const nets = inputs[k++]!;
        for (let b = 0; b < sig.width; b++) {
          const t = this.bitNet(scope, sig, b);
          this.alias[t] = nets[b]!;
          this.aliasLine[t] = line;
        }
      }
      this.body(scope, stack);
      const outs = new Map<string, number[]>();
      for (const port of def.ports) {
        const sig = scope.signals.get(port)!;
        if (sig.decl.dir === "output") outs.set(port, Array.from({ length: sig.width }, (_, b) => this.bitNet(scope, sig, b)));
      }
      return outs;
    } finally {
      this.currentCell = savedCell;
    }
  }
}

function builtinCellNames(): string[] {
  builtinCell("");
  return [...builtinCells!.keys()];
}

// ---------------------------------------------------------------- top level

function isTopCandidate(m: ModuleAst): boolean {
  const dirOf = (p: string) => m.decls.get(p)?.dir;
  return m.ports.length === 3 && dirOf("A") === "input" && dirOf("B") === "input" && m.ports.filter((p) => dirOf(p) === "output").length === 1;
}

/**
 * Parses an EvoApproxLib-style gate-level Verilog netlist. The top module is the one with
 * inputs A, B and one output (O or Z); other modules are cell definitions, inlined where
 * instantiated. `opts.signed` is accepted for symmetry with the other readers: the netlist
 * itself carries no sign (simulate.ts reads the output as two's complement when asked).
 */
export function parseVerilog(text: string, opts: { file?: string; signed?: boolean } = {}): Netlist {
  const file = opts.file;
  const modules = new Parser(tokenize(text, file), file).parseFile();
  if (modules.length === 0) throw new AxnnError("no module in the file", { file, line: 1 });
  const byName = new Map<string, ModuleAst>();
  for (const m of modules) {
    const prev = byName.get(m.name);
    if (prev) throw new AxnnError(`module ${m.name} is defined twice (first at line ${prev.line})`, { file, line: m.line });
    byName.set(m.name, m);
  }
  const instantiated = new Set(modules.flatMap((m) => m.instances.map((i) => i.type)));
  const candidates = modules.filter(isTopCandidate);
  const top = candidates.find((m) => !instantiated.has(m.name)) ?? candidates[0];
  if (!top) {
    throw new AxnnError(`no multiplier module: expected a module with ports (A, B, O) where A and B are inputs and O (or another single name, e.g. Z) is the output; found ${modules.map((m) => `${m.name}(${m.ports.join(", ")})`).join(", ")}`, { file, line: modules[0]!.line });
  }
  const outName = top.ports.find((p) => top.decls.get(p)!.dir === "output")!;
  const declA = top.decls.get("A")!, declB = top.decls.get("B")!, declO = top.decls.get(outName)!;
  const width = (d: Decl) => Math.abs(d.msb - d.lsb) + 1;
  const wa = width(declA), wb = width(declB), wo = width(declO);
  if (wa !== ACTIVATION_BITS) throw new AxnnError(`input A of ${top.name} is ${wa} bits wide; an 8xN multiplier needs A to be 8 bits (input [7:0] A)`, { file, line: declA.line });
  if (wb < 1 || wb > ACTIVATION_BITS) throw new AxnnError(`input B of ${top.name} is ${wb} bits wide; expected 1 to 8 bits`, { file, line: declB.line });
  if (wo < wa + wb || wo > 32) throw new AxnnError(`output ${outName} of ${top.name} is ${wo} bits wide; an 8x${wb} multiplier needs ${wa + wb} to 32 output bits`, { file, line: declO.line });

  const el = new Elaborator(byName, file);
  const scope = el.makeScope(top, "", 0);
  const portNets = (name: string): number[] => {
    const sig = scope.signals.get(name)!;
    return Array.from({ length: sig.width }, (_, b) => {
      const id = el.bitNet(scope, sig, b);
      el.kind[id] = NetKind.Port;
      return id;
    });
  };
  const portA = portNets("A");
  const portB = portNets("B");
  const outSig = scope.signals.get(outName)!;
  const outNets = Array.from({ length: outSig.width }, (_, b) => el.bitNet(scope, outSig, b));
  el.body(scope, [top.name]);
  return resolve(el, { name: top.name, portA, portB, outNets, outName, outLine: declO.line, file });
}

/** Follows alias chains to the net that really drives each bit, then compacts net ids. */
function resolve(el: Elaborator, top: { name: string; portA: number[]; portB: number[]; outNets: number[]; outName: string; outLine: number; file?: string }): Netlist {
  const { file } = top;
  const n = el.names.length;
  const canon = new Int32Array(n).fill(-1);
  const onPath = new Int32Array(n).fill(-1);
  const path: number[] = [];
  for (let start = 0; start < n; start++) {
    if (canon[start] !== -1) continue;
    path.length = 0;
    let x = start;
    while (canon[x] === -1 && el.alias[x] !== -1) {
      if (onPath[x] === start) throw new AxnnError(`combinational loop: ${el.names[x]} is assigned from itself through ${path.slice(path.indexOf(x)).map((p) => el.names[p]).join(" <- ")}`, { file, line: el.aliasLine[x] });
      onPath[x] = start;
      path.push(x);
      x = el.alias[x]!;
    }
    const root = canon[x] !== -1 ? canon[x]! : x;
    canon[x] = root;
    for (const p of path) canon[p] = root;
  }

  const driven = (net: number) => el.kind[net] !== NetKind.Signal; // port bits and gate outputs
  for (const g of el.gates) {
    g.inputs = g.inputs.map((x) => {
      const c = canon[x]!;
      if (!driven(c)) throw new AxnnError(`net ${el.names[c]} is used but never driven`, { file, line: g.line });
      return c;
    });
  }
  const output = top.outNets.map((x, bit) => {
    const c = canon[x]!;
    if (!driven(c)) {
      if (c === x) throw new AxnnError(`output bit ${top.outName}[${bit}] (declared here) is never driven`, { file, line: top.outLine });
      throw new AxnnError(`output bit ${top.outName}[${bit}] is connected to ${el.names[c]}, which is never driven`, { file, line: el.aliasLine[x] });
    }
    return c;
  });

  // Gate outputs take the name of the top-most signal assigned from them.
  const nameOf = el.names.slice();
  const named = new Uint8Array(n);
  const order = Array.from({ length: n }, (_, i) => i).filter((i) => el.kind[i] === NetKind.Signal && canon[i] !== i);
  order.sort((a, b) => el.depth[a]! - el.depth[b]! || a - b);
  for (const s of order) {
    const c = canon[s]!;
    if (el.kind[c] === NetKind.Gate && !named[c]) {
      nameOf[c] = el.names[s]!;
      named[c] = 1;
    }
  }

  // Compact ids: port bits, then gate outputs in gate order.
  const newId = new Int32Array(n).fill(-1);
  const netNames: string[] = [];
  const take = (x: number) => {
    newId[x] = netNames.length;
    netNames.push(nameOf[x]!);
  };
  top.portA.forEach(take);
  top.portB.forEach(take);
  for (const g of el.gates) take(g.output);
  const gates: Gate[] = el.gates.map((g) => ({ ...g, inputs: g.inputs.map((x) => newId[x]!), output: newId[g.output]! }));
  return finalizeNetlist({
    name: top.name,
    portA: top.portA.map((x) => newId[x]!),
    portB: top.portB.map((x) => newId[x]!),
    output: output.map((x) => newId[x]!),
    outputName: top.outName,
    netNames,
    gates,
    cells: el.cells,
    file,
  });
}

/** Reads and parses a Verilog netlist file; errors name the file and line. */
export function readVerilogFile(path: string): Netlist {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new AxnnError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: path });
  }
  return parseVerilog(text, { file: path });
}
