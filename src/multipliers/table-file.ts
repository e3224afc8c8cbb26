import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { z } from "zod";
import { AxnnError } from "../util/errors.js";
import { checkSchema, parseJson } from "../util/json.js";
import { writeFileAtomic } from "../util/fs.js";
import {
  ACTIVATION_BITS, createMultiplier, decodeOperand, encodeOperand, signedFromName, tableIndex, tableSize,
  type Multiplier, type MultiplierMeta,
} from "./multiplier.js";

/**
 * Plain-text tables, for multipliers that come from elsewhere (a simulator dump, a
 * spreadsheet) and for export:
 *
 * JSON: `{ "name": "...", "signed": false, "weight_bits": 8, "table": [...] }` where
 * `table` has 256 * 2^N products in table order (activation-major over raw codes,
 * see multiplier.ts), or `"rows"`: 256 arrays of 2^N products (row = activation code).
 *
 * CSV: a header `activation,weight,product` and one line per operand pair, operands given
 * as values (negative for signed). Every pair must appear exactly once.
 */
const JsonTable = z
  .object({
    name: z.string().min(1).optional(),
    signed: z.boolean().optional(),
    weight_bits: z.number().int().min(1).max(8).optional(),
    table: z.array(z.number().int()).optional(),
    rows: z.array(z.array(z.number().int())).optional(),
    meta: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export function parseJsonTable(text: string, opts: { file?: string; name?: string; signed?: boolean } = {}): Multiplier {
  const file = opts.file;
  const j = checkSchema(JsonTable, parseJson(text, file), file, (issue) => `${issue.message} (expected {name, signed, weight_bits, table | rows})`);
  const name = opts.name ?? j.name ?? (file ? basename(file, extname(file)) : "table");
  const signed = opts.signed ?? j.signed ?? signedFromName(name);
  const weightBits = j.weight_bits ?? 8;
  const size = tableSize(weightBits);
  let table: Int32Array;
  if (j.table && j.rows) throw new AxnnError("give either table or rows, not both", { file, field: "table" });
  if (j.table) {
    if (j.table.length !== size) throw new AxnnError(`an 8x${weightBits} table has ${size} entries, got ${j.table.length}`, { file, field: "table" });
    table = Int32Array.from(j.table);
  } else if (j.rows) {
    if (j.rows.length !== 1 << ACTIVATION_BITS) throw new AxnnError(`expected 256 rows (one per activation code), got ${j.rows.length}`, { file, field: "rows" });
    table = new Int32Array(size);
    j.rows.forEach((row, a) => {
      if (row.length !== 1 << weightBits) throw new AxnnError(`expected ${1 << weightBits} products (one per weight code), got ${row.length}`, { file, field: `rows.${a}` });
      row.forEach((v, w) => (table[tableIndex(a, w, weightBits)] = v));
    });
  } else {
    throw new AxnnError("missing the products: give table (flat, activation-major) or rows", { file, field: "table" });
  }
  return createMultiplier({ name, signed, weightBits, table, meta: { source: "table", file, ...(j.meta as Partial<MultiplierMeta> | undefined) } });
}

export function parseCsvTable(text: string, opts: { file?: string; name?: string; signed?: boolean; weightBits?: number } = {}): Multiplier {
  const file = opts.file;
  let records: string[][];
  try {
    records = parseCsv(text, { skip_empty_lines: true, trim: true, comment: "#" }) as string[][];
  } catch (e) {
    throw new AxnnError(`not valid CSV (${(e as Error).message})`, { file });
  }
  const header = records[0]?.map((h) => h.toLowerCase());
  if (!header || header.join(",") !== "activation,weight,product") {
    throw new AxnnError(`first line must be the header "activation,weight,product", got "${records[0]?.join(",") ?? ""}"`, { file, line: 1 });
  }
  const name = opts.name ?? (file ? basename(file, extname(file)) : "table");
  const body = records.slice(1).map((r, i) => {
    const nums = r.map(Number);
    if (r.length !== 3 || nums.some((x) => !Number.isInteger(x))) {
      throw new AxnnError(`expected three integers "activation,weight,product", got "${r.join(",")}"`, { file, line: i + 2 });
    }
    return nums as [number, number, number];
  });
  const signed = opts.signed ?? (signedFromName(name) || body.some(([a, w]) => a < 0 || w < 0));
  const weightBits = opts.weightBits ?? [1, 2, 3, 4, 5, 6, 7, 8].find((n) => tableSize(n) === body.length);
  if (weightBits === undefined) throw new AxnnError(`a table has 256 x 2^N lines (65,536 for 8x8); this one has ${body.length}`, { file });
  const size = tableSize(weightBits);
  const table = new Int32Array(size);
  const seen = new Uint8Array(size);
  const [aLo, aHi] = signed ? [-128, 127] : [0, 255];
  const [wLo, wHi] = signed ? [-(1 << (weightBits - 1)), (1 << (weightBits - 1)) - 1] : [0, (1 << weightBits) - 1];
  body.forEach(([a, w, p], i) => {
    if (a < aLo || a > aHi || w < wLo || w > wHi) {
      throw new AxnnError(`operands (${a}, ${w}) outside the ${signed ? "signed" : "unsigned"} 8x${weightBits} range [${aLo}, ${aHi}] x [${wLo}, ${wHi}]`, { file, line: i + 2 });
    }
    const k = tableIndex(encodeOperand(a, ACTIVATION_BITS), encodeOperand(w, weightBits), weightBits);
    if (seen[k]) throw new AxnnError(`pair (${a}, ${w}) appears twice`, { file, line: i + 2 });
    seen[k] = 1;
    table[k] = p;
  });
  return createMultiplier({ name, signed, weightBits, table, meta: { source: "table", file } });
}

export function tableToJson(m: Multiplier): string {
  return JSON.stringify({ name: m.name, signed: m.signed, weight_bits: m.weightBits, table: Array.from(m.table) }) + "\n";
}

export function tableToCsv(m: Multiplier): string {
  const lines = ["activation,weight,product"];
  for (let a = 0; a < 1 << ACTIVATION_BITS; a++) {
    for (let w = 0; w < 1 << m.weightBits; w++) {
      lines.push(`${decodeOperand(a, ACTIVATION_BITS, m.signed)},${decodeOperand(w, m.weightBits, m.signed)},${m.table[tableIndex(a, w, m.weightBits)]}`);
    }
  }
  return lines.join("\n") + "\n";
}

export function readTableFile(file: string, opts: { name?: string; signed?: boolean } = {}): Multiplier {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new AxnnError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
  }
  return extname(file).toLowerCase() === ".csv" ? parseCsvTable(text, { ...opts, file }) : parseJsonTable(text, { ...opts, file });
}

export function writeTableFile(m: Multiplier, file: string): void {
  writeFileAtomic(file, extname(file).toLowerCase() === ".csv" ? tableToCsv(m) : tableToJson(m));
}
