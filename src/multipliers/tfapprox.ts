import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { AxnnError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { createMultiplier, signedFromName, tableSize, toTfapproxBytes, type Multiplier, type MultiplierMeta } from "./multiplier.js";

/**
 * TFApprox `.bin` tables: little-endian 16-bit products in the table order of
 * multiplier.ts (for 8x8: 65,536 entries, entry [i*256+j] for port B = i, port A = j).
 * Unsigned files hold uint16, signed files int16. An 8xN table holds 256 * 2^N entries.
 */
export function parseTfapprox(
  bytes: Uint8Array,
  opts: { name: string; signed: boolean; weightBits?: number; file?: string; meta?: Partial<MultiplierMeta> },
): Multiplier {
  const file = opts.file;
  let weightBits = opts.weightBits;
  if (weightBits === undefined) {
    const entries = bytes.length / 2;
    weightBits = [1, 2, 3, 4, 5, 6, 7, 8].find((n) => tableSize(n) === entries);
    if (weightBits === undefined) {
      throw new AxnnError(`a TFApprox table has 2 bytes per entry and 256 x 2^N entries (131,072 bytes for 8x8); this file has ${bytes.length} bytes`, { file });
    }
  } else if (bytes.length !== tableSize(weightBits) * 2) {
    throw new AxnnError(`an 8x${weightBits} TFApprox table has ${tableSize(weightBits) * 2} bytes; this file has ${bytes.length}`, { file });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const table = new Int32Array(bytes.length / 2);
  for (let i = 0; i < table.length; i++) table[i] = opts.signed ? view.getInt16(i * 2, true) : view.getUint16(i * 2, true);
  return createMultiplier({ name: opts.name, signed: opts.signed, weightBits, table, meta: { source: "tfapprox-bin", file, ...opts.meta } });
}

/** Reads a `.bin` file; name and (unless given) signedness come from the file name. */
export function readTfapprox(file: string, opts: { name?: string; signed?: boolean; weightBits?: number } = {}): Multiplier {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new AxnnError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
  }
  const name = opts.name ?? basename(file).replace(/\.bin$/i, "");
  return parseTfapprox(bytes, { name, signed: opts.signed ?? signedFromName(name), weightBits: opts.weightBits, file });
}

export function writeTfapprox(m: Multiplier, file: string): void {
  writeFileAtomic(file, toTfapproxBytes(m));
}
