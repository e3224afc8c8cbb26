import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AxnnError } from "../util/errors.js";
import { ensureOutputDirectory, writeFileAtomic } from "../util/fs.js";
import { axnnHome } from "../util/paths.js";
import { createMultiplier, fitsTfapprox, int32Bytes, lutHash, toTfapproxBytes, type Multiplier, type MultiplierMeta } from "./multiplier.js";
import { parseTfapprox } from "./tfapprox.js";

/**
 * The user's multiplier library: `$AXNN_HOME/multipliers/` (default `~/.axnn`), one
 * `<name>.json` record per multiplier beside its table (`<name>.bin`, TFApprox layout, or
 * `<name>.i32` little-endian int32 for products that do not fit 16 bits) and, for circuits
 * imported from Verilog, a copy of the netlist (`<name>.v`) so that it can be costed later.
 * Records are keyed by name; the table hash identifies circuits across names.
 */
export interface LibraryRecord {
  name: string;
  signed: boolean;
  weight_bits: number;
  hash: string;
  table_file: string;
  netlist_file?: string;
  meta: MultiplierMeta;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;

export class MultiplierLibrary {
  readonly dir: string;

  constructor(home: string = axnnHome()) {
    this.dir = join(home, "multipliers");
  }

  records(): LibraryRecord[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(".json"))
      .sort()
      .map((f) => {
        const file = join(this.dir, f);
        try {
          return JSON.parse(readFileSync(file, "utf8")) as LibraryRecord;
        } catch (e) {
          throw new AxnnError(`library record is not valid JSON (${(e as Error).message}); remove or fix it`, { file });
        }
      });
  }

  find(nameOrHash: string): LibraryRecord | undefined {
    const all = this.records();
    return (
      all.find((r) => r.name === nameOrHash) ??
      all.find((r) => r.meta.aliases?.includes(nameOrHash)) ??
      (/^[0-9a-f]{12}$/.test(nameOrHash) ? all.find((r) => r.hash === nameOrHash || r.meta.catalogueHash === nameOrHash) : undefined)
    );
  }

  load(record: LibraryRecord): Multiplier {
    const file = join(this.dir, record.table_file);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new AxnnError(`table of library multiplier ${record.name} is missing (${(e as NodeJS.ErrnoException).code}); re-import it`, { file });
    }
    let m: Multiplier;
    if (record.table_file.endsWith(".i32")) {
      const table = new Int32Array(bytes.byteLength / 4);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < table.length; i++) table[i] = view.getInt32(i * 4, true);
      m = createMultiplier({ name: record.name, signed: record.signed, weightBits: record.weight_bits, table, meta: record.meta });
    } else {
      m = parseTfapprox(bytes, { name: record.name, signed: record.signed, weightBits: record.weight_bits, file, meta: record.meta });
    }
    const hash = lutHash(m);
    if (hash !== record.hash) throw new AxnnError(`table hash ${hash} differs from the recorded ${record.hash}: the library file was changed; re-import it`, { file });
    return { ...m, meta: { ...record.meta } };
  }

  /**
   * Saves a multiplier under its name. An existing record of the same name is replaced
   * only if it holds the same table or `overwrite` is set.
   */
  save(m: Multiplier, opts: { overwrite?: boolean; netlistText?: string } = {}): LibraryRecord {
    if (!NAME_RE.test(m.name)) {
      throw new AxnnError(`"${m.name}" is not a usable name (letters, digits and _ . + - only, not starting with a symbol)`, { field: "name" });
    }
    const hash = lutHash(m);
    const existing = this.records().find((r) => r.name === m.name);
    if (existing && existing.hash !== hash && !opts.overwrite) {
      throw new AxnnError(`the library already has a different multiplier named ${m.name} (hash ${existing.hash}, new ${hash}); choose another --name or pass --force`, { field: "name" });
    }
    ensureOutputDirectory(this.dir);
    const fits = fitsTfapprox(m);
    const tableFile = fits ? `${m.name}.bin` : `${m.name}.i32`;
    const bytes = fits ? toTfapproxBytes(m) : int32Bytes(m.table);
    const meta: MultiplierMeta = { ...m.meta };
    delete meta.file;
    const record: LibraryRecord = { name: m.name, signed: m.signed, weight_bits: m.weightBits, hash, table_file: tableFile, meta };
    // Table and netlist first, record last: a record never points at a missing file.
    writeFileAtomic(join(this.dir, tableFile), bytes);
    if (opts.netlistText !== undefined) {
      record.netlist_file = `${m.name}.v`;
      writeFileAtomic(join(this.dir, record.netlist_file), opts.netlistText);
    }
    writeFileAtomic(join(this.dir, `${m.name}.json`), JSON.stringify(record, null, 2) + "\n");
    return record;
  }

  netlistPath(record: LibraryRecord): string | undefined {
    return record.netlist_file ? join(this.dir, record.netlist_file) : undefined;
  }
}
